package taskworld

import (
	"context"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/sampler"
)

// Reviser stands for constitution.Reviser on a model that can critique,
// which the tiny model cannot: an answer that fails some rule is replaced
// by the best of n fresh samples of the policy (sampler.BestOfN judged by
// the rules) when that one scores higher, and the failed rules are
// recorded as the revision's principle. It is the SL-CAI reviser of
// examples/constitutional and of the ablation's SL-CAI arms.
type Reviser struct {
	best     *sampler.BestOfN
	rules    *constitution.Constitution
	sampling alignment.SampleOptions
}

var _ alignment.Refiner = Reviser{}

// NewReviser returns the Reviser that draws n samples of pol with the
// sampling options o (their N and Seed set per call) and judges them with
// rules. The error is sampler.NewBestOfN's.
func NewReviser(pol alignment.Policy, rules *constitution.Constitution, n int, o alignment.SampleOptions) (Reviser, error) {
	b, err := sampler.NewBestOfN(pol, rules, n)
	return Reviser{best: b, rules: rules, sampling: o}, err
}

// Refine implements alignment.Refiner. Its samples are seeded from the
// call's seed (alignment.SeedFrom) when it has one.
func (v Reviser) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	cur, err := v.rules.Judge(ctx, p, r)
	if err != nil || cur.Score >= MaxScore {
		return r, err
	}
	o := v.sampling
	if s, ok := alignment.SeedFrom(ctx); ok {
		o.Seed = seeds.Derive(s, "revise")
	}
	best, _, err := v.best.Draw(ctx, p, o)
	if err != nil || best.Score <= cur.Score {
		return r, err
	}
	out := best.Response.Clone()
	out.Source = "reviser"
	out.Revisions = append(append([]alignment.Revision(nil), r.Revisions...),
		alignment.Revision{Refiner: "reviser", Principle: cur.Rationale, Text: out.Text})
	return out, nil
}
