package sampler

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// BestOfN draws N responses, scores each with a Judge and keeps the best:
// rejection sampling, and the raw material of best-versus-rest pairs.
type BestOfN struct {
	pol   alignment.Policy
	judge alignment.Judge
	n     int
}

var _ alignment.Policy = (*BestOfN)(nil)

// NewBestOfN returns a best-of-n sampler drawing from pol and scoring with
// j. It fails, wrapping [ErrInvalid], when pol or j is nil or n < 1.
func NewBestOfN(pol alignment.Policy, j alignment.Judge, n int) (*BestOfN, error) {
	switch {
	case pol == nil:
		return nil, fmt.Errorf("sampler: best-of-n: nil policy: %w", ErrInvalid)
	case j == nil:
		return nil, fmt.Errorf("sampler: best-of-n: nil judge: %w", ErrInvalid)
	case n < 1:
		return nil, fmt.Errorf("sampler: best-of-n: N is %d, want at least 1: %w", n, ErrInvalid)
	}
	return &BestOfN{pol: pol, judge: j, n: n}, nil
}

// Draw samples N responses to p with o (its N is ignored), judges them all
// and returns the highest-scoring one and the others in the order drawn, all
// with their scores. Among equal scores the earliest drawn is best.
//
// Each response is judged under a seed (alignment.WithSeed) derived from the
// seed in ctx, or from o.Seed and p.ID when ctx has none, and from the
// response's index, so a sampling judge gives repeatable scores. Judging
// runs concurrently. Draw fails, wrapping [ErrScore], when the judge returns
// NaN.
func (b *BestOfN) Draw(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) (best alignment.Scored, rest []alignment.Scored, err error) {
	all, err := b.draw(ctx, p, o)
	if err != nil {
		return alignment.Scored{}, nil, err
	}
	bi := 0
	for i, s := range all {
		if s.Score > all[bi].Score {
			bi = i
		}
	}
	rest = make([]alignment.Scored, 0, len(all)-1)
	rest = append(rest, all[:bi]...)
	rest = append(rest, all[bi+1:]...)
	return all[bi], rest, nil
}

// Generate implements alignment.Policy: it draws N responses and returns the
// o.Count() best, best first, ties in the order drawn. It fails, wrapping
// [ErrInvalid], when o.Count() exceeds N.
func (b *BestOfN) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if o.Count() > b.n {
		return nil, fmt.Errorf("sampler: best-of-n: asked for %d responses, draws only %d: %w", o.Count(), b.n, ErrInvalid)
	}
	all, err := b.draw(ctx, p, o)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(x, y alignment.Scored) int {
		switch {
		case x.Score > y.Score:
			return -1
		case x.Score < y.Score:
			return 1
		}
		return 0
	})
	out := make([]alignment.Response, o.Count())
	for i := range out {
		out[i] = all[i].Response
	}
	return out, nil
}

// draw samples and judges N responses, in the order drawn.
func (b *BestOfN) draw(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Scored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.N = b.n
	rs, err := alignment.SampleN(ctx, b.pol, p, o)
	if err != nil {
		return nil, fmt.Errorf("sampler: best-of-n: %w", err)
	}
	base, ok := alignment.SeedFrom(ctx)
	if !ok {
		base = seeds.Derive(o.Seed, p.ID)
	}
	all := make([]alignment.Scored, len(rs))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range rs {
		g.Go(func() error {
			jctx := alignment.WithSeed(gctx, seeds.Derive(base, "best-of-n", strconv.Itoa(i)))
			j, err := b.judge.Judge(jctx, p, r)
			if err != nil {
				return fmt.Errorf("sampler: best-of-n: judging response %d to prompt %q: %w", i, p.ID, err)
			}
			if math.IsNaN(j.Score) {
				return fmt.Errorf("sampler: best-of-n: judge scored response %d to prompt %q NaN: %w", i, p.ID, ErrScore)
			}
			all[i] = alignment.Scored{Response: r, Score: j.Score}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return all, nil
}
