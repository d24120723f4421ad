package alignmenttest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func TestRecorder(t *testing.T) {
	ctx := t.Context()
	var r Recorder
	pair := func(id string, it int, src string) alignment.Pair {
		return alignment.Pair{Prompt: alignment.NewPrompt(id, "q"), Chosen: alignment.Response{Text: "c"}, Iteration: it, Source: src}
	}
	in := []alignment.Pair{pair("a", 0, "x"), pair("b", 0, "y"), pair("a", 1, "x")}
	require.NoError(t, r.Write(ctx, in[:2]))
	require.NoError(t, r.Flush(ctx))
	require.NoError(t, r.Write(ctx, in[2:]))
	in[0].Prompt.Messages[0].Content = "changed after Write"

	ids := func(ps []alignment.Pair) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Prompt.ID+"/"+p.Source)
		}
		return out
	}
	tests := []struct {
		name    string
		filters []Filter
		want    []string
	}{
		{"all", nil, []string{"a/x", "b/y", "a/x"}},
		{"iteration", []Filter{Iteration(1)}, []string{"a/x"}},
		{"source", []Filter{Source("x")}, []string{"a/x", "a/x"}},
		{"prompt", []Filter{PromptID("b")}, []string{"b/y"}},
		{"combined", []Filter{PromptID("a"), Iteration(0)}, []string{"a/x"}},
		{"none match", []Filter{Source("z")}, []string{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ids(r.Pairs(tt.filters...)), tt.name)
	}
	assert.Equal(t, []string{"a/x", "b/y"}, ids(r.Flushed()))
	assert.Equal(t, "q", r.Pairs()[0].Prompt.Messages[0].Content, "Write keeps copies")
	got := r.Pairs()
	got[0].Prompt.Messages[0].Content = "changed in a copy"
	assert.Equal(t, "q", r.Pairs()[0].Prompt.Messages[0].Content, "Pairs returns copies")
	assert.Equal(t, 2, r.Writes())
	assert.Equal(t, 1, r.Flushes())

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, r.Write(cctx, in), context.Canceled)
	assert.Len(t, r.Pairs(), 3, "a failed write records nothing")
	assert.NoError(t, r.Flush(cctx), "a final flush works on a cancelled context")
}
