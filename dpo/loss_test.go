package dpo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

// allLosses returns every Loss of the package with a few parameter settings.
func allLosses() []Loss {
	return []Loss{
		Sigmoid{Beta: 0.1}, Sigmoid{Beta: 0.5, LabelSmoothing: 0.1}, Sigmoid{Beta: 1, LabelSmoothing: 0.5},
		Robust{Beta: 0.1}, Robust{Beta: 0.3, LabelSmoothing: 0.2},
		Hinge{Beta: 0.1}, Hinge{Beta: 2},
		IPO{Beta: 0.1}, IPO{Beta: 1},
		SimPO{Beta: 2, Gamma: 0.5}, SimPO{Beta: 0.5, Gamma: -0.2},
		NCA{Beta: 0.1}, NCA{Beta: 1},
	}
}

// randomPair draws a valid pair whose log-probabilities are moderate, so
// that finite differences are meaningful.
func randomPair(r *rand.Rand) Pair {
	lp := func() float64 { return -r.Float64() * 40 }
	return Pair{Chosen: lp(), Rejected: lp(), RefChosen: lp(), RefRejected: lp(), ChosenLen: 1 + r.IntN(20), RejectedLen: 1 + r.IntN(20)}
}

// Finite differences: central differences with step 1e-5·max(1, |x|) must
// match the analytic derivatives within 1e-6·max(1, |derivative|). The
// truncation error of the step is O(1e-10) and the rounding error
// O(1e-16·|loss|/1e-5) ≤ 1e-9 for the losses drawn here.
const (
	fdStep = 1e-5
	fdTol  = 1e-6
)

func TestLossGradientsFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, l := range allLosses() {
		t.Run(fmt.Sprintf("%#v", l), func(t *testing.T) {
			for range 200 {
				p := randomPair(r)
				if h, ok := l.(Hinge); ok && math.Abs(1-h.Beta*p.margin()) < 1e-3 {
					continue // the kink, where the derivative is a convention
				}
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
					fd := (up - down) / (2 * step)
					assert.InDelta(t, c.an, fd, fdTol*math.Max(1, math.Abs(c.an)), "d/d%s at %+v", c.name, p)
				}
			}
		})
	}
}

func TestKTOGradientFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	k := KTO{Beta: 0.5, UndesirableWeight: 1.5}
	xs := make([]Unpaired, 16)
	for i := range xs {
		xs[i] = Unpaired{LogP: -r.Float64() * 20, RefLogP: -r.Float64() * 20, Desirable: i%3 != 0}
	}
	const kl = 0.7
	var res KTOResult
	require.NoError(t, res.Eval(k, xs, kl))
	grad := append([]float64(nil), res.D...)
	loss := func() float64 {
		var q KTOResult
		require.NoError(t, q.Eval(k, xs, kl))
		return q.Loss
	}
	for i := range xs {
		x0 := xs[i].LogP
		step := fdStep * math.Max(1, math.Abs(x0))
		xs[i].LogP = x0 + step
		up := loss()
		xs[i].LogP = x0 - step
		down := loss()
		xs[i].LogP = x0
		assert.InDelta(t, grad[i], (up-down)/(2*step), fdTol*math.Max(1, math.Abs(grad[i])), "d/dLogP[%d]", i)
	}
}

// Extreme margins: every loss gives a finite loss and gradient for |βh| up
// to 1e6 and far beyond, or, where the true loss itself exceeds float64,
// EvalBatch says so with a *PairError instead of returning Inf or NaN.
func TestLossesExtremeInputsStayFinite(t *testing.T) {
	var mags []float64
	for e := -12; e <= 300; e += 4 {
		mags = append(mags, math.Pow(10, float64(e)))
	}
	mags = append(mags, math.MaxFloat64)
	for _, l := range allLosses() {
		for _, m := range mags {
			for _, p := range []Pair{
				{Chosen: -1, Rejected: -m, RefChosen: -m, RefRejected: -1, ChosenLen: 1, RejectedLen: 1},
				{Chosen: -m, Rejected: -1, RefChosen: -1, RefRejected: -m, ChosenLen: 1, RejectedLen: 1},
				{Chosen: -m, Rejected: -m, RefChosen: 0, RefRejected: 0, ChosenLen: 7, RejectedLen: 3},
				{Chosen: 0, Rejected: -m, RefChosen: 0, RefRejected: 0, ChosenLen: 1000, RejectedLen: 1},
			} {
				res, err := EvalBatch(l, []Pair{p})
				if err != nil {
					var pe *PairError
					require.ErrorAs(t, err, &pe, "%#v on %+v", l, p)
					assert.Contains(t, []string{"loss", "rewards"}, pe.Field)
					continue
				}
				assert.True(t, finite(res.Loss) && finite(res.DChosen[0]) && finite(res.DRejected[0]),
					"%#v on %+v: loss %v, gradient %v %v", l, p, res.Loss, res.DChosen[0], res.DRejected[0])
			}
		}
	}
	// |βh| = 1e6 and 1e10 must evaluate, not overflow, for the sigmoid family.
	for _, l := range []Loss{Sigmoid{Beta: 1}, Sigmoid{Beta: 1, LabelSmoothing: 0.3}, Robust{Beta: 1, LabelSmoothing: 0.2}, Hinge{Beta: 1}, NCA{Beta: 1}, SimPO{Beta: 1}} {
		for _, h := range []float64{1e4, 1e6, 1e10} {
			for _, p := range []Pair{{Chosen: 0, Rejected: -h, ChosenLen: 1, RejectedLen: 1}, {Chosen: -h, Rejected: 0, ChosenLen: 1, RejectedLen: 1}} {
				_, err := EvalBatch(l, []Pair{p})
				assert.NoError(t, err, "%#v on %+v", l, p)
			}
		}
	}
}

func TestSigmoidKnownValues(t *testing.T) {
	// At h = 0 DPO's loss is log 2 and its derivative −β/2, whatever ε.
	for _, e := range []float64{0, 0.1, 0.5} {
		l, dc, dr := Sigmoid{Beta: 0.2, LabelSmoothing: e}.Eval(Pair{Chosen: -3, Rejected: -4, RefChosen: -3, RefRejected: -4})
		assert.InDelta(t, math.Ln2, l, 1e-15)
		assert.InDelta(t, -0.2*(0.5-e), dc, 1e-15)
		assert.Equal(t, -dc, dr)
	}
	// Far in the upper tail −logσ(z) = e^(−z) to full relative precision.
	l, dc, _ := Sigmoid{Beta: 1}.Eval(Pair{Chosen: 0, Rejected: -600})
	assert.InEpsilon(t, math.Exp(-600), l, 1e-14)
	assert.InEpsilon(t, -math.Exp(-600), dc, 1e-14)
}

func TestValidate(t *testing.T) {
	good := Pair{Chosen: -1, Rejected: -2, RefChosen: -1.5, RefRejected: -2.5, ChosenLen: 2, RejectedLen: 3}
	with := func(f func(*Pair)) []Pair {
		ps := []Pair{good, good, good}
		f(&ps[2])
		return ps
	}
	tests := []struct {
		name  string
		loss  Loss
		pairs []Pair
		field string // expected PairError field; "" for a loss-level error
		msg   string // part of the message
	}{
		{"nil loss", nil, []Pair{good}, "", "nil loss"},
		{"empty batch", Sigmoid{Beta: 0.1}, nil, "", "no pairs"},
		{"zero beta", Sigmoid{}, []Pair{good}, "", "Sigmoid.Beta = 0"},
		{"negative beta", Hinge{Beta: -1}, []Pair{good}, "", "Hinge.Beta = -1"},
		{"NaN beta", IPO{Beta: math.NaN()}, []Pair{good}, "", "IPO.Beta = NaN"},
		{"infinite beta", NCA{Beta: math.Inf(1)}, []Pair{good}, "", "NCA.Beta = +Inf"},
		{"smoothing above 0.5", Sigmoid{Beta: 0.1, LabelSmoothing: 0.6}, []Pair{good}, "", "Sigmoid.LabelSmoothing = 0.6"},
		{"negative smoothing", Sigmoid{Beta: 0.1, LabelSmoothing: -0.1}, []Pair{good}, "", "LabelSmoothing = -0.1"},
		{"robust smoothing 0.5", Robust{Beta: 0.1, LabelSmoothing: 0.5}, []Pair{good}, "", "[0, 0.5)"},
		{"NaN gamma", SimPO{Beta: 1, Gamma: math.NaN()}, []Pair{good}, "", "SimPO.Gamma = NaN"},
		{"NaN chosen", Sigmoid{Beta: 0.1}, with(func(p *Pair) { p.Chosen = math.NaN() }), "Chosen", "NaN"},
		{"infinite rejected", Sigmoid{Beta: 0.1}, with(func(p *Pair) { p.Rejected = math.Inf(-1) }), "Rejected", "-Inf"},
		{"positive ref chosen", Robust{Beta: 0.1}, with(func(p *Pair) { p.RefChosen = 0.25 }), "RefChosen", "≤ 0"},
		{"positive ref rejected of SimPO", SimPO{Beta: 1}, with(func(p *Pair) { p.RefRejected = 1 }), "RefRejected", "≤ 0"},
		{"zero length for IPO", IPO{Beta: 0.1}, with(func(p *Pair) { p.ChosenLen = 0 }), "ChosenLen", "per token"},
		{"zero length for SimPO", SimPO{Beta: 1}, with(func(p *Pair) { p.RejectedLen = 0 }), "RejectedLen", "per token"},
		{"negative length", Sigmoid{Beta: 0.1}, with(func(p *Pair) { p.RejectedLen = -1 }), "RejectedLen", "≥ 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.loss, tc.pairs)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tc.msg)
			var pe *PairError
			if tc.field == "" {
				assert.False(t, errors.As(err, &pe), "loss-level error reported as a pair error: %v", err)
			} else {
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, 2, pe.Index)
				assert.Equal(t, tc.field, pe.Field)
				assert.Contains(t, err.Error(), "pair 2: "+tc.field)
			}
			// The batch API rejects the same input and leaves its result empty.
			r := BatchResult{}
			require.NoError(t, r.Eval(Sigmoid{Beta: 1}, []Pair{good, good, good, good}))
			assert.Equal(t, err, r.Eval(tc.loss, tc.pairs))
			assert.Equal(t, Metrics{}, r.Metrics)
			assert.Empty(t, r.DChosen)
			assert.Empty(t, r.DRejected)
		})
	}
	// Zero lengths are fine for losses that do not use them, and a zero
	// log-probability (a certain completion) is fine for any loss.
	assert.NoError(t, Validate(Sigmoid{Beta: 0.1}, []Pair{{Chosen: 0, Rejected: -1}}))
	assert.NoError(t, Validate(Sigmoid{Beta: 0.1, LabelSmoothing: 0.5}, []Pair{good}))
}

func TestKTOValidation(t *testing.T) {
	xs := []Unpaired{{LogP: -1, RefLogP: -2, Desirable: true}, {LogP: -3, RefLogP: -2}}
	tests := []struct {
		name string
		k    KTO
		xs   []Unpaired
		kl   float64
		msg  string
	}{
		{"zero beta", KTO{}, xs, 0, "KTO.Beta = 0"},
		{"negative weight", KTO{Beta: 1, UndesirableWeight: -1}, xs, 0, "KTO.UndesirableWeight = -1"},
		{"NaN kl", KTO{Beta: 1}, xs, math.NaN(), "kl = NaN"},
		{"negative kl", KTO{Beta: 1}, xs, -0.5, "kl = -0.5"},
		{"empty", KTO{Beta: 1}, nil, 0, "no completions"},
		{"positive logp", KTO{Beta: 1}, []Unpaired{xs[0], {LogP: 2}}, 0, "completion 1: LogP = 2"},
		{"NaN ref", KTO{Beta: 1}, []Unpaired{{LogP: -1, RefLogP: math.NaN()}}, 0, "completion 0: RefLogP = NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r KTOResult
			err := r.Eval(tc.k, tc.xs, tc.kl)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Empty(t, r.D)
			assert.Zero(t, r.Loss)
		})
	}
	_, err := KLEstimate([]float64{-1}, []float64{-1, -2})
	assert.ErrorContains(t, err, "1 policy log-probabilities but 2 reference ones")
	_, err = KLEstimate(nil, nil)
	assert.ErrorContains(t, err, "no samples")
	_, err = KLEstimate([]float64{-1, 0.5}, []float64{-1, -2})
	assert.ErrorContains(t, err, "KL sample 1: logps = 0.5")
	kl, err := KLEstimate([]float64{-5, -5}, []float64{-4, -4})
	require.NoError(t, err)
	assert.Zero(t, kl, "a negative mean log-ratio is clamped at 0")
}

func TestKTOOneSidedBatch(t *testing.T) {
	var r KTOResult
	require.NoError(t, r.Eval(KTO{Beta: 1}, []Unpaired{{LogP: -1, RefLogP: -2, Desirable: true}}, 0))
	assert.Equal(t, 1, r.Desirable)
	assert.Zero(t, r.Undesirable)
	assert.InDelta(t, 1.0, r.RewardsChosen, 1e-15)
	assert.Zero(t, r.RewardsRejected)
	assert.InDelta(t, 1-1/(1+math.Exp(-1)), r.Loss, 1e-15)
}

func TestEvalBatchMetrics(t *testing.T) {
	pairs := []Pair{
		{Chosen: -1, Rejected: -3, RefChosen: -2, RefRejected: -2},   // rewards 0.5, −0.5
		{Chosen: -4, Rejected: -4, RefChosen: -4, RefRejected: -4},   // tie: not accurate
		{Chosen: -10, Rejected: -1, RefChosen: -8, RefRejected: -2},  // rewards −1, 0.5
		{Chosen: -2, Rejected: -6, RefChosen: -2.5, RefRejected: -6}, // 0.25, 0
	}
	r, err := EvalBatch(Sigmoid{Beta: 0.5}, pairs)
	require.NoError(t, err)
	assert.Equal(t, 4, r.Pairs)
	assert.InDelta(t, (0.5+0-1+0.25)/4, r.RewardsChosen, 1e-15)
	assert.InDelta(t, (-0.5+0+0.5+0)/4, r.RewardsRejected, 1e-15)
	assert.InDelta(t, 0.5, r.RewardsAccuracy, 1e-15, "strict >: the tie does not count")
	assert.InDelta(t, r.RewardsChosen-r.RewardsRejected, r.RewardsMargin, 1e-15)
	assert.InDelta(t, -17.0/4, r.LogPsChosen, 1e-15)
	assert.InDelta(t, -14.0/4, r.LogPsRejected, 1e-15)
	var sum float64
	for i, p := range pairs {
		l, dc, dr := Sigmoid{Beta: 0.5}.Eval(p)
		sum += l
		assert.InDelta(t, dc/4, r.DChosen[i], 1e-15, "gradients are of the mean loss")
		assert.InDelta(t, dr/4, r.DRejected[i], 1e-15)
	}
	assert.InDelta(t, sum/4, r.Loss, 1e-15)
	// A loss without Rewarder reports plain log-ratios (β = 1).
	r, err = EvalBatch(plainLoss{}, pairs[:1])
	require.NoError(t, err)
	assert.Equal(t, 1.0, r.RewardsChosen)
	assert.Equal(t, -1.0, r.RewardsRejected)
}

// plainLoss is a user-defined Loss with none of the optional interfaces.
type plainLoss struct{}

func (plainLoss) Eval(p Pair) (float64, float64, float64) { return -p.margin(), -1, 1 }

func TestMetricsMerge(t *testing.T) {
	a := Metrics{Pairs: 1, Loss: 1, RewardsAccuracy: 1, LogPsChosen: -3}
	b := Metrics{Pairs: 3, Loss: 2, RewardsAccuracy: 0, LogPsChosen: -1}
	m := a.Merge(b)
	assert.Equal(t, 4, m.Pairs)
	assert.InDelta(t, 1.75, m.Loss, 1e-15)
	assert.InDelta(t, 0.25, m.RewardsAccuracy, 1e-15)
	assert.InDelta(t, -1.5, m.LogPsChosen, 1e-15)
	assert.Equal(t, a, a.Merge(Metrics{}))
	assert.Equal(t, Metrics{}, Metrics{}.Merge(Metrics{}))
	assert.Len(t, m.Map(), 7)
}

func TestBatchResultReuseDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pairs := make([]Pair, 64)
	for i := range pairs {
		pairs[i] = randomPair(r)
	}
	for _, l := range allLosses() {
		var res BatchResult
		require.NoError(t, res.Eval(l, pairs))
		allocs := testing.AllocsPerRun(20, func() {
			if err := res.Eval(l, pairs); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%#v", l)
	}
}

// FuzzEvalBatch checks that no input makes the batch API return a NaN or an
// infinity without an error, for any loss.
func FuzzEvalBatch(f *testing.F) {
	f.Add(-1.0, -2.0, -1.5, -2.5, 3, 4, 0.1, 0.1)
	f.Add(0.0, -1e300, -1e300, 0.0, 1, 1, 1e10, 0.0)
	f.Add(math.NaN(), 1.0, math.Inf(-1), -0.0, 0, -1, -1.0, 0.7)
	f.Add(-5e-324, -1e-300, -1e308, -1.7e308, 1<<40, 2, 1e-300, 0.49)
	f.Fuzz(func(t *testing.T, c, r, rc, rr float64, lc, lr int, beta, eps float64) {
		p := Pair{Chosen: c, Rejected: r, RefChosen: rc, RefRejected: rr, ChosenLen: lc, RejectedLen: lr}
		for _, l := range []Loss{
			Sigmoid{Beta: beta, LabelSmoothing: eps}, Robust{Beta: beta, LabelSmoothing: eps}, Hinge{Beta: beta},
			IPO{Beta: beta}, SimPO{Beta: beta, Gamma: eps}, NCA{Beta: beta},
		} {
			res, err := EvalBatch(l, []Pair{p, p})
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("%#v on %+v: error %v does not wrap ErrInvalid", l, p, err)
				}
				continue
			}
			for _, v := range []float64{res.Loss, res.DChosen[1], res.DRejected[1], res.RewardsChosen, res.RewardsRejected, res.RewardsMargin, res.LogPsChosen, res.LogPsRejected} {
				if !finite(v) {
					t.Fatalf("%#v on %+v: %v without an error: %+v", l, p, v, res)
				}
			}
		}
	})
}
