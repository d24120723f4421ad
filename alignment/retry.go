package alignment

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Retry says how the Loop retries transient failures. The zero value means
// the defaults given on each field.
type Retry struct {
	// Attempts is the number of tries of one call, the first included;
	// default 6.
	Attempts int
	// BaseDelay is the wait before the first retry; it doubles with each
	// further retry up to MaxDelay. Defaults 100ms and 10s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// CallTimeout bounds each call from when it starts: in a Loop, the
	// wait for a slot under Loop.Concurrency does not count. A call that
	// runs past it is a transient failure. Zero means no bound beyond the
	// run's context.
	CallTimeout time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts < 1 {
		r.Attempts = 6
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 100 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 10 * time.Second
	}
	return r
}

// IsTransient reports whether err is worth retrying: it wraps ErrTransient,
// or it is a deadline of the call itself while the caller's ctx is still live.
func IsTransient(ctx context.Context, err error) bool {
	if errors.Is(err, ErrTransient) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
}

// Do runs call until it succeeds, fails permanently, runs out of attempts
// or ctx ends, with r's zero fields taken as their defaults. It is the
// retry the Loop applies to each backend call, for code that makes calls
// of its own outside a Loop (prompt generators, say); code inside a
// Loop's hooks should use Item.Call instead. The wait before retry a is BaseDelay·2^a capped at MaxDelay,
// scaled by a random factor in [0.5, 1) so that many clients that failed
// together do not retry together. Jitter uses the global generator: it
// changes only timing, never results. onRetry, if set, sees each error that
// is about to be retried.
func (r Retry) Do(ctx context.Context, call func(ctx context.Context) error, onRetry func(error)) error {
	r = r.withDefaults()
	for a := 0; ; a++ {
		err := r.once(ctx, call)
		if !r.again(ctx, a, err) {
			return err
		}
		if onRetry != nil {
			onRetry(err)
		}
		if err := r.backoff(ctx, a); err != nil {
			return err
		}
	}
}

// again reports whether attempt a (from 0), which returned err, is to be
// retried. r must have its defaults.
func (r Retry) again(ctx context.Context, a int, err error) bool {
	return err != nil && a+1 < r.Attempts && IsTransient(ctx, err)
}

// backoff waits before the retry of attempt a (from 0), and returns
// ctx's error if ctx ends first. r must have its defaults.
func (r Retry) backoff(ctx context.Context, a int) error {
	d := min(r.BaseDelay<<min(a, 30), r.MaxDelay)
	d = time.Duration(float64(d) * (0.5 + rand.Float64()/2))
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r Retry) once(ctx context.Context, call func(ctx context.Context) error) error {
	if r.CallTimeout <= 0 {
		return call(ctx)
	}
	cctx, cancel := context.WithTimeout(ctx, r.CallTimeout)
	defer cancel()
	return call(cctx)
}
