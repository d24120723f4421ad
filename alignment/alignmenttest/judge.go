package alignmenttest

import (
	"context"
	"fmt"
	"math"

	"github.com/selfalign/selfalign/alignment"
)

var (
	_ alignment.Judge    = JudgeFunc(nil)
	_ alignment.Comparer = ComparerFunc(nil)
	_ alignment.Refiner  = RefinerFunc(nil)
	_ alignment.Judge    = Scores(nil)
	_ alignment.Comparer = Scores(nil)
	_ alignment.Ranged   = Scores(nil)
	_ alignment.Refiner  = Rewrites(nil)
)

// JudgeFunc adapts a function to alignment.Judge. Judge returns the
// context's error without calling the function once ctx is done, so a pure
// function makes a conforming judge.
type JudgeFunc func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error)

// Judge implements alignment.Judge by calling f.
func (f JudgeFunc) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("alignmenttest: judge: %w", err)
	}
	return f(ctx, p, r)
}

// ComparerFunc adapts a function to alignment.Comparer, checking the
// context first as JudgeFunc does.
type ComparerFunc func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error)

// Compare implements alignment.Comparer by calling f.
func (f ComparerFunc) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Comparison{}, fmt.Errorf("alignmenttest: comparer: %w", err)
	}
	return f(ctx, p, a, b)
}

// RefinerFunc adapts a function to alignment.Refiner, checking the context
// first as JudgeFunc does.
type RefinerFunc func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error)

// Refine implements alignment.Refiner by calling f.
func (f RefinerFunc) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Response{}, fmt.Errorf("alignmenttest: refiner: %w", err)
	}
	return f(ctx, p, r)
}

// Scores is a data-only judge and comparer that scores a response by its
// text, whatever the prompt. A text missing from the map is an error that
// wraps ErrUnscripted. Values are returned as they are, NaN included, so
// that tests can check how callers treat bad scores.
type Scores map[string]float64

// Judge implements alignment.Judge.
func (s Scores) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("alignmenttest: scores: %w", err)
	}
	v, err := s.score(p, r)
	if err != nil {
		return alignment.Judgment{}, err
	}
	return alignment.Judgment{Score: v}, nil
}

// Compare implements alignment.Comparer: ProbA is 1 when a scores higher
// than b, 0 when lower, and 0.5 when they tie.
func (s Scores) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Comparison{}, fmt.Errorf("alignmenttest: scores: %w", err)
	}
	va, err := s.score(p, a)
	if err != nil {
		return alignment.Comparison{}, err
	}
	vb, err := s.score(p, b)
	if err != nil {
		return alignment.Comparison{}, err
	}
	switch {
	case va > vb:
		return alignment.Comparison{ProbA: 1}, nil
	case va < vb:
		return alignment.Comparison{ProbA: 0}, nil
	}
	return alignment.Comparison{ProbA: 0.5}, nil
}

// ScoreRange implements alignment.Ranged: the smallest and largest of the
// map's non-NaN values, or 0, 0 for an empty map.
func (s Scores) ScoreRange() (lo, hi float64) {
	first := true
	for _, v := range s {
		switch {
		case math.IsNaN(v):
		case first:
			lo, hi, first = v, v, false
		default:
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	return lo, hi
}

func (s Scores) score(p alignment.Prompt, r alignment.Response) (float64, error) {
	v, ok := s[r.Text]
	if !ok {
		return 0, fmt.Errorf("alignmenttest: no score for response %q to prompt %q: %w", r.Text, p.ID, ErrUnscripted)
	}
	return v, nil
}

// Rewrites is a data-only Refiner: a response whose text is a key is
// rewritten to the value, with a Revision (Refiner "rewrites") appended;
// any other response comes back unchanged.
type Rewrites map[string]string

// Refine implements alignment.Refiner.
func (w Rewrites) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Response{}, fmt.Errorf("alignmenttest: rewrites: %w", err)
	}
	out := cloneResponse(r)
	if t, ok := w[r.Text]; ok {
		out.Revisions = append(out.Revisions, alignment.Revision{Refiner: "rewrites", Text: t})
		out.Text = t
	}
	return out, nil
}
