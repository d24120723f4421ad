package sampler

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Member is one policy of an [Ensemble].
type Member struct {
	// Name identifies the member; it becomes the Source of every response
	// the member writes. Names must be non-empty and unique.
	Name string
	// Policy draws the member's responses.
	Policy alignment.Policy
	// Weight is the member's share of the draws, relative to the others'.
	// It must be finite and non-negative; a zero-weight member never draws.
	Weight float64
}

// Ensemble is a Policy that draws from several member policies in
// proportion to their weights, so that one prompt's responses come from
// different models.
//
// A call for N responses gives member i floor(N·w_i/Σw) responses and hands
// the remaining ones out one each to members drawn without replacement with
// probability proportional to their fractional shares, using a source seeded
// from the call's seed and the prompt ID. Members are asked concurrently.
// The responses are returned in an order shuffled with the same source, so
// that order-based tie-breaking downstream (alignment.MaxMin keeps the
// earlier response) favours no member.
type Ensemble struct {
	members []Member
	total   float64
}

var _ alignment.Policy = (*Ensemble)(nil)

// NewEnsemble returns an ensemble of members, which it copies. It fails,
// wrapping [ErrInvalid], when there are no members, a name is empty or
// repeated, a policy is nil, a weight is negative or not finite, or every
// weight is zero.
func NewEnsemble(members ...Member) (*Ensemble, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("sampler: ensemble: no members: %w", ErrInvalid)
	}
	e := &Ensemble{members: append([]Member(nil), members...)}
	seen := map[string]int{}
	for i, m := range members {
		switch j, dup := seen[m.Name]; {
		case m.Name == "":
			return nil, fmt.Errorf("sampler: ensemble: member %d: empty name: %w", i, ErrInvalid)
		case dup:
			return nil, fmt.Errorf("sampler: ensemble: member %d: name %q already used by member %d: %w", i, m.Name, j, ErrInvalid)
		case m.Policy == nil:
			return nil, fmt.Errorf("sampler: ensemble: member %d (%q): nil policy: %w", i, m.Name, ErrInvalid)
		case !(m.Weight >= 0) || math.IsInf(m.Weight, 1):
			return nil, fmt.Errorf("sampler: ensemble: member %d (%q): weight %v is not a finite non-negative number: %w", i, m.Name, m.Weight, ErrInvalid)
		}
		seen[m.Name] = i
		e.total += m.Weight
	}
	if !(e.total > 0) || math.IsInf(e.total, 1) {
		return nil, fmt.Errorf("sampler: ensemble: weights sum to %v, want a positive finite total: %w", e.total, ErrInvalid)
	}
	return e, nil
}

// Generate implements alignment.Policy: it returns exactly o.Count()
// responses, each with Source set to the name of the member that wrote it.
// Member i is asked with a seed derived from o.Seed and its name.
func (e *Ensemble) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rng := seeds.Rand(seeds.Derive(o.Seed, "ensemble", p.ID))
	counts := e.split(o.Count(), rng.Float64)
	parts := make([][]alignment.Response, len(e.members))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range e.members {
		if counts[i] == 0 {
			continue
		}
		g.Go(func() error {
			mo := o
			mo.N = counts[i]
			mo.Seed = seeds.Derive(o.Seed, "ensemble", m.Name)
			rs, err := alignment.SampleN(gctx, m.Policy, p, mo)
			if err != nil {
				return fmt.Errorf("sampler: ensemble: member %q: %w", m.Name, err)
			}
			for j := range rs {
				rs[j].Source = m.Name
			}
			parts[i] = rs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]alignment.Response, 0, o.Count())
	for _, rs := range parts {
		out = append(out, rs...)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// split returns how many of n draws each member makes, in member order,
// using uniform numbers in [0, 1) from u for the leftover draws. The counts
// sum to n.
func (e *Ensemble) split(n int, u func() float64) []int {
	counts := make([]int, len(e.members))
	frac := make([]float64, len(e.members))
	left := n
	for i, m := range e.members {
		share := float64(n) * m.Weight / e.total
		counts[i] = int(math.Floor(share))
		frac[i] = share - float64(counts[i])
		left -= counts[i]
	}
	// Floating-point rounding can push a share just over an integer and the
	// floors past n; take the excess back from the smallest fractions.
	for ; left < 0; left++ {
		k := -1
		for i, c := range counts {
			if c > 0 && (k < 0 || frac[i] < frac[k]) {
				k = i
			}
		}
		counts[k]--
		frac[k] = 0
	}
	for ; left > 0; left-- {
		sum := 0.0
		for _, f := range frac {
			sum += f
		}
		pick := -1
		if sum > 0 {
			x := u() * sum
			for i, f := range frac {
				if f > 0 {
					pick = i
					if x < f {
						break
					}
					x -= f
				}
			}
		}
		if pick < 0 {
			// Every fractional share is used up (only possible through
			// rounding); give the draw to the heaviest member.
			pick = 0
			for i, m := range e.members {
				if m.Weight > e.members[pick].Weight {
					pick = i
				}
			}
		}
		counts[pick]++
		frac[pick] = 0
	}
	return counts
}
