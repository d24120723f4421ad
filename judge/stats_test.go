package judge

import (
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
