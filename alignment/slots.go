package alignment

import (
	"context"
	"sync"
	"sync/atomic"
)

// slots runs a run's backend calls on as many worker goroutines as the
// run's call limit, Concurrency. A worker whose call returns takes the
// next queued call itself, so a freed slot starts its next call at once,
// without waking another goroutine first; the goroutine that wanted the
// call is woken afterwards, to read its outcome, and a fan-out's only when
// its last call is done.
//
// Sampling calls wait in a queue of their own that workers serve first:
// each unlocks its prompt's refine and judge calls, so the slots stay
// busy and the run ends on a queue of judge calls to share out rather
// than on a prompt still sampling while slots idle.
type slots struct {
	first, rest chan *attempt
	quit        chan struct{}
	workers     sync.WaitGroup
}

// Lanes of the queue: first is served before rest.
const (
	laneRest = iota
	laneFirst
)

// States of an attempt.
const (
	queued int32 = iota
	running
	abandoned // its caller stopped waiting before a worker took it
)

// attempt is one try of a backend call, queued for a worker: f(ctx, i),
// bounded by the run's Retry.CallTimeout. Its outcome goes to fan, for a
// call of a fan-out, or to done.
type attempt struct {
	ctx   context.Context
	f     func(ctx context.Context, i int) error
	i     int
	tries int // attempts made before this one
	lane  int
	state atomic.Int32
	fan   *fan
	done  chan error
}

func newSlots(concurrency int) *slots {
	// Deep enough that a fan-out rarely waits to queue its calls; a full
	// queue only makes submitters wait their turn.
	return &slots{first: make(chan *attempt, 4*concurrency), rest: make(chan *attempt, 16*concurrency), quit: make(chan struct{})}
}

// start starts n workers running r's calls; stop ends them once they are
// idle. Every call must be done (or abandoned) before stop.
func (s *slots) start(r *run, n int) (stop func()) {
	s.workers.Add(n)
	for range n {
		go s.work(r)
	}
	return func() {
		close(s.quit)
		s.workers.Wait()
	}
}

func (s *slots) work(r *run) {
	defer s.workers.Done()
	for {
		var a *attempt
		select {
		case a = <-s.first:
		default:
			select {
			case a = <-s.first:
			case a = <-s.rest:
			case <-s.quit:
				return
			}
		}
		if !a.state.CompareAndSwap(queued, running) {
			continue // abandoned
		}
		if err := a.ctx.Err(); err != nil {
			// Its caller stopped: skip it, as a fan-out skips the calls
			// after its first permanent error.
			if a.fan != nil {
				a.fan.skip()
			} else {
				a.done <- err
			}
			continue
		}
		err := r.retry.once(a.ctx, func(ctx context.Context) error { return a.f(ctx, a.i) })
		if a.fan != nil {
			a.fan.attempted(a, err)
		} else {
			a.done <- err
		}
	}
}

// submit queues a, or returns ctx's error if ctx ends first.
func (s *slots) submit(ctx context.Context, a *attempt) error {
	a.state.Store(queued)
	lane := s.rest
	if a.lane == laneFirst {
		lane = s.first
	}
	select {
	case lane <- a:
		return nil
	default:
	}
	select {
	case lane <- a:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs one attempt of f in a slot and returns its error. When ctx ends
// before a worker takes it, do returns ctx's error without running f.
func (s *slots) do(ctx context.Context, lane int, f func(ctx context.Context, i int) error) error {
	a := &attempt{ctx: ctx, f: f, lane: lane, done: make(chan error, 1)}
	if err := s.submit(ctx, a); err != nil {
		return err
	}
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		if a.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		return <-a.done
	}
}

// fan is one fanOut: n calls of f, each retried, whose outcomes the
// workers count.
type fan struct {
	r        *run
	res      *item
	ctx      context.Context
	cancel   context.CancelFunc
	f        func(ctx context.Context, i int) error
	done     *int32 // calls that succeeded
	left     atomic.Int32
	mu       sync.Mutex
	err      error // the first permanent error
	finished chan struct{}
}

// attempted takes the outcome of one attempt: a transient failure with
// attempts left is tried again after its backoff, which is waited out of
// the slots; any other outcome settles the call.
func (fo *fan) attempted(a *attempt, err error) {
	r := fo.r
	if !r.retry.again(fo.ctx, a.tries, err) {
		fo.settle(err)
		return
	}
	atomic.AddInt32(&fo.res.retries, 1)
	r.emit(Event{Kind: CallRetried, Iteration: int(fo.res.iteration), PromptID: fo.res.prompt.ID, Err: err})
	go func() {
		if err := r.retry.backoff(fo.ctx, a.tries); err != nil {
			fo.settle(err)
			return
		}
		a.tries++
		if err := r.slots.submit(fo.ctx, a); err != nil {
			fo.settle(err)
		}
	}()
}

// settle records the final outcome of one call of the fan-out. The first
// permanent error cancels the calls not yet run.
func (fo *fan) settle(err error) {
	if gaveUp(fo.ctx, err) {
		atomic.AddInt32(&fo.res.exhausted, 1)
	}
	if err == nil {
		atomic.AddInt32(fo.done, 1)
	} else {
		fo.mu.Lock()
		if fo.err == nil {
			fo.err = err
			fo.cancel()
		}
		fo.mu.Unlock()
	}
	fo.skip()
}

// skip counts one call of the fan-out as settled; the fan-out is finished
// when every call is. A call skipped without running leaves no error: the
// fan-out's context ended, which fanOut reports.
func (fo *fan) skip() {
	if fo.left.Add(-1) == 0 {
		close(fo.finished)
	}
}
