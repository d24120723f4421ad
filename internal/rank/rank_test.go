package rank

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRanks(t *testing.T) {
	assert.Equal(t, []float64{3, 1, 3, 3, 5}, Ranks([]float64{2, 1, 2, 2, 7}))
	assert.Empty(t, Ranks(nil))
}

func TestSpearmanReferenceValues(t *testing.T) {
	// The worked example of Wikipedia's "Spearman's rank correlation
	// coefficient" article (IQ against hours of television per week, no
	// ties): ρ = −29/165. Tolerance 1e-12.
	iq := []float64{106, 100, 86, 101, 99, 103, 97, 113, 112, 110}
	tv := []float64{7, 27, 2, 50, 28, 29, 20, 12, 6, 17}
	rho, ok := Spearman(iq, tv)
	assert.True(t, ok)
	assert.InDelta(t, -29.0/165, rho, 1e-12)

	// With ties, against the textbook Pearson correlation of mean ranks
	// computed here by counting, independently of Ranks(). (judge's
	// TestStatsRandom checks Spearman against gonum's stat.Correlation on
	// thousands of tied series; gonum stays out of this package's tests so
	// that a host's go mod tidy, which fetches the test dependencies of the
	// packages alignment imports, does not download it.)
	tests := [][2][]float64{
		{{1, 2, 2, 3, 5, 5, 5}, {2, 1, 4, 4, 6, 3, 7}},
		{{0, 0, 1, 1}, {1, 2, 3, 4}},
		{{3.5, 1, 2, 2, 9}, {9, 8, 8, 1, 0}},
	}
	for _, tt := range tests {
		rho, ok := Spearman(tt[0], tt[1])
		assert.True(t, ok)
		want := pearson(countRanks(tt[0]), countRanks(tt[1]))
		assert.InDelta(t, want, rho, 1e-12, "%v", tt)
	}

	rho, ok = Spearman([]float64{2, 2, 2}, []float64{1, 2, 3})
	assert.True(t, ok, "a constant judge against a varied reference agrees with none of it")
	assert.Zero(t, rho)
	_, ok = Spearman([]float64{1, 2, 3}, []float64{4, 4, 4})
	assert.False(t, ok, "a constant reference ranks nothing")
	_, ok = Spearman([]float64{1}, []float64{1})
	assert.False(t, ok)
	rho, ok = Spearman([]float64{1, 2, 3}, []float64{30, 20, 10})
	assert.True(t, ok)
	assert.Equal(t, -1.0, rho)
}

// pearson is Pearson's correlation, Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²).
func pearson(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i] / float64(len(x))
		my += y[i] / float64(len(y))
	}
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// countRanks gives each value 1 + the number of smaller values + half the
// number of other equal values: the mean rank of its tie group.
func countRanks(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = 1
		for j, y := range xs {
			switch {
			case y < x:
				out[i]++
			case y == x && j != i:
				out[i] += 0.5
			}
		}
	}
	return out
}

// BenchmarkMeasureDiversity is the Loop's per-prompt cost of the collapse
// figures: four short samples, as in BenchmarkLoopOverhead.
