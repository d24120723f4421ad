package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
	"github.com/selfalign/selfalign/internal/seeds"
)

// fast are options that keep fault tests quick: millisecond backoffs, a
// short timeout, no key from the environment. They switch the client's own
// retries on (4, off by default), which the fault tests exercise.
func fast() *Options {
	return &Options{
		APIKeyEnv:  "-",
		MaxRetries: 4,
		Timeout:    2 * time.Second,
		MinBackoff: time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
		Jitter:     seeds.Rand(1),
	}
}

func newPolicy(t testing.TB, model string, urls []string, o *Options) *Policy {
	t.Helper()
	p, err := New(model, urls, o)
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	return p
}

var hello = alignment.NewPrompt("p1", "Say hello.")

func TestNewRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name  string
		model string
		urls  []string
		o     *Options
		want  string
	}{
		{"no model", " ", []string{"http://h/v1"}, nil, "empty model"},
		{"no URL", "m", nil, nil, "no base URL"},
		{"bad scheme", "m", []string{"ftp://h/v1"}, nil, "base URL 0"},
		{"no host", "m", []string{"http:///v1"}, nil, "has no host"},
		{"fragment", "m", []string{"http://h/v1#x"}, nil, "fragment"},
		{"second URL bad", "m", []string{"http://h/v1", "::"}, nil, "base URL 1"},
		{"negative timeout", "m", []string{"http://h"}, &Options{Timeout: -1}, "Options.Timeout"},
		{"negative concurrency", "m", []string{"http://h"}, &Options{MaxConcurrency: -1}, "Options.MaxConcurrency"},
		{"negative threshold", "m", []string{"http://h"}, &Options{FailureThreshold: -1}, "Options.FailureThreshold"},
		{"backoffs inverted", "m", []string{"http://h"}, &Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "MinBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.model, tt.urls, tt.o)
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewNormalisesBaseURLs(t *testing.T) {
	p, err := New("m", []string{"http://h:8000", "http://h:8001/v1/", "https://user:pw@h/api/v1?api-version=2"}, &Options{APIKeyEnv: "-"})
	require.NoError(t, err)
	assert.Equal(t, "http://h:8000/v1/chat/completions", p.eps[0].url("/chat/completions"))
	assert.Equal(t, "http://h:8001/v1/chat/completions", p.eps[1].url("/chat/completions"))
	assert.Equal(t, "https://user:pw@h/api/v1/completions?api-version=2", p.eps[2].url("/completions"))
	assert.Equal(t, "https://REDACTED@h/api/v1", p.eps[2].name, "names carry no credentials or query")
}

// TestRequestBody checks the fields sent: temperature 0 is sent, top_p 0 and
// max_tokens 0 are not, extra fields are merged, seeds are masked.
func TestRequestBody(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{Seed: 1<<40 + 7, Extra: map[string]any{"top_k": 40, "min_p": 0.05}})
	require.NoError(t, err)
	_, err = p.Generate(t.Context(), hello, alignment.SampleOptions{Temperature: 0.7, TopP: 0.9, MaxTokens: 5, Stop: []string{"!"}, LogProbs: false, TopLogProbs: 2})
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)

	first := reqs[0]
	require.NotNil(t, first.Temperature, "temperature 0 must be sent")
	assert.Equal(t, 0.0, *first.Temperature)
	assert.Nil(t, first.TopP, "top_p 0 is left to the server")
	assert.NotContains(t, first.Body, "max_tokens")
	assert.NotContains(t, first.Body, "n", "n is sent only above 1")
	assert.NotContains(t, first.Body, "logprobs")
	require.NotNil(t, first.Seed)
	assert.Equal(t, int64(7), *first.Seed, "seeds keep their 31 low bits")
	assert.JSONEq(t, "40", string(first.Body["top_k"]))
	assert.JSONEq(t, "0.05", string(first.Body["min_p"]))
	assert.Equal(t, []alignment.Message{{Role: "user", Content: "Say hello."}}, first.Messages)

	second := reqs[1]
	assert.Equal(t, 0.7, *second.Temperature)
	assert.Equal(t, 0.9, *second.TopP)
	assert.Equal(t, 5, second.MaxTokens)
	assert.JSONEq(t, "5", string(second.Body["max_tokens"]))
	assert.Equal(t, []string{"!"}, second.Stop)
	assert.True(t, second.LogProbs, "top_logprobs implies logprobs")
	assert.Equal(t, 2, second.TopLogProbs)
}

func TestMaxCompletionTokensOption(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.OpenAI})
	o := fast()
	o.MaxCompletionTokens = true
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{MaxTokens: 3})
	require.NoError(t, err)
	body := srv.Requests()[0].Body
	assert.JSONEq(t, "3", string(body["max_completion_tokens"]))
	assert.NotContains(t, body, "max_tokens")
}

func TestGenerateRejectsBadInput(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	tests := []struct {
		name string
		pr   alignment.Prompt
		o    alignment.SampleOptions
		want string
	}{
		{"no messages", alignment.Prompt{ID: "x"}, alignment.SampleOptions{}, `prompt "x" has no messages`},
		{"no role", alignment.Prompt{ID: "x", Messages: []alignment.Message{{Content: "hi"}}}, alignment.SampleOptions{}, "message 0 has no role"},
		{"bad utf8", alignment.NewPrompt("x", "a\xffb"), alignment.SampleOptions{}, "message 0 is not valid UTF-8"},
		{"NaN temperature", hello, alignment.SampleOptions{Temperature: nan()}, "Temperature is NaN"},
		{"negative temperature", hello, alignment.SampleOptions{Temperature: -1}, "Temperature is -1"},
		{"top_p above 1", hello, alignment.SampleOptions{TopP: 1.5}, "TopP is 1.5"},
		{"negative max tokens", hello, alignment.SampleOptions{MaxTokens: -2}, "MaxTokens is -2"},
		{"negative top logprobs", hello, alignment.SampleOptions{TopLogProbs: -1}, "TopLogProbs is -1"},
		{"empty stop", hello, alignment.SampleOptions{Stop: []string{"a", ""}}, "Stop[1]"},
		{"extra collides with n", hello, alignment.SampleOptions{Extra: map[string]any{"n": 5}}, `Extra["n"] names a field`},
		{"extra collides with temperature", hello, alignment.SampleOptions{Extra: map[string]any{"temperature": 1}}, `Extra["temperature"]`},
		{"extra turns on streaming", hello, alignment.SampleOptions{Extra: map[string]any{"stream": true}}, `Extra["stream"]`},
		{"extra cannot encode", hello, alignment.SampleOptions{Extra: map[string]any{"f": func() {}}}, `Extra["f"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Generate(t.Context(), tt.pr, tt.o)
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.Empty(t, srv.Requests(), "bad input never reaches the server")
}

func nan() float64 { v := 0.0; return v / v }

// replay serves one fixture file with a status for every request.
func replay(t *testing.T, status int, file string) *httptest.Server {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFixtures parses the documented response shapes of each server.
func TestFixtures(t *testing.T) {
	type want struct {
		text, finish string
		tokens       int
		logProb      float64
		hasLogProb   bool
		nTokenLPs    int
	}
	tests := []struct {
		file  string
		n     int
		want  []want
		usage Usage
	}{
		{"vllm_chat_n2.json", 2, []want{
			{text: "The capital of France is Paris.", finish: "stop"},
			{text: "Paris is the capital of France, and it has been for centuries.", finish: "length"},
		}, Usage{PromptTokens: 36, CompletionTokens: 26, Requests: 1, Truncated: 1}},
		{"vllm_chat_logprobs.json", 1, []want{
			{text: "Paris.", finish: "stop", tokens: 3, logProb: -0.0123 - 0.25 - 0.0005, hasLogProb: true, nTokenLPs: 3},
		}, Usage{PromptTokens: 30, CompletionTokens: 3, Requests: 1}},
		{"llamacpp_chat.json", 1, []want{
			{text: "Hello! How can I help you today?", finish: "stop", tokens: 10},
		}, Usage{PromptTokens: 21, CompletionTokens: 10, Requests: 1}},
		{"ollama_chat.json", 1, []want{
			{text: "This is a test.", finish: "stop", tokens: 6},
		}, Usage{PromptTokens: 29, CompletionTokens: 6, Requests: 1}},
		{"openai_chat_n2.json", 2, []want{
			{text: "Hello! How can I assist you today?", finish: "stop"},
			{text: "Hi there! What can I do for you?", finish: "stop"},
		}, Usage{PromptTokens: 19, CompletionTokens: 20, Requests: 1}},
		{"openai_chat_refusal.json", 1, []want{
			{text: "I'm sorry, I can't help with that.", finish: "stop", tokens: 10},
		}, Usage{PromptTokens: 12, CompletionTokens: 10, Requests: 1}},
		{"openai_chat_logprobs_n2.json", 2, []want{
			{text: "Yes", finish: "stop", tokens: 1, logProb: -0.31725305, hasLogProb: true, nTokenLPs: 1},
			{text: "No way", finish: "stop", tokens: 2, logProb: -3.75, hasLogProb: true, nTokenLPs: 2},
		}, Usage{PromptTokens: 15, CompletionTokens: 3, Requests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			srv := replay(t, http.StatusOK, tt.file)
			p := newPolicy(t, "m", []string{srv.URL}, fast())
			rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: tt.n, LogProbs: true})
			require.NoError(t, err)
			require.Len(t, rs, len(tt.want))
			for i, w := range tt.want {
				r := rs[i]
				assert.Equal(t, w.text, r.Text, "choice %d", i)
				assert.Equal(t, w.finish, r.FinishReason, "choice %d", i)
				assert.Equal(t, w.tokens, r.Tokens, "choice %d", i)
				assert.Equal(t, "m", r.Source)
				assert.Equal(t, w.hasLogProb, r.HasLogProb, "choice %d", i)
				assert.InDelta(t, w.logProb, r.LogProb, 1e-12, "choice %d", i)
				assert.Len(t, r.TokenLogProbs, w.nTokenLPs, "choice %d", i)
			}
			assert.Equal(t, tt.usage, p.Usage())
		})
	}
}

func TestFixtureTopLogProbs(t *testing.T) {
	srv := replay(t, http.StatusOK, "vllm_chat_logprobs.json")
	p := newPolicy(t, "m", []string{srv.URL}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{LogProbs: true, TopLogProbs: 2})
	require.NoError(t, err)
	assert.Equal(t, alignment.TokenLogProb{Token: "Paris", LogProb: -0.0123, Top: []alignment.TokenLogProb{
		{Token: "Paris", LogProb: -0.0123}, {Token: "The", LogProb: -4.5},
	}}, rs[0].TokenLogProbs[0])
}

// TestFixtureErrors checks that the server's message is found in each
// documented error shape and that the status decides transience.
func TestFixtureErrors(t *testing.T) {
	tests := []struct {
		file      string
		status    int
		message   string
		transient bool
	}{
		{"vllm_error.json", 400, "This model's maximum context length is 32768 tokens.", false},
		{"vllm_error_old.json", 404, "The model `gpt-4o` does not exist.", false},
		{"vllm_error_unauthorized.json", 401, "Unauthorized", false},
		{"fastapi_detail.json", 404, "Not Found", false},
		{"ollama_error_model.json", 404, `model "llama9" not found, try pulling it first`, false},
		{"openai_error_401.json", 401, "Incorrect API key provided", false},
		{"openai_error_401.json", 403, "Incorrect API key provided", false},
		{"vllm_error.json", 422, "maximum context length", false},
		{"openai_error_429.json", 429, "Rate limit reached", true},
		{"vllm_error.json", 500, "maximum context length", true},
		{"vllm_error.json", 503, "maximum context length", true},
		{"vllm_error.json", 408, "maximum context length", true},
		{"vllm_error.json", 409, "maximum context length", true},
		{"vllm_error.json", 501, "maximum context length", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.file, tt.status), func(t *testing.T) {
			srv := replay(t, tt.status, tt.file)
			o := fast()
			o.MaxRetries = 1
			p := newPolicy(t, "m", []string{srv.URL}, o)
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			require.Error(t, err)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.status, se.StatusCode)
			assert.Contains(t, se.Message, tt.message)
			assert.Contains(t, err.Error(), strconv.Itoa(tt.status))
			assert.Equal(t, tt.transient, errors.Is(err, alignment.ErrTransient))
			if tt.transient {
				assert.Equal(t, int64(1), p.Usage().Retries, "retried once, then gave up")
			} else {
				assert.Zero(t, p.Usage().Retries, "permanent errors are not retried")
			}
		})
	}
}

// TestFlavors checks each fake server's n quirk: vLLM, OpenAI, SGLang and
// llama.cpp (n within its 4 slots) answer n choices in one request; Ollama
// ignores n, and the Policy fills up with parallel n=1 requests, seeded as
// SampleN would, and remembers the endpoint's quirk.
func TestFlavors(t *testing.T) {
	seed := uint64(99)
	wantSeeds := []int64{99, int64(drawSeed(seed, 1) & seedMask), int64(drawSeed(seed, 2) & seedMask)}
	tests := []struct {
		flavor openaitest.Flavor
		// ns are the n sent per request on the first and second call.
		first, second []int
	}{
		{openaitest.VLLM, []int{3}, []int{3}},
		{openaitest.OpenAI, []int{3}, []int{3}},
		{openaitest.LlamaCpp, []int{3}, []int{3}},
		{openaitest.SGLang, []int{3}, []int{3}},
		{openaitest.Ollama, []int{3, 0, 0}, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: tt.flavor, Model: "m"})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			o := alignment.SampleOptions{N: 3, Temperature: 1, Seed: seed}
			var texts [2][]string
			for call := range 2 {
				rs, err := p.Generate(t.Context(), hello, o)
				require.NoError(t, err)
				require.Len(t, rs, 3)
				for i, r := range rs {
					texts[call] = append(texts[call], r.Text)
					if tt.flavor != openaitest.Ollama {
						assert.Equal(t, fmt.Sprintf("Reply %d from %s (seed 99) to: Say hello.", i, tt.flavor), r.Text)
					} else {
						assert.Equal(t, fmt.Sprintf("Reply 0 from %s (seed %d) to: Say hello.", tt.flavor, wantSeeds[i]), r.Text)
					}
				}
			}
			assert.Equal(t, texts[0], texts[1], "the same seed gives the same responses")
			reqs := srv.Requests()
			require.Len(t, reqs, len(tt.first)+len(tt.second))
			var ns []int
			for _, r := range reqs {
				ns = append(ns, r.N)
			}
			assert.Equal(t, tt.first, ns[:len(tt.first)])
			assert.Equal(t, tt.second, ns[len(tt.first):])
			assert.Zero(t, p.Usage().Retries, "a refused n is not a failure")
		})
	}
}

// TestFillMatchesSampleN checks that the seeds of filled responses are those
// alignment.SampleN derives, so that a Policy that filled itself and one
// filled by SampleN draw the same texts.
func TestFillMatchesSampleN(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.Ollama})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	o := alignment.SampleOptions{N: 4, Temperature: 1, Seed: 5}
	ours, err := p.Generate(t.Context(), hello, o)
	require.NoError(t, err)
	viaSampleN, err := alignment.SampleN(t.Context(), onePerCall{p}, hello, o)
	require.NoError(t, err)
	require.Len(t, viaSampleN, 4)
	for i := range ours {
		assert.Equal(t, ours[i].Text, viaSampleN[i].Text, "response %d", i)
	}
}

// onePerCall is a Policy that answers one response per call, making SampleN
// fill up.
type onePerCall struct{ p *Policy }

func (o onePerCall) Generate(ctx context.Context, pr alignment.Prompt, so alignment.SampleOptions) ([]alignment.Response, error) {
	so.N = 1
	return o.p.Generate(ctx, pr, so)
}

// TestTokensKeptOnlyWhenAllKnown checks that a call mixing responses with
// and without token counts reports none, so lengths stay comparable.
func TestTokensKeptOnlyWhenAllKnown(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: 2})
	require.NoError(t, err)
	for _, r := range rs {
		assert.Zero(t, r.Tokens, "n=2 without logprobs has no per-choice count")
	}
	rs, err = p.Generate(t.Context(), hello, alignment.SampleOptions{N: 2, LogProbs: true})
	require.NoError(t, err)
	for _, r := range rs {
		assert.Equal(t, len(openaitest.Tokenize(r.Text)), r.Tokens)
		assert.True(t, r.HasLogProb)
	}
	rs, err = p.Generate(t.Context(), hello, alignment.SampleOptions{N: 1})
	require.NoError(t, err)
	assert.Equal(t, len(openaitest.Tokenize(rs[0].Text)), rs[0].Tokens, "one choice takes usage.completion_tokens")
}

// TestLogProbsFromFake checks per-token log-probabilities, their sum and the
// top alternatives against the fake's independent definition.
func TestLogProbsFromFake(t *testing.T) {
	for _, f := range []openaitest.Flavor{openaitest.VLLM, openaitest.LlamaCpp, openaitest.Ollama, openaitest.OpenAI} {
		t.Run(f.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: f, Reply: func(openaitest.Request, int) string { return "One two three" }})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{LogProbs: true, TopLogProbs: 2})
			require.NoError(t, err)
			r := rs[0]
			want := openaitest.CannedLogProb("One") + openaitest.CannedLogProb(" two") + openaitest.CannedLogProb(" three")
			assert.True(t, r.HasLogProb)
			assert.InDelta(t, want, r.LogProb, 1e-12)
			require.Len(t, r.TokenLogProbs, 3)
			assert.Equal(t, " two", r.TokenLogProbs[1].Token)
			require.Len(t, r.TokenLogProbs[1].Top, 2)
			assert.Equal(t, " alt1", r.TokenLogProbs[1].Top[1].Token)
		})
	}
}

func TestFinishReasonLength(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Reply: func(openaitest.Request, int) string { return "a b c d e f" }})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{MaxTokens: 3})
	require.NoError(t, err)
	assert.Equal(t, "a b c", rs[0].Text)
	assert.Equal(t, "length", rs[0].FinishReason)
	assert.Equal(t, 3, rs[0].Tokens)
}

// TestConformance runs alignmenttest.TestPolicy against every flavor.
func TestConformance(t *testing.T) {
	for _, f := range []openaitest.Flavor{openaitest.VLLM, openaitest.LlamaCpp, openaitest.Ollama, openaitest.OpenAI} {
		t.Run(f.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: f})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			if err := alignmenttest.TestPolicy(t.Context(), p); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestConformanceUnderFaults runs the conformance test over two replicas,
// one of which answers every third request with a 503 or a reset: retries
// and balancing must keep every call correct and deterministic.
func TestConformanceUnderFaults(t *testing.T) {
	var n atomic.Int64
	flaky := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.Ollama, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		switch n.Add(1) % 6 {
		case 0:
			status(http.StatusServiceUnavailable)(w, r)
			return true
		case 3:
			hangUp(true)(w, r)
			return true
		}
		return false
	}})
	steady := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.Ollama})
	o := fast()
	o.MaxRetries = 8
	p := newPolicy(t, "m", []string{flaky.URL(), steady.URL()}, o)
	if err := alignmenttest.TestPolicy(t.Context(), p); err != nil {
		t.Error(err)
	}
	assert.Positive(t, p.Usage().Retries, "faults were injected")
}

// TestBalancing checks least-outstanding-requests balancing: with one
// replica stalled on a request, the others take the new ones.
func TestBalancing(t *testing.T) {
	release := make(chan struct{})
	var stalled atomic.Bool
	slow := openaitest.NewServer(t, openaitest.Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if stalled.CompareAndSwap(false, true) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	}})
	fast1 := openaitest.NewServer(t, openaitest.Options{})
	fast2 := openaitest.NewServer(t, openaitest.Options{})
	p := newPolicy(t, "m", []string{slow.URL(), fast1.URL(), fast2.URL()}, fast())

	// The first request goes to the first endpoint (all idle, turn 0) and stalls.
	done := make(chan error, 1)
	go func() {
		_, err := p.Generate(context.Background(), hello, alignment.SampleOptions{})
		done <- err
	}()
	require.Eventually(t, stalled.Load, 2*time.Second, time.Millisecond)
	for range 10 {
		_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
		require.NoError(t, err)
	}
	close(release)
	require.NoError(t, <-done)
	assert.Len(t, slow.Requests(), 1, "the busy endpoint got no new request")
	assert.Len(t, fast1.Requests(), 5)
	assert.Len(t, fast2.Requests(), 5)
}

// TestConcurrencyLimit checks that no more than MaxConcurrency requests are
// in flight on an endpoint.
func TestConcurrencyLimit(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(http.ResponseWriter, *http.Request) bool {
		n := inFlight.Add(1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		return false
	}})
	o := fast()
	o.MaxConcurrency = 2
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(2))
	assert.Len(t, srv.Requests(), 12)
}

// TestFakeMatchesFixtures checks that the fake servers answer with the same
// fields as the documented fixtures, so tests against them mean something.
func TestFakeMatchesFixtures(t *testing.T) {
	tests := []struct {
		flavor openaitest.Flavor
		file   string
	}{
		{openaitest.VLLM, "vllm_chat_n2.json"},
		{openaitest.LlamaCpp, "llamacpp_chat.json"},
		{openaitest.Ollama, "ollama_chat.json"},
		{openaitest.OpenAI, "openai_chat_n2.json"},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: tt.flavor})
			resp, err := http.Post(srv.URL()+"/chat/completions", "application/json",
				strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			require.NoError(t, err)
			defer resp.Body.Close()
			var got map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			var want map[string]any
			require.NoError(t, json.Unmarshal(raw, &want))
			assert.ElementsMatch(t, keys(want), keys(got), "top-level fields")
			wc := want["choices"].([]any)[0].(map[string]any)
			gc := got["choices"].([]any)[0].(map[string]any)
			assert.ElementsMatch(t, keys(wc), keys(gc), "choice fields")
			assert.ElementsMatch(t, keys(wc["message"].(map[string]any)), keys(gc["message"].(map[string]any)), "message fields")
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestSGLangErrorShape: SGLang's errors are an ErrorResponse at the top
// level (object "error"), whose message reaches StatusError.
func TestSGLangErrorShape(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.SGLang, Model: "served"})
	p := newPolicy(t, "other", []string{srv.URL()}, fast())
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.StatusCode)
	assert.Equal(t, "The model `other` does not exist.", se.Message)
}
