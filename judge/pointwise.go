package judge

import (
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
)

var _ alignment.Comparer = Pointwise{}

// Pointwise makes a pairwise judge of a pointwise one: it scores both
// responses with Judge and prefers the higher score — ProbA is 1 when A
// scores higher, 0 when lower and 0.5 on a tie. It lets a rule judge, or a
// rubric, label pairs wherever a Comparer is wanted (online DPO, RL-CAI,
// win rates). Both calls see the caller's context, seed included.
type Pointwise struct {
	Judge alignment.Judge
}

// Compare implements alignment.Comparer.
func (c Pointwise) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if c.Judge == nil {
		return alignment.Comparison{}, fmt.Errorf("judge: Pointwise has no Judge: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return alignment.Comparison{}, fmt.Errorf("judge: pointwise comparison: %w", err)
	}
	ja, err := c.Judge.Judge(ctx, p, a)
	if err != nil {
		return alignment.Comparison{}, fmt.Errorf("judge: pointwise comparison, response A: %w", err)
	}
	jb, err := c.Judge.Judge(ctx, p, b)
	if err != nil {
		return alignment.Comparison{}, fmt.Errorf("judge: pointwise comparison, response B: %w", err)
	}
	switch {
	case ja.Score > jb.Score:
		return alignment.Comparison{ProbA: 1}, nil
	case ja.Score < jb.Score:
		return alignment.Comparison{ProbA: 0}, nil
	}
	return alignment.Comparison{ProbA: 0.5}, nil
}
