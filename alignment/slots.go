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
// The queue is served in an order that keeps the slots busy to the end:
// sampling calls first, as each unlocks its prompt's judge calls, then
// the calls of the earliest prompt. A prompt whose sampling was slow gets
// its judge calls started ahead of those of later prompts, so the run
// does not end waiting on it, and neither does the writer, which takes
// prompts in order.
type slots struct {
	mu    sync.Mutex
	queue queue
	seq   uint64
	// ready holds a token per queued attempt; its elements take no
	// memory, so it can be deep enough never to block.
	ready   chan struct{}
	quit    chan struct{}
	workers sync.WaitGroup
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
	key   int    // the prompt's index in its pass: earlier is served first
	seq   uint64 // arrival order, among equal lanes and keys
	state atomic.Int32
	fan   *fan
	done  chan error
	// seeded is ctx for a call of a fan-out, whose context carries the
	// call's seed.
	seeded seedCtx
}

func newSlots() *slots {
	return &slots{ready: make(chan struct{}, 1<<30), quit: make(chan struct{})}
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
		select {
		case <-s.ready:
		case <-s.quit:
			return
		}
		s.mu.Lock()
		a := s.queue.pop()
		s.mu.Unlock()
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

// submit queues a.
func (s *slots) submit(a *attempt) {
	a.state.Store(queued)
	s.mu.Lock()
	a.seq = s.seq
	s.seq++
	s.queue.push(a)
	s.mu.Unlock()
	s.ready <- struct{}{}
}

// do runs one attempt of f in a slot and returns its error. When ctx ends
// before a worker takes it, do returns ctx's error without running f.
func (s *slots) do(ctx context.Context, lane, key int, f func(ctx context.Context, i int) error) error {
	a := &attempt{ctx: ctx, f: f, lane: lane, key: key, done: make(chan error, 1)}
	s.submit(a)
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

// queue is a binary heap of attempts, the next to serve at the root.
type queue []*attempt

func (q queue) before(i, j int) bool {
	a, b := q[i], q[j]
	if a.lane != b.lane {
		return a.lane > b.lane
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

func (q *queue) push(a *attempt) {
	*q = append(*q, a)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.before(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *queue) pop() *attempt {
	h := *q
	top, n := h[0], len(h)-1
	h[0], h[n] = h[n], nil
	h = h[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h.before(c+1, c) {
			c++
		}
		if !h.before(c, i) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	*q = h
	return top
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
	go func() { // off the worker, which goes on to its next call
		r.emit(Event{Kind: CallRetried, Iteration: int(fo.res.iteration), PromptID: fo.res.prompt.ID, Err: err})
		if err := r.retry.backoff(fo.ctx, a.tries); err != nil {
			fo.settle(err)
			return
		}
		a.tries++
		r.slots.submit(a)
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
