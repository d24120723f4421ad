package openai

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// closedPort returns a loopback address nothing listens on: connecting to
// it is refused at once, as with "-backend http://127.0.0.1:9/v1".
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestCheckDeadBackend replays issue 14's dead backends: a closed loopback
// port and a host name under .invalid (RFC 2606: never resolves). Check
// must fail without retrying, within CheckTimeout, naming the URL without
// its credentials.
func TestCheckDeadBackend(t *testing.T) {
	for _, tt := range []struct{ name, url, shown string }{
		{"refused", "http://user:" + secret + "@" + closedPort(t) + "/v1?api-key=" + secret, "http://REDACTED@127.0.0.1:"},
		{"no such host", "http://selfalign-check.invalid/v1?token=" + secret, "http://selfalign-check.invalid/v1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPolicy(t, "m", []string{tt.url}, &Options{APIKeyEnv: "-", MaxRetries: 4})
			start := time.Now()
			err := p.Check(t.Context())
			require.ErrorIs(t, err, ErrUnreachable)
			assert.Less(t, time.Since(start), CheckTimeout+time.Second)
			assert.Contains(t, err.Error(), tt.shown)
			assert.NotContains(t, err.Error(), secret)
			assert.Zero(t, p.Usage().Retries)
		})
	}
}

// TestDNSFailureIsPermanent: a host that does not resolve is not retried
// by Generate either.
func TestDNSFailureIsPermanent(t *testing.T) {
	p := newPolicy(t, "m", []string{"http://selfalign-check.invalid/v1"}, &Options{APIKeyEnv: "-", MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	if !assert.NotErrorIs(t, err, alignment.ErrTransient) {
		t.Log(err)
	}
	assert.Zero(t, p.Usage().Retries)
}

func TestCheck(t *testing.T) {
	t.Run("every flavor passes", func(t *testing.T) {
		for _, f := range []openaitest.Flavor{openaitest.VLLM, openaitest.SGLang, openaitest.LlamaCpp, openaitest.Ollama, openaitest.OpenAI} {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: f, Model: "served"})
			p := newPolicy(t, "served", []string{srv.URL()}, fast())
			assert.NoError(t, p.Check(t.Context()), f.String())
		}
	})
	t.Run("llama.cpp serves any name", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.LlamaCpp, Model: "qwen.gguf"})
		p := newPolicy(t, "anything", []string{srv.URL()}, fast())
		assert.NoError(t, p.Check(t.Context()))
	})
	t.Run("wrong model", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "Qwen/Qwen2.5-7B-Instruct"})
		p := newPolicy(t, "qwen", []string{srv.URL()}, fast())
		err := p.Check(t.Context())
		require.ErrorIs(t, err, alignment.ErrInvalid)
		assert.Contains(t, err.Error(), `does not serve model "qwen" (it lists Qwen/Qwen2.5-7B-Instruct)`)
	})
	t.Run("wrong key", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.OpenAI, APIKey: "right"})
		o := fast()
		o.APIKey = secret
		p := newPolicy(t, "m", []string{srv.URL()}, o)
		err := p.Check(t.Context())
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
		assert.Contains(t, err.Error(), "openai: checking backend "+srv.URL()+": openai: GET "+srv.URL()+"/models: 401")
		assert.NotContains(t, err.Error(), secret)
	})
	t.Run("no /models passes", func(t *testing.T) {
		srv := replay(t, http.StatusNotFound, "fastapi_detail.json")
		p := newPolicy(t, "m", []string{srv.URL}, fast())
		assert.NoError(t, p.Check(t.Context()))
	})
	t.Run("loading llama.cpp fails", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.LlamaCpp, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			// tools/server/server.cpp answers every route with 503
			// {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}
			// until the model is loaded.
			status(http.StatusServiceUnavailable)(w, r)
			return true
		}})
		p := newPolicy(t, "m", []string{srv.URL()}, fast())
		var se *StatusError
		require.ErrorAs(t, p.Check(t.Context()), &se)
		assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
	})
	t.Run("several endpoints", func(t *testing.T) {
		good := openaitest.NewServer(t, openaitest.Options{})
		p := newPolicy(t, "m", []string{good.URL(), "http://" + closedPort(t) + "/v1"}, fast())
		err := p.Check(t.Context())
		require.ErrorIs(t, err, ErrUnreachable)
		assert.NotContains(t, err.Error(), good.URL()+" ")
	})
}
