// Package sampler decides how responses are drawn from policies: a fixed
// number of samples with default decoding options ([Standard]), the best of N
// by a judge ([BestOfN]), a weighted mix of several policies ([Ensemble]),
// without duplicates ([Dedup], [Distinct]), and SPaR-style tree-search
// refinement of failing responses ([TreeSearch], after Cheng et al., 2024).
//
// Every type here is safe for concurrent use once built, and all randomness
// is derived from seeds (SampleOptions.Seed, alignment.SeedFrom, or an
// option), so the same seed always gives the same result, whatever the
// scheduling.
//
// Policies, judges and refiners wrapped here must honour the contracts of
// package alignment. Text sent back to a model inside a prompt is quoted
// between unforgeable fences and is never interpreted as a template.
package sampler

import (
	"errors"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
)

// Errors of the sampler package.
var (
	// ErrInvalid says an option or an argument is malformed: a non-positive
	// N, an empty ensemble, a negative weight, a nil policy. It is
	// alignment.ErrInvalid, so that errors.Is(err, alignment.ErrInvalid)
	// holds for every invalid input of every package.
	ErrInvalid = alignment.ErrInvalid
	// ErrBudget says a tree search needed more model calls than its budget
	// allows.
	ErrBudget = errors.New("model call budget exceeded")
	// ErrScore says a judge returned a score that cannot be compared, such
	// as NaN. It wraps ErrInvalid: the judge's output is invalid input.
	ErrScore = fmt.Errorf("unusable judge score: %w", ErrInvalid)
)
