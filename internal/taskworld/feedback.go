package taskworld

import (
	"context"
	"fmt"
	"math"

	"github.com/selfalign/selfalign/alignment"
)

// Feedback plays the feedback model of RL-CAI (Bai et al., 2022) with the
// world's rules: it prefers the answer that passes more of them, with the
// probability σ(difference in rules passed), a soft label as a feedback
// model's option log-probabilities give one. A tiny model cannot answer a
// multiple-choice question; with a capable model, constitution.NewComparer
// over it takes Feedback's place unchanged.
type Feedback struct {
	// Rules scores each answer; Constitution's rule judge.
	Rules alignment.Judge
}

var _ alignment.Comparer = Feedback{}

// Compare implements alignment.Comparer.
func (f Feedback) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if f.Rules == nil {
		return alignment.Comparison{}, fmt.Errorf("taskworld: Feedback.Rules is nil: %w", alignment.ErrInvalid)
	}
	ja, err := f.Rules.Judge(ctx, p, a)
	if err != nil {
		return alignment.Comparison{}, err
	}
	jb, err := f.Rules.Judge(ctx, p, b)
	if err != nil {
		return alignment.Comparison{}, err
	}
	return alignment.Comparison{ProbA: 1 / (1 + math.Exp(jb.Score-ja.Score))}, nil
}

// FeedbackPairs is RL-CAI's AI-feedback step: one round of samples
// answers of pol to each prompt, compared two by two by Feedback over
// rules, and the pair of each prompt's best and worst answer with its
// soft label (Pair.Prob). The answers are those a Loop with the same
// prompts, Seed and Sampling draws in its first iteration: the Loop's
// sampling seeds depend on (seed, iteration, prompt) alone.
func FeedbackPairs(ctx context.Context, pol alignment.Policy, prompts []alignment.Prompt, rules alignment.Judge,
	samples int, sampling alignment.SampleOptions, seed uint64) ([]alignment.Pair, error) {
	src, err := alignment.NewSliceSource(prompts)
	if err != nil {
		return nil, fmt.Errorf("taskworld: feedback: %w", err)
	}
	var sink alignment.MemorySink
	if _, err := (&alignment.Loop{
		Policy: pol, Prompts: src, Comparer: Feedback{rules}, Sink: &sink,
		Iterations: 1, Samples: samples, Sampling: sampling, Seed: seed, Source: "rl-cai",
	}).Run(ctx); err != nil {
		return nil, fmt.Errorf("taskworld: feedback: %w", err)
	}
	return sink.Pairs(), nil
}

// GoldPairs returns pairs of pol's answers to the world's held-out
// prompts, n per prompt, ordered by rules (the gold standard): every two
// answers of different rule scores, and, as a subset, the best and the
// worst of each prompt (the pair the Loop's MaxMin selector makes), ties
// dropped. They measure a reward model's accuracy on prompts it never
// trained on.
func GoldPairs(ctx context.Context, pol alignment.Policy, w *World, rules alignment.Judge, n int,
	sampling alignment.SampleOptions, seed uint64) (all, maxMin []alignment.Pair, err error) {
	held, err := alignment.NewSliceSource(Prompts(w.HeldOut()))
	if err != nil {
		return nil, nil, fmt.Errorf("taskworld: gold pairs: %w", err)
	}
	var sink alignment.MemorySink
	if _, err := (&alignment.Loop{
		Policy: pol, Prompts: held, Judge: rules, Sink: &sink, Selector: alignment.NoPair{},
		Extra: func(_ context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			var out []alignment.Pair
			hi, lo, ok := alignment.MaxMin{}.Select(rs)
			for i := range rs {
				for j := range rs {
					if rs[i].Score > rs[j].Score {
						src := "gold"
						if ok && i == hi && j == lo {
							src = "gold-maxmin"
						}
						out = append(out, alignment.Pair{Prompt: x.Prompt, Chosen: rs[i].Response, Rejected: rs[j].Response,
							ScoreChosen: rs[i].Score, ScoreRejected: rs[j].Score, Scored: true, Source: src})
					}
				}
			}
			return out, nil
		},
		Iterations: 1, Samples: n, Sampling: sampling, Seed: seed, Source: "gold",
	}).Run(ctx); err != nil {
		return nil, nil, fmt.Errorf("taskworld: gold pairs: %w", err)
	}
	all = sink.Pairs()
	for _, p := range all {
		if p.Source == "gold-maxmin" {
			maxMin = append(maxMin, p)
		}
	}
	return all, maxMin, nil
}
