package alignment

import (
	"fmt"
)

// Recipes are configurations of the one Loop: each is a small struct of
// the parts its paper names plus a Base Loop for the settings every run
// shares (Policy, Prompts, Trainer, Sink, Observer, Iterations, Seed, Dir,
// ...). Loop returns the configured *Loop, Run runs it. The parts a recipe
// wires itself must be left zero in Base, so that a setting is never
// silently overridden; knobs with recipe defaults (Samples, JudgeSamples,
// Iterations, Source) take Base's value when it is set.

var (
	_ Selector = NoPair{}
)

// NoPair is a Selector that never selects a pair, for loops whose pairs all
// come from Loop.Extra: SL-CAI's revision-over-original pairs, SynPO's
// improved-over-initial pairs, instruction inversion. The Loop counts each
// prompt of such a loop as a tie (Report.Ties) and its pairs in
// Report.Pairs.
type NoPair struct{}

// Select implements Selector; it always declines.
func (NoPair) Select([]Scored) (chosen, rejected int, ok bool) { return 0, 0, false }

// RevisionPairer is a Refiner that makes the revision-over-original pair of
// its own refinements, as constitution.Reviser does (it checks that the
// refined response extends the original's revisions and counts the skips).
// Recipes use it when the Refiner has it; lacking it, they pair a refined
// response over its original whenever the text changed.
type RevisionPairer interface {
	Pair(p Prompt, original, refined Response) (Pair, bool)
}

// field names a Base field a recipe wires itself, and whether it is set.
type field struct {
	name string
	set  bool
}

// recipeBase copies base and checks that the fields the recipe wires are
// left zero and that the parts every recipe needs are there.
func recipeBase(recipe string, base Loop, owned ...field) (*Loop, error) {
	for _, f := range owned {
		if f.set {
			return nil, fmt.Errorf("alignment: %s: Base.%s is set, but the recipe wires it itself; leave it zero: %w", recipe, f.name, ErrInvalid)
		}
	}
	switch {
	case base.Policy == nil:
		return nil, fmt.Errorf("alignment: %s: Base.Policy is nil: %w", recipe, ErrInvalid)
	case base.Prompts == nil:
		return nil, fmt.Errorf("alignment: %s: Base.Prompts is nil: %w", recipe, ErrInvalid)
	}
	l := base
	return &l, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
