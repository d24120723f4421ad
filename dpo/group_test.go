package dpo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refGroupLoss returns the GroupLoss of a "groups" case of reference.json.
func refGroupLoss(t *testing.T, name string, p map[string]any) GroupLoss {
	t.Helper()
	f := func(k string) float64 { return p[k].(float64) }
	switch name {
	case "grpo":
		g := GRPO{Beta: f("beta"), Epsilon: f("epsilon"), EpsilonHigh: f("epsilon_high"), NoScale: !p["scale"].(bool)}
		if p["loss_type"] == "grpo" {
			g.Aggregation = SequenceMean
		}
		return g
	case "rloo":
		return RLOO{Beta: f("beta"), NoKL: f("beta") == 0, Epsilon: f("epsilon"), EpsilonHigh: f("epsilon_high")}
	}
	t.Fatalf("reference.json names unknown group loss %q", name)
	return nil
}

// GRPO and RLOO against testdata/reference.json's "groups" cases: TRL's
// GRPOTrainer and RLOOTrainer formulas evaluated in mpmath (see
// reference.py), on a batch of three groups, one of a single completion,
// with ratios of 1, inside and beyond the clip range. Tolerance as in
// reference_test.go.
func TestGroupLossesAgainstReference(t *testing.T) {
	ref := loadReference(t)
	require.NotEmpty(t, ref.Groups)
	for _, c := range ref.Groups {
		l := refGroupLoss(t, c.Loss, c.Params)
		name := fmt.Sprintf("%#v", l)
		require.NoError(t, l.(Validator).Validate(), name)
		var seqs []GroupSeq
		for _, g := range c.Groups {
			start := len(seqs)
			for _, s := range g.Seqs {
				seqs = append(seqs, GroupSeq{LogP: s[0], OldLogP: s[1], RefLogP: s[2], Len: int(s[3])})
			}
			adv := make([]float64, len(g.Rewards))
			l.Advantages(adv, g.Rewards, seqs[start:])
			for i, a := range adv {
				seqs[start+i].Advantage = a
			}
		}
		require.Len(t, c.Advantages, len(seqs))
		for i, s := range seqs {
			checkRef(t, fmt.Sprintf("%s: advantage %d", name, i), s.Advantage, c.Advantages[i])
		}
		d := make([]float64, len(seqs))
		loss := l.Eval(seqs, d)
		checkRef(t, name+": loss", loss, c.Value)
		for i := range d {
			checkRef(t, fmt.Sprintf("%s: dLogP[%d]", name, i), d[i], c.DLogP[i])
		}
	}
}

func allGroupLosses() []GroupLoss {
	return []GroupLoss{
		GRPO{}, GRPO{Beta: 0.04, EpsilonHigh: 0.28}, GRPO{Beta: 0.1, Epsilon: 0.1, Aggregation: SequenceMean}, GRPO{NoScale: true},
		RLOO{}, RLOO{NoKL: true}, RLOO{Beta: 0.2, Epsilon: 0.1, EpsilonHigh: 0.3},
	}
}

// randomGroups draws a batch of groups with moderate log-probabilities and
// their advantages under l.
func randomGroups(r *rand.Rand, l GroupLoss) []GroupSeq {
	var seqs []GroupSeq
	for range 3 {
		n := 2 + r.IntN(4)
		start := len(seqs)
		rewards := make([]float64, n)
		for i := range n {
			lp := -r.Float64() * 20
			seqs = append(seqs, GroupSeq{LogP: lp + r.NormFloat64()*0.3, OldLogP: lp, RefLogP: -r.Float64() * 20, Len: 1 + r.IntN(10)})
			rewards[i] = r.NormFloat64()
		}
		adv := make([]float64, n)
		l.Advantages(adv, rewards, seqs[start:])
		for i, a := range adv {
			seqs[start+i].Advantage = a
		}
	}
	return seqs
}

func TestGroupLossGradientsFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, l := range allGroupLosses() {
		t.Run(fmt.Sprintf("%#v", l), func(t *testing.T) {
			// The clip bounds of allGroupLosses, near which the derivative
			// is a convention rather than a number.
			bounds := []float64{0.7, 0.8, 0.9, 1.1, 1.2, 1.28, 1.3}
			for range 50 {
				seqs := randomGroups(r, l)
				d := make([]float64, len(seqs))
				l.Eval(seqs, d)
				scratch := make([]float64, len(seqs))
			next:
				for i, s := range seqs {
					w := math.Exp(s.LogP - s.OldLogP)
					if _, ok := l.(GRPO); ok {
						w = math.Exp((s.LogP - s.OldLogP) / float64(s.Len))
					}
					for _, b := range bounds {
						if math.Abs(w-b) < 1e-3 {
							continue next
						}
					}
					x0 := seqs[i].LogP
					step := fdStep * math.Max(1, math.Abs(x0))
					seqs[i].LogP = x0 + step
					up := l.Eval(seqs, scratch)
					seqs[i].LogP = x0 - step
					down := l.Eval(seqs, scratch)
					seqs[i].LogP = x0
					assert.InDelta(t, d[i], (up-down)/(2*step), fdTol*math.Max(1, math.Abs(d[i])), "d/dLogP[%d] of %+v", i, seqs[i])
				}
			}
		})
	}
}

// The degenerate groups the GroupTrainer skips give zero advantages, never
// NaN: a group of one, and equal rewards (for RLOO, equal shaped rewards).
func TestGroupAdvantagesDegenerate(t *testing.T) {
	same := []GroupSeq{{OldLogP: -3, RefLogP: -3, Len: 2}, {OldLogP: -5, RefLogP: -5, Len: 2}, {OldLogP: -1, RefLogP: -1, Len: 1}}
	for _, l := range allGroupLosses() {
		for _, c := range []struct {
			name    string
			rewards []float64
		}{{"one", []float64{2.5}}, {"equal", []float64{0.7, 0.7, 0.7}}, {"huge equal", []float64{1e300, 1e300, 1e300}}} {
			adv := []float64{math.NaN(), math.NaN(), math.NaN()}
			l.Advantages(adv, c.rewards, same[:len(c.rewards)])
			for i := range c.rewards {
				assert.Equal(t, 0.0, adv[i], "%#v, %s: advantage %d", l, c.name, i)
			}
		}
	}
}

// At ratio 1 with β = 0, TRL's default, GRPO's gradient is −Âᵢ divided by
// the batch's token count for every completion: each token pushed by its
// completion's advantage, as TRL's token-level "dapo" loss pushes it.
func TestGRPODefaultGradientIsTokenLevel(t *testing.T) {
	seqs := []GroupSeq{
		{LogP: -4, OldLogP: -4, Len: 3, Advantage: 1.5},
		{LogP: -9, OldLogP: -9, Len: 7, Advantage: -0.5},
		{LogP: -2, OldLogP: -2, Len: 2, Advantage: -1},
	}
	d := make([]float64, 3)
	loss := GRPO{}.Eval(seqs, d)
	assert.InDelta(t, -(3*1.5+7*-0.5+2*-1)/12.0, loss, 1e-15)
	for i, s := range seqs {
		assert.InDelta(t, -s.Advantage/12, d[i], 1e-15, "completion %d", i)
	}
}

func TestGroupLossValidate(t *testing.T) {
	for _, c := range []struct {
		loss Validator
		want string // "" for valid
	}{
		{GRPO{}, ""},
		{GRPO{Beta: 0.04, Epsilon: 0.2, EpsilonHigh: 0.28, Aggregation: SequenceMean}, ""},
		{GRPO{Beta: -1}, "GRPO.Beta"},
		{GRPO{Beta: math.NaN()}, "GRPO.Beta"},
		{GRPO{Beta: math.Inf(1)}, "GRPO.Beta"},
		{GRPO{Epsilon: 1}, "GRPO.Epsilon"},
		{GRPO{Epsilon: -0.1}, "GRPO.Epsilon"},
		{GRPO{EpsilonHigh: math.NaN()}, "GRPO.EpsilonHigh"},
		{GRPO{Aggregation: 7}, "GRPO.Aggregation"},
		{RLOO{}, ""},
		{RLOO{Beta: -0.1}, "RLOO.Beta"},
		{RLOO{Epsilon: math.NaN()}, "RLOO.Epsilon"},
		{RLOO{EpsilonHigh: math.Inf(1)}, "RLOO.EpsilonHigh"},
	} {
		err := c.loss.Validate()
		if c.want == "" {
			assert.NoError(t, err, "%#v", c.loss)
			continue
		}
		assert.ErrorIs(t, err, ErrInvalid, "%#v", c.loss)
		assert.ErrorContains(t, err, c.want, "%#v", c.loss)
	}
}
