package judge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/seeds"
)

// positionBiased is a fake comparer with a planted position bias: with
// probability rate (drawn from a hash of the call, so it is repeatable at
// any concurrency) it prefers whichever response is shown first; otherwise
// it prefers the longer text, a position-free judgment.
func positionBiased(rate float64) alignmenttest.ComparerFunc {
	return func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
		if u := float64(seeds.Derive(1, a.Text, b.Text)>>11) / (1 << 53); u < rate {
			return alignment.Comparison{ProbA: 1}, nil
		}
		switch {
		case len(a.Text) > len(b.Text):
			return alignment.Comparison{ProbA: 1}, nil
		case len(a.Text) < len(b.Text):
			return alignment.Comparison{ProbA: 0}, nil
		}
		return alignment.Comparison{ProbA: 0.5}, nil
	}
}

// auditItems makes n prompts with three responses of different lengths
// each; every other response is by "me".
func auditItems(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i].Prompt = alignment.NewPrompt(fmt.Sprint("p", i), fmt.Sprint("Question ", i, "?"))
		for k := range 3 {
			words := 1 + (i*7+k*5)%23
			src := "other"
			if (i+k)%2 == 0 {
				src = "me"
			}
			items[i].Responses = append(items[i].Responses, alignment.Response{
				Text:   strings.TrimSpace(strings.Repeat(fmt.Sprint("w", i, "-", k, " "), words)),
				Source: src,
			})
		}
	}
	return items
}

func TestAuditPlantedPositionBias(t *testing.T) {
	for _, rate := range []float64{0, 0.3, 0.6} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			rep, err := Audit(context.Background(), nil, positionBiased(rate), auditItems(2000), nil)
			require.NoError(t, err)
			assert.Equal(t, 8000, rep.Comparisons)
			assert.Equal(t, 4000, rep.Pairs)
			assert.InDelta(t, rate, rep.PositionBias, 0.02, "planted rate ±2 points")
			assert.InDelta(t, 0.5+rate/2, rep.FirstPosition, 0.01)
			assert.Empty(t, rep.Failures)
			assert.Zero(t, rep.Scored, "no judge, no judge figures")
		})
	}
}

func TestAuditPlantedLengthBias(t *testing.T) {
	longer := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: math.Min(5, float64(alignment.WordCount(r.Text))/5)}, nil
	})
	shorter := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: math.Max(0, 5-float64(alignment.WordCount(r.Text))/5)}, nil
	})
	items := auditItems(200)
	rep, err := Audit(context.Background(), longer, nil, items, nil)
	require.NoError(t, err)
	assert.Equal(t, 600, rep.Scored)
	assert.Greater(t, rep.LengthSpearman, 0.5)
	assert.Greater(t, rep.LengthKendall, 0.5)
	assert.Greater(t, rep.PaddedScoreWinRate, 0.5)
	assert.Greater(t, rep.PaddedGain, 0.0)

	rep, err = Audit(context.Background(), shorter, nil, items, nil)
	require.NoError(t, err)
	assert.Less(t, rep.LengthSpearman, -0.5)
	assert.Less(t, rep.LengthKendall, -0.5)
	assert.Less(t, rep.PaddedScoreWinRate, 0.5)

	// A comparer preferring length shows it on the padded copy.
	rep, err = Audit(context.Background(), nil, positionBiased(0), items, nil)
	require.NoError(t, err)
	assert.Equal(t, 600, rep.PaddedCompared)
	assert.Equal(t, 1.0, rep.PaddedCompareWinRate)
}

func TestAuditSelfSaturationVariance(t *testing.T) {
	j := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if r.Source == "me" {
			return alignment.Judgment{Score: 5, Samples: []float64{5, 5}}, nil
		}
		return alignment.Judgment{Score: 2, Samples: []float64{1, 3}}, nil
	})
	rep, err := Audit(context.Background(), j, nil, auditItems(10), &AuditOptions{Self: "me", Concurrency: 3})
	require.NoError(t, err)
	assert.Equal(t, 15, rep.SelfN)
	assert.Equal(t, 15, rep.OtherN)
	assert.Equal(t, 3.0, rep.SelfPreference)
	assert.Equal(t, 0.5, rep.Saturation)
	assert.Equal(t, 0.0, rep.Floor)
	assert.Equal(t, 30, rep.Sampled)
	assert.Equal(t, 1.0, rep.SampleVariance, "variance 0 for own, 2 for others")
	assert.Equal(t, 0.5, rep.PaddedScoreWinRate, "padding changes nothing: ties")
}

func TestAuditPairwiseFlags(t *testing.T) {
	c, err := NewPairwise(fixed("Verdict: A"), nil)
	require.NoError(t, err)
	rep, err := Audit(context.Background(), nil, c, auditItems(5), nil)
	require.NoError(t, err)
	assert.Equal(t, 1.0, rep.Flagged)
	assert.Equal(t, 0.5, rep.FirstPosition)
	assert.Equal(t, 1.0, rep.SwapConsistency, "ties both ways are consistent")
}

func TestAuditFailures(t *testing.T) {
	j := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if strings.HasPrefix(r.Text, "w1-") {
			return alignment.Judgment{}, errors.New("backend down")
		}
		if strings.HasPrefix(r.Text, "w2-0") {
			return alignment.Judgment{Score: 9}, nil
		}
		return alignment.Judgment{Score: 1}, nil
	})
	rep, err := Audit(context.Background(), j, nil, auditItems(3), nil)
	require.NoError(t, err)
	assert.Equal(t, 9-3-1, rep.Scored)
	require.Len(t, rep.Failures, 8, "3 responses × 2 calls, and the out-of-scale one twice")
	assert.Equal(t, Failure{Item: 1, Response: 0, Call: "judge", Err: rep.Failures[0].Err}, rep.Failures[0])
	assert.ErrorIs(t, rep.Failures[len(rep.Failures)-1].Err, ErrInvalid)
	assert.Contains(t, rep.String(), "8 failed calls")

	_, err = Audit(context.Background(), nil, nil, nil, nil)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Audit(context.Background(), j, nil, []Item{{Prompt: alignment.NewPrompt("e", "Q")}}, nil)
	assert.ErrorContains(t, err, `item 0 (prompt "e") has no responses`)
	_, err = Audit(context.Background(), j, nil, nil, &AuditOptions{Min: 3, Max: 1})
	assert.ErrorIs(t, err, ErrInvalid)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Audit(ctx, j, nil, auditItems(3), nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAuditTable(t *testing.T) {
	rep := AuditReport{Items: 1, Responses: 2, Scored: 2, LengthSpearman: 0.5, Min: 0, Max: 5}
	s := rep.String()
	assert.Contains(t, s, "position: first-position win rate        n/a    -\n")
	assert.Contains(t, s, "length: Spearman(score, length)          0.500  2 responses")
	assert.Contains(t, s, "self-preference: own minus others' mean  n/a    -\n")
}
