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
// its last call is done. A worker waits only when the queue is empty, and
// a call queued then wakes one waiting worker: with calls queued, as when
// every slot is busy, taking the next costs one lock and no wake-up.
//
// The queue is served in an order that keeps the slots busy to the end:
// sampling calls first, as each unlocks its prompt's judge calls, then
// the calls of the earliest prompt. A prompt whose sampling was slow gets
// its judge calls started ahead of those of later prompts, so the run
// does not end waiting on it, and neither does the writer, which takes
// prompts in order.
type slots struct {
	mu     sync.Mutex
	queue  queue
	seq    uint64
	idle   int  // workers waiting for a token on wake
	closed bool // set by stop: idle workers return
	// wake carries a token to each waiting worker that a call queued (or
	// stop) wakes; as many tokens as workers fit, so sending never blocks.
	wake    chan struct{}
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
	key   int // the prompt's index in its pass: earlier is served first
	state atomic.Int32
	fan   *fan
	done  chan error
	// seeded is ctx for a call of a fan-out, whose context carries the
	// call's seed.
	seeded seedCtx
}

func newSlots() *slots { return &slots{} }

// start starts n workers running r's calls; stop ends them once they are
// idle. Every call must be done (or abandoned) before stop.
func (s *slots) start(r *run, n int) (stop func()) {
	s.wake = make(chan struct{}, n)
	s.workers.Add(n)
	for range n {
		go s.work(r)
	}
	return func() {
		s.mu.Lock()
		s.closed = true
		w := s.idle
		s.idle = 0
		s.mu.Unlock()
		for range w {
			s.wake <- struct{}{}
		}
		s.workers.Wait()
	}
}

// next returns the next queued attempt, waiting for one while the queue
// is empty, or nil once stop was called and the queue is empty.
func (s *slots) next() *attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) == 0 {
		if s.closed {
			return nil
		}
		s.idle++
		s.mu.Unlock()
		<-s.wake
		s.mu.Lock()
	}
	return s.queue.pop()
}

func (s *slots) work(r *run) {
	defer s.workers.Done()
	for {
		a := s.next()
		if a == nil {
			return
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

// submit queues a.
func (s *slots) submit(a *attempt) {
	a.state.Store(queued)
	s.mu.Lock()
	s.queue.push(entry{rank: order(a.lane, a.key), seq: s.seq, one: a})
	s.seq++
	s.woken(1)
}

// submitAll queues the attempts of as, which share a lane and key, as one
// entry of the queue, served in their order.
func (s *slots) submitAll(as []attempt) {
	for i := range as {
		as[i].state.Store(queued)
	}
	s.mu.Lock()
	s.queue.push(entry{rank: order(as[0].lane, as[0].key), seq: s.seq, run: as})
	s.seq += uint64(len(as))
	s.woken(len(as))
}

// woken unlocks s.mu, which the caller holds, having queued n attempts,
// and wakes as many waiting workers, or as many as there are.
func (s *slots) woken(n int) {
	w := min(n, s.idle)
	s.idle -= w
	s.mu.Unlock()
	for range w {
		s.wake <- struct{}{}
	}
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

// order ranks the lanes and keys of the queue: the first lane before the
// rest, then the earliest key.
func order(lane, key int) uint64 {
	r := uint64(key)
	if lane != laneFirst {
		r |= 1 << 63
	}
	return r
}

// entry is a run of queued attempts with one lane and key and consecutive
// arrival numbers: one attempt, or the calls of a fan-out, queued at once
// and served from the front. Its order is that of its first attempt left,
// which serving the front keeps the least in the queue: no attempt
// arrived between those of the run.
type entry struct {
	rank uint64
	seq  uint64 // arrival number of the first attempt left
	one  *attempt
	run  []attempt // the attempts left, when one is nil
}

// queue is a binary heap of entries, the next to serve at the root.
type queue []entry

func (q queue) before(i, j int) bool {
	a, b := &q[i], &q[j]
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.seq < b.seq
}

func (q *queue) push(e entry) {
	*q = append(*q, e)
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

// pop takes the next attempt from the root entry, and the entry off the
// heap when that was its last.
func (q *queue) pop() *attempt {
	h := *q
	top := &h[0]
	if top.one == nil && len(top.run) > 1 {
		a := &top.run[0]
		top.run = top.run[1:]
		top.seq++
		return a
	}
	a := top.one
	if a == nil {
		a = &top.run[0]
	}
	n := len(h) - 1
	h[0], h[n] = h[n], entry{}
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
	return a
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
