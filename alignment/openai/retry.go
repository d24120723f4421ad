package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/selfalign/selfalign/alignment"
)

// Size limits on what is read from a server. A success body holds every
// choice with its log-probabilities (top 20 alternatives over thousands of
// tokens stays well below the limit); an error body only needs its message.
const (
	maxBody      = 64 << 20
	maxErrorBody = 64 << 10
)

// post sends a request built by build to an endpoint chosen by pick, and
// retries transient failures with capped exponential backoff and jitter,
// honouring Retry-After, each attempt on a freshly chosen endpoint. build is
// called once per attempt with the endpoint it will go to. adapt, when not
// nil, sees every status error first: it may recognise it as a quirk of
// that endpoint, adjust the endpoint and return true, and the request is
// then rebuilt and sent again at once, without counting as a failure; or
// it may return an error, which is returned at once in place of the
// status error, retries or not.
func (p *Policy) post(ctx context.Context, path string, build func(*endpoint) ([]byte, error), adapt func(*endpoint, *StatusError) (bool, error)) ([]byte, *endpoint, error) {
	// Every adaptation changes what an endpoint is sent, and there are
	// few of them; the bound only guards against a server that refuses
	// every form of a request in turn.
	maxAdapted := 8 * len(p.eps)
	adapted := 0
	for attempt := 0; ; attempt++ {
		ep := p.pick()
		if err := ep.sem.Acquire(ctx, 1); err != nil {
			p.done(ep)
			return nil, nil, fmt.Errorf("openai: waiting for a free slot on %s: %w", ep.name, err)
		}
		body, err := build(ep)
		if err != nil {
			ep.sem.Release(1)
			p.done(ep)
			return nil, nil, err
		}
		data, err := p.roundTrip(ctx, ep, path, body)
		ep.sem.Release(1)
		p.done(ep)
		if err == nil {
			p.succeeded(ep)
			p.requests.Add(1)
			return data, ep, nil
		}
		if ctx.Err() != nil {
			if errors.Is(err, ctx.Err()) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("openai: POST %s: %w (while: %v)", ep.name+path, ctx.Err(), err)
		}
		var se *StatusError
		isStatus := errors.As(err, &se)
		if isStatus && adapt != nil && adapted < maxAdapted {
			again, aerr := adapt(ep, se)
			if aerr != nil {
				return nil, nil, aerr
			}
			if again {
				adapted++
				attempt--
				continue
			}
		}
		if !errors.Is(err, alignment.ErrTransient) {
			return nil, nil, err
		}
		p.failed(ep)
		if attempt >= p.maxRetries {
			if attempt == 0 {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("openai: giving up after %d attempts: %w", attempt+1, err)
		}
		wait := p.backoff(attempt)
		if isStatus && se.RetryAfter > 0 {
			if se.RetryAfter > p.maxBackoff {
				return nil, nil, fmt.Errorf("openai: server asked to wait %v, longer than MaxBackoff %v: %w", se.RetryAfter, p.maxBackoff, err)
			}
			wait = max(wait, se.RetryAfter)
		}
		p.retries.Add(1)
		p.log.Warn("openai: retrying after a transient failure", "endpoint", ep.name, "attempt", attempt+1, "wait", wait, "error", p.scrub(err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("openai: waiting to retry %s: %w", ep.name, ctx.Err())
		case <-t.C:
		}
	}
}

// roundTrip makes one HTTP exchange under the per-request timeout and
// classifies its failure.
func (p *Policy) roundTrip(ctx context.Context, ep *endpoint, path string, body []byte) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	where := ep.name + path
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.url(path), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai: POST %s: %s", where, p.scrub(causeOf(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, p.transportError(ctx, actx, where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil && ctx.Err() != nil {
			return nil, p.transportError(ctx, actx, where, err)
		}
		param, code := errorFields(b)
		return nil, &StatusError{
			Method:     http.MethodPost,
			Endpoint:   where,
			StatusCode: resp.StatusCode,
			Message:    truncate(p.scrub(errorMessage(b)), maxMessage),
			Param:      truncate(p.scrub(param), 64),
			Code:       truncate(p.scrub(code), 64),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms"), time.Now()),
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, p.transportError(ctx, actx, where, err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("openai: POST %s: response body larger than %d bytes: %w", where, maxBody, ErrMalformed)
	}
	return data, nil
}

// transportError classifies a failure below HTTP. The caller's cancellation
// wins; then the per-request timeout and broken connections are transient;
// anything else (a bad URL, a TLS certificate error) is permanent.
func (p *Policy) transportError(ctx, actx context.Context, where string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("openai: POST %s: %w", where, ctx.Err())
	}
	if actx.Err() != nil {
		return fmt.Errorf("openai: POST %s: no response within %v: %w", where, p.timeout, alignment.ErrTransient)
	}
	if transientNet(err) {
		return fmt.Errorf("openai: POST %s: %s: %w", where, p.scrub(causeOf(err)), alignment.ErrTransient)
	}
	return fmt.Errorf("openai: POST %s: %s", where, p.scrub(causeOf(err)))
}

// causeOf drops the url.Error wrapper, whose text repeats the method and URL.
func causeOf(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// transientNet reports whether a transport error is a broken or refused
// connection, which a restarting or overloaded server produces, or another
// network error that may pass, but not a host name that does not exist.
func transientNet(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	// A name that does not resolve will not resolve on the next try either
	// (Go's resolver says so only for an authoritative "no such host"); a
	// resolver that timed out or failed for a while is another matter.
	var de *net.DNSError
	if errors.As(err, &de) {
		return !de.IsNotFound
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// backoff returns the wait before retry attempt+1: MinBackoff doubled per
// attempt, capped at MaxBackoff, of which a random half is kept ("equal
// jitter": never less than half the step, so retries cannot stampede
// back all at once).
func (p *Policy) backoff(attempt int) time.Duration {
	d := min(p.minBackoff, p.maxBackoff)
	for i := 0; i < attempt && d < p.maxBackoff; i++ {
		if d > p.maxBackoff/2 {
			d = p.maxBackoff
			break
		}
		d *= 2
	}
	half := d / 2
	p.rngMu.Lock()
	j := time.Duration(p.rng.Int64N(int64(half) + 1))
	p.rngMu.Unlock()
	return d - half + j
}

// maxRetryAfter caps a server's Retry-After; any longer wait exceeds every
// sensible MaxBackoff and only needs to stay far from overflow.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads the wait a server asked for: OpenAI's retry-after-ms
// (milliseconds) first, then Retry-After as delay-seconds (fractions
// accepted) or an HTTP-date relative to now. Invalid, negative or past
// values mean no wait.
func retryAfter(header, headerMs string, now time.Time) time.Duration {
	if d, ok := parseDelay(headerMs, float64(time.Millisecond)); ok {
		return d
	}
	v := strings.TrimSpace(header)
	if v == "" {
		return 0
	}
	if d, ok := parseDelay(v, float64(time.Second)); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// parseDelay reads a non-negative decimal number of units.
func parseDelay(s string, unit float64) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "xXpPiInN") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	if f <= 0 {
		return 0, true
	}
	if f*unit >= float64(maxRetryAfter) {
		return maxRetryAfter, true
	}
	return time.Duration(f * unit), true
}

// scrub removes the API key from text that came from outside (a server
// message that echoes the Authorization header, a transport error).
func (p *Policy) scrub(s string) string {
	if p.key == "" {
		return s
	}
	return strings.ReplaceAll(s, p.key, "[REDACTED]")
}
