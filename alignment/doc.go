// Package alignment runs synthetic alignment loops: a policy answers
// prompts, judges score the answers, the best and worst answers become
// preference pairs, and a trainer turns the pairs into the next policy.
// Constitutional AI, Self-Rewarding, Meta-Rewarding and online DPO are all
// configurations of this one engine.
//
// # The parts
//
// Four one-method interfaces carry the work, so that any model backend can
// take any role:
//
//   - [Policy] writes responses to a [Prompt]: a local model, a remote
//     server, an ensemble, a scripted fake.
//   - [Judge] scores one response ([Judgment]: a score, optional aspect
//     scores and a rationale).
//   - [Refiner] rewrites a response: critique and revise, a tree-search
//     step. Each step is recorded in [Response.Revisions].
//   - [PreferenceSink] receives the [Pair]s.
//
// Optional capabilities are separate interfaces, found by type assertion as
// database/sql finds its drivers' extras; each says what happens without
// it: [Comparer] (pairwise judging), [Trainer] (pairs in, next policy out),
// [GroupTrainer] (every prompt's scored responses in, for GRPO and RLOO),
// [Checkpointer] (save and load a trained policy), [Scorer] (the
// log-probability of a given completion), [Ranged] (a judge's score scale),
// [Flusher] (a buffering sink), [Sized] (a prompt source that knows its
// length).
//
// Every interface doc states its concurrency rule (most may be called from
// many goroutines), its context rule (return promptly once the context is
// done) and who owns the slices passed in and out (the caller; callees
// neither keep nor change them). Package alignmenttest checks all three.
//
// # A loop
//
// A [Loop] wires the parts. Zero values mean defaults: four samples per
// prompt, one judge call per response, max/min pair selection, eight calls
// in flight.
//
//	prompts, err := alignment.NewSliceSource(myPrompts)
//	...
//	loop := alignment.Loop{
//		Policy:       model,                 // any Policy
//		Judge:        myJudge,               // or SelfJudge, or Comparer
//		Prompts:      prompts,
//		JudgeSamples: 3,                     // k judge calls averaged
//		Trainer:      trainer,               // optional: train between iterations
//		Iterations:   3,
//		Dir:          "out",                 // optional: pairs.jsonl, progress, checkpoints
//		Seed:         1,
//	}
//	res, err := loop.Run(ctx)
//
// Each iteration draws N responses per prompt ([SampleN] fills up after
// backends that return fewer than asked), refines them if a Refiner is set,
// judges each k times and averages, and asks the [Selector] for a pair:
// [MaxMin] (Self-Rewarding: highest against lowest, ties dropped) or
// [LengthControlled] (Meta-Rewarding: the shortest of the top scores
// against the longest of the bottom ones, within a window ρ). Pairs stream
// to the sinks in prompt order; memory does not grow with the number of
// prompts. After the last prompt the Trainer, if any, makes the next
// policy, and the iteration's [Report] — counts, score statistics and
// histogram, lengths, ties, failures, retries, timings, safeguard figures
// — is returned and sent to the [Observer]. Its counts add up: every
// prompt handled is yielded (made a pair), tied (judged, no pair),
// unjudged (no judge, and Extra made no pair) or failed, so
// Prompts = Yielded + Ties + Unjudged + Failed.
//
// Self-Rewarding, where the policy judges itself, sets SelfJudge to a
// function that builds the judge from each iteration's policy and
// returns an error when it cannot (judge.NewRubric has that signature).
//
// A wiring mistake stops the run with an error wrapping [ErrInvalid] that
// names it, rather than giving a run that looks normal: a missing part; a
// part that is a nil pointer, map or func inside a non-nil interface
// (checked for every part when Run starts); a SelfJudge that fails or
// builds no judge (checked at the start of each iteration); a [Ranged]
// judge whose stated range is not a range; an iteration with no prompts
// (an empty slice or file, a generator that ran dry). A score outside the
// range a Ranged judge states, like a NaN, fails that prompt.
//
// # Recipes and prompt generation
//
// The papers' methods are configurations of this one Loop, kept in package
// [github.com/selfalign/selfalign/alignment/recipe]: ConstitutionalAI,
// SelfRewarding, MetaRewarding, OnlineDPO and SelfBoosting. Each is a
// struct of the parts its paper names plus a Base Loop for the settings
// every run shares; its Loop method (SLLoop and RLLoop for the two stages
// of ConstitutionalAI) returns the configured Loop, and Run runs it. Start
// there to wire a paper's method.
//
// The runnable Examples are the shortest tutorial: ExampleSelfRewarding,
// ExampleMetaRewarding, ExampleConstitutionalAI, ExampleOnlineDPO and
// ExampleSelfBoosting in package recipe run each method end to end on the
// fakes of package alignmenttest, and ExampleLoop in this package runs a
// bare Loop. go doc does not show Examples; pkg.go.dev does
// (https://pkg.go.dev/github.com/selfalign/selfalign/alignment/recipe), and
// their source, each ending with the output it checks, is in
// alignment/recipe/example_test.go. The programs under examples/
// (quickstart first) run such loops on the embedded tiny language model;
// give each -h for what it prints.
//
// Prompts can be generated by the policy itself (self-instruct,
// keyword-seeded, instruction inversion) with package
// [github.com/selfalign/selfalign/alignment/promptgen].
//
// # Determinism
//
// The randomness of each prompt derives from (Loop.Seed, iteration, prompt
// ID) alone: the sampling seed, and the seed each judge and refiner call
// finds with [SeedFrom]. So the same seed gives the same pairs, in the same
// order, at any concurrency. Implementations keep their side of this by
// honouring SampleOptions.Seed and SeedFrom.
//
// # Evaluation and safeguards
//
// Self-training fails quietly: the judge's scores rise while the policy
// does not improve, answers grow longer, samples collapse onto one answer,
// or the judge itself drifts. The Loop measures each of these on every
// iteration and says so in the [Report] and to the [Observer].
//
// With Loop.Eval set to an [Evaluation], the Loop samples the policy on a
// fixed set of held-out prompts at the start of every iteration, before
// its prompts, and scores the samples with a frozen judge; after the last
// iteration it evaluates the final policy too. Each [EvalReport] holds the
// mean held-out score, the mean length, the diversity of each prompt's
// samples, the share of top scores, and the win rate over the previous
// evaluated policy (from a Comparer, or from the judge's scores of the
// samples at the same prompt and position). Report.Eval holds the
// evaluation of the policy iteration i used and Result.Final that of the
// policy the run ended with, so a table of M iterations reads
// Reports[0].Eval … Reports[M−1].Eval, then Final. The held-out samples'
// randomness derives from (Loop.Seed, "eval", prompt ID), not from the
// iteration: consecutive policies answer under the same seeds, which makes
// their comparison sharper (common random numbers) and gives an unchanged
// policy a win rate of exactly 0.5.
//
// [Safeguards] holds the thresholds; zero means the default each field
// documents, negative turns a check off. Every iteration's figures are in
// [Signals] (yield, chosen-length ratio to iteration 0, change of the mean
// score, saturation, per-prompt [Diversity] of the samples — [Distinct]
// and [DuplicateRate] — and, given Safeguards.Reference and Probes, the
// training judge's [Drift] from the reference judge; Report.ExtraPairs
// for Loop.Extra's pairs), and every failed check is an [Alarm] in
// Report.Alarms (EvalReport.Alarms for the evaluation's) and an
// AlarmRaised event:
//
//   - plateau: the held-out win rate of a trained policy over the one
//     before it is not clearly above PlateauWinRate (0.5) — its lower
//     confidence bound, PlateauZ (1.645) standard errors below it, over
//     the held-out prompts, is at or below it — or the share of prompts
//     yielding a pair falls below MinYield (0.05);
//   - judge drift: Spearman agreement with the reference below
//     MinAgreement (0.5), or mean absolute score difference above
//     MaxJudgeDiff (a fifth of the scale);
//   - reward hacking: chosen responses MaxLengthRatio (1.5) times as long
//     as in iteration 0; the training judge's mean score rising by more
//     than InflationRise (a twentieth of the scale) while the held-out win
//     rate is at most 0.5; more than MaxSaturation (0.9) of the scores in
//     the top tenth of the scale;
//   - collapse: mean distinct-2 of a prompt's samples below MinDistinct
//     (0.3), or mean duplicate rate above MaxDuplicates (0.75);
//   - extra pairs: Loop.Extra ran on an iteration's judged prompts and
//     made fewer than MinExtraPairs (1) pairs in it — Meta-Rewarding's
//     judge pairs, say, when every response's judgments agree — while the
//     selected pairs still come, so the yield check cannot see it;
//   - regression: a capability suite of the evaluation
//     (Evaluation.Suites: prompts with their own frozen judge, such as
//     correctness of arithmetic and facts while the target suite
//     rewards style) scores more than its MaxDrop (a twentieth of the
//     scale) below its baseline, its score in the run's first
//     evaluation (EvalReport.Suites). Careful alignment keeps general
//     capabilities; this is the test that it did.
//
// A plateau ends the run — before the prompts of the iteration whose
// evaluation showed it, or after the iteration whose yield collapsed —
// with the alarm in Result.Stopped and a nil error: a planned stop is not
// a failure. So does a regression with Evaluation.StopOnRegression,
// before the regressed policy is trained further. With
// Evaluation.KeepBest, a run, stopped or not, returns the best of the
// policies it evaluated that held their baselines (Result.Best) rather
// than its last. The other alarms only warn; an Observer that wants one
// of them to end the run cancels the run's context. With Loop.Dir, the
// evaluations (sample texts included, once per iteration) and the
// figures are kept in the progress journal, so a resumed run reports the
// same figures and the same stop as an uninterrupted one.
//
// # Faults
//
// A call whose error wraps [ErrTransient], or that runs past
// Retry.CallTimeout, is retried with capped exponential backoff and jitter.
// Any other error fails that prompt only: it is reported in
// Report.Failures and the run goes on, until more prompts have failed than
// Loop.FailureBudget allows (10% by default); then Run stops with an error
// wrapping [ErrBudget], after flushing the sinks. Cancelling the context
// stops a run promptly, also after flushing.
//
// Faults are counted, not hidden: Report.Retries counts every retried
// transient failure of the iteration's calls (sampling, refining,
// judging, comparing, Loop.Extra's calls through [Item.Call], the judge
// drift probes; the held-out evaluation's are in EvalReport.Retries), and
// Report.RetriesExhausted the calls still failing transiently when their
// attempts ran out, each of which failed its prompt. Both are in the
// report's JSON.
//
// # Resuming
//
// With Loop.Dir set, a run keeps pairs.jsonl, a progress journal and each
// iteration's trained policy (through a [Checkpointer]) in that directory.
// Killed at any moment and started again on the same directory with the
// same settings, it finishes with exactly the file an uninterrupted run
// writes: no pair lost, none duplicated, no torn line. Other sinks receive
// the pairs of prompts that are run again after the interruption a second
// time; only the directory's file is exactly-once. With a [GroupTrainer]
// the directory also keeps groups.jsonl, every judged prompt's scored
// responses (see [ReadGroups]), under the same rules, and each iteration
// trains on the groups read back from it, so a resumed run trains on
// exactly the groups of an uninterrupted one.
//
// The journal records the fingerprint of every part of the run (see
// [Fingerprinter]) and a CRC-32C of pairs.jsonl (and groups.jsonl) at every
// checkpoint: a run with other parts, with fewer iterations than the
// directory holds, or on a file changed since it was written is refused with
// [ErrNotResumable] saying what differs. A finished directory run again
// returns its reports (Result.Restored); a larger Loop.Iterations
// continues it. Prompts that failed permanently are retried once at the
// end of their iteration, and again at the end of it when a run resumes
// that iteration (until then they do not count against the failure
// budget). A directory whose journal predates these checks (format 1,
// before fingerprints and checksums) is refused: start such a run in a
// new directory.
//
// # Data formats
//
// [JSONL] writes pairs in the preference format that TRL's DPOTrainer and
// OpenRLHF read without conversion — by default TRL's conversational form,
// "prompt" as {role, content} messages and "chosen", "rejected" as one
// assistant message each, so that the trainer applies the chat template
// the server sampled through; the standard form (strings) as an option —
// plus "prompt_id", "iteration", "score_chosen" and "score_rejected" (the
// judge's scores, only for pairs a judge scored) and "source"; or, as an
// option, unpaired KTO rows ("prompt", "completion", "label"). Every row of
// a file has one form. [ReadPairs] reads them back, and TRL's datasets
// with an implicit prompt such as hh-rlhf. Prompts come from a slice or
// from JSON Lines ([OpenJSONLPrompts]): TRL's prompt format, hh-rlhf's
// implicit prompts, or instruction sets such as Alpaca through
// [PromptsOptions].
package alignment
