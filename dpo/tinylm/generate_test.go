package tinylm

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo"
)

var smallExamples = []dpo.Sequence{
	{Prompt: alignment.NewPrompt("1", "what is two plus three ?"), Completion: "two plus three is five ."},
	{Prompt: alignment.NewPrompt("2", "what is one plus one ?"), Completion: "one plus one is two ."},
	{Prompt: alignment.NewPrompt("3", "name a colour ."), Completion: "red , please ."},
	{Prompt: alignment.NewPrompt("4", "say hello"), Completion: "hello there !"},
}

var (
	trainedOnce  sync.Once
	trainedModel *Model
	trainedErr   error
)

// trained returns a model fitted to smallExamples until greedy decoding
// reproduces them. Tests must not modify it (Clone it first).
func trained(t *testing.T) *Model {
	t.Helper()
	trainedOnce.Do(func() {
		tok, err := NewTokenizer(smallCorpus, TokenizerOptions{})
		if err != nil {
			trainedErr = err
			return
		}
		m, err := New(tok, Config{Seed: 3, Name: "tiny-test"})
		if err != nil {
			trainedErr = err
			return
		}
		_, trainedErr = m.Fit(context.Background(), smallExamples, FitOptions{Epochs: 60, BatchSize: 4, Seed: 1})
		trainedModel = m
	})
	require.NoError(t, trainedErr)
	return trainedModel
}

func TestGenerateConformance(t *testing.T) {
	if err := alignmenttest.TestPolicy(t.Context(), trained(t)); err != nil {
		t.Error(err)
	}
	m := newSmall(t, Config{Seed: 1})
	if err := alignmenttest.TestPolicy(t.Context(), m); err != nil {
		t.Error(err)
	}
}

func TestGenerateGreedy(t *testing.T) {
	m := trained(t)
	for _, ex := range smallExamples {
		rs, err := m.Generate(t.Context(), ex.Prompt, alignment.SampleOptions{N: 3})
		require.NoError(t, err)
		require.Len(t, rs, 3)
		want := m.tok.Decode(m.tok.Encode(ex.Completion))
		for _, r := range rs {
			assert.Equal(t, want, r.Text)
			assert.Equal(t, "stop", r.FinishReason)
			assert.Equal(t, "tiny-test", r.Source)
			assert.True(t, r.HasLogProb)
			lp, n, err := m.LogProb(t.Context(), ex.Prompt, r.Text)
			require.NoError(t, err)
			assert.Equal(t, n, r.Tokens, "tokens with <eos>")
			assert.Equal(t, lp, r.LogProb, "Generate and LogProb compute the same numbers")
		}
	}
}

func TestGenerateSeeds(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 8})
	p := alignment.NewPrompt("p", "what is two plus three ?")
	o := alignment.SampleOptions{N: 6, Temperature: 1, Seed: 42, MaxTokens: 12}
	a, err := m.Generate(ctx, p, o)
	require.NoError(t, err)
	b, err := m.Generate(ctx, p, o)
	require.NoError(t, err)
	assert.Equal(t, a, b, "same seed, same samples")
	texts := map[string]bool{}
	for _, r := range a {
		texts[r.Text] = true
	}
	assert.Greater(t, len(texts), 1, "the samples of one call differ")
	o.Seed = 43
	c, err := m.Generate(ctx, p, o)
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed, other samples")

	// Sample i does not depend on how many are drawn with it.
	o.Seed, o.N = 42, 2
	d, err := m.Generate(ctx, p, o)
	require.NoError(t, err)
	assert.Equal(t, a[:2], d)
}

func TestGenerateLogProbs(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 8})
	p := alignment.NewPrompt("p", "say hello")
	rs, err := m.Generate(ctx, p, alignment.SampleOptions{N: 8, Temperature: 1.5, Seed: 1, MaxTokens: 10, LogProbs: true, TopLogProbs: 3})
	require.NoError(t, err)
	stops := 0
	for _, r := range rs {
		require.Len(t, r.TokenLogProbs, r.Tokens)
		var sum float64
		for _, tl := range r.TokenLogProbs {
			sum += tl.LogProb
			require.Len(t, tl.Top, 3)
			assert.GreaterOrEqual(t, tl.Top[0].LogProb, tl.Top[1].LogProb)
			assert.GreaterOrEqual(t, tl.Top[1].LogProb, tl.Top[2].LogProb)
			assert.GreaterOrEqual(t, tl.Top[0].LogProb, tl.LogProb)
		}
		assert.InDelta(t, r.LogProb, sum, 1e-9)
		switch r.FinishReason {
		case "stop":
			stops++
			assert.Equal(t, "<eos>", r.TokenLogProbs[r.Tokens-1].Token)
			lp, n, err := m.LogProb(ctx, p, r.Text)
			require.NoError(t, err)
			assert.Equal(t, n, r.Tokens)
			assert.Equal(t, lp, r.LogProb, "LogProb of %q under the untempered model", r.Text)
		case "length":
			assert.Equal(t, 10, r.Tokens)
		default:
			t.Errorf("finish reason %q", r.FinishReason)
		}
	}
	t.Logf("%d of %d samples stopped at <eos>", stops, len(rs))
}

func TestGenerateTopPAndTemperature(t *testing.T) {
	ctx := t.Context()
	m := trained(t)
	p := smallExamples[0].Prompt
	greedy, err := m.Generate(ctx, p, alignment.SampleOptions{})
	require.NoError(t, err)
	// A nucleus of mass 1e-9 is the single most likely token: greedy.
	rs, err := m.Generate(ctx, p, alignment.SampleOptions{N: 4, Temperature: 2, TopP: 1e-9, Seed: 5})
	require.NoError(t, err)
	for _, r := range rs {
		assert.Equal(t, greedy[0].Text, r.Text)
	}
	// A very low temperature is greedy too.
	rs, err = m.Generate(ctx, p, alignment.SampleOptions{N: 4, Temperature: 1e-6, Seed: 5})
	require.NoError(t, err)
	for _, r := range rs {
		assert.Equal(t, greedy[0].Text, r.Text)
	}
}

func TestGenerateStopAndLength(t *testing.T) {
	ctx := t.Context()
	m := trained(t)
	p := smallExamples[0].Prompt // "two plus three is five ."
	rs, err := m.Generate(ctx, p, alignment.SampleOptions{Stop: []string{"", "is f", "three"}, LogProbs: true})
	require.NoError(t, err)
	r := rs[0]
	assert.Equal(t, "two plus", r.Text, "cut before the earliest stop string, whole tokens only")
	assert.Equal(t, "stop", r.FinishReason)
	assert.Equal(t, 2, r.Tokens)
	assert.Len(t, r.TokenLogProbs, 2)

	rs, err = m.Generate(ctx, p, alignment.SampleOptions{Stop: []string{"ive."}})
	require.NoError(t, err)
	assert.Equal(t, "two plus three is", rs[0].Text, "the token holding the stop string's start is dropped")

	rs, err = m.Generate(ctx, p, alignment.SampleOptions{MaxTokens: 3})
	require.NoError(t, err)
	assert.Equal(t, "two plus three", rs[0].Text)
	assert.Equal(t, "length", rs[0].FinishReason)
	assert.Equal(t, 3, rs[0].Tokens)
}

func TestGenerateOptionErrors(t *testing.T) {
	m := newSmall(t, Config{Seed: 1})
	p := alignment.NewPrompt("p", "hi")
	for _, tc := range []struct {
		o    alignment.SampleOptions
		want string
	}{
		{alignment.SampleOptions{Temperature: -1}, "Temperature -1"},
		{alignment.SampleOptions{Temperature: math.NaN()}, "Temperature NaN"},
		{alignment.SampleOptions{Temperature: math.Inf(1)}, "Temperature +Inf"},
		{alignment.SampleOptions{TopP: 1.5}, "TopP 1.5"},
		{alignment.SampleOptions{TopP: math.NaN()}, "TopP NaN"},
		{alignment.SampleOptions{MaxTokens: -2}, "MaxTokens -2"},
		{alignment.SampleOptions{TopLogProbs: -1}, "TopLogProbs -1"},
	} {
		_, err := m.Generate(t.Context(), p, tc.o)
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestGenerateCancel(t *testing.T) {
	m := newSmall(t, Config{Seed: 1})
	m.w.b2[TokenEOS] = -1e4 // never stops by itself
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Generate(ctx, alignment.NewPrompt("p", "hi"), alignment.SampleOptions{N: 4, Temperature: 1, MaxTokens: 1 << 30})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

// TestNucleus checks the quickselect of the top-p nucleus against sorting.
func TestNucleus(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n := 1 + r.IntN(300)
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.ExpFloat64())
			if trial%3 == 0 {
				w[i] = float32(r.IntN(4)) // many ties and zeros
			}
		}
		var keys []uint64
		var total float64
		for v, x := range w {
			if x > 0 {
				keys = append(keys, uint64(^orderKey(x))<<32|uint64(v))
				total += float64(x)
			}
		}
		if len(keys) == 0 {
			continue
		}
		target := r.Float64() * total
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		wantN, wantMass := len(sorted), 0.0
		var acc float64
		for i, k := range sorted {
			acc += float64(w[uint32(k)])
			if acc >= target {
				wantN, wantMass = i+1, acc
				break
			}
		}
		gotN, gotMass := nucleus(keys, w, target)
		require.Equal(t, wantN, gotN, "trial %d", trial)
		assert.InDelta(t, wantMass, gotMass, 1e-9*wantMass, "trial %d", trial)
		got := slices.Clone(keys[:gotN])
		slices.Sort(got)
		assert.Equal(t, sorted[:wantN], got, "trial %d: the same tokens", trial)
	}
}
