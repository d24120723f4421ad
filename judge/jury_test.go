package judge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func constJudge(score float64) Func {
	return func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: score, Rationale: fmt.Sprint("gave ", score)}, nil
	}
}

func lengthJudge() Func {
	return func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: math.Min(5, float64(alignment.WordCount(r.Text)))}, nil
	}
}

func TestJuryAggregates(t *testing.T) {
	ctx := context.Background()
	members := []Member{{"a", constJudge(1)}, {"b", constJudge(4)}, {"c", constJudge(4)}}
	for _, tt := range []struct {
		agg  Aggregate
		want float64
	}{{Mean, 3}, {Median, 4}, {Majority, 4}} {
		j, err := NewJury(members, &JuryOptions{Aggregate: tt.agg})
		require.NoError(t, err)
		got, err := j.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{Text: "R"})
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Score, tt.agg.String())
		assert.Equal(t, []float64{1, 4, 4}, got.Samples)
		assert.Equal(t, map[string]float64{"a": 1, "b": 4, "c": 4}, got.Aspects)
		assert.Equal(t, "a: gave 1\n\nb: gave 4\n\nc: gave 4", got.Rationale)
	}
}

func TestJuryConforms(t *testing.T) {
	rubric, err := NewRubric(&alignmenttest.Script{Default: []string{"Score: 2", "Score: 3"}}, nil)
	require.NoError(t, err)
	j, err := NewJury([]Member{{"rubric", rubric}, {"length", lengthJudge()}}, nil)
	require.NoError(t, err)
	assert.NoError(t, alignmenttest.TestJudge(context.Background(), j))
	lo, hi := j.ScoreRange()
	assert.Equal(t, [2]float64{0, 5}, [2]float64{lo, hi})
}

func TestJuryUnparsableMember(t *testing.T) {
	ctx := context.Background()
	bad := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{}, fmt.Errorf("judge: model rambled: %w", ErrUnparsable)
	})
	j, err := NewJury([]Member{{"bad", bad}, {"good", constJudge(2)}}, nil)
	require.NoError(t, err)
	got, err := j.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{})
	require.NoError(t, err)
	assert.Equal(t, 2.0, got.Score)
	assert.Equal(t, 1, got.Unparsed)

	j, err = NewJury([]Member{{"bad", bad}}, nil)
	require.NoError(t, err)
	_, err = j.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{})
	assert.ErrorIs(t, err, ErrUnparsable)

	broken := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{}, errors.New("connection refused")
	})
	j, err = NewJury([]Member{{"broken", broken}, {"good", constJudge(2)}}, nil)
	require.NoError(t, err)
	_, err = j.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{})
	assert.ErrorContains(t, err, `member "broken": connection refused`)
}

func TestJurySeeds(t *testing.T) {
	var seen [2]uint64
	rec := func(i int) Func {
		return func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			seen[i], _ = alignment.SeedFrom(ctx)
			return alignment.Judgment{Score: 1}, nil
		}
	}
	j, err := NewJury([]Member{{"x", rec(0)}, {"y", rec(1)}}, nil)
	require.NoError(t, err)
	_, err = j.Judge(alignment.WithSeed(context.Background(), 5), alignment.NewPrompt("p", "Q"), alignment.Response{})
	require.NoError(t, err)
	assert.NotEqual(t, seen[0], seen[1], "members get their own seeds")
	assert.NotZero(t, seen[0])
}

func TestNewJuryErrors(t *testing.T) {
	for _, tt := range []struct {
		members []Member
		o       *JuryOptions
		msg     string
	}{
		{nil, nil, "no members"},
		{[]Member{{"a", nil}}, nil, `member 0 ("a") has no judge`},
		{[]Member{{"", constJudge(1)}}, nil, "member 0 has no name"},
		{[]Member{{"a", constJudge(1)}, {"a", constJudge(2)}}, nil, `member 1 repeats the name "a"`},
		{[]Member{{"a", constJudge(1)}}, &JuryOptions{Aggregate: -1}, "unknown Aggregate"},
	} {
		_, err := NewJury(tt.members, tt.o)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.Contains(t, err.Error(), tt.msg)
	}
}

// TestAgree checks Krippendorff's alpha against a hand computation.
//
// Raters r1 = [1, 2, 3], r2 = [1, 2, 4] over three units; n = 6 values.
// D_o = (1/n) Σ_u Σ_{ordered pairs in u} δ²/(m_u − 1) = (0 + 0 + 2·1²/1)/6 = 1/3.
// D_e = Σ_{ordered pairs i≠j} δ² / (n(n−1)) = 2·SS/(n−1), SS = Σ(x − 13/6)² = 41/6,
// so D_e = 41/15 and alpha = 1 − (1/3)/(41/15) = 36/41.
// Spearman of r1 and r2 is 1 (same order).
func TestAgree(t *testing.T) {
	a, err := Agree([][]float64{{1, 2, 3}, {1, 2, 4}})
	require.NoError(t, err)
	assert.Equal(t, 2, a.Judges)
	assert.Equal(t, 3, a.Items)
	assert.InDelta(t, 36.0/41, a.Alpha, 1e-12)
	assert.InDelta(t, 1, a.Spearman, 1e-12)

	// Three judges, one reversed: pairwise Spearman 1, −1, −1.
	a, err = Agree([][]float64{{1, 2, 3}, {1, 2, 3}, {3, 2, 1}})
	require.NoError(t, err)
	assert.InDelta(t, -1.0/3, a.Spearman, 1e-12)
	assert.Less(t, a.Alpha, 0.0)

	a, err = Agree([][]float64{{2, 2}, {2, 2}})
	require.NoError(t, err)
	assert.Equal(t, Agreement{Judges: 2, Items: 2, Spearman: 0, Alpha: 1}, a)

	for _, bad := range [][][]float64{{{1, 2}}, {{1}, {1}}, {{1, 2}, {1}}, {{1, 2}, {1, math.Inf(1)}}} {
		_, err := Agree(bad)
		assert.ErrorIs(t, err, ErrInvalid, "%v", bad)
	}
}

func TestJuryAgreement(t *testing.T) {
	j, err := NewJury([]Member{{"len", lengthJudge()}, {"len2", lengthJudge()}}, nil)
	require.NoError(t, err)
	items := []Item{{Prompt: alignment.NewPrompt("p", "Q"), Responses: []alignment.Response{{Text: "a"}, {Text: "a b"}, {Text: "a b c"}}}}
	a, err := j.Agreement(context.Background(), items)
	require.NoError(t, err)
	assert.InDelta(t, 1, a.Alpha, 1e-12)
	assert.InDelta(t, 1, a.Spearman, 1e-12)
}

func TestFunc(t *testing.T) {
	ctx := context.Background()
	assert.NoError(t, alignmenttest.TestJudge(ctx, lengthJudge()))
	for _, bad := range []alignment.Judgment{{Score: math.NaN()}, {Score: 1, Samples: []float64{math.Inf(-1)}}, {Score: 1, Aspects: map[string]float64{"x": math.NaN()}}} {
		f := Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			return bad, nil
		})
		_, err := f.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{})
		assert.ErrorIs(t, err, ErrInvalid)
	}
	_, err := Func(nil).Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{})
	assert.ErrorIs(t, err, ErrInvalid)
}
