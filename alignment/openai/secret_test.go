package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

const secret = "sk-selfalign-TEST-7c1f9e2b4d6a8f0e31"

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeyNeverLeaks sets a distinctive key in the environment, drives every
// error path with servers that echo the Authorization header back, and
// checks that no error, log record or formatted value contains the key.
func TestKeyNeverLeaks(t *testing.T) {
	t.Setenv(DefaultAPIKeyEnv, secret)
	echo := func(code int, header ...string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			msg, err := json.Marshal("Incorrect API key provided: " + r.Header.Get("Authorization"))
			if err != nil {
				return
			}
			fmt.Fprintf(w, `{"error":{"message":%s}}`, msg)
		}
	}
	raw := func(body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, strings.ReplaceAll(body, "KEY", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
		}
	}
	type call func(context.Context, *Policy) error
	gen := func(n int) call {
		return func(ctx context.Context, p *Policy) error {
			_, err := p.Generate(ctx, hello, alignment.SampleOptions{N: n})
			return err
		}
	}
	score := func(ctx context.Context, p *Policy) error {
		_, _, err := p.LogProb(ctx, hello, "Hi")
		return err
	}
	tests := []struct {
		name  string
		fault func(http.ResponseWriter, *http.Request)
		call  call
		is    error // the classification the redacted error keeps
	}{
		{"401 echoing the key", echo(401), gen(1), nil},
		{"400 echoing the key with n", echo(400), gen(3), nil},
		{"403 echoing the key", echo(403), gen(1), nil},
		{"404 echoing the key", echo(404), gen(1), nil},
		{"500 echoing the key until retries run out", echo(500), gen(1), alignment.ErrTransient},
		{"429 echoing the key with a long Retry-After", echo(429, "Retry-After", "3600"), gen(1), alignment.ErrTransient},
		{"garbage body holding the key", raw("<html>KEY</html>"), gen(1), ErrMalformed},
		{"error object in a 200 holding the key", raw(`{"error":{"message":"bad key KEY"}}`), gen(1), ErrMalformed},
		{"truncated JSON holding the key", raw(`{"choices":[{"message":{"content":"KEY`), gen(1), ErrMalformed},
		{"reset", hangUp(true), gen(1), alignment.ErrTransient},
		{"timeout", stall, gen(1), alignment.ErrTransient},
		{"scoring 404 echoing the key", echo(404), score, alignment.ErrUnsupported},
		{"scoring without echo, the key in the text", raw(`{"choices":[{"text":"KEY"}]}`), score, alignment.ErrUnsupported},
	}
	logs := &syncBuffer{}
	var errs []error
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sawKey atomic.Bool
			srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Header.Get("Authorization") == "Bearer "+secret {
					sawKey.Store(true)
				}
				tt.fault(w, r)
				return true
			}})
			o := fast()
			o.APIKeyEnv = ""
			o.MaxRetries = 1
			o.Timeout = 50 * time.Millisecond
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p := newPolicy(t, "m", []string{srv.URL()}, o)
			err := tt.call(t.Context(), p)
			require.Error(t, err)
			assert.True(t, sawKey.Load(), "the key from the environment was sent")
			errs = append(errs, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assert.NotContains(t, s, secret)
			}
			var se *StatusError
			if errors.As(err, &se) {
				assert.NotContains(t, fmt.Sprintf("%#v", *se), secret)
			}
		})
	}
	require.Len(t, errs, len(tests))
	assert.NotEmpty(t, logs.String(), "retries were logged")
	assert.NotContains(t, logs.String(), secret)
	assert.Contains(t, errs[0].Error(), "Incorrect API key provided: Bearer [REDACTED]")
}

func TestKeyInURLNeverLeaks(t *testing.T) {
	for _, u := range []string{
		"http://user:" + secret + "@h:bad/v1",
		"ftp://user:" + secret + "@h/v1",
		"http://user:" + secret + "@h/v1#frag",
		"http://h/v1?key=" + secret + "#frag",
	} {
		_, err := New("m", []string{u}, nil)
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), secret)
	}
	p, err := New("m", []string{"http://user:" + secret + "@127.0.0.1:1/v1?key=" + secret}, fast())
	require.NoError(t, err)
	_, err = p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, p.String(), secret)
}

func TestFormattingNeverShowsKey(t *testing.T) {
	o := Options{APIKey: secret, Timeout: time.Second, Logger: slog.Default()}
	p, err := New("m", []string{"http://localhost:8000/v1"}, &o)
	require.NoError(t, err)
	type holder struct {
		O Options
		P *Policy
	}
	for _, v := range []any{o, &o, p, holder{o, p}, []any{o, p}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T %v"} {
			s := fmt.Sprintf(verb, v)
			assert.NotContains(t, s, secret, "%s of %T", verb, v)
			assert.NotContains(t, s, fmt.Sprintf("%x", secret), "%s of %T", verb, v)
		}
	}
	assert.Contains(t, fmt.Sprintf("%v", o), "APIKey: [REDACTED]")
	assert.Contains(t, fmt.Sprintf("%+v", p), `model: "m"`)
	assert.Contains(t, fmt.Sprintf("%#v", p), "api key: [REDACTED]")
	assert.Contains(t, fmt.Sprintf("%v", Options{}), "APIKey: none")
}

func TestKeySources(t *testing.T) {
	t.Setenv(DefaultAPIKeyEnv, "from-default-env")
	t.Setenv("SELFALIGN_TEST_KEY", "from-named-env")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"default variable", Options{}, "Bearer from-default-env"},
		{"named variable", Options{APIKeyEnv: "SELFALIGN_TEST_KEY"}, "Bearer from-named-env"},
		{"option wins", Options{APIKey: "from-option", APIKeyEnv: "SELFALIGN_TEST_KEY"}, "Bearer from-option"},
		{"no lookup", Options{APIKeyEnv: "-"}, ""},
		{"unset variable", Options{APIKeyEnv: "SELFALIGN_TEST_UNSET"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(_ http.ResponseWriter, r *http.Request) bool {
				got = r.Header.Get("Authorization")
				return false
			}})
			p := newPolicy(t, "m", []string{srv.URL()}, &tt.o)
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFakeRequiresKey(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.LlamaCpp, APIKey: "right"})
	o := fast()
	o.APIKey = "wrong"
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
	assert.Equal(t, "Invalid API Key", se.Message)

	o.APIKey = "right"
	ok := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err = ok.Generate(t.Context(), hello, alignment.SampleOptions{})
	assert.NoError(t, err)
}
