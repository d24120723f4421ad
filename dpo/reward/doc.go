// Package reward is a reward model for the RL paradigm: a Bradley–Terry
// preference model trained on preference pairs, which scores any
// (prompt, response) and is an alignment.Judge, so that any Loop can train a
// policy against it (RL-CAI: AI preference labels → reward model → GRPO).
//
// # Model
//
// The model is linear over hashed sparse features of the prompt and the
// response (see [Features]): the response's words and word bigrams with
// its start and end, its length, words that recur in it, whether it ends
// with a word or a mark, how many of its words the prompt has, and the
// response's words crossed with the prompt's words and word bigrams, so
// that an answer can be learned for a question. Its reward is
//
//	r(x, y) = w · φ(x, y)
//
// It is a separate small model, not a head on the policy: it trains in
// milliseconds, its scores do not move while the policy is trained
// against it, and it needs no access to the policy's internals.
//
// # Training
//
// [Model.Fit] minimises the Bradley–Terry loss of Ouyang et al. (2022), as
// TRL's RewardTrainer does, with soft labels: for a pair with chosen
// response c, rejected response r and Δ = r(x, c) − r(x, r),
//
//	ℓ = −q·log σ(Δ) − (1 − q)·log σ(−Δ),   ∂ℓ/∂Δ = σ(Δ) − q
//
// where q is the pair's Prob (the probability that c is preferred, as a
// Comparer gives it), or 1 when Prob is 0 (a hard label). The objective is
// the mean of ℓ over a mini-batch plus (L2/2)·‖w‖², minimised with Adam. The
// gradients are exact and checked against finite differences and against
// reference values from an independent mpmath implementation
// (testdata/reference.py).
//
// # Metrics
//
// [Model.Evaluate] reports what TRL's RewardTrainer logs, under its names
// (trl/trainer/reward_trainer.py, compute_loss): "accuracy", the fraction
// of pairs whose chosen reward is strictly above the rejected one;
// "margin", the mean of chosen − rejected reward; and "min_reward",
// "mean_reward" and "max_reward" over all rewards of the pairs.
//
// # Judging
//
// As an alignment.Judge a Model scores a response σ(r(x, y)) on the scale
// [0, 1] it states through ScoreRange: the Bradley–Terry probability that
// the response is preferred to one of reward 0. The raw reward r(x, y) is
// in the judgment's Aspects under [AspectReward], for a trainer that wants
// it unsquashed (dpo.GroupTrainerOptions.AspectWeights).
//
// # Saving and resuming
//
// A Model saves and loads as the policy does: [Model.Save] and [Load]
// write and read a checksummed checkpoint, and [Model.SaveFile] and
// [LoadFile] do it atomically to a file. Its [Model.Fingerprint] is a
// digest of that checkpoint, so a Loop with Dir that a reward model
// judges resumes only with the same model: save it once trained, and on
// resume load it instead of training it again.
//
// A Model is not an alignment.Trainer, nor trained by the Loop it judges.
// A Trainer turns an iteration's pairs into the next policy, and the
// reward model is no policy; and a Loop's pairs are chosen by its judge's
// scores, so training the judging reward model on them would train it on
// its own verdicts. It is trained on preference labels from another source
// (a feedback model's comparisons, human labels), then fixed while the
// policy is trained against it, as in RL-CAI; to refresh it, label the
// new policy's samples in a separate Loop with that source and Fit again.
//
// # RL-CAI
//
// The reinforcement stage of Constitutional AI in its paper form is three
// steps of wiring, which examples/rlaif runs end to end:
//
//	// 1. AI feedback: a Loop with a Comparer (constitution.NewComparer over
//	//    a feedback model) writes one pair per prompt, Prob its soft label.
//	var labels alignment.MemorySink
//	(&alignment.Loop{Policy: pol, Prompts: src, Comparer: cmp, Sink: &labels}).Run(ctx)
//	// 2. The preference model, trained once and saved; a resumed run
//	//    loads it.
//	rm, err := reward.LoadFile(rmPath)
//	if errors.Is(err, fs.ErrNotExist) {
//		rm, _ = reward.New(nil)
//		rm.Fit(ctx, labels.Pairs())
//		rm.SaveFile(rmPath)
//	}
//	// 3. RL against it: GRPO on every prompt's scored group, in an output
//	//    directory that survives crashes.
//	gt, _ := dpo.NewGroupTrainer(nil, dpo.LoadFunc(tinylm.Load))
//	(&alignment.Loop{Policy: pol, Prompts: src, Judge: rm, Trainer: gt, Iterations: n, Dir: dir}).Run(ctx)
package reward
