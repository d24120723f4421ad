package dpo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Per-pair soft labels against testdata/reference.json's "soft" cases:
// Sigmoid and Robust with label smoothing 1 − Prob for the pair, evaluated
// in mpmath (see reference_test.go for the source and tolerance). The loss's
// own LabelSmoothing is set to a different value, so that the test fails if
// the pair's label is not the one used.
func TestSoftLabelsAgainstReference(t *testing.T) {
	ref := loadReference(t)
	require.NotEmpty(t, ref.Soft)
	for _, c := range ref.Soft {
		var l Loss
		switch c.Loss {
		case "sigmoid":
			l = Sigmoid{Beta: c.Beta, LabelSmoothing: 0.3}
		case "robust":
			l = Robust{Beta: c.Beta, LabelSmoothing: 0.3}
		default:
			t.Fatalf("reference.json names unknown soft-label loss %q", c.Loss)
		}
		p := refPair(c.Pair)
		p.Prob, p.HasProb = c.Prob, true
		name := fmt.Sprintf("%#v on %+v", l, p)
		require.NoError(t, Validate(l, []Pair{p}), name)
		v, dc, dr := l.Eval(p)
		checkRef(t, name+": loss", v, c.Value)
		checkRef(t, name+": dChosen", dc, c.DChosen)
		checkRef(t, name+": dRejected", dr, c.DRejected)
	}
}

func TestSoftLabelGradientsFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, l := range []Loss{Sigmoid{Beta: 0.1}, Sigmoid{Beta: 1, LabelSmoothing: 0.4}, Robust{Beta: 0.3}, Robust{Beta: 0.1, LabelSmoothing: 0.2}} {
		t.Run(fmt.Sprintf("%#v", l), func(t *testing.T) {
			lo, _ := l.(SoftLabeler).ProbRange()
			for range 200 {
				p := randomPair(r)
				p.Prob, p.HasProb = lo+(1-lo)*(0.01+0.99*r.Float64()), true
				_, dc, dr := l.Eval(p)
				for _, c := range []struct {
					name string
					x    *float64
					an   float64
				}{{"Chosen", &p.Chosen, dc}, {"Rejected", &p.Rejected, dr}} {
					x0 := *c.x
					step := fdStep * math.Max(1, math.Abs(x0))
					*c.x = x0 + step
					up, _, _ := l.Eval(p)
					*c.x = x0 - step
					down, _, _ := l.Eval(p)
					*c.x = x0
					assert.InDelta(t, c.an, (up-down)/(2*step), fdTol*math.Max(1, math.Abs(c.an)), "d/d%s at %+v", c.name, p)
				}
			}
		})
	}
}

// A pair labelled with probability 1 − ε under a loss without smoothing is
// the same as the loss with smoothing ε, and a pair without HasProb keeps
// the loss's own ε whatever Prob holds.
func TestSoftLabelMatchesGlobalSmoothing(t *testing.T) {
	p := Pair{Chosen: -3, Rejected: -5, RefChosen: -4, RefRejected: -4.5}
	for _, c := range []struct{ hard, soft Loss }{
		{Sigmoid{Beta: 0.5, LabelSmoothing: 0.2}, Sigmoid{Beta: 0.5, LabelSmoothing: 0.45}},
		{Robust{Beta: 0.5, LabelSmoothing: 0.2}, Robust{Beta: 0.5, LabelSmoothing: 0.45}},
	} {
		want, wdc, wdr := c.hard.Eval(p)
		q := p
		q.Prob, q.HasProb = 0.8, true
		got, dc, dr := c.soft.Eval(q)
		assert.InDelta(t, want, got, 1e-15, "%#v", c.soft)
		assert.InDelta(t, wdc, dc, 1e-15, "%#v", c.soft)
		assert.InDelta(t, wdr, dr, 1e-15, "%#v", c.soft)
		q.HasProb = false
		got, _, _ = c.hard.Eval(q)
		assert.Equal(t, want, got, "Prob without HasProb must be ignored")
	}
}

func TestSoftLabelValidation(t *testing.T) {
	good := Pair{Chosen: -3, Rejected: -5, RefChosen: -4, RefRejected: -4.5, ChosenLen: 2, RejectedLen: 3}
	with := func(prob float64) Pair {
		p := good
		p.Prob, p.HasProb = prob, true
		return p
	}
	for _, c := range []struct {
		name string
		loss Loss
		prob float64
		ok   bool
	}{
		{"sigmoid 0", Sigmoid{Beta: 0.1}, 0, true},
		{"sigmoid 1", Sigmoid{Beta: 0.1}, 1, true},
		{"sigmoid 0.3", Sigmoid{Beta: 0.1}, 0.3, true},
		{"sigmoid NaN", Sigmoid{Beta: 0.1}, math.NaN(), false},
		{"sigmoid negative", Sigmoid{Beta: 0.1}, -0.01, false},
		{"sigmoid above 1", Sigmoid{Beta: 0.1}, 1.01, false},
		{"sigmoid +Inf", Sigmoid{Beta: 0.1}, math.Inf(1), false},
		{"robust 0.51", Robust{Beta: 0.1}, 0.51, true},
		{"robust 0.5", Robust{Beta: 0.1}, 0.5, false},
		{"robust 0.2", Robust{Beta: 0.1}, 0.2, false},
		{"robust NaN", Robust{Beta: 0.1}, math.NaN(), false},
		{"ipo hard label", IPO{Beta: 0.1}, 1, true},
		{"ipo soft label", IPO{Beta: 0.1}, 0.9, false},
		{"hinge soft label", Hinge{Beta: 0.1}, 0.7, false},
		{"nca NaN", NCA{Beta: 0.1}, math.NaN(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pairs := []Pair{good, good, with(c.prob)}
			err := Validate(c.loss, pairs)
			_, berr := EvalBatch(c.loss, pairs)
			if c.ok {
				assert.NoError(t, err)
				assert.NoError(t, berr)
				return
			}
			var pe *PairError
			require.True(t, errors.As(err, &pe), "error %v", err)
			assert.Equal(t, 2, pe.Index)
			assert.Equal(t, "Prob", pe.Field)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), "pair 2")
			assert.Equal(t, err, berr)
		})
	}
}
