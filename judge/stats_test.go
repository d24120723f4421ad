package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"gonum.org/v1/gonum/stat"
)

// TestKendall checks tau-b against gonum's stat.Kendall (tau-a) on data
// without ties, where they are equal, and against a hand computation with
// ties: x = 1..4, y = [1, 1, 2, 3] has 5 concordant pairs, no discordant
// one and one pair tied in y, so tau-b = 5/sqrt(5·6).
func TestKendall(t *testing.T) {
	x := []float64{3, 1, 4, 1.5, 9, 2.6, 5}
	y := []float64{2, 7, 1, 8, 2.8, 1.8, 2.9}
	assert.InDelta(t, stat.Kendall(x, y, nil), kendall(x, y), 1e-12)
	assert.InDelta(t, 5/sqrt(30), kendall([]float64{1, 2, 3, 4}, []float64{1, 1, 2, 3}), 1e-12)
	assert.Equal(t, 0.0, kendall([]float64{1, 2}, []float64{3, 3}), "constant side")
}

// TestSpearman checks against Pearson's correlation of ranks computed by
// hand (see TestCalibrationTable) and the constant case.
func TestSpearman(t *testing.T) {
	assert.InDelta(t, 1, spearman([]float64{1, 2, 3}, []float64{10, 20, 30}), 1e-12)
	assert.InDelta(t, -1, spearman([]float64{1, 2, 3}, []float64{3, 2, 1}), 1e-12)
	assert.Equal(t, 0.0, spearman([]float64{1, 1, 1}, []float64{1, 2, 3}))
	assert.Equal(t, 0.0, spearman([]float64{1}, []float64{1}))
}

// TestMeanVariance checks mean and variance against gonum's stat.Mean and
// stat.Variance (nil weights) to a relative 1e-12: gonum sums in an
// unrolled loop, so the last bits may differ.
func TestMeanVariance(t *testing.T) {
	xs := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	assert.InEpsilon(t, stat.Mean(xs, nil), mean(xs), 1e-12)
	assert.InEpsilon(t, stat.Variance(xs, nil), variance(xs), 1e-12)
	// Large offset: the corrected two-pass algorithm keeps the digits.
	big := []float64{1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16}
	assert.InEpsilon(t, stat.Variance(big, nil), variance(big), 1e-12)
	assert.InDelta(t, 30, variance(big), 1e-6)
	assert.Equal(t, 0.0, mean(nil), "no values: 0, not NaN")
	assert.Equal(t, 0.0, variance([]float64{2}), "one value: 0, not NaN")
	assert.Equal(t, 0.0, variance([]float64{2, 2, 2}))
}

// refRanks is an independent ranking for the reference: each value's rank
// from 1 is the count of smaller values plus the mean position among its
// ties, (count of equal values + 1)/2.
func refRanks(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		less, equal := 0.0, 0.0
		for _, y := range xs {
			switch {
			case y < x:
				less++
			case y == x:
				equal++
			}
		}
		out[i] = less + (equal+1)/2
	}
	return out
}

// refKendall is tau-b as gonum's stat.Correlation of the signs of all
// ordered pairs' differences: those signs have mean 0, so their Pearson
// correlation is Σ sgn·sgn / sqrt(Σ sgn_x² · Σ sgn_y²), which is tau-b
// with ties in either variable dropping out of its side's sum.
func refKendall(x, y []float64) float64 {
	var sx, sy []float64
	for i := range x {
		for j := range x {
			if i != j {
				sx = append(sx, sgn(x[i]-x[j]))
				sy = append(sy, sgn(y[i]-y[j]))
			}
		}
	}
	return stat.Correlation(sx, sy, nil)
}

func sgn(d float64) float64 {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	}
	return 0
}

// checkAgainstGonum compares the package's statistics of x and y with
// gonum's: mean and variance with stat.Mean and stat.Variance (relative
// 1e-12), Spearman's rho with stat.Correlation of refRanks and Kendall's
// tau-b with refKendall (absolute 1e-12). Where gonum's correlation is NaN
// (a constant side) the package's is 0.
func checkAgainstGonum(t *testing.T, x, y []float64) {
	t.Helper()
	close := func(what string, want, got, tol float64) {
		t.Helper()
		if math.IsNaN(want) {
			want = 0
		}
		if math.Abs(want-got) > tol {
			t.Errorf("%s of x=%v y=%v: got %v, gonum %v", what, x, y, got, want)
		}
	}
	scale := 1.0
	for _, v := range x {
		scale = max(scale, math.Abs(v))
	}
	close("mean", stat.Mean(x, nil), mean(x), 1e-12*scale)
	if len(x) >= 2 {
		close("variance", stat.Variance(x, nil), variance(x), 1e-12*scale*scale)
		close("spearman", stat.Correlation(refRanks(x), refRanks(y), nil), spearman(x, y), 1e-12)
		close("kendall", refKendall(x, y), kendall(x, y), 1e-12)
	}
}

// tiedSeries turns bytes into two series of up to 40 values on a scale of
// six levels, so that ties are the rule, as with integer judge scores.
func tiedSeries(data []byte) (x, y []float64) {
	n := min(len(data)/2, 40)
	for i := range n {
		x = append(x, float64(data[2*i]%6))
		y = append(y, float64(data[2*i+1]%6)/2)
	}
	return x, y
}

// TestStatsRandom is the property test: on 2000 random series with ties
// (and 200 without) the package's statistics agree with gonum's.
func TestStatsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		data := make([]byte, 2+r.IntN(80))
		for i := range data {
			data[i] = byte(r.UintN(256))
		}
		x, y := tiedSeries(data)
		if len(x) > 0 {
			checkAgainstGonum(t, x, y)
		}
	}
	for range 200 {
		n := 2 + r.IntN(30)
		x, y := make([]float64, n), make([]float64, n)
		for i := range n {
			x[i], y[i] = r.NormFloat64()*100, r.NormFloat64()+1e6
		}
		checkAgainstGonum(t, x, y)
	}
}

// FuzzStats is TestStatsRandom's check on fuzzed series with ties:
// go test -fuzz FuzzStats ./judge/.
func FuzzStats(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 1, 2})
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 0, 4, 1, 3, 2, 2, 3, 1, 4, 0, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		if x, y := tiedSeries(data); len(x) > 0 {
			checkAgainstGonum(t, x, y)
		}
	})
}
