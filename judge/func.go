package judge

import (
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
)

var _ alignment.Judge = Func(nil)

// Func adapts a Go function to a Judge: rule-based judges, test doubles,
// judges computed from other signals. The function must be safe for
// concurrent calls and must not modify its arguments.
type Func func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error)

// Judge implements alignment.Judge by calling f. It returns ctx's error
// without calling f when ctx is already done, and rejects a judgment whose
// Score, Samples or Aspects hold NaN or an infinity (wrapping ErrInvalid)
// rather than pass it on.
func (f Func) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("judge: func: %w", err)
	}
	if f == nil {
		return alignment.Judgment{}, fmt.Errorf("judge: func: nil function: %w", ErrInvalid)
	}
	j, err := f(ctx, p, r)
	if err != nil {
		return alignment.Judgment{}, err
	}
	if !finite(j.Score) {
		return alignment.Judgment{}, fmt.Errorf("judge: func: prompt %q: Score is %v: %w", p.ID, j.Score, ErrInvalid)
	}
	for i, s := range j.Samples {
		if !finite(s) {
			return alignment.Judgment{}, fmt.Errorf("judge: func: prompt %q: Samples[%d] is %v: %w", p.ID, i, s, ErrInvalid)
		}
	}
	for k, s := range j.Aspects {
		if !finite(s) {
			return alignment.Judgment{}, fmt.Errorf("judge: func: prompt %q: Aspects[%q] is %v: %w", p.ID, k, s, ErrInvalid)
		}
	}
	return j, nil
}
