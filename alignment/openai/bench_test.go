package openai

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

// BenchmarkGenerate measures a whole Generate call against a local server
// that answers a recorded vLLM body (allocations include the server's).
func BenchmarkGenerate(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "vllm_chat_logprobs.json"))
	require.NoError(b, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	p := newPolicy(b, "m", []string{srv.URL}, fast())
	o := alignment.SampleOptions{Temperature: 0.7, MaxTokens: 64, Seed: 1, Extra: map[string]any{"top_k": 40}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Generate(b.Context(), hello, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientOverhead measures what the Policy itself costs per
// Generate call (validation, body encoding, balancing, retry loop, response
// parsing) over an in-process transport with no network and no server.
func BenchmarkClientOverhead(b *testing.B) {
	for _, file := range []string{"ollama_chat.json", "vllm_chat_logprobs.json"} {
		b.Run(file, func(b *testing.B) {
			body, err := os.ReadFile(filepath.Join("testdata", file))
			require.NoError(b, err)
			p := newPolicy(b, "m", []string{"http://bench.invalid/v1"}, fast())
			p.hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				io.Copy(io.Discard, r.Body)
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
			})}
			o := alignment.SampleOptions{Temperature: 0.7, MaxTokens: 64, Seed: 1, LogProbs: true, Extra: map[string]any{"top_k": 40}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Generate(b.Context(), hello, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
