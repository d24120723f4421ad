package tinylm

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

var (
	things  = []string{"sky", "grass", "sun", "snow", "sea", "leaf", "rose", "coal", "sand", "cloud", "lemon", "plum"}
	colours = []string{"blue", "green", "yellow", "white", "blue", "green", "red", "black", "yellow", "white", "yellow", "purple"}
	askings = []string{"what colour is the %s ?", "tell me the colour of the %s .", "which colour does the %s have ?"}
)

// colourCorpus returns examples "what colour is the sky ?" → "the sky is
// blue ." for every thing and phrasing, split into training examples and
// held-out ones (every fourth combination).
func colourCorpus() (train, held []dpo.Sequence) {
	i := 0
	for ti, thing := range things {
		for _, ask := range askings {
			s := dpo.Sequence{
				Prompt:     alignment.NewPrompt(fmt.Sprint(i), fmt.Sprintf(ask, thing)),
				Completion: fmt.Sprintf("the %s is %s .", thing, colours[ti]),
			}
			if i%4 == 3 {
				held = append(held, s)
			} else {
				train = append(train, s)
			}
			i++
		}
	}
	return train, held
}

func texts(seqs []dpo.Sequence) []string {
	var out []string
	for _, s := range seqs {
		out = append(out, s.Prompt.Text(), s.Completion)
	}
	return out
}

func TestFitLowersHeldOutPerplexity(t *testing.T) {
	ctx := t.Context()
	train, held := colourCorpus()
	tok, err := NewTokenizer(texts(append(train, held...)), TokenizerOptions{})
	require.NoError(t, err)
	m, err := New(tok, Config{Seed: 1})
	require.NoError(t, err)
	before, err := m.Perplexity(ctx, held)
	require.NoError(t, err)
	losses, err := m.Fit(ctx, train, FitOptions{Epochs: 15, BatchSize: 8, Seed: 2})
	require.NoError(t, err)
	require.Len(t, losses, 15)
	after, err := m.Perplexity(ctx, held)
	require.NoError(t, err)
	t.Logf("held-out perplexity %.2f → %.2f (vocabulary %d); training loss per epoch %.3f", before, after, tok.Len(), losses)
	assert.Less(t, losses[len(losses)-1], losses[0]/4, "training loss falls")
	assert.Less(t, after, before/4, "held-out perplexity falls")
	assert.Less(t, after, 3.0, "held-out completions are mostly predictable: only the colour is new")
	for _, p := range m.Params() {
		for _, g := range p.Grad {
			require.Zero(t, g, "Fit leaves zero gradients")
		}
	}

	// The same seeds give the same run.
	m2, err := New(tok, Config{Seed: 1})
	require.NoError(t, err)
	losses2, err := m2.Fit(ctx, train, FitOptions{Epochs: 15, BatchSize: 8, Seed: 2})
	require.NoError(t, err)
	assert.Equal(t, losses, losses2)
}

func TestFitErrors(t *testing.T) {
	m := newSmall(t, Config{Seed: 1})
	for _, tc := range []struct {
		ex   []dpo.Sequence
		o    FitOptions
		want string
	}{
		{nil, FitOptions{}, "no examples"},
		{smallExamples, FitOptions{Epochs: -1}, "Epochs -1"},
		{smallExamples, FitOptions{BatchSize: -1}, "BatchSize -1"},
		{smallExamples, FitOptions{LR: -1}, "LR -1"},
		{smallExamples, FitOptions{LR: math.NaN()}, "LR NaN"},
	} {
		_, err := m.Fit(t.Context(), tc.ex, tc.o)
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tc.want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := m.Fit(ctx, smallExamples, FitOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = m.Perplexity(t.Context(), nil)
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

func TestAdamUpdate(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		const n = 37
		p, g, mo, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			p[i], g[i], mo[i], v[i] = float32(i)/7, float32(i%5)-2, float32(i%3)/10, float32(i%4)/100
		}
		c := [8]float32{0.9, 0.1, 0.999, 0.001, 0.01, 1.5, 1e-8}
		want := make([]float64, n)
		for i := range n {
			m := 0.9*float64(mo[i]) + 0.1*float64(g[i])
			vv := 0.999*float64(v[i]) + 0.001*float64(g[i])*float64(g[i])
			want[i] = float64(p[i]) - 0.01*m/(math.Sqrt(vv)*1.5+1e-8)
		}
		adamUpdate(p, g, mo, v, &c)
		for i := range n {
			assert.InDelta(t, want[i], float64(p[i]), 1e-6*(1+math.Abs(want[i])), "p[%d]", i)
		}
	})
}

func TestTanh32(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		x := make([]float32, 1003)
		for i := range x {
			x[i] = float32(i-500) / 40
		}
		x[500], x[501] = 1e-5, -3e-4
		want := make([]float64, len(x))
		for i, v := range x {
			want[i] = math.Tanh(float64(v))
		}
		tanh32(x)
		for i := range x {
			assert.InDelta(t, want[i], float64(x[i]), 1e-6, "tanh at %d", i)
		}
		assert.Equal(t, float32(1e-5), x[500], "tiny inputs pass through")
	})
}
