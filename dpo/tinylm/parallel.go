package tinylm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The parallel parts of a pass run on a crew of helper goroutines that
// outlive them. Starting a goroutine for every product costs little in Go,
// but the goroutine has to land on an idle core while its caller works,
// which took about 100 µs on the 2-core VM this package is benchmarked on,
// and 1.7 ms after the process slept (BenchmarkStartOnIdleCore), longer
// than many of a step's products take on one core. So a helper that has
// finished its part spins for helperSpin before it sleeps, as OpenMP's
// threads do (GOMP_SPINCOUNT), yielding its P to any other goroutine that
// wants it every few microseconds: the products of a step follow each other
// within microseconds, and the steps of training within a millisecond (the
// optimizer, the next batch's tokens), so they find the helpers awake. The
// price is up to helperSpin of otherwise idle CPU per helper after the last
// product of a burst. The crew has GOMAXPROCS−1 helpers at most, whatever
// the number of models, and serves one caller at a time; a caller that
// finds it busy runs its work alone rather than oversubscribing the cores.
const helperSpin = time.Millisecond

// job is one call of parallelFor: units numbered from 0, claimed one at a
// time from a shared counter, so that a helper the scheduler delays leaves
// its units to the others.
type job struct {
	f       func(u int)
	units   int32
	helpers int32 // helpers numbered below it take part
	next    atomic.Int32
	done    atomic.Int32
}

// work runs units of j until none is left to claim.
func (j *job) work() {
	for {
		u := j.next.Add(1) - 1
		if u >= j.units {
			return
		}
		j.f(int(u))
		j.done.Add(1)
	}
}

type crew struct {
	busy    sync.Mutex // held by the caller whose job the helpers run
	cur     atomic.Pointer[job]
	helpers int // started, under busy

	sleep    sync.Mutex
	wake     sync.Cond // on sleep; signalled when cur changes
	sleepers int       // under sleep
}

var theCrew = &crew{}

func init() { theCrew.wake.L = &theCrew.sleep }

// parallelFor calls f(u) once for each u in [0, units), on the caller's
// goroutine and up to workers−1 helpers (fewer when GOMAXPROCS is
// smaller), and returns when every call has returned. f must not depend on
// which goroutine runs it: every unit is claimed by exactly one.
func parallelFor(units, workers int, f func(u int)) {
	workers = min(workers, units, runtime.GOMAXPROCS(0))
	if workers < 2 || !theCrew.busy.TryLock() {
		for u := range units {
			f(u)
		}
		return
	}
	c := theCrew
	defer c.busy.Unlock()
	for ; c.helpers < workers-1; c.helpers++ {
		go c.help(int32(c.helpers))
	}
	j := &job{f: f, units: int32(units), helpers: int32(workers - 1)}
	c.cur.Store(j)
	c.sleep.Lock()
	if c.sleepers > 0 {
		c.wake.Broadcast()
	}
	c.sleep.Unlock()
	j.work()
	// The units left are being run by helpers, each a short product, so
	// spinning beats sleeping; yield now and then in case a helper has no
	// core.
	for spins := 0; j.done.Load() < j.units; spins++ {
		if spins&63 == 63 {
			runtime.Gosched()
		}
	}
}

// help is the loop of helper i: run each new job, spin for the next for
// helperSpin, then sleep until one comes.
func (c *crew) help(i int32) {
	var last *job
	for {
		j := c.next(last)
		last = j
		if i < j.helpers {
			j.work()
		}
	}
}

// next returns the current job once it is not last.
func (c *crew) next(last *job) *job {
	start := time.Now()
	for spins := 0; ; spins++ {
		if j := c.cur.Load(); j != last {
			return j
		}
		if spins&255 == 255 {
			if time.Since(start) > helperSpin {
				break
			}
			// Let any other goroutine waiting for this P run.
			runtime.Gosched()
		}
	}
	c.sleep.Lock()
	defer c.sleep.Unlock()
	for {
		if j := c.cur.Load(); j != last {
			return j
		}
		c.sleepers++
		c.wake.Wait()
		c.sleepers--
	}
}

// parallelRows calls f over ranges of [0, n) that together cover it, on up
// to GOMAXPROCS goroutines (the caller's among them) when work (an
// operation count) is large enough to pay for them.
func parallelRows(n, work int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || work < parallelWork/4 {
		f(0, n)
		return
	}
	chunk := max(1, n/(4*workers))
	parallelFor((n+chunk-1)/chunk, workers, func(u int) {
		f(u*chunk, min(u*chunk+chunk, n))
	})
}
