package openai

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// TestNoAnswerIsAnError replays thinking models that spent the whole
// budget on reasoning: vLLM with a reasoning parser (the reasoning in
// reasoning_content, content null, finish_reason "length";
// vllm/entrypoints/openai/protocol.py ChatMessage), Ollama's /v1 (content
// "", the reasoning in reasoning) and llama.cpp without a reasoning format
// (content only the start of an unclosed <think> block). Each must fail
// with ErrNoAnswer, at once, rather than come back as an empty response.
func TestNoAnswerIsAnError(t *testing.T) {
	for _, file := range []string{"vllm_chat_reasoning_length.json", "ollama_chat_reasoning_length.json", "llamacpp_chat_think_unclosed.json"} {
		t.Run(file, func(t *testing.T) {
			srv := replay(t, http.StatusOK, file)
			p := newPolicy(t, "m", []string{srv.URL}, fast())
			rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{MaxTokens: 20})
			require.ErrorIs(t, err, ErrNoAnswer)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			assert.Nil(t, rs)
			assert.Contains(t, err.Error(), `finish_reason "length"`)
			assert.Contains(t, err.Error(), "ChatTemplateKwargs")
			assert.Equal(t, int64(1), p.Usage().Requests, "not retried")
		})
	}
}

// TestThinkingTurnedOff: Options.ChatTemplateKwargs reaches the server with
// every chat request, and a thinking model told {"enable_thinking": false}
// answers within a budget its reasoning would have used up.
func TestThinkingTurnedOff(t *testing.T) {
	think := func(openaitest.Request, int) string { return strings.Repeat("hmm ", 30) }
	for _, f := range []openaitest.Flavor{openaitest.VLLM, openaitest.SGLang, openaitest.LlamaCpp, openaitest.Ollama} {
		t.Run(f.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: f, Think: think})
			o := alignment.SampleOptions{N: 2, MaxTokens: 20, Temperature: 1}
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			_, err := p.Generate(t.Context(), hello, o)
			require.ErrorIs(t, err, ErrNoAnswer, "20 tokens of a 30-token reasoning leave no answer")

			opts := fast()
			opts.ChatTemplateKwargs = map[string]any{"enable_thinking": false}
			p = newPolicy(t, "m", []string{srv.URL()}, opts)
			rs, err := p.Generate(t.Context(), hello, o)
			require.NoError(t, err)
			require.Len(t, rs, 2)
			assert.NotEmpty(t, rs[0].Text)
			reqs := srv.Requests()
			assert.JSONEq(t, `{"enable_thinking":false}`, string(reqs[len(reqs)-1].Body["chat_template_kwargs"]))

			_, err = p.Generate(t.Context(), hello, alignment.SampleOptions{Extra: map[string]any{"chat_template_kwargs": map[string]any{}}})
			assert.ErrorIs(t, err, alignment.ErrInvalid, "set in two places")
		})
	}
}

// TestTruncatedAnswersAreCounted: an answer cut at MaxTokens is returned
// with FinishReason "length" and counted in Usage.Truncated.
func TestTruncatedAnswersAreCounted(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Think: func(openaitest.Request, int) string { return "Let me see." }})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: 3, MaxTokens: 5, Temperature: 1})
	require.NoError(t, err)
	for _, r := range rs {
		assert.Equal(t, "length", r.FinishReason)
		assert.NotEmpty(t, r.Text)
	}
	assert.Equal(t, int64(3), p.Usage().Truncated)
}

func TestChatTemplateKwargsMustEncode(t *testing.T) {
	_, err := New("m", []string{"http://h/v1"}, &Options{ChatTemplateKwargs: map[string]any{"f": func() {}}})
	require.ErrorIs(t, err, alignment.ErrInvalid)
}
