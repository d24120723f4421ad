package tinylm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestParallelForRunsEachUnitOnce checks that every unit runs exactly once
// whatever the number of workers, including when several callers share
// the crew at once (all but one then run their units alone) and when
// GOMAXPROCS changes between calls.
func TestParallelForRunsEachUnitOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4, 3} {
		runtime.GOMAXPROCS(procs)
		for _, units := range []int{0, 1, 2, 7, 100} {
			for _, workers := range []int{1, 2, 8} {
				counts := make([]atomic.Int32, units)
				parallelFor(units, workers, func(u int) { counts[u].Add(1) })
				for u := range counts {
					assert.EqualValues(t, 1, counts[u].Load(), "unit %d of %d, %d workers, GOMAXPROCS=%d", u, units, workers, procs)
				}
			}
		}
	}
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	results := make([][]atomic.Int32, 8)
	for c := range results {
		results[c] = make([]atomic.Int32, 500)
		wg.Go(func() {
			for range 20 {
				parallelFor(500, 4, func(u int) { results[c][u].Add(1) })
			}
		})
	}
	wg.Wait()
	for c := range results {
		for u := range results[c] {
			assert.EqualValues(t, 20, results[c][u].Load(), "caller %d, unit %d", c, u)
		}
	}
}

// TestParallelRowsCoversRange checks that the ranges of parallelRows cover
// [0, n) exactly once, split or not.
func TestParallelRowsCoversRange(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(4)
	for _, n := range []int{0, 1, 5, 31, 1000} {
		for _, work := range []int{0, parallelWork} {
			seen := make([]atomic.Int32, n)
			parallelRows(n, work, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				assert.EqualValues(t, 1, seen[i].Load(), "row %d of %d, work %d", i, n, work)
			}
		}
	}
}

// BenchmarkStartOnIdleCore measures what the crew saves: the time from
// handing out work until a second core starts on it, while the caller
// keeps its own core busy, as it does in parallelFor. "goroutine" starts a
// new goroutine, as a fork per product did, after the caller slept 2 ms or
// worked 100 µs (as between the products of a step); "crew" hands a unit
// to a helper 100 µs after its last one, within helperSpin. The metric
// start-µs is the mean delay; ns/op includes the time between. The timer
// is not stopped around that time: stopping it reads the memory
// statistics, which stops the world and deschedules the helper.
func BenchmarkStartOnIdleCore(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two Ps")
	}
	between := func(d time.Duration) {
		if d > time.Millisecond {
			time.Sleep(d)
			return
		}
		for t := time.Now(); time.Since(t) < d; {
		}
	}
	for _, d := range []time.Duration{2 * time.Millisecond, 100 * time.Microsecond} {
		b.Run("goroutine/after="+d.String(), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				between(d)
				var started atomic.Bool
				t0 := time.Now()
				go started.Store(true)
				for !started.Load() {
				}
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Nanoseconds())/1e3/float64(b.N), "start-µs")
		})
	}
	b.Run("crew/after=100µs", func(b *testing.B) {
		parallelFor(2, 2, func(int) {}) // start the helper
		var total time.Duration
		for range b.N {
			between(100 * time.Microsecond)
			var started atomic.Bool
			t0 := time.Now()
			// The caller claims unit 0 and waits in it for a helper to
			// claim unit 1.
			parallelFor(2, 2, func(u int) {
				if u == 1 {
					started.Store(true)
					return
				}
				for !started.Load() {
				}
			})
			total += time.Since(t0)
		}
		b.ReportMetric(float64(total.Nanoseconds())/1e3/float64(b.N), "start-µs")
	})
}
