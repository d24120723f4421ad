package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// lengthLogProb is an independent token log-probability for the scoring
// tests: minus a tenth of the token's length in runes.
func lengthLogProb(tok string) float64 { return -float64(len([]rune(tok))) / 10 }

func TestChatML(t *testing.T) {
	pr := alignment.Prompt{Messages: []alignment.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "{{.Secret}} 2+2?"},
	}}
	assert.Equal(t, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n{{.Secret}} 2+2?<|im_end|>\n<|im_start|>assistant\n", ChatML(pr))
}

func TestLogProbOnVLLM(t *testing.T) {
	tests := []struct {
		name       string
		completion string
		tokens     []string
	}{
		{"ascii", "Paris is big.", []string{"Paris", " is", " big."}},
		{"multi-line", "Yes\nNo", []string{"Yes", "\n", "No"}},
		{"non-ASCII", "Ça coûte 5 € 🙂", []string{"Ça", " coûte", " 5", " €", " 🙂"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, LogProb: lengthLogProb})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			pr := alignment.NewPrompt("q", "Où est « Paris » ? 🙂")
			lp, n, err := p.LogProb(t.Context(), pr, tt.completion)
			require.NoError(t, err)
			want := 0.0
			for _, tok := range tt.tokens {
				want += lengthLogProb(tok)
			}
			assert.Equal(t, len(tt.tokens), n)
			assert.InDelta(t, want, lp, 1e-12)

			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, "/v1/completions", r.Path)
			assert.Equal(t, ChatML(pr)+tt.completion, r.Prompt)
			assert.True(t, r.Echo)
			assert.True(t, r.LogProbs)
			assert.JSONEq(t, "1", string(r.Body["max_tokens"]))
			assert.JSONEq(t, "1", string(r.Body["logprobs"]))
			assert.JSONEq(t, "0", string(r.Body["temperature"]))
		})
	}
}

// TestLogProbBOSAndNoOffsets replays issue 13's items 8 and 9 on the
// fixture of TestLogProbFixture as two other servers answer it.
// vllm_completions_echo_bos.json is vLLM serving a Llama tokenizer: the
// prompt's log-probabilities start with "<|begin_of_text|>", which the
// echoed text lacks, and text_offset counts it (vLLM's
// _create_completion_logprobs adds len(token) from 0), so every offset is
// 17 characters late and offsets alone would sum the wrong tokens.
// sglang_completions_echo.json is SGLang, whose to_openai_style_logprobs
// (sglang/srt/entrypoints/openai/utils.py) reports every offset as -1.
// Both must score as the offset-exact fixture does.
func TestLogProbBOSAndNoOffsets(t *testing.T) {
	for _, file := range []string{"vllm_completions_echo_bos.json", "sglang_completions_echo.json"} {
		t.Run(file, func(t *testing.T) {
			srv := replay(t, http.StatusOK, file)
			o := fast()
			o.Render = func(alignment.Prompt) string { return "Q: boiling point?\nA:" }
			p := newPolicy(t, "m", []string{srv.URL}, o)
			lp, n, err := p.LogProb(t.Context(), hello, " 100 degrees.")
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			assert.InDelta(t, -1.0-0.5-0.25, lp, 1e-12)
		})
	}
	for _, tt := range []struct {
		flavor openaitest.Flavor
		bos    string
	}{
		{openaitest.VLLM, "<|begin_of_text|>"},
		{openaitest.VLLM, "<s>"},
		{openaitest.SGLang, ""},
		{openaitest.SGLang, "<|begin_of_text|>"},
	} {
		t.Run(tt.flavor.String()+tt.bos, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: tt.flavor, BOS: tt.bos, LogProb: lengthLogProb})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			lp, n, err := p.LogProb(t.Context(), alignment.NewPrompt("q", "Où est « Paris » ? 🙂"), "Ça coûte 5 € 🙂")
			require.NoError(t, err)
			want := 0.0
			for _, tok := range []string{"Ça", " coûte", " 5", " €", " 🙂"} {
				want += lengthLogProb(tok)
			}
			assert.Equal(t, 5, n)
			assert.InDelta(t, want, lp, 1e-12)
		})
	}
}

// TestLogProbFixture scores against a recorded vLLM echo response, whose
// text offsets and log-probabilities are summed by hand in the test.
func TestLogProbFixture(t *testing.T) {
	srv := replay(t, http.StatusOK, "vllm_completions_echo.json")
	o := fast()
	o.Render = func(alignment.Prompt) string { return "Q: boiling point?\nA:" }
	p := newPolicy(t, "m", []string{srv.URL}, o)
	lp, n, err := p.LogProb(t.Context(), hello, " 100 degrees.")
	require.NoError(t, err)
	assert.Equal(t, 3, n, `" 100", " degrees" and "."; the generated "\n" is not counted`)
	assert.InDelta(t, -1.0-0.5-0.25, lp, 1e-12)
	assert.Equal(t, Usage{PromptTokens: 11, CompletionTokens: 1, Requests: 1}, p.Usage())
}

// TestLogProbUnsupported: servers that cannot score say so at once, with
// alignment.ErrUnsupported and one request. llama.cpp's refusal of echo
// comes as a 500 (see echoUnsupported), which must not be retried as a
// transient failure.
func TestLogProbUnsupported(t *testing.T) {
	tests := []struct {
		flavor openaitest.Flavor
		want   string
	}{
		{openaitest.LlamaCpp, "Only no echo is supported"},
		{openaitest.Ollama, "did not echo the prompt"},
		{openaitest.OpenAI, "This is a chat model"},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: tt.flavor})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			_, _, err := p.LogProb(t.Context(), hello, "Hello!")
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrUnsupported)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			assert.Contains(t, err.Error(), tt.want)
			assert.Len(t, srv.Requests(), 1, "not retried")
		})
	}
}

func TestLogProbUnsupportedShapes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"404 without body", 404, "", "404"},
		{"405", 405, `{"detail":"Method Not Allowed"}`, "Method Not Allowed"},
		{"501", 501, `{"error":{"message":"not implemented"}}`, "not implemented"},
		{"422 logprobs", 422, `{"detail":"logprobs are not supported"}`, "logprobs"},
		{"no logprobs", 200, `{"choices":[{"text":"PROMPT","logprobs":null}]}`, "no prompt log-probabilities"},
		{"no offsets, no tokens", 200, `{"choices":[{"text":"PROMPT","logprobs":{"token_logprobs":[null]}}]}`, "no prompt log-probabilities"},
		{"tokens of generated text only", 200, `{"choices":[{"text":"PROMPTx","logprobs":{"tokens":["x"],"token_logprobs":[-1]}}]}`, "do not start at the beginning"},
		{"offsets of generated text only", 200, `{"choices":[{"text":"PROMPTx","logprobs":{"tokens":["x"],"token_logprobs":[-1],"text_offset":[40]}}]}`, "do not start at the beginning"},
	}
	full, err := json.Marshal(ChatML(hello) + "Hello!")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// PROMPT stands for the echoed text, which the checks require.
			body := strings.ReplaceAll(tt.body, `"PROMPT`, string(full[:len(full)-1]))
			srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, body)
				return true
			}})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			_, _, err := p.LogProb(t.Context(), hello, "Hello!")
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrUnsupported)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLogProbMalformed(t *testing.T) {
	const prefix = "Q:" // Render output in this test; the completion is " a b".
	tests := []struct {
		name, body, want string
	}{
		{"garbage", "not json", "not valid JSON"},
		{"two choices", `{"choices":[{"text":"x"},{"text":"y"}]}`, "2 choices"},
		{"length mismatch", `{"choices":[{"text":"Q: a b","logprobs":{"tokens":["Q",":"],"token_logprobs":[null],"text_offset":[0,1]}}]}`, "2 offsets, 1 log-probabilities"},
		{"decreasing offsets", `{"choices":[{"text":"Q: a b","logprobs":{"token_logprobs":[null,-1,-1],"text_offset":[0,2,1]}}]}`, "before offset"},
		{"tokens run out", `{"choices":[{"text":"Q: a b","logprobs":{"tokens":["Q",":"," a"],"token_logprobs":[null,-1,-1],"text_offset":[0,1,2]}}]}`, `token 3, "(none left)", where character 4 is " b"`},
		{"tokens part from the prompt", `{"choices":[{"text":"Q: a b","logprobs":{"tokens":["<s>","Q",":"," x"," b"],"token_logprobs":[null,-1,-1,-1,-1],"text_offset":[0,3,4,5,7]}}]}`, `token 3, " x", where character 2 is " a b"`},
		{"null inside completion", `{"choices":[{"text":"Q: a b","logprobs":{"tokens":["Q",":"," a"," b"],"token_logprobs":[null,-1,null,-1],"text_offset":[0,1,2,4]}}]}`, "token 2 has no log-probability"},
		{"straddling token", `{"choices":[{"text":"Q: a b","logprobs":{"tokens":["Q",": a b"],"token_logprobs":[null,-1],"text_offset":[0,1]}}]}`, "straddles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(w http.ResponseWriter, _ *http.Request) bool {
				fmt.Fprint(w, tt.body)
				return true
			}})
			o := fast()
			o.Render = func(alignment.Prompt) string { return prefix }
			p := newPolicy(t, "m", []string{srv.URL()}, o)
			_, _, err := p.LogProb(t.Context(), hello, " a b")
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLogProbEdgeCases(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())

	lp, n, err := p.LogProb(t.Context(), hello, "")
	require.NoError(t, err)
	assert.Zero(t, lp)
	assert.Zero(t, n)

	_, _, err = p.LogProb(t.Context(), alignment.Prompt{ID: "x"}, "a")
	assert.ErrorIs(t, err, alignment.ErrInvalid)
	_, _, err = p.LogProb(t.Context(), hello, "a\xff")
	assert.ErrorIs(t, err, alignment.ErrInvalid)

	o := fast()
	o.Render = func(alignment.Prompt) string { return "" }
	empty := newPolicy(t, "m", []string{srv.URL()}, o)
	_, _, err = empty.LogProb(t.Context(), hello, "a")
	assert.ErrorIs(t, err, alignment.ErrInvalid)
	assert.Contains(t, err.Error(), "Render returned an empty text")
	assert.Empty(t, srv.Requests())
}

func TestLogProbRetriesTransient(t *testing.T) {
	srv, seen := faulty(t, 2, status(http.StatusServiceUnavailable))
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	_, n, err := p.LogProb(t.Context(), hello, "Hi there")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(3), seen.Load())
}

// TestLogProbEcho500IsUnsupported replays llama.cpp's refusal of echo as
// its server sends it, a 500 server_error (see echoUnsupported): it must be
// ErrUnsupported after one request, not a transient failure retried.
func TestLogProbEcho500IsUnsupported(t *testing.T) {
	var seen atomic.Int64
	body, err := os.ReadFile(filepath.Join("testdata", "llamacpp_error_echo.json"))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	p := newPolicy(t, "m", []string{srv.URL}, fast())
	_, _, err = p.LogProb(t.Context(), hello, "Hello!")
	require.ErrorIs(t, err, alignment.ErrUnsupported)
	assert.NotErrorIs(t, err, alignment.ErrTransient)
	assert.Contains(t, err.Error(), "500 Internal Server Error: Only no echo is supported")
	assert.Equal(t, int64(1), seen.Load())
}
