package judge

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func sqrt(x float64) float64 { return math.Sqrt(x) }

// TestCalibrationTable checks the figures against a hand computation.
//
//	index  group  score  label
//	0      p1     4      4
//	1      p1     2      1
//	2      p1     3      3
//	3      p2     1      1
//	4      p2     1      4
//
// Pairwise accuracy: pairs within a group whose labels differ: (0,1) 4>1
// and 4>2, right; (0,2) 4>3 and 4>3, right; (1,2) 1<3 and 2<3, right; (3,4)
// 1<4 but the scores tie, half. 3.5/4 = 0.875.
//
// Cohen's kappa: agreement at 0, 2, 3, so p_o = 3/5. Score categories 4:1,
// 2:1, 3:1, 1:2; label categories 4:2, 1:2, 3:1. p_e = (1·2 + 1·0 + 1·1 +
// 2·2)/25 = 7/25 = 0.28. kappa = (0.6 − 0.28)/(1 − 0.28) = 4/9.
//
// Spearman: score ranks [5, 3, 4, 1.5, 1.5], label ranks [4.5, 1.5, 3, 1.5,
// 4.5], both with mean 3; deviations [2, 0, 1, −1.5, −1.5] and [1.5, −1.5,
// 0, −1.5, 1.5]; cross sum 3 + 0 + 0 + 2.25 − 2.25 = 3; squares 9.5 and 9.
// rho = 3/sqrt(85.5).
func TestCalibrationTable(t *testing.T) {
	groups := []string{"p1", "p1", "p1", "p2", "p2"}
	scores := []float64{4, 2, 3, 1, 1}
	labels := []float64{4, 1, 3, 1, 4}
	c, err := NewCalibration(groups, scores, labels)
	require.NoError(t, err)
	assert.Equal(t, 5, c.N)
	assert.Equal(t, 4, c.Pairs)
	assert.InDelta(t, 0.875, c.PairwiseAccuracy, 1e-12)
	assert.InDelta(t, 4.0/9, c.Kappa, 1e-12)
	assert.InDelta(t, 3/math.Sqrt(85.5), c.Spearman, 1e-12)

	// Without groups every pair with different labels counts.
	c, err = NewCalibration(nil, scores, labels)
	require.NoError(t, err)
	assert.Equal(t, 8, c.Pairs, "labels 4,1,3,1,4: 10 pairs less (0,4) and (1,3), tied")
}

func TestCalibrationErrors(t *testing.T) {
	for _, tt := range []struct {
		groups         []string
		scores, labels []float64
		msg            string
	}{
		{nil, nil, nil, "no scores"},
		{nil, []float64{1}, []float64{1, 2}, "1 scores but 2 labels"},
		{[]string{"a"}, []float64{1, 2}, []float64{1, 2}, "2 scores but 1 groups"},
		{nil, []float64{1, math.NaN()}, []float64{1, 2}, "index 1"},
	} {
		_, err := NewCalibration(tt.groups, tt.scores, tt.labels)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.Contains(t, err.Error(), tt.msg)
	}
	c, err := NewCalibration(nil, []float64{3, 3}, []float64{3, 3})
	require.NoError(t, err)
	assert.Equal(t, 1.0, c.Kappa, "one shared category: perfect agreement")
	assert.Equal(t, 0, c.Pairs)
}

func TestCalibrate(t *testing.T) {
	ctx := context.Background()
	failing := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if r.Text == "fail" {
			return alignment.Judgment{}, errors.New("boom")
		}
		return alignment.Judgment{Score: float64(alignment.WordCount(r.Text))}, nil
	})
	p := alignment.NewPrompt("p", "Q")
	gold := []Gold{
		{p, alignment.Response{Text: "a"}, 1},
		{p, alignment.Response{Text: "a b c"}, 3},
		{p, alignment.Response{Text: "fail"}, 2},
		{p, alignment.Response{Text: "a b"}, 2},
	}
	c, err := Calibrate(ctx, failing, gold)
	require.NoError(t, err)
	assert.Equal(t, 3, c.N)
	assert.Equal(t, 1.0, c.PairwiseAccuracy)
	assert.Equal(t, 1.0, c.Kappa)
	assert.InDelta(t, 1, c.Spearman, 1e-12)
	require.Len(t, c.Failures, 1)
	assert.Equal(t, 2, c.Failures[0].Item)

	_, err = Calibrate(ctx, failing, []Gold{{p, alignment.Response{Text: "a"}, math.NaN()}})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Calibrate(ctx, failing, []Gold{{p, alignment.Response{Text: "fail"}, 1}})
	assert.ErrorContains(t, err, "boom")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Calibrate(cctx, failing, gold)
	assert.ErrorIs(t, err, context.Canceled)
}
