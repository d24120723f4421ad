package alignment

import (
	"context"
	"fmt"
	"strings"
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
// On the Loop, the policy of every iteration is a pair of policies that
// answers each prompt twice: first the current policy, then the initial
// one, each with the prompt's sampling seed. The Extra hook has the
// Improver refine the first response and pairs the result over the
// second; it makes no pair when the two texts are equal. Pairs need no
// scores, so the Loop runs with a judge that scores every response 0 and
// the NoPair selector: its reports count every prompt as a tie, and the
// pairs in Report.Pairs. The Trainer is wrapped to train the current
// policy only (and to save and load only it, when it is a Checkpointer).
// Run returns the trained current policy in Result.Policy.
type SelfBoosting struct {
	// Base holds the run's settings: Policy (the current policy to start
	// from), Prompts and Trainer; Iterations defaults to 3, Source to
	// "synpo". Judge, SelfJudge, Comparer, Refiner, Selector and Extra
	// must be left zero, and Samples zero or 2.
	Base Loop
	// Improver rewrites the current policy's responses into chosen ones.
	// Required.
	Improver Refiner
	// Initial is the initial policy, whose responses are rejected; it must
	// stay unchanged during the run. Required: with a Trainer that updates
	// its policy in place (dpo.Trainer does), pass a copy of the starting
	// policy, not the same value as Base.Policy.
	Initial Policy
}

// Loop returns the configured Loop. Its Result.Policy is the pair of
// policies; Run returns the current one alone. The error wraps ErrInvalid
// and names the field that is missing or must be left zero.
func (s *SelfBoosting) Loop() (*Loop, error) {
	b := s.Base
	l, err := recipeBase("SelfBoosting", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Refiner", b.Refiner != nil}, field{"Selector", b.Selector != nil}, field{"Extra", b.Extra != nil})
	bad := func(why string) error { return fmt.Errorf("alignment: SelfBoosting: %s: %w", why, ErrInvalid) }
	switch {
	case err != nil:
		return nil, err
	case s.Improver == nil:
		return nil, bad("Improver is nil")
	case s.Initial == nil:
		return nil, bad("Initial is nil")
	case b.Samples != 0 && b.Samples != 2:
		return nil, bad(fmt.Sprintf("Base.Samples is %d: the recipe draws one response from each of the current and the initial policy", b.Samples))
	}
	if b.Trainer != nil {
		if _, ok := b.Trainer.(Checkpointer); !ok && b.Dir != "" {
			return nil, bad("Base.Trainer is not a Checkpointer, which a run with Dir needs to save each iteration's policy")
		}
		l.Trainer = boostTrainer{inner: b.Trainer, initial: s.Initial}
	}
	l.Policy = &boosted{current: b.Policy, initial: s.Initial}
	l.Judge = unjudged{}
	l.Selector = NoPair{}
	l.Samples = 2
	l.JudgeSamples = 1
	l.Iterations = orDefault(b.Iterations, 3)
	l.Source = orDefault(b.Source, SourceSelfBoosting)
	l.Extra = func(ctx context.Context, it int, p Prompt, rs []Scored) ([]Pair, error) {
		if len(rs) != 2 {
			return nil, fmt.Errorf("got %d responses, want the current and the initial policy's: %w", len(rs), ErrInvalid)
		}
		current, initial := rs[0].Response, rs[1].Response
		var chosen Response
		err := callExtra(ctx, l, func(ctx context.Context) (err error) {
			ctx = WithSeed(ctx, extraSeed(l.Seed, "improve", it, p.ID))
			chosen, err = s.Improver.Refine(ctx, p, current)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("improving: %w", err)
		}
		if strings.TrimSpace(chosen.Text) == strings.TrimSpace(initial.Text) {
			return nil, nil
		}
		return []Pair{{Prompt: p, Chosen: chosen, Rejected: initial, Iteration: it, Source: l.Source}}, nil
	}
	return l, nil
}

// Run runs the configured Loop and returns the current policy it ended
// with in Result.Policy.
func (s *SelfBoosting) Run(ctx context.Context) (Result, error) {
	l, err := s.Loop()
	if err != nil {
		return Result{}, err
	}
	res, err := l.Run(ctx)
	if b, ok := res.Policy.(*boosted); ok {
		res.Policy = b.current
	}
	return res, err
}

// boosted answers each prompt with one response of the current policy and
// one of the initial policy, in that order.
type boosted struct {
	current, initial Policy
}

func (b *boosted) Generate(ctx context.Context, p Prompt, o SampleOptions) ([]Response, error) {
	if o.Count() != 2 {
		return nil, fmt.Errorf("alignment: SelfBoosting: asked for %d responses, want 2: %w", o.Count(), ErrInvalid)
	}
	o.N = 1
	cur, err := SampleN(ctx, b.current, p, o)
	if err != nil {
		return nil, fmt.Errorf("alignment: SelfBoosting: current policy: %w", err)
	}
	init, err := SampleN(ctx, b.initial, p, o)
	if err != nil {
		return nil, fmt.Errorf("alignment: SelfBoosting: initial policy: %w", err)
	}
	return []Response{cur[0], init[0]}, nil
}

// boostTrainer trains the current policy of a boosted pair and keeps the
// initial one.
type boostTrainer struct {
	inner   Trainer
	initial Policy
}

func (t boostTrainer) Train(ctx context.Context, pol Policy, pairs []Pair) (Policy, error) {
	b, ok := pol.(*boosted)
	if !ok {
		return nil, fmt.Errorf("alignment: SelfBoosting: asked to train a %T, not the recipe's policy pair: %w", pol, ErrInvalid)
	}
	next, err := t.inner.Train(ctx, b.current, pairs)
	if err != nil || next == nil {
		return nil, err
	}
	return &boosted{current: next, initial: b.initial}, nil
}

func (t boostTrainer) SaveCheckpoint(ctx context.Context, pol Policy, dir string) error {
	b, ok := pol.(*boosted)
	if !ok {
		return fmt.Errorf("alignment: SelfBoosting: asked to save a %T, not the recipe's policy pair: %w", pol, ErrInvalid)
	}
	c, ok := t.inner.(Checkpointer)
	if !ok {
		return fmt.Errorf("alignment: SelfBoosting: the trainer (%T) cannot save policies: %w", t.inner, ErrUnsupported)
	}
	return c.SaveCheckpoint(ctx, b.current, dir)
}

func (t boostTrainer) LoadCheckpoint(ctx context.Context, dir string) (Policy, error) {
	c, ok := t.inner.(Checkpointer)
	if !ok {
		return nil, fmt.Errorf("alignment: SelfBoosting: the trainer (%T) cannot load policies: %w", t.inner, ErrUnsupported)
	}
	pol, err := c.LoadCheckpoint(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &boosted{current: pol, initial: t.initial}, nil
}
