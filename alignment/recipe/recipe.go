// Package recipe holds the papers' methods as configurations of the one
// alignment.Loop. Each recipe is a small struct of the parts its paper
// names plus a Base Loop for the settings every run shares (Policy,
// Prompts, Trainer, Sink, Observer, Iterations, Seed, Dir, ...); its Loop
// method returns the configured *alignment.Loop, and Run runs it. The
// parts a recipe wires itself must be left zero in Base, so that a setting
// is never silently overridden; knobs with recipe defaults (Samples,
// JudgeSamples, Iterations, Source) take Base's value when it is set.
//
//   - [ConstitutionalAI] (Bai et al., 2022): an SL stage that revises
//     responses by a Refiner (constitution.Reviser) and fine-tunes on the
//     final revisions (or, as an option, trains on revision ≻ original
//     pairs), and an RL stage whose pairs a principle-based Comparer
//     labels.
//   - [SelfRewarding] (Yuan et al., 2024): the policy judges its own four
//     samples through a rubric, three judgments averaged, best against
//     worst, iterated with the Trainer.
//   - [MetaRewarding] (Wu et al., 2024): length-controlled actor pairs, and
//     judge pairs from a meta-judge's tournament over the judgments of the
//     response they disagree on most, its positions weighted against
//     position bias and ranked by an Elo fit.
//   - [OnlineDPO] (Guo et al., 2024): one iteration per batch of [Batches],
//     two samples, a pairwise AI judge, one training step at once,
//     anchored to the initial model.
//   - [SelfBoosting] (SynPO, Dong et al., 2024): an improver's rewrite of
//     the current policy's answer over the initial policy's answer; on
//     request, the improver re-learned each iteration on gold data through
//     alignment.SFTTrainer, a preference-gap filter and pairs accumulated
//     across iterations.
//   - [SPaR] (Cheng et al., 2024): a tree search of minimal corrections of
//     an answer the judge fails; the passing correction over the failed
//     answer for the actor, and the refiner's successful search trace for
//     the refiner.
//
// Package recipe imports only package alignment: the judges, refiners,
// searches and trainers are wired by the caller (judge, constitution,
// sampler, dpo), as the Examples show.
package recipe

import (
	"fmt"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/typednil"
)

// RevisionPairer is a Refiner that makes the revision-over-original pair of
// its own refinements, as constitution.Reviser does (it checks that the
// refined response extends the original's revisions and counts the skips).
// Recipes use it when the Refiner has it; lacking it, they pair a refined
// response over its original whenever the text changed.
type RevisionPairer interface {
	Pair(p alignment.Prompt, original, refined alignment.Response) (alignment.Pair, bool)
}

// field names a Base field a recipe wires itself, and whether it is set.
type field struct {
	name string
	set  bool
}

// recipeBase copies base and checks that the fields the recipe wires are
// left zero and that the parts every recipe needs are there.
func recipeBase(recipe string, base alignment.Loop, owned ...field) (*alignment.Loop, error) {
	for _, f := range owned {
		if f.set {
			return nil, fmt.Errorf("recipe: %s: Base.%s is set, but the recipe wires it itself; leave it zero: %w", recipe, f.name, alignment.ErrInvalid)
		}
	}
	switch {
	case base.Policy == nil:
		return nil, fmt.Errorf("recipe: %s: Base.Policy is nil: %w", recipe, alignment.ErrInvalid)
	case base.Prompts == nil:
		return nil, fmt.Errorf("recipe: %s: Base.Prompts is nil: %w", recipe, alignment.ErrInvalid)
	}
	l := base
	return &l, nil
}

// build calls the builder named name on pol and checks what it made: an
// error, or a nil part (a nil pointer inside the interface included),
// wraps ErrInvalid and names the builder.
func build[T any](name string, f func(alignment.Policy) (T, error), pol alignment.Policy) (T, error) {
	var zero T
	x, err := f(pol)
	if err != nil {
		return zero, fmt.Errorf("recipe: %s: %w", name, err)
	}
	if any(x) == nil {
		return zero, fmt.Errorf("recipe: %s returned nil and no error: %w", name, alignment.ErrInvalid)
	}
	if typednil.Is(x) {
		return zero, fmt.Errorf("recipe: %s returned a nil %T and no error: %w", name, x, alignment.ErrInvalid)
	}
	return x, nil
}

// samplingOr returns o with temperature t and top-p p when o sets neither
// (both zero), the papers' settings, and o itself otherwise.
func samplingOr(o alignment.SampleOptions, t, p float64) alignment.SampleOptions {
	if o.Temperature == 0 && o.TopP == 0 {
		o.Temperature, o.TopP = t, p
	}
	return o
}
