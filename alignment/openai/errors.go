package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/selfalign/selfalign/alignment"
)

// ErrMalformed says a server answered with a success status but a body that
// is not a usable completion: not JSON, no choices, more choices than asked,
// a choice without a message, log-probabilities that do not line up.
// It is not transient: the same request would most likely get the same answer.
var ErrMalformed = errors.New("malformed response")

// StatusError is an HTTP error status returned by an endpoint. It wraps
// alignment.ErrTransient for 408, 409, 429 and 5xx other than 501, and
// nothing for the rest (400, 401, 403, 404, 422, ...), which are permanent.
// Find it with errors.As to read the status or the server's message.
type StatusError struct {
	// Method is the HTTP method of the request, "POST" when empty; Check
	// sends GET.
	Method string
	// Endpoint is the URL that answered, as RedactURL shows it, without
	// its query.
	Endpoint string
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's error message (OpenAI's error.message, vLLM's
	// message, FastAPI's detail, or the start of the body), truncated to
	// 512 bytes and with the API key cut out.
	Message string
	// Param and Code are OpenAI's error.param (the request field refused,
	// such as "max_tokens") and error.code when it is a string (such as
	// "unsupported_parameter"); empty when the server gave none.
	Param, Code string
	// RetryAfter is the wait the server asked for in Retry-After or
	// retry-after-ms; zero when it asked for none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "openai: %s %s: %d %s", cmp.Or(e.Method, http.MethodPost), e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns alignment.ErrTransient when the status is worth retrying.
func (e *StatusError) Unwrap() error {
	if transientStatus(e.StatusCode) {
		return alignment.ErrTransient
	}
	return nil
}

// transientStatus reports whether a status means "try again later". 501 Not
// Implemented is a 5xx that no wait will fix.
func transientStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusConflict, code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented:
		return false
	default:
		return code >= 500 && code <= 599
	}
}

// maxMessage bounds the server message kept in errors: long HTML error
// pages and echoed prompts would otherwise flood logs and reports.
const maxMessage = 512

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redactedError is an error whose text contained the API key (a server
// echoed it into a body quoted in the message), with the key cut out. It
// unwraps only to the sentinels and *StatusError of the original, never to
// the original itself, whose text still holds the key.
type redactedError struct {
	msg  string
	errs []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.errs }

// redactables are the errors a caller may test for with errors.Is.
var redactables = []error{
	ErrMalformed, ErrNoAnswer, ErrUnreachable,
	alignment.ErrTransient, alignment.ErrUnsupported, alignment.ErrInvalid,
	context.Canceled, context.DeadlineExceeded,
}

// redact returns err unchanged when its text does not contain the key, and
// a redactedError otherwise. Generate and LogProb pass every error they
// return through it, the last line of defence behind scrubbing at the
// source.
func (p *Policy) redact(err error) error {
	if err == nil || p.key == "" || !strings.Contains(err.Error(), p.key) {
		return err
	}
	r := &redactedError{msg: p.scrub(err.Error())}
	for _, s := range redactables {
		if errors.Is(err, s) {
			r.errs = append(r.errs, s)
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		r.errs = append(r.errs, se)
	}
	return r
}
