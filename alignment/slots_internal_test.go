package alignment

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call waiting for a slot in the first lane (sampling, which unlocks a
// prompt's judge calls) is served before the calls that queued earlier in
// the other lane; within a lane, the calls of the earliest prompt go
// first, and a prompt's calls go in the order they came.
func TestSlotsServeTheFirstLaneFirst(t *testing.T) {
	r := &run{retry: Retry{}.withDefaults()}
	r.slots = newSlots()
	stop := r.slots.start(r, 1)
	defer stop()

	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	record := func(name string) func(context.Context, int) error {
		return func(context.Context, int) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return nil
		}
	}
	started, release := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		assert.NoError(t, r.slots.do(t.Context(), laneRest, 0, func(context.Context, int) error {
			close(started)
			<-release
			return nil
		}))
	})
	<-started // the only worker is busy: what comes next queues
	for i, c := range []struct {
		lane, key int
		name      string
	}{
		{laneRest, 2, "judge of prompt 2"},
		{laneRest, 1, "judge of prompt 1, first"},
		{laneRest, 1, "judge of prompt 1, second"},
		{laneFirst, 3, "sample of prompt 3"},
	} {
		wg.Go(func() { assert.NoError(t, r.slots.do(t.Context(), c.lane, c.key, record(c.name))) })
		require.Eventually(t, func() bool { return r.slots.queued() == i+1 }, 5*time.Second, time.Millisecond)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, []string{"sample of prompt 3", "judge of prompt 1, first", "judge of prompt 1, second", "judge of prompt 2"}, order)
}

// A caller that stops waiting before a worker takes its call gets its
// context's error, and the call is never run.
func TestSlotsAbandonedCallNeverRuns(t *testing.T) {
	r := &run{retry: Retry{}.withDefaults()}
	r.slots = newSlots()
	stop := r.slots.start(r, 1)
	defer stop()

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- r.slots.do(t.Context(), laneRest, 0, func(context.Context, int) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	var ran atomic.Bool
	waiting := make(chan error)
	go func() {
		waiting <- r.slots.do(ctx, laneRest, 0, func(context.Context, int) error { ran.Store(true); return nil })
	}()
	require.Eventually(t, func() bool { return r.slots.queued() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-waiting, context.Canceled)
	close(release)
	require.NoError(t, <-done)
	// A call queued after the abandoned one runs: the worker skipped it.
	require.NoError(t, r.slots.do(t.Context(), laneRest, 0, func(context.Context, int) error { return nil }))
	assert.False(t, ran.Load())
}

// queued returns the number of attempts in the queue.
func (s *slots) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.queue {
		if e.one != nil {
			n++
		}
		n += len(e.run)
	}
	return n
}

// The queue gives back every attempt, single or queued in a run, in lane,
// key and arrival order, however they were pushed and popped: each pop
// returns the least of the attempts left, as a sorted list of them says.
func TestQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type queuedAttempt struct {
		a    *attempt
		rank uint64
		seq  uint64
	}
	var (
		q    queue
		left []queuedAttempt // what the queue holds, in arrival order
		seq  uint64
	)
	popped := 0
	pop := func() {
		least := slices.MinFunc(left, func(x, y queuedAttempt) int {
			if c := cmp.Compare(x.rank, y.rank); c != 0 {
				return c
			}
			return cmp.Compare(x.seq, y.seq)
		})
		got := q.pop()
		require.Same(t, least.a, got, "pop %d: got lane %d key %d, want lane %d key %d", popped, got.lane, got.key, least.a.lane, least.a.key)
		left = slices.DeleteFunc(left, func(x queuedAttempt) bool { return x.a == got })
		popped++
	}
	for range 500 {
		lane, key := rng.IntN(2), rng.IntN(20)
		e := entry{rank: order(lane, key), seq: seq}
		if rng.IntN(2) == 0 {
			e.one = &attempt{lane: lane, key: key}
			left = append(left, queuedAttempt{e.one, e.rank, seq})
			seq++
		} else {
			e.run = make([]attempt, 1+rng.IntN(5))
			for i := range e.run {
				e.run[i].lane, e.run[i].key = lane, key
				left = append(left, queuedAttempt{&e.run[i], e.rank, seq})
				seq++
			}
		}
		q.push(e)
		for rng.IntN(3) == 0 && len(left) > 0 { // pops between pushes too
			pop()
		}
	}
	for len(left) > 0 {
		pop()
	}
	assert.Empty(t, q)
}
