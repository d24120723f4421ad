package alignment_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

// Summary must stay finite for any finite values: the progress journal
// stores it, and encoding/json refuses infinities.
func TestSummaryHugeValues(t *testing.T) {
	tests := []struct {
		name     string
		xs       []float64
		mean, sd float64 // sd relative to its own magnitude
	}{
		{"±1e300", []float64{1e300, -1e300, 1e300, -1e300}, 0, 1e300 * math.Sqrt(4.0/3)},
		{"1e300 and 0", []float64{0, 1e300}, 5e299, 1e300 / math.Sqrt2},
		{"small then huge", []float64{1, 2, 3, 1e200, -1e200}, 6.0 / 5, 1e200 * math.Sqrt(2.0/4)},
		{"largest floats", []float64{math.MaxFloat64, 0, math.MaxFloat64}, math.MaxFloat64 / 3 * 2, math.MaxFloat64 / math.Sqrt(3)},
		{"opposite largest floats", []float64{math.MaxFloat64, -math.MaxFloat64}, 0, math.Inf(1)},
		{"ordinary", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s alignment.Summary
			for _, x := range tt.xs {
				s.Add(x)
			}
			assert.InDelta(t, tt.mean, s.Mean, 1e-9*math.Abs(tt.sd)+1e-12, "mean")
			if math.IsInf(tt.sd, 1) {
				assert.True(t, math.IsInf(s.Stdev(), 1), "a standard deviation beyond the float64 range is +Inf, not NaN")
			} else {
				assert.InEpsilon(t, tt.sd, s.Stdev(), 1e-9, "standard deviation")
			}
			js, err := json.Marshal(s)
			require.NoError(t, err, "a summary of finite values encodes as JSON")
			var back alignment.Summary
			require.NoError(t, json.Unmarshal(js, &back))
			assert.Equal(t, s, back)
			assert.Equal(t, s.Stdev(), back.Stdev())
		})
	}
}

// A judge whose finite scores are huge must neither break the progress
// journal nor land in the wrong histogram bin; the directory resumes.
func TestLoopHugeScoresKeepTheJournal(t *testing.T) {
	huge := alignment.Judge(judgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if len(r.Text)%2 == 0 {
			return alignment.Judgment{Score: 1e300}, nil
		}
		return alignment.Judgment{Score: -1e300}, nil
	}))
	dir := t.TempDir()
	loop := alignment.Loop{Policy: seedPolicy(), Judge: huge, Prompts: genSource{20}, Dir: dir, Iterations: 2, JudgeSamples: 2}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 2)
	rep := res.Reports[0]
	assert.Equal(t, 80, rep.Score.N)
	assert.Equal(t, rep.Score.N, rep.Histogram[0]+rep.Histogram[alignment.HistogramBins-1],
		"scores beyond the scale count in the edge bins: %v", rep.Histogram)
	assert.Positive(t, rep.Histogram[alignment.HistogramBins-1], "+1e300 is above the top of the scale")
	assert.False(t, math.IsInf(rep.Score.Stdev(), 0) || math.IsNaN(rep.Score.Stdev()))

	again, err := loop.Run(t.Context())
	require.NoError(t, err, "the journal holds the reports")
	assert.Equal(t, stripTimes(res.Reports[1]), stripTimes(again.Reports[1]))
}

type judgeFunc func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error)

func (f judgeFunc) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return f(ctx, p, r)
}
