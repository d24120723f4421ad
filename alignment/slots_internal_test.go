package alignment

import (
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
	return len(s.queue)
}

// The queue gives back every attempt, in lane, key and arrival order,
// however they were pushed.
func TestQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue
	var want []*attempt
	for seq := range 500 {
		a := &attempt{lane: rng.IntN(2), key: rng.IntN(20), seq: uint64(seq)}
		want = append(want, a)
		q.push(a)
		if rng.IntN(4) == 0 { // pops between pushes too
			want = slices.DeleteFunc(want, func(b *attempt) bool { return b == q[0] })
			got := q.pop()
			for _, b := range append(want, q...) {
				require.False(t, slices.Contains(q, got) || before(b, got), "popped %+v before %+v", got, b)
			}
		}
	}
	slices.SortFunc(want, func(a, b *attempt) int {
		if before(a, b) {
			return -1
		}
		return 1
	})
	for _, a := range want {
		require.Same(t, a, q.pop())
	}
	assert.Empty(t, q)
}

func before(a, b *attempt) bool { return queue{a, b}.before(0, 1) }
