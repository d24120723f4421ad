package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

// Names of the arms, as -arms takes them and the table shows them.
const (
	armOnPolicy = "on-policy"
	armOffline  = "offline"
	armLength   = "length-controlled"
	armOnline   = "frequent-refresh"
	armNoisy    = "noisy-judge"
	armJury     = "jury"
)

// Settings of the arms that are not part of the shared budget.
const (
	// lengthRho is the LengthControlled window: a chosen response may score
	// up to a quarter of the pair's score spread below the best.
	lengthRho = 0.25
	// onlineBatches is the number of online DPO batches per pass over the
	// training prompts: the policy is trained, and resampled, this many
	// times as often as the iterative arms', on as many pairs in all.
	onlineBatches = 4
	// flipRate is the chance that a noisy judge gets one rule check wrong.
	flipRate = 0.3
	// jurors is the number of noisy judges on the jury.
	jurors = 3
)

// allArms returns every configuration of the comparison, in table order.
// The on-policy arm is the verifier the self-judging arms are measured
// against: the same loop with the world's rules as its judge.
func allArms() []arm {
	return append([]arm{
		{armOnPolicy, "iterative DPO: each iteration samples the current policy; rule judge; max/min pairs", onPolicy(alignment.MaxMin{}, nil)},
		{armOffline, "offline DPO: the same passes all sampled from the fine-tuned policy, trained in the same chunks against it as a fixed reference", offline},
		{armLength, fmt.Sprintf("on-policy with length-controlled pairs (LengthControlled, ρ = %.2g)", lengthRho), onPolicy(alignment.LengthControlled{Rho: lengthRho}, nil)},
		{armOnline, fmt.Sprintf("iterative DPO refreshed after each of %d batches per pass (recipe.OnlineDPO with a moving reference and several steps per batch: not OAIF)", onlineBatches), onlineDPO},
		{armNoisy, fmt.Sprintf("on-policy judged by one noisy rule judge (each check wrong with p = %.2g)", flipRate), onPolicy(nil, func() (alignment.Judge, error) { return newNoisy("noisy"), nil })},
		{armJury, fmt.Sprintf("on-policy judged by a judge.Jury of %d independent noisy rule judges (mean)", jurors), onPolicy(nil, newJury)},
	}, slices.Concat(selfArms(), recipeArms(), rlArms())...)
}

// loop returns the Loop settings every arm shares: the training prompts,
// the budget's sampling and the held-out evaluation with the exact rule
// judge, whose randomness depends on the seed alone, so that every arm's
// iteration 0 is the same evaluation of the same fine-tuned model.
func (t trial) loop(pol alignment.Policy) (alignment.Loop, error) {
	prompts, err := alignment.NewSliceSource(taskworld.Prompts(t.World.Train()))
	if err != nil {
		return alignment.Loop{}, err
	}
	trainer, err := t.trainer(nil)
	if err != nil {
		return alignment.Loop{}, err
	}
	capability, err := taskworld.CapabilitySuite(t.World.HeldOut())
	if err != nil {
		return alignment.Loop{}, err
	}
	b := t.Budget
	return alignment.Loop{
		Policy:      pol,
		Prompts:     prompts,
		Trainer:     trainer,
		Iterations:  b.Iterations,
		Samples:     b.Samples,
		Sampling:    alignment.SampleOptions{Temperature: b.Temperature, MaxTokens: b.MaxTokens},
		Concurrency: b.Concurrency,
		Seed:        t.Seed,
		Eval: &alignment.Evaluation{Prompts: taskworld.Prompts(t.World.HeldOut()), Judge: t.Rules, Samples: b.EvalSamples,
			Suites: []alignment.Suite{capability}},
		// Every arm runs its whole budget, so that the curve shows where
		// training stops paying rather than stopping there; the report
		// says where the plateau rule would have stopped.
		Safeguards: alignment.Safeguards{PlateauWinRate: -1, MinYield: -1},
	}, nil
}

// trainer returns the budget's DPO trainer. A nil reference means each
// Train call's starting policy, as iterative DPO has it.
func (t trial) trainer(ref dpo.Model) (*dpo.Trainer, error) {
	b := t.Budget
	return dpo.NewTrainer(&dpo.TrainerOptions{
		Loss: dpo.Sigmoid{Beta: b.Beta}, Epochs: b.DPOEpochs, LearningRate: b.LearningRate, Seed: t.Seed, Reference: ref,
	}, dpo.LoadFunc(tinylm.Load))
}

// onPolicy is iterative DPO: each iteration samples the policy the last
// one trained. A nil selector means MaxMin and a nil judge the exact rule
// judge. The last policy is measured as a judge too, though none of its
// judgments trains it.
func onPolicy(sel alignment.Selector, newJudge func() (alignment.Judge, error)) func(context.Context, trial) ([]point, error) {
	return func(ctx context.Context, t trial) ([]point, error) {
		l, err := t.loop(t.Model)
		if err != nil {
			return nil, err
		}
		l.Selector, l.Judge = sel, alignment.Judge(t.Rules)
		if newJudge != nil {
			if l.Judge, err = newJudge(); err != nil {
				return nil, err
			}
		}
		var acc judgeAccuracy
		return runRecipe(ctx, t, &acc, l.Run)
	}
}

// offline is DPO on pairs sampled from the fine-tuned policy alone. The
// Loop samples the training prompts from the frozen fine-tuned model and
// evaluates and trains the arm's own model; since the Loop's sampling
// seeds depend only on (seed, iteration, prompt), the pairs are exactly
// those that sampling the fine-tuned model once, before any training, would
// give, trained on in the same chunks and epochs as the on-policy arm's.
// The reference is the fine-tuned model throughout, as in offline DPO,
// where one run trains on one dataset: iteration i of the table is that
// run after i of its chunks. Its first iteration is therefore the
// on-policy arm's first, which the test checks.
func offline(ctx context.Context, t trial) ([]point, error) {
	train := map[string]bool{}
	for _, task := range t.World.Train() {
		train[task.Prompt.ID] = true
	}
	sft := t.SFT.Clone()
	l, err := t.loop(behaviour{sampler: sft, learner: t.Model, train: train})
	if err != nil {
		return nil, err
	}
	inner, err := t.trainer(sft)
	if err != nil {
		return nil, err
	}
	l.Judge, l.Trainer = t.Rules, learnerTrainer{inner}
	res, err := l.Run(ctx)
	if err != nil {
		return nil, err
	}
	return loopPoints(res, t.Budget.Iterations)
}

// behaviour is the offline arm's policy: training prompts are answered by
// the frozen sampler (the behaviour policy of offline learning), every
// other prompt, the held-out ones, by the learner being trained.
type behaviour struct {
	sampler, learner alignment.Policy
	train            map[string]bool
}

var _ alignment.Policy = behaviour{}

func (b behaviour) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if b.train[p.ID] {
		return b.sampler.Generate(ctx, p, o)
	}
	return b.learner.Generate(ctx, p, o)
}

// learnerTrainer trains the learner of a behaviour policy and leaves its
// sampler as it is.
type learnerTrainer struct{ inner alignment.Trainer }

var _ alignment.Trainer = learnerTrainer{}

func (l learnerTrainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	b, ok := pol.(behaviour)
	if !ok {
		return nil, fmt.Errorf("offline trainer got a %T, want the behaviour policy", pol)
	}
	next, err := l.inner.Train(ctx, b.learner, pairs)
	if err != nil {
		return nil, err
	}
	b.learner = next
	return b, nil
}

// onlineDPO runs recipe.OnlineDPO over the same passes, a batch of a
// quarter of the prompts at a time, and reads its curve at the start of
// each pass: iteration i of the table is the policy after i passes. It
// draws the budget's samples per prompt rather than the recipe's default
// two, so that it differs from the on-policy arm only in how often it
// trains; with a comparer built from the rule judge its max/min pairs are
// then the on-policy arm's way of choosing.
func onlineDPO(ctx context.Context, t trial) ([]point, error) {
	base, err := t.loop(t.Model)
	if err != nil {
		return nil, err
	}
	n := len(t.World.Train())
	size := (n + onlineBatches - 1) / onlineBatches
	batches := (n + size - 1) / size
	base.Iterations = t.Budget.Iterations * batches
	o := recipe.OnlineDPO{Base: base, Comparer: judge.Pointwise{Judge: t.Rules}, BatchSize: size, MovingReference: true, MultiStep: true}
	res, err := o.Run(ctx)
	if err != nil {
		return nil, err
	}
	all, err := loopPoints(res, base.Iterations)
	if err != nil {
		return nil, err
	}
	pts := make([]point, 0, t.Budget.Iterations+1)
	for i := 0; i <= t.Budget.Iterations; i++ {
		p := all[i*batches]
		p.Iteration = i
		if i < t.Budget.Iterations {
			for _, q := range all[i*batches+1 : (i+1)*batches] {
				p.Pairs += q.Pairs
			}
		}
		// The win rate over the previous batch's policy says nothing about
		// a whole pass.
		p.WinRate = nil
		pts = append(pts, p)
	}
	return pts, nil
}

// noisyRules is the world's rule judge with a noisy reader: each of the
// five checks is reported wrong with probability flipRate, as a judge
// model that misreads a response now and then. Its randomness comes from
// the call's seed (alignment.SeedFrom) when the Loop gives one, otherwise
// from the prompt and response, and salt tells independent judges apart.
type noisyRules struct {
	salt  string
	rules []taskworld.Rule
}

func newNoisy(salt string) noisyRules { return noisyRules{salt: salt, rules: taskworld.Rules()} }

var (
	_ alignment.Judge  = noisyRules{}
	_ alignment.Ranged = noisyRules{}
)

func (n noisyRules) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("noisy judge: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte(n.salt))
	if seed, ok := alignment.SeedFrom(ctx); ok {
		h.Write([]byte(strconv.FormatUint(seed, 16)))
	} else {
		h.Write([]byte(p.ID + "\x00" + r.Text))
	}
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x6e6f697379))
	score := 0.0
	for _, rule := range n.rules {
		pass := rule.Check(p, r)
		if rng.Float64() < flipRate {
			pass = !pass
		}
		if pass {
			score++
		}
	}
	return alignment.Judgment{Score: score}, nil
}

// ScoreRange is the rule judge's scale.
func (noisyRules) ScoreRange() (lo, hi float64) { return 0, taskworld.MaxScore }

// newJury seats jurors independent noisy rule judges.
func newJury() (alignment.Judge, error) {
	var ms []judge.Member
	for i := range jurors {
		name := "noisy-" + strconv.Itoa(i+1)
		ms = append(ms, judge.Member{Name: name, Judge: newNoisy(name)})
	}
	return judge.NewJury(ms, nil)
}
