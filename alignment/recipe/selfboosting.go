package recipe

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

// SourceSelfBoosting is the Source of the self-boosting recipe's pairs.
const SourceSelfBoosting = "synpo"

// SelfBoosting is the self-boosting recipe of SynPO (Dong et al., 2024,
// "Self-Boosting Large Language Models with Synthetic Preference Data"):
// a response improver turns the current policy's responses into chosen
// ones, while the rejected ones stay the initial policy's responses, and
// the policy is trained on these pairs iteration after iteration, so that
// each iteration's chosen responses build on a better policy while the
// rejected side keeps the starting point.
//
// On the Loop, the current policy is the Loop's policy: it draws N
// responses per prompt as usual (so reports, evaluation and safeguards see
// the current policy alone). The Extra hook draws N responses of the
// Initial policy to the same prompt, has the Improver refine each current
// response, and pairs the i-th refinement over the i-th initial response,
// skipping a pair whose two texts are equal and one that repeats a pair
// already made for the prompt. Pairs need no scores (Pair.Scored is
// false, so a pairs file has no score columns for them), so the Loop runs
// without a judge and with the NoPair selector: its reports have no
// scores, count a prompt as yielded when it made a pair and as unjudged
// (Report.Unjudged) when it made none, and count the pairs in
// Report.Pairs.
type SelfBoosting struct {
	// Base holds the run's settings: Policy (the current policy to start
	// from), Prompts and Trainer; Iterations defaults to 3, Samples (pairs
	// per prompt) to 2, Source to "synpo". Judge, SelfJudge, Comparer,
	// Refiner, Selector and Extra must be left zero.
	Base alignment.Loop
	// Improver rewrites the current policy's responses into chosen ones.
	// Required.
	Improver alignment.Refiner
	// Initial is the initial policy, whose responses are rejected; it must
	// stay unchanged during the run and honour SampleOptions.Seed.
	// Required: with a Trainer that updates its policy in place
	// (dpo.Trainer does), pass a copy of the starting policy, not the same
	// value as Base.Policy.
	Initial alignment.Policy
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (s *SelfBoosting) Loop() (*alignment.Loop, error) {
	b := s.Base
	l, err := recipeBase("SelfBoosting", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Refiner", b.Refiner != nil}, field{"Selector", b.Selector != nil}, field{"Extra", b.Extra != nil})
	bad := func(why string) error {
		return fmt.Errorf("recipe: SelfBoosting: %s: %w", why, alignment.ErrInvalid)
	}
	switch {
	case err != nil:
		return nil, err
	case s.Improver == nil:
		return nil, bad("Improver is nil")
	case s.Initial == nil:
		return nil, bad("Initial is nil")
	}
	l.Selector = alignment.NoPair{} // the pairs come from Extra; the responses go unjudged
	l.JudgeSamples = 1
	l.Samples = cmp.Or(b.Samples, 2)
	l.Iterations = cmp.Or(b.Iterations, 3)
	l.Source = cmp.Or(b.Source, SourceSelfBoosting)
	l.Extra = func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		p := x.Prompt
		o := l.Sampling
		o.N, o.Seed = len(rs), x.Seed("initial")
		var initial []alignment.Response
		err := x.Call(ctx, func(ctx context.Context) (err error) {
			initial, err = alignment.SampleN(ctx, s.Initial, p, o)
			return err
		}, "initial")
		if err != nil {
			return nil, fmt.Errorf("sampling the initial policy: %w", err)
		}
		var out []alignment.Pair
		seen := make(map[[2]string]bool, len(rs))
		for i, r := range rs {
			var chosen alignment.Response
			err := x.Call(ctx, func(ctx context.Context) (err error) {
				chosen, err = s.Improver.Refine(ctx, p, r.Response)
				return err
			}, "improve", strconv.Itoa(i))
			if err != nil {
				return nil, fmt.Errorf("improving response %d: %w", i, err)
			}
			key := [2]string{strings.TrimSpace(chosen.Text), strings.TrimSpace(initial[i].Text)}
			if key[0] == key[1] || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, alignment.Pair{Prompt: p, Chosen: chosen, Rejected: initial[i], Iteration: x.Iteration, Source: l.Source})
		}
		return out, nil
	}
	return l, nil
}

// Run runs the configured Loop.
func (s *SelfBoosting) Run(ctx context.Context) (alignment.Result, error) {
	l, err := s.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}
