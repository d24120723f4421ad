package openai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// faulty starts a vLLM fake whose first failures requests are answered by
// fault; later requests are served normally. It returns the server and the
// number of requests seen.
func faulty(t *testing.T, failures int64, fault func(w http.ResponseWriter, r *http.Request)) (*openaitest.Server, *atomic.Int64) {
	t.Helper()
	var seen atomic.Int64
	srv := openaitest.NewServer(t, openaitest.Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if seen.Add(1) <= failures {
			fault(w, r)
			return true
		}
		return false
	}})
	return srv, &seen
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"status %d from the fault injector","type":"x","code":%d}}`, code, code)
	}
}

// hangUp closes the connection without an answer; with reset, it sends a
// TCP RST instead of a FIN.
func hangUp(reset bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		conn.Close()
	}
}

func stall(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestRetryAfterSecondsHonoured(t *testing.T) {
	srv, seen := faulty(t, 1, status(http.StatusTooManyRequests, "Retry-After", "1"))
	o := fast()
	o.MaxBackoff = 2 * time.Second
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	start := time.Now()
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.NoError(t, err)
	assert.Len(t, rs, 1)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited as Retry-After asked")
	assert.Equal(t, int64(2), seen.Load())
	// The fake counts 2 words + 4 per message and 9 words of its reply.
	assert.Equal(t, Usage{PromptTokens: 6, CompletionTokens: 9, Requests: 1, Retries: 1}, p.Usage())
}

func TestRetryAfterBeyondMaxBackoffGivesUp(t *testing.T) {
	srv, seen := faulty(t, 100, status(http.StatusTooManyRequests, "Retry-After", "60"))
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	start := time.Now()
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second)
	assert.ErrorIs(t, err, alignment.ErrTransient, "the Loop may still retry later")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 60*time.Second, se.RetryAfter)
	assert.Contains(t, err.Error(), "longer than MaxBackoff")
	assert.Equal(t, int64(1), seen.Load())
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header, ms string
		want       time.Duration
	}{
		{"", "", 0},
		{"3", "", 3 * time.Second},
		{" 2 ", "", 2 * time.Second},
		{"1.5", "", 1500 * time.Millisecond},
		{"0", "", 0},
		{"-4", "", 0},
		{"NaN", "", 0},
		{"Inf", "", 0},
		{"0x10", "", 0},
		{"soon", "", 0},
		{"1e30", "", maxRetryAfter},
		{now.Add(5 * time.Second).Format(http.TimeFormat), "", 5 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), "", 0},
		{"3", "250", 250 * time.Millisecond},
		{"3", "junk", 3 * time.Second},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, retryAfter(tt.header, tt.ms, now), "Retry-After %q, retry-after-ms %q", tt.header, tt.ms)
	}
}

func TestServerErrorBurstIsRetried(t *testing.T) {
	for _, code := range []int{408, 409, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv, seen := faulty(t, 2, status(code))
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			require.NoError(t, err)
			assert.Len(t, rs, 1)
			assert.Equal(t, int64(3), seen.Load())
			assert.Equal(t, int64(2), p.Usage().Retries)
		})
	}
}

func TestRetryBudgetExhausted(t *testing.T) {
	srv, seen := faulty(t, 100, status(http.StatusServiceUnavailable))
	o := fast()
	o.MaxRetries = 2
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, alignment.ErrTransient)
	assert.Contains(t, err.Error(), "giving up after 3 attempts")
	assert.Contains(t, err.Error(), "status 503 from the fault injector")
	assert.Equal(t, int64(3), seen.Load())
}

func TestNegativeMaxRetriesMeansNone(t *testing.T) {
	srv, seen := faulty(t, 100, status(http.StatusServiceUnavailable))
	o := fast()
	o.MaxRetries = -1
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	assert.ErrorIs(t, err, alignment.ErrTransient)
	assert.Equal(t, int64(1), seen.Load())
}

func TestPermanentStatusNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv, seen := faulty(t, 100, status(code))
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: 2})
			require.Error(t, err)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, code, se.StatusCode)
			assert.Equal(t, fmt.Sprintf("status %d from the fault injector", code), se.Message)
			assert.Equal(t, int64(1), seen.Load(), "not retried, not taken for a refusal of n")
		})
	}
}

func TestLongErrorBodyTruncated(t *testing.T) {
	long := strings.Repeat("é", 5000)
	srv, _ := faulty(t, 100, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q}}`, long)
	})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.LessOrEqual(t, len(se.Message), maxMessage+len("…"))
	assert.True(t, strings.HasSuffix(se.Message, "…"))
	assert.True(t, strings.HasPrefix(se.Message, "éé"))
}

func TestConnectionFaultsAreRetried(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%t", reset), func(t *testing.T) {
			srv, _ := faulty(t, 2, hangUp(reset))
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			require.NoError(t, err)
			assert.Len(t, rs, 1)
			assert.Positive(t, p.Usage().Retries)
		})
	}
}

func TestConnectionFaultsExhaustBudget(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%t", reset), func(t *testing.T) {
			srv, _ := faulty(t, 1000, hangUp(reset))
			o := fast()
			o.MaxRetries = 1
			p := newPolicy(t, "m", []string{srv.URL()}, o)
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrTransient)
			assert.Contains(t, err.Error(), "giving up after 2 attempts")
		})
	}
}

func TestRefusedConnectionIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	o := fast()
	o.MaxRetries = 1
	p := newPolicy(t, "m", []string{"http://" + addr}, o)
	_, err = p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, alignment.ErrTransient)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestTruncatedBodyIsTransient(t *testing.T) {
	srv, _ := faulty(t, 1000, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"choices":[{"index":0,"mess`))
		hangUp(false)(w, nil)
	})
	o := fast()
	o.MaxRetries = -1
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, alignment.ErrTransient)
	assert.Contains(t, err.Error(), "unexpected EOF")
}

func TestTimeout(t *testing.T) {
	srv, seen := faulty(t, 1000, stall)
	o := fast()
	o.Timeout = 50 * time.Millisecond
	o.MaxRetries = 1
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	start := time.Now()
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.ErrorIs(t, err, alignment.ErrTransient)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the caller's context did not expire")
	assert.Contains(t, err.Error(), "no response within 50ms")
	assert.Equal(t, int64(2), seen.Load())
}

func TestSlowThenFast(t *testing.T) {
	srv, _ := faulty(t, 1, stall)
	o := fast()
	o.Timeout = 50 * time.Millisecond
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.NoError(t, err)
	assert.Len(t, rs, 1)
}

func TestMalformedBodies(t *testing.T) {
	tests := []struct {
		name, body, want string
		n                int
	}{
		{"garbage", "<html>502 Bad Gateway</html>", "not valid JSON", 1},
		{"empty body", "", "not valid JSON", 1},
		{"truncated JSON", `{"choices":[`, "not valid JSON", 1},
		{"empty choices", `{"choices":[]}`, "empty choices list", 1},
		{"null choices", `{"choices":null,"usage":{"prompt_tokens":1}}`, "empty choices list", 1},
		{"error in a 200", `{"error":{"message":"engine crashed"}}`, "engine crashed", 1},
		{"too many choices", `{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}]}`, "2 choices, asked for 1", 1},
		{"no message", `{"choices":[{"index":0,"finish_reason":"stop"}]}`, "choice 0 has no message", 1},
		{"negative usage", `{"choices":[{"message":{"content":"a"}}],"usage":{"prompt_tokens":-1}}`, "negative usage", 1},
		{"wrong type", `{"choices":[{"message":{"content":7}}]}`, "not valid JSON", 1},
		{"huge number", `{"choices":[{"message":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-1e400}]}}]}`, "not valid JSON", 1},
		{"sum overflows", `{"choices":[{"message":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-1.7e308},{"token":"b","logprob":-1.7e308}]}}]}`, "sum to -Inf", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := faulty(t, 1000, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.Write([]byte(tt.body))
			})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: tt.n})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, int64(1), seen.Load(), "not retried")
		})
	}
}

// TestRefusalOfNWith500 covers llama.cpp builds that refuse n > 1 with 500.
func TestRefusalOfNWith500(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "llamacpp_error_n_old.json"))
	require.NoError(t, err)
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.LlamaCpp, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(readBody(r), `"n":`) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(fixture)
			return true
		}
		return false
	}})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: 3})
	require.NoError(t, err)
	assert.Len(t, rs, 3)
	assert.Zero(t, p.Usage().Retries)
	assert.Len(t, srv.Requests(), 4)
}

// TestGreedyRefusalOfNIsPerCall covers older vLLM, which refuses n > 1 only
// with greedy decoding: the refusal must not stop n > 1 at temperature > 0.
func TestGreedyRefusalOfNIsPerCall(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		body := readBody(r)
		if strings.Contains(body, `"n":`) && strings.Contains(body, `"temperature":0,`) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"object":"error","message":"n must be 1 when using greedy sampling, got 3.","type":"BadRequestError","param":null,"code":400}`)
			return true
		}
		return false
	}})
	p := newPolicy(t, "m", []string{srv.URL()}, fast())
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{N: 3})
	require.NoError(t, err)
	assert.Len(t, rs, 3)
	rs, err = p.Generate(t.Context(), hello, alignment.SampleOptions{N: 3, Temperature: 0.8})
	require.NoError(t, err)
	assert.Len(t, rs, 3)
	var ns []int
	for _, r := range srv.Requests() {
		ns = append(ns, r.N)
	}
	assert.Equal(t, []int{3, 0, 0, 0, 3}, ns, "greedy: refused, then one per request; sampling: n=3 again")
}

func readBody(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestCancellationIsPrompt(t *testing.T) {
	tests := []struct {
		name  string
		fault func(http.ResponseWriter, *http.Request)
		o     func(*Options)
	}{
		{"during a request", stall, func(*Options) {}},
		{"during a backoff", status(http.StatusServiceUnavailable), func(o *Options) { o.MinBackoff, o.MaxBackoff = 10*time.Second, 10*time.Second }},
		{"during a Retry-After", status(http.StatusTooManyRequests, "Retry-After", "10"), func(o *Options) { o.MaxBackoff = 20 * time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := faulty(t, 1000, tt.fault)
			o := fast()
			tt.o(o)
			p := newPolicy(t, "m", []string{srv.URL()}, o)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err := p.Generate(ctx, hello, alignment.SampleOptions{N: 3})
			require.Error(t, err)
			assert.Less(t, time.Since(start), time.Second)
			assert.ErrorIs(t, err, context.Canceled)
		})
	}
}

func TestCancellationWhileWaitingForSlot(t *testing.T) {
	srv, _ := faulty(t, 1000, stall)
	o := fast()
	o.MaxConcurrency = 1
	o.Timeout = 10 * time.Second
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	busy, cancelBusy := context.WithCancel(t.Context())
	defer cancelBusy()
	go p.Generate(busy, hello, alignment.SampleOptions{})
	require.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 2*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Generate(ctx, hello, alignment.SampleOptions{})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for a free slot")
	assert.Len(t, srv.Requests(), 1, "the second request never went out")
}

// TestEndpointRests checks that an endpoint failing FailureThreshold times
// in a row is left alone for the cool-down, then tried once more and rested
// again at its first failure.
func TestEndpointRests(t *testing.T) {
	bad, badSeen := faulty(t, 1<<40, status(http.StatusServiceUnavailable))
	good := openaitest.NewServer(t, openaitest.Options{})
	o := fast()
	o.CoolDown = 300 * time.Millisecond
	p := newPolicy(t, "m", []string{bad.URL(), good.URL()}, o)
	for range 10 {
		_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), badSeen.Load(), "rested after 3 failures in a row")
	assert.Len(t, good.Requests(), 10)
	time.Sleep(350 * time.Millisecond)
	for range 5 {
		_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, int64(4), badSeen.Load(), "tried once after the cool-down, then rested again")
}

// TestLoneRestingEndpointStillTried checks that resting never refuses work
// when there is no other endpoint.
func TestLoneRestingEndpointStillTried(t *testing.T) {
	srv, seen := faulty(t, 4, status(http.StatusBadGateway))
	o := fast()
	o.FailureThreshold = 1
	o.CoolDown = time.Hour
	p := newPolicy(t, "m", []string{srv.URL()}, o)
	rs, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.NoError(t, err)
	assert.Len(t, rs, 1)
	assert.Equal(t, int64(5), seen.Load())
}

func TestUnsupportedSchemeIsPermanent(t *testing.T) {
	p := newPolicy(t, "m", []string{"http://127.0.0.1:1"}, fast())
	p.hc = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("tls: certificate signed by unknown authority")
	})}
	_, err := p.Generate(t.Context(), hello, alignment.SampleOptions{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, alignment.ErrTransient)
	assert.Equal(t, int64(0), p.Usage().Retries)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestOneRetryOwner replays issue 13's nested retries: a server that
// answers every request with 503 and Retry-After. With default options the
// client makes one request per call and returns an error wrapping
// alignment.ErrTransient that carries the wait, so the Loop's retry
// (alignment.Retry, which the Loop applies to every backend call) is the
// only one: 6 requests per call, not 5 × 6 = 30.
func TestOneRetryOwner(t *testing.T) {
	srv, seen := faulty(t, 1<<30, status(http.StatusServiceUnavailable, "Retry-After", "1"))
	p := newPolicy(t, "m", []string{srv.URL()}, &Options{APIKeyEnv: "-"})
	calls := 0
	err := alignment.Retry{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}.Do(t.Context(), func(ctx context.Context) error {
		calls++
		_, err := p.Generate(ctx, hello, alignment.SampleOptions{})
		return err
	}, nil)
	require.ErrorIs(t, err, alignment.ErrTransient)
	assert.Equal(t, 6, calls, "the Loop's default attempts")
	assert.Equal(t, int64(6), seen.Load(), "one request per call")
	assert.Zero(t, p.Usage().Retries)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, time.Second, se.RetryAfter, "the wait the server asked for reaches the caller")
}

// TestLlamaCppSlots replays llama.cpp's server refusing an n above its slot
// count (-np, 4 by default). Older builds throw std::runtime_error("n_cmpl
// cannot be greater than the number of slots, please increase -np") from
// params_from_json_cmpl (tools/server/server-task.cpp), answered as 400
// invalid_request_error; newer ones validate n against the slots in
// tools/server/server-schema.cpp ("Field 'n': Value must be between 1 <=
// value <= 4, but got 8"). Either way the Policy splits n into what the
// endpoint accepts and remembers it: 8 samples become two requests of 4.
func TestLlamaCppSlots(t *testing.T) {
	for _, fixture := range []string{"llamacpp_error_n_slots.json", "llamacpp_error_n_cmpl.json"} {
		t.Run(fixture, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", fixture))
			require.NoError(t, err)
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.LlamaCpp, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(readBody(r), `"n":8`) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					w.Write(body)
					return true
				}
				return false
			}})
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			o := alignment.SampleOptions{N: 8, Temperature: 1, Seed: 99}
			for range 2 {
				rs, err := p.Generate(t.Context(), hello, o)
				require.NoError(t, err)
				require.Len(t, rs, 8)
				for i, r := range rs {
					seed := int64(99)
					if i >= 4 {
						seed = int64(drawSeed(99, 4) & seedMask)
					}
					assert.Equal(t, fmt.Sprintf("Reply %d from llama.cpp (seed %d) to: Say hello.", i%4, seed), r.Text)
				}
			}
			var ns []int
			for _, r := range srv.Requests() {
				ns = append(ns, r.N)
			}
			assert.Equal(t, []int{8, 4, 4, 4, 4}, ns, "refused once, then split into what the endpoint takes")
			assert.Zero(t, p.Usage().Retries)
		})
	}
}
