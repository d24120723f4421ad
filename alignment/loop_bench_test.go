package alignment_test

import (
	"cmp"
	"context"
	"math"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/seeds"
)

// constJudge scores by text length: no allocation, no latency.
var constJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: float64(len(r.Text) % 6)}, nil
})

// BenchmarkLoopLatency measures how close the Loop comes to keeping its
// call slots busy when every call waits a latency: 500 prompts × N=4 × k=3
// (6500 calls), at concurrency 64 and 256, with every call taking 5 ms, or
// a latency drawn from a log-normal distribution (median 5 ms, p99 50 ms)
// seeded by the call's own seed, so that each call takes the same time
// whatever the scheduling. Each round runs with its own Loop.Seed, so
// that the log-normal figures average over as many draws as rounds: where
// the few longest calls fall decides much of one draw's wall time.
//
// A call waits its latency in one of two ways. "timer" waits on a Go
// timer in a select with the call's context's Done. "fd" waits, on Linux,
// for a kernel timer (timerfd) to make a file readable, as a call to a
// server waits for its socket: the runtime's network poller wakes the
// call when the file is ready, where Go timers that fall due while the
// process idles are run by a poller whose sleep is counted in whole
// milliseconds — so that each burst of CPU after a round of timers
// delays the next round by its length (runtime/netpoll_epoll.go), which
// a socket's readiness does not wait for.
//
// Every round runs the Loop and then the same latencies with no Loop
// ("timers alone": as many goroutines as call slots, each taking the next
// latency of the run's calls, in an order fixed by their seeds, and
// waiting it as the fake calls wait theirs), so that both see the same
// machine and the same primitive. The metrics are wall/ideal and
// timers-alone/ideal, where ideal is the sum of the latencies ÷
// concurrency, and their ratio wall/timers-alone, the figure of merit.
// With long tails the packing of the calls into the slots depends on
// where the longest calls fall in the order, so wall/replay, against the
// timers taking the calls in the order the Loop started them, separates
// the Loop's cost from that luck. Two more pairs of metrics say where the
// wall time went: idle-slot-% is the share of the slots' time with no call
// in flight (concurrency × wall − the calls' measured durations), and
// late-µs/call how much longer, on average, a call took than its latency;
// each for the Loop and, prefixed alone-, for the timers alone.
func BenchmarkLoopLatency(b *testing.B) {
	const (
		prompts = 500
		n, k    = 4, 3
		median  = 5 * time.Millisecond
	)
	// σ of the log-normal whose p99 is 10× its median: z(0.99) = 2.3263.
	sigma := math.Log(10) / 2.3263
	for _, d := range []struct {
		name    string
		latency func(seed uint64) time.Duration
	}{
		{"fixed", func(uint64) time.Duration { return median }},
		{"lognormal", func(seed uint64) time.Duration {
			// Box-Muller on two uniforms from the seed: no allocation in
			// the call, whose cost the timers alone would not pay.
			u1 := (float64(seeds.Derive(seed, "u1")>>11) + 0.5) / (1 << 53)
			u2 := float64(seeds.Derive(seed, "u2")>>11) / (1 << 53)
			z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
			return time.Duration(float64(median) * math.Exp(sigma*z))
		}},
	} {
		for _, wait := range []string{"timer", "fd"} {
			for _, concurrency := range []int{64, 256} {
				b.Run(d.name+"/"+wait+"/concurrency="+strconv.Itoa(concurrency), func(b *testing.B) {
					calls := prompts * (1 + n*k)
					var loop, timers, replay waited
					var ideal, sum time.Duration
					for round := uint64(0); b.Loop(); round++ {
						w, err := newWaiter(wait)
						if err != nil {
							b.Skip(err)
						}
						lat := &latencies{latency: d.latency, waiter: w, drawn: make([]drawn, calls)}
						l := alignment.Loop{Policy: lat.policy(seedPolicy()), Judge: lat.judge(constJudge), Prompts: genSource{prompts},
							Samples: n, JudgeSamples: k, Concurrency: concurrency, Seed: round}
						start := time.Now()
						if _, err := l.Run(context.Background()); err != nil {
							b.Fatal(err)
						}
						loop.wall += time.Since(start)
						loop.busy += time.Duration(lat.busy.Load())
						if n := lat.made.Load(); n != int64(calls) {
							b.Fatalf("made %d calls, want %d", n, calls)
						}
						sum += lat.sum()
						ideal += lat.sum() / time.Duration(concurrency)
						timers.add(lat.timersAlone(concurrency, true))
						replay.add(lat.timersAlone(concurrency, false))
						if err := w.close(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(loop.wall)/float64(ideal), "wall/ideal")
					b.ReportMetric(float64(timers.wall)/float64(ideal), "timers-alone/ideal")
					b.ReportMetric(float64(loop.wall)/float64(timers.wall), "wall/timers-alone")
					b.ReportMetric(float64(loop.wall)/float64(replay.wall), "wall/replay")
					b.ReportMetric(loop.idle(concurrency), "idle-slot-%")
					b.ReportMetric(timers.idle(concurrency), "alone-idle-slot-%")
					b.ReportMetric(float64(loop.busy-sum)/float64(b.N*calls)/1e3, "late-µs/call")
					b.ReportMetric(float64(timers.busy-sum)/float64(b.N*calls)/1e3, "alone-late-µs/call")
				})
			}
		}
	}
}

// waited is what a run of calls took: its wall time, and the sum of the
// calls' measured durations.
type waited struct{ wall, busy time.Duration }

func (w *waited) add(x waited) { w.wall += x.wall; w.busy += x.busy }

// idle is the percentage of concurrency slots' time over the wall time
// that no call was in flight in.
func (w waited) idle(concurrency int) float64 {
	return 100 * (1 - float64(w.busy)/(float64(concurrency)*float64(w.wall)))
}

// latencies makes the calls of the policy and judge it wraps wait a
// latency drawn from the call's seed, and records what each call drew,
// in the order the calls started, in drawn, which must have room for
// every call, and the sum of the calls' measured durations in busy.
type latencies struct {
	latency func(seed uint64) time.Duration
	waiter  waiter
	made    atomic.Int64
	busy    atomic.Int64
	drawn   []drawn
}

type drawn struct {
	seed    uint64
	latency time.Duration
}

// waiter waits a latency as a backend call does, or until ctx is done.
type waiter interface {
	wait(ctx context.Context, d time.Duration) error
	// close frees what the waiter holds, once no wait is under way.
	close() error
}

// newWaiter returns the waiter named "timer" or "fd", or an error when
// the platform has no such waiter.
func newWaiter(name string) (waiter, error) {
	if name == "fd" {
		return newFDWaiter()
	}
	return timerWaiter{}, nil
}

// timerWaiter waits on a Go timer in a select with the context's Done.
type timerWaiter struct{}

func (timerWaiter) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (timerWaiter) close() error { return nil }

// timed waits d with w, and adds how long that took to *busy.
func timed(ctx context.Context, w waiter, d time.Duration, busy *atomic.Int64) error {
	start := time.Now()
	err := w.wait(ctx, d)
	busy.Add(int64(time.Since(start)))
	return err
}

// wait waits the latency of the call seeded seed, or until ctx is done.
func (l *latencies) wait(ctx context.Context, seed uint64) error {
	d := l.latency(seed)
	if i := l.made.Add(1) - 1; i < int64(len(l.drawn)) {
		l.drawn[i] = drawn{seed, d}
	}
	return timed(ctx, l.waiter, d, &l.busy)
}

func (l *latencies) policy(p alignment.Policy) alignment.Policy { return latencyPolicy{l, p} }

func (l *latencies) judge(j alignment.Judge) alignment.Judge { return latencyJudge{l, j} }

// latencyPolicy waits the latency of each call's seed, then calls Policy.
type latencyPolicy struct {
	l *latencies
	alignment.Policy
}

func (p latencyPolicy) Generate(ctx context.Context, q alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := p.l.wait(ctx, o.Seed); err != nil {
		return nil, err
	}
	return p.Policy.Generate(ctx, q, o)
}

// latencyJudge waits the latency of each call's seed, then calls Judge.
type latencyJudge struct {
	l *latencies
	j alignment.Judge
}

func (j latencyJudge) Judge(ctx context.Context, q alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	seed, _ := alignment.SeedFrom(ctx)
	if err := j.l.wait(ctx, seed); err != nil {
		return alignment.Judgment{}, err
	}
	return j.j.Judge(ctx, q, r)
}

// sum is the total latency of the calls made.
func (l *latencies) sum() time.Duration {
	var s time.Duration
	for _, d := range l.drawn {
		s += d.latency
	}
	return s
}

// timersAlone returns what workers goroutines took to wait the latencies
// drawn, each taking the next from a shared counter and waiting it as the
// fake calls do (on the same waiter, on a context that can end): what the
// machine's timers and the packing of the calls into the slots cost, with
// no Loop and no order between calls. The latencies are taken in the
// order of their seeds, one the Loop has no part in, or, unless bySeed, in
// the order the Loop started the calls (a replay), which leaves out the
// luck of where the longest calls fall and keeps only the slots the Loop
// left idle and its own cost.
func (l *latencies) timersAlone(workers int, bySeed bool) waited {
	ds := slices.Clone(l.drawn)
	if bySeed {
		slices.SortFunc(ds, func(a, b drawn) int { return cmp.Compare(a.seed, b.seed) })
	}
	var next, busy atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// A context that can end, as the Loop's calls have: a select
			// on its Done costs what theirs does, where a bare timer would
			// not. One per worker, so that no two wait on the same
			// channel, which would make the baseline slower than the
			// least the primitive costs.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := next.Add(1) - 1; i < int64(len(ds)); i = next.Add(1) - 1 {
				_ = timed(ctx, l.waiter, ds[i].latency, &busy) // ctx does not end before the workers do
			}
		})
	}
	wg.Wait()
	return waited{time.Since(start), time.Duration(busy.Load())}
}

// BenchmarkLoopOverhead measures the Loop's own cost per judged response
// with zero-latency fakes: N=4, k=3, one op = one prompt.
func BenchmarkLoopOverhead(b *testing.B) {
	for _, c := range []int{1, 8} {
		b.Run("concurrency="+strconv.Itoa(c), func(b *testing.B) {
			b.ReportAllocs()
			loop := alignment.Loop{Policy: seedPolicy(), Judge: constJudge, Prompts: genSource{b.N}, JudgeSamples: 3, Concurrency: c}
			b.ResetTimer()
			if _, err := loop.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(4*b.N), "ns/response")
		})
	}
}

// BenchmarkLoopMemory streams prompts through a Loop writing to a JSONL
// file and reports the peak live heap, to show memory does not grow with
// the number of prompts (compare the two sizes).
func BenchmarkLoopMemory(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run("prompts="+strconv.Itoa(n), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				sink, err := alignment.CreateJSONL(filepath.Join(b.TempDir(), "pairs.jsonl"), nil)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				stop := samplePeakHeap(&peak)
				loop := alignment.Loop{Policy: streamPolicy{}, Judge: constJudge, Prompts: genSource{n}, Sink: sink, Concurrency: 8}
				_, err = loop.Run(context.Background())
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if err := sink.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MiB")
		})
	}
}

// streamPolicy answers like seedPolicy but, unlike alignmenttest.Script,
// keeps no record of its calls, whose memory would grow with the prompts.
type streamPolicy struct{}

func (streamPolicy) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	out := make([]alignment.Response, o.Count())
	for k := range out {
		n := (o.Seed>>7 + uint64(k)*2654435761) % 97
		out[k] = alignment.Response{Text: p.ID + " answer " + strconv.FormatUint(n, 10)}
	}
	return out, nil
}

// samplePeakHeap records the largest live heap (as marked by the last GC)
// seen every millisecond
// until the returned function is called.
func samplePeakHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		defer close(finished)
		for !done.Load() {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() { done.Store(true); <-finished }
}
