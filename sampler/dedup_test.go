package sampler

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func responses(ts ...string) []alignment.Response {
	out := make([]alignment.Response, len(ts))
	for i, t := range ts {
		out[i] = alignment.Response{Text: t}
	}
	return out
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, "hello big world", Normalize("  Hello\tBIG\n\n world \u00a0"))
	assert.Equal(t, "", Normalize(" \n "))
}

func TestDedup(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
		d    Dropped
	}{
		{"none", nil, []string{}, Dropped{}},
		{"distinct", []string{"a", "b"}, []string{"a", "b"}, Dropped{}},
		{"exact", []string{"a", "b", "a", "a"}, []string{"a", "b"}, Dropped{Exact: 2}},
		{"case and space", []string{"Hello  world", "hello world", "HELLO\nWORLD ", "other"}, []string{"Hello  world", "other"}, Dropped{Normalized: 2}},
		{"both", []string{"x y", "X  Y", "x y", "X  Y"}, []string{"x y"}, Dropped{Exact: 2, Normalized: 1}},
		{"empty texts", []string{"", " ", ""}, []string{""}, Dropped{Exact: 1, Normalized: 1}},
	}
	for _, tt := range tests {
		in := responses(tt.in...)
		out, d := Dedup(in)
		assert.Equal(t, tt.want, texts(out), tt.name)
		assert.Equal(t, tt.d, d, tt.name)
		assert.Equal(t, len(tt.in), len(out)+d.Total(), tt.name)
		assert.Equal(t, responses(tt.in...), in, "the input is not modified")
	}
}

func TestDistinct(t *testing.T) {
	// The backend repeats itself: its first call (seed 0) writes variants of
	// "same", every later one "new".
	pol := &alignmenttest.Script{Func: func(_ alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		if o.Seed == 0 {
			return alignment.Response{Text: []string{"same", "Same ", "same"}[k]}
		}
		return alignment.Response{Text: "new"}
	}}
	d, err := NewDistinct(pol, 2)
	require.NoError(t, err)
	rs, err := d.Generate(context.Background(), alignment.NewPrompt("p", "q"), alignment.SampleOptions{N: 3})
	require.NoError(t, err)
	assert.Equal(t, []string{"same", "new"}, texts(rs), "fewer than asked once the retries run out")
	calls := pol.Calls()
	require.Len(t, calls, 3, "one call and two retries")
	assert.Equal(t, []int{3, 2, 1}, []int{calls[0].Options.N, calls[1].Options.N, calls[2].Options.N}, "retries ask for the missing responses")
	assert.NotEqual(t, calls[1].Options.Seed, calls[2].Options.Seed, "each retry has its own seed")
	assert.Equal(t, Dropped{Exact: 3, Normalized: 1}, d.Dropped())

	_, err = d.Generate(context.Background(), alignment.NewPrompt("p", "q"), alignment.SampleOptions{N: 1})
	require.NoError(t, err)
	assert.Equal(t, Dropped{Exact: 3, Normalized: 1}, d.Dropped(), "counts accumulate over calls")
	assert.Len(t, pol.Calls(), 4, "no retry when the first call is enough")

	_, err = NewDistinct(nil, 1)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = NewDistinct(pol, -1)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestDistinctConformance(t *testing.T) {
	d, err := NewDistinct(&alignmenttest.Script{Default: []string{"a", "A", "b", "c"}}, 1)
	require.NoError(t, err)
	if err := alignmenttest.TestPolicy(t.Context(), d); err != nil {
		t.Error(err)
	}
}
