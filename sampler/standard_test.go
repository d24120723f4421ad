package sampler

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func texts(rs []alignment.Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Text
	}
	return out
}

func TestNewStandardErrors(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"x"}}
	tests := []struct {
		name string
		pol  alignment.Policy
		o    Options
	}{
		{"nil policy", nil, Options{N: 1}},
		{"zero N", pol, Options{}},
		{"negative N", pol, Options{N: -2}},
		{"negative temperature", pol, Options{N: 1, Temperature: -0.1}},
		{"NaN temperature", pol, Options{N: 1, Temperature: math.NaN()}},
		{"infinite temperature", pol, Options{N: 1, Temperature: math.Inf(1)}},
		{"top-p above 1", pol, Options{N: 1, TopP: 1.5}},
		{"negative max tokens", pol, Options{N: 1, MaxTokens: -1}},
	}
	for _, tt := range tests {
		s, err := NewStandard(tt.pol, tt.o)
		assert.Nil(t, s, tt.name)
		assert.ErrorIs(t, err, ErrInvalid, tt.name)
	}
}

func TestStandard(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"a", "b", "c", "d"}, MaxPerCall: 1}
	s, err := NewStandard(pol, Options{N: 3, Temperature: 0.7, TopP: 0.9, MaxTokens: 32, Seed: 5})
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "hi")

	rs, err := s.Sample(context.Background(), p)
	require.NoError(t, err)
	assert.Len(t, rs, 3, "a backend that returns one response per call is asked again")
	calls := pol.Calls()
	require.Len(t, calls, 3)
	for _, c := range calls {
		assert.Equal(t, 0.7, c.Options.Temperature)
		assert.Equal(t, 0.9, c.Options.TopP)
		assert.Equal(t, 32, c.Options.MaxTokens)
	}
	assert.Equal(t, 3, calls[0].Options.N)
	seed := calls[0].Options.Seed
	assert.NotZero(t, seed)

	again, err := s.Sample(context.Background(), p)
	require.NoError(t, err)
	assert.Equal(t, texts(rs), texts(again), "the default seed makes sampling repeatable")
	_, err = s.Sample(context.Background(), alignment.NewPrompt("other", "hi"))
	require.NoError(t, err)
	assert.NotEqual(t, seed, pol.Calls()[6].Options.Seed, "each prompt gets its own seed")

	rs, err = s.Generate(context.Background(), p, alignment.SampleOptions{N: 2, Temperature: 1.2, MaxTokens: 8, Seed: 99})
	require.NoError(t, err)
	assert.Len(t, rs, 2, "a call's N wins")
	last := pol.Calls()[len(pol.Calls())-2]
	assert.Equal(t, 1.2, last.Options.Temperature, "a call's own options win")
	assert.Equal(t, 0.9, last.Options.TopP, "unset options take the defaults")
	assert.Equal(t, uint64(99), last.Options.Seed)

	_, err = s.Generate(context.Background(), p, alignment.SampleOptions{TopP: 2})
	assert.ErrorIs(t, err, ErrInvalid)

	many := &alignmenttest.Script{Default: []string{"a", "b"}}
	s, err = NewStandard(many, Options{N: 2})
	require.NoError(t, err)
	_, err = s.Sample(context.Background(), p)
	require.NoError(t, err)
	assert.Len(t, many.Calls(), 1, "one call when the backend returns all N")
}

func TestStandardConformance(t *testing.T) {
	s, err := NewStandard(&alignmenttest.Script{Default: []string{"one", "two"}, MaxPerCall: 1}, Options{N: 2, Temperature: 0.5})
	require.NoError(t, err)
	if err := alignmenttest.TestPolicy(t.Context(), s); err != nil {
		t.Error(err)
	}
}
