package alignment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func collect(t *testing.T, s PromptSource, ctx context.Context, iteration int) ([]Prompt, error) {
	t.Helper()
	var out []Prompt
	for p, err := range s.Prompts(ctx, iteration) {
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func TestNewSliceSource(t *testing.T) {
	ok := NewPrompt("a", "hello")
	chat := Prompt{ID: "b", Messages: []Message{{Role: RoleSystem, Content: "be brief"}, {Role: RoleUser, Content: "hi"}}}
	tests := []struct {
		name string
		ps   []Prompt
		want string
	}{
		{"empty id", []Prompt{ok, NewPrompt("", "x")}, "prompt 1: empty id"},
		{"duplicate id", []Prompt{ok, chat, NewPrompt("a", "x")}, `prompt 2: id "a" already used by prompt 0`},
		{"no messages", []Prompt{{ID: "x"}}, "prompt 0: prompt has no messages"},
		{"empty text", []Prompt{ok, NewPrompt("x", " \n")}, "prompt 1: message 0 (user) is empty"},
		{"unknown role", []Prompt{{ID: "x", Messages: []Message{{Role: "bot", Content: "x"}}}}, `message 0 has role "bot"`},
		{"ends with assistant", []Prompt{{ID: "x", Messages: []Message{{Role: RoleUser, Content: "q"}, {Role: RoleAssistant, Content: "a"}}}}, `last message has role "assistant", want user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSliceSource(tt.ps)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, tt.want)
		})
	}

	in := []Prompt{ok, chat}
	s, err := NewSliceSource(in)
	require.NoError(t, err)
	in[0].Messages[0].Content = "changed by the caller"
	for it := range 2 {
		got, err := collect(t, s, t.Context(), it)
		require.NoError(t, err)
		assert.Equal(t, []Prompt{NewPrompt("a", "hello"), chat}, got, "iteration %d", it)
		got[1].Messages[0].Content = "changed by the consumer"
		assert.Equal(t, 2, s.Len(it))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := collect(t, s, ctx, 0)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, got)

	n := 0
	for range s.Prompts(t.Context(), 0) {
		n++
		break
	}
	assert.Equal(t, 1, n, "stops when the consumer does")

	empty, err := NewSliceSource(nil)
	require.NoError(t, err)
	got, err = collect(t, empty, t.Context(), 0)
	assert.NoError(t, err)
	assert.Empty(t, got)
}
