package alignment

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call waiting for a slot in the first lane (sampling, which unlocks a
// prompt's judge calls) is served before the calls that queued earlier in
// the other lane; within a lane, calls are served in the order they came.
func TestSlotsServeTheFirstLaneFirst(t *testing.T) {
	r := &run{retry: Retry{}.withDefaults()}
	r.slots = newSlots(1)
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
		assert.NoError(t, r.slots.do(t.Context(), laneRest, func(context.Context, int) error {
			close(started)
			<-release
			return nil
		}))
	})
	<-started // the only worker is busy: what comes next queues
	queue := func(lane int, name string, queued func() int) {
		wg.Go(func() { assert.NoError(t, r.slots.do(t.Context(), lane, record(name))) })
		require.Eventually(t, func() bool { return queued() > 0 }, 5*time.Second, time.Millisecond)
	}
	queue(laneRest, "judge 1", func() int { return len(r.slots.rest) })
	queue(laneRest, "judge 2", func() int { return len(r.slots.rest) - 1 })
	queue(laneFirst, "sample", func() int { return len(r.slots.first) })
	close(release)
	wg.Wait()
	assert.Equal(t, []string{"sample", "judge 1", "judge 2"}, order)
}

// A caller that stops waiting before a worker takes its call gets its
// context's error, and the call is never run.
func TestSlotsAbandonedCallNeverRuns(t *testing.T) {
	r := &run{retry: Retry{}.withDefaults()}
	r.slots = newSlots(1)
	stop := r.slots.start(r, 1)
	defer stop()

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- r.slots.do(t.Context(), laneRest, func(context.Context, int) error {
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
		waiting <- r.slots.do(ctx, laneRest, func(context.Context, int) error { ran.Store(true); return nil })
	}()
	require.Eventually(t, func() bool { return len(r.slots.rest) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-waiting, context.Canceled)
	close(release)
	require.NoError(t, <-done)
	// A call queued after the abandoned one runs: the worker skipped it.
	require.NoError(t, r.slots.do(t.Context(), laneRest, func(context.Context, int) error { return nil }))
	assert.False(t, ran.Load())
}
