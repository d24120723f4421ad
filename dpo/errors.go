package dpo

import (
	"errors"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
)

// Errors of the dpo package. ErrInvalid and ErrUnsupported wrap the
// alignment errors of the same meaning, so that errors.Is works with either.
var (
	// ErrInvalid says an input or a setting is malformed: a pair whose
	// log-probabilities are NaN, infinite or positive, a length below 1 for a
	// loss that averages per token, a loss parameter out of range, a bad
	// trainer option. The message names the pair index and field, or the
	// parameter. It wraps alignment.ErrInvalid.
	ErrInvalid = fmt.Errorf("dpo: %w", alignment.ErrInvalid)
	// ErrUnsupported says a policy or model lacks a capability the call needs:
	// the Trainer was given a policy that is not a Model, a model that cannot
	// be saved, or no function to load one. It wraps alignment.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("dpo: %w", alignment.ErrUnsupported)
	// ErrDiverged says training produced a non-finite gradient: the model's
	// gradients overflowed or its log-probabilities became NaN. The
	// parameters are left as they were before the offending step.
	ErrDiverged = errors.New("dpo: training diverged")
)

// PairError reports an invalid pair: which one, which field and why. It
// wraps ErrInvalid. Batch functions return it for the first invalid pair;
// the Trainer reports Index in the caller's slice of pairs, not in the
// shuffled minibatch.
type PairError struct {
	// Index is the position of the pair in the slice given to the call.
	Index int
	// Field names the offending Pair field ("Chosen", "RejectedLen", ...),
	// or "loss" or "rewards" when valid inputs drive the loss or the
	// implicit rewards beyond the range of float64.
	Field string
	// Reason says what is wrong with the field's value.
	Reason string
}

// Error implements error.
func (e *PairError) Error() string {
	return fmt.Sprintf("dpo: invalid input: pair %d: %s %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *PairError) Unwrap() error { return ErrInvalid }

// reindex returns err with the index of a PairError mapped through index,
// so that an error found in a minibatch names the pair in the caller's slice.
func reindex(err error, index func(int) int) error {
	var pe *PairError
	if errors.As(err, &pe) {
		c := *pe
		c.Index = index(c.Index)
		return &c
	}
	return err
}
