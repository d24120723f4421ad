package openai

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/selfalign/selfalign/alignment"
)

// endpoint is one base URL with its concurrency limit and health. The
// fields under "guarded by Policy.mu" change on every request; the Policy
// keeps them under one lock so that choosing the least loaded endpoint sees
// a consistent picture.
type endpoint struct {
	// base is the URL requests go to, without the trailing slash; query is
	// its raw query, appended after the path of each request.
	base, query string
	// name is base as RedactURL shows it, safe for errors and logs.
	name string
	sem  *semaphore.Weighted
	// maxN is the largest n the endpoint is known to accept, 0 while
	// unknown: set when it refuses an n (llama.cpp accepts up to its slot
	// count, older builds 1) or answers fewer choices than asked (Ollama
	// answers one). Larger draws are split into requests of at most maxN.
	maxN atomic.Int64
	// completionTokens, noTemperature and noTopP are set once the
	// endpoint's model refuses max_tokens, its temperature or its top_p
	// (OpenAI's reasoning models); see adapted.
	completionTokens, noTemperature, noTopP atomic.Bool

	// guarded by Policy.mu
	outstanding int
	lastPick    uint64
	fails       int
	restUntil   time.Time
	probation   bool
}

// newEndpoint parses and normalises a base URL. A URL with an empty path
// gets "/v1", the path every OpenAI-compatible server serves.
func newEndpoint(i int, raw string, limit int) (*endpoint, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("openai: base URL %d: %v: %w", i, redactParseError(err), alignment.ErrInvalid)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("openai: base URL %d (%s): scheme must be http or https: %w", i, redactURL(u), alignment.ErrInvalid)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %d (%s) has no host: %w", i, redactURL(u), alignment.ErrInvalid)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("openai: base URL %d (%s) has a fragment: %w", i, redactURL(u), alignment.ErrInvalid)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if u.Path == "" {
		u.Path = "/v1"
	}
	query := u.RawQuery
	u.RawQuery = ""
	return &endpoint{
		base:  u.String(),
		query: query,
		name:  redactURL(u),
		sem:   semaphore.NewWeighted(int64(limit)),
	}, nil
}

// url returns the full URL of path (which starts with "/") on e.
func (e *endpoint) url(path string) string {
	if e.query == "" {
		return e.base + path
	}
	return e.base + path + "?" + e.query
}

// redactParseError keeps url.Parse's reason but not the URL it quotes,
// which may carry a password.
func redactParseError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return "cannot parse"
}

// pick returns the endpoint with the fewest outstanding requests among those
// not resting, counting the request it is picked for. Ties go to the
// endpoint picked least recently, which makes equal loads round-robin. When
// every endpoint rests, the one whose rest ends first is used anyway: a lone
// endpoint is never refused, only retried with backoff.
func (p *Policy) pick() *endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var best *endpoint
	for _, e := range p.eps {
		if now.Before(e.restUntil) {
			continue
		}
		if best == nil || e.outstanding < best.outstanding ||
			e.outstanding == best.outstanding && e.lastPick < best.lastPick {
			best = e
		}
	}
	if best == nil {
		for _, e := range p.eps {
			if best == nil || e.restUntil.Before(best.restUntil) {
				best = e
			}
		}
	}
	p.picks++
	best.lastPick = p.picks
	best.outstanding++
	return best
}

// done undoes pick's count once a request has finished.
func (p *Policy) done(e *endpoint) {
	p.mu.Lock()
	e.outstanding--
	p.mu.Unlock()
}

// succeeded clears e's failure streak.
func (p *Policy) succeeded(e *endpoint) {
	p.mu.Lock()
	e.fails = 0
	e.probation = false
	p.mu.Unlock()
}

// failed records a transient failure of e and rests it for the cool-down
// after FailureThreshold failures in a row, or after one failure when it
// has just come back from a rest (it has not proved itself yet).
func (p *Policy) failed(e *endpoint) {
	p.mu.Lock()
	e.fails++
	rest := e.fails >= p.threshold || e.probation
	if rest {
		e.restUntil = time.Now().Add(p.coolDown)
		e.fails = 0
		e.probation = true
	}
	p.mu.Unlock()
	if rest {
		p.log.Warn("openai: resting endpoint after repeated transient failures", "endpoint", e.name, "cooldown", p.coolDown)
	}
}

// allSingle reports whether every endpoint is known to answer one choice
// per request, in which case Generate draws all responses in parallel from
// the start.
func (p *Policy) allSingle() bool {
	for _, e := range p.eps {
		if e.maxN.Load() != 1 {
			return false
		}
	}
	return true
}

// chunk is the number of choices to ask for per request when splitting a
// draw: the smallest limit known among the endpoints, 1 when none is.
func (p *Policy) chunk() int {
	c := int64(0)
	for _, e := range p.eps {
		if m := e.maxN.Load(); m > 0 && (c == 0 || m < c) {
			c = m
		}
	}
	return int(max(c, 1))
}

// limitN records that e accepts at most k choices per request; a limit
// only ever goes down.
func (p *Policy) limitN(e *endpoint, k int, why string) {
	for {
		old := e.maxN.Load()
		if old != 0 && old <= int64(k) {
			return
		}
		if e.maxN.CompareAndSwap(old, int64(k)) {
			p.log.Info("openai: endpoint limits n; splitting draws", "endpoint", e.name, "max_n", k, "why", why)
			return
		}
	}
}
