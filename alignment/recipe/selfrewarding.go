package recipe

import (
	"cmp"
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
)

// SourceSelfRewarding is the Source of the Self-Rewarding recipe's pairs.
const SourceSelfRewarding = "self-rewarding"

// SelfRewarding is the recipe of Self-Rewarding Language Models (Yuan et
// al., 2024): the policy is its own judge. Each iteration samples N = 4
// responses per prompt from the current policy, has the judge that Judge
// builds from that same policy (an LLM-as-a-judge rubric, judge.NewRubric
// on the policy) score each k = 3 times, averages, and pairs the highest
// over the lowest, dropping prompts whose responses all tie (MaxMin). The
// Trainer turns each iteration's pairs into the next model: from the
// starting model M1, two iterations make M2 and M3.
//
// Responses are sampled at the paper's temperature 0.7 and top-p 0.9
// unless Base.Sampling sets a temperature or a top-p: greedy decoding
// would give N identical responses and no pair. To decode greedily, set
// Base.Sampling.TopP to 1 and leave Temperature 0.
//
// New prompts may come from a generator such as SelfInstruct set as
// Base.Prompts, as the paper generates them few-shot from its seed set.
type SelfRewarding struct {
	// Base holds the run's settings: Policy (M1) and Prompts are required;
	// Trainer makes the next model; Iterations defaults to 2, Samples to 4,
	// JudgeSamples to 3, Selector to MaxMin, Source to "self-rewarding",
	// Sampling to temperature 0.7 and top-p 0.9 when it sets neither.
	// Judge, SelfJudge and Comparer must be left zero.
	Base alignment.Loop
	// Judge builds the judge of an iteration from its policy. Required.
	// The Loop calls it at the start of every iteration; an error, or a
	// nil Judge, stops the run there with an error wrapping ErrInvalid
	// that names SelfRewarding.Judge. With package judge:
	//
	//	Judge: func(p alignment.Policy) (alignment.Judge, error) { return judge.NewRubric(p, nil) },
	Judge func(alignment.Policy) (alignment.Judge, error)
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (s *SelfRewarding) Loop() (*alignment.Loop, error) {
	b := s.Base
	l, err := recipeBase("SelfRewarding", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil})
	if err != nil {
		return nil, err
	}
	if s.Judge == nil {
		return nil, fmt.Errorf("recipe: SelfRewarding: Judge is nil: %w", alignment.ErrInvalid)
	}
	l.SelfJudge = func(pol alignment.Policy) (alignment.Judge, error) {
		return build("SelfRewarding.Judge", s.Judge, pol)
	}
	l.Iterations = cmp.Or(b.Iterations, 2)
	l.Samples = cmp.Or(b.Samples, 4)
	l.JudgeSamples = cmp.Or(b.JudgeSamples, 3)
	l.Selector = cmp.Or[alignment.Selector](b.Selector, alignment.MaxMin{})
	l.Source = cmp.Or(b.Source, SourceSelfRewarding)
	l.Sampling = samplingOr(b.Sampling, 0.7, 0.9)
	return l, nil
}

// Run runs the configured Loop.
func (s *SelfRewarding) Run(ctx context.Context) (alignment.Result, error) {
	l, err := s.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}
