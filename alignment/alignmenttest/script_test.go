package alignmenttest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func texts(rs []alignment.Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Text
	}
	return out
}

func TestScript(t *testing.T) {
	s := &Script{
		ByID:   map[string][]string{"a": {"a0", "a1", "a2"}, "empty": {}},
		ByText: map[string][]string{"hello": {"hi"}},
		Source: "fake",
	}
	ctx := t.Context()
	tests := []struct {
		name string
		p    alignment.Prompt
		o    alignment.SampleOptions
		want []string
	}{
		{"by id in order", alignment.NewPrompt("a", "x"), alignment.SampleOptions{N: 3}, []string{"a0", "a1", "a2"}},
		{"rotation by seed", alignment.NewPrompt("a", "x"), alignment.SampleOptions{N: 3, Seed: 4}, []string{"a1", "a2", "a0"}},
		{"cycles past the end", alignment.NewPrompt("a", "x"), alignment.SampleOptions{N: 4}, []string{"a0", "a1", "a2", "a0"}},
		{"N below 1 is one", alignment.NewPrompt("a", "x"), alignment.SampleOptions{N: -2}, []string{"a0"}},
		{"by text", alignment.NewPrompt("b", "hello"), alignment.SampleOptions{N: 2}, []string{"hi", "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := s.Generate(ctx, tt.p, tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.want, texts(rs))
			for _, r := range rs {
				assert.Equal(t, "fake", r.Source)
			}
		})
	}

	_, err := s.Generate(ctx, alignment.NewPrompt("nope", "x"), alignment.SampleOptions{})
	assert.ErrorIs(t, err, ErrUnscripted)
	assert.ErrorContains(t, err, `"nope"`)
	_, err = s.Generate(ctx, alignment.NewPrompt("empty", "x"), alignment.SampleOptions{})
	assert.ErrorIs(t, err, ErrUnscripted)

	calls := s.Calls()
	require.Len(t, calls, len(tests))
	assert.Equal(t, "a", calls[0].Prompt.ID)
	assert.Equal(t, 3, calls[0].Responses)
	assert.Equal(t, uint64(4), calls[1].Options.Seed)
}

func TestScriptMaxPerCallWithSampleN(t *testing.T) {
	s := &Script{Default: []string{"x", "y", "z"}, MaxPerCall: 1}
	p := alignment.NewPrompt("p", "q")
	rs, err := s.Generate(t.Context(), p, alignment.SampleOptions{N: 3})
	require.NoError(t, err)
	assert.Len(t, rs, 1, "told to return one response like llama.cpp")

	rs, err = alignment.SampleN(t.Context(), s, p, alignment.SampleOptions{N: 3, Seed: 9})
	require.NoError(t, err)
	assert.Len(t, rs, 3)
	assert.Len(t, s.Calls(), 4, "one call asking for 3, then two filling calls")
}

func TestScriptFunc(t *testing.T) {
	s := &Script{
		ByID: map[string][]string{"fixed": {"f"}},
		Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
			return alignment.Response{Text: p.ID, Tokens: k + 1}
		},
		Default: []string{"never used while Func is set"},
	}
	rs, err := s.Generate(t.Context(), alignment.NewPrompt("q", "x"), alignment.SampleOptions{N: 2})
	require.NoError(t, err)
	assert.Equal(t, []alignment.Response{{Text: "q", Tokens: 1}, {Text: "q", Tokens: 2}}, rs)
	rs, err = s.Generate(t.Context(), alignment.NewPrompt("fixed", "x"), alignment.SampleOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"f"}, texts(rs))
}

func TestScriptCallsAreCopies(t *testing.T) {
	s := &Script{Default: []string{"x"}}
	p := alignment.NewPrompt("p", "q")
	o := alignment.SampleOptions{Stop: []string{"s"}, Extra: map[string]any{"k": 1}}
	_, err := s.Generate(t.Context(), p, o)
	require.NoError(t, err)
	p.Messages[0].Content = "changed"
	o.Stop[0] = "changed"
	o.Extra["k"] = 2
	c := s.Calls()[0]
	assert.Equal(t, "q", c.Prompt.Messages[0].Content)
	assert.Equal(t, []string{"s"}, c.Options.Stop)
	assert.Equal(t, map[string]any{"k": 1}, c.Options.Extra)
}

func TestScriptCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := (&Script{Default: []string{"x"}}).Generate(ctx, alignment.NewPrompt("p", "q"), alignment.SampleOptions{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestScoresAndRewrites(t *testing.T) {
	ctx := t.Context()
	s := Scores{"good": 5, "bad": 1, "meh": 1}
	p := alignment.NewPrompt("p", "q")
	j, err := s.Judge(ctx, p, alignment.Response{Text: "good"})
	require.NoError(t, err)
	assert.Equal(t, 5.0, j.Score)
	_, err = s.Judge(ctx, p, alignment.Response{Text: "other"})
	assert.ErrorIs(t, err, ErrUnscripted)

	for _, tt := range []struct {
		a, b string
		want float64
	}{{"good", "bad", 1}, {"bad", "good", 0}, {"bad", "meh", 0.5}} {
		c, err := s.Compare(ctx, p, alignment.Response{Text: tt.a}, alignment.Response{Text: tt.b})
		require.NoError(t, err)
		assert.Equal(t, tt.want, c.ProbA, "%s vs %s", tt.a, tt.b)
	}
	lo, hi := s.ScoreRange()
	assert.Equal(t, [2]float64{1, 5}, [2]float64{lo, hi})
	lo, hi = Scores{}.ScoreRange()
	assert.Equal(t, [2]float64{0, 0}, [2]float64{lo, hi})

	w := Rewrites{"bad": "better"}
	in := alignment.Response{Text: "bad", Revisions: []alignment.Revision{{Refiner: "x", Text: "bad"}}}
	out, err := w.Refine(ctx, p, in)
	require.NoError(t, err)
	assert.Equal(t, "better", out.Text)
	assert.Equal(t, []alignment.Revision{{Refiner: "x", Text: "bad"}, {Refiner: "rewrites", Text: "better"}}, out.Revisions)
	assert.Len(t, in.Revisions, 1, "input untouched")
	out, err = w.Refine(ctx, p, alignment.Response{Text: "fine"})
	require.NoError(t, err)
	assert.Equal(t, alignment.Response{Text: "fine"}, out)
}
