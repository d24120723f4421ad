package sampler

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func TestBestOfN(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"w", "x", "y", "z"}}
	scores := alignmenttest.Scores{"w": 1, "x": 3, "y": 3, "z": 2}
	b, err := NewBestOfN(pol, scores, 4)
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "q")

	best, rest, err := b.Draw(context.Background(), p, alignment.SampleOptions{N: 1})
	require.NoError(t, err)
	assert.Equal(t, "x", best.Response.Text, "ties go to the earlier draw")
	assert.Equal(t, 3.0, best.Score)
	require.Len(t, rest, 3)
	var restTexts []string
	var restScores []float64
	for _, s := range rest {
		restTexts, restScores = append(restTexts, s.Response.Text), append(restScores, s.Score)
	}
	assert.Equal(t, []string{"w", "y", "z"}, restTexts, "the rest in draw order")
	assert.Equal(t, []float64{1, 3, 2}, restScores)
	assert.Equal(t, 4, pol.Calls()[0].Options.N, "N draws whatever the call asks")

	rs, err := b.Generate(context.Background(), p, alignment.SampleOptions{N: 3})
	require.NoError(t, err)
	assert.Equal(t, []string{"x", "y", "z"}, texts(rs), "the best three, best first")

	_, err = b.Generate(context.Background(), p, alignment.SampleOptions{N: 5})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestBestOfNJudgeSeeds(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]uint64{}
	judge := alignmenttest.JudgeFunc(func(ctx context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		s, ok := alignment.SeedFrom(ctx)
		if !ok {
			return alignment.Judgment{}, assert.AnError
		}
		mu.Lock()
		defer mu.Unlock()
		seen[r.Text] = s
		return alignment.Judgment{Score: float64(s % 7)}, nil
	})
	b, err := NewBestOfN(&alignmenttest.Script{Default: []string{"a", "b", "c"}}, judge, 3)
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "q")
	first, _, err := b.Draw(context.Background(), p, alignment.SampleOptions{Seed: 1})
	require.NoError(t, err)
	seeds := map[string]uint64{}
	for k, v := range seen {
		seeds[k] = v
	}
	assert.Len(t, seeds, 3)
	assert.NotEqual(t, seeds["a"], seeds["b"], "each response is judged under its own seed")
	second, _, err := b.Draw(context.Background(), p, alignment.SampleOptions{Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Equal(t, seeds, seen, "the same seed gives the same judging seeds")

	_, _, err = b.Draw(alignment.WithSeed(context.Background(), 3), p, alignment.SampleOptions{Seed: 1})
	require.NoError(t, err)
	assert.NotEqual(t, seeds["a"], seen["a"], "a seed in ctx takes precedence")
}

func TestBestOfNErrors(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"a", "b"}}
	for name, build := range map[string]func() (*BestOfN, error){
		"nil policy": func() (*BestOfN, error) { return NewBestOfN(nil, alignmenttest.Scores{}, 1) },
		"nil judge":  func() (*BestOfN, error) { return NewBestOfN(pol, nil, 1) },
		"zero N":     func() (*BestOfN, error) { return NewBestOfN(pol, alignmenttest.Scores{}, 0) },
		"negative N": func() (*BestOfN, error) { return NewBestOfN(pol, alignmenttest.Scores{}, -1) },
	} {
		b, err := build()
		assert.Nil(t, b, name)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}

	b, err := NewBestOfN(pol, alignmenttest.Scores{"a": 1, "b": math.NaN()}, 2)
	require.NoError(t, err)
	_, _, err = b.Draw(context.Background(), alignment.NewPrompt("p", "q"), alignment.SampleOptions{})
	assert.ErrorIs(t, err, ErrScore)
	assert.ErrorContains(t, err, "response 1")

	b, err = NewBestOfN(pol, alignmenttest.Scores{"a": 1}, 2)
	require.NoError(t, err)
	_, _, err = b.Draw(context.Background(), alignment.NewPrompt("p", "q"), alignment.SampleOptions{})
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)
}

func TestBestOfNConformance(t *testing.T) {
	pol := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		return alignment.Response{Text: p.ID + string(rune('a'+k))}
	}}
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: float64(len(r.Text) % 3)}, nil
	})
	b, err := NewBestOfN(pol, judge, 4)
	require.NoError(t, err)
	if err := alignmenttest.TestPolicy(t.Context(), b); err != nil {
		t.Error(err)
	}
}
