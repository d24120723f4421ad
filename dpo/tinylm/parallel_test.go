package tinylm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

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
