package alignment_test

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// constJudge scores by text length: no allocation, no latency.
var constJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: float64(len(r.Text) % 6)}, nil
})

// BenchmarkLoopLatency measures how close the Loop comes to the ideal
// bound when every call waits a fixed latency: 500 prompts × N=4 × k=3 at
// concurrency 64, 5 ms per call. The ideal wall time is
// calls × latency ÷ concurrency; the metric wall/ideal is the figure of
// merit (target ≤ 1.05).
func BenchmarkLoopLatency(b *testing.B) {
	const (
		prompts     = 500
		n, k        = 4, 3
		concurrency = 64
		latency     = 5 * time.Millisecond
	)
	calls := prompts * (1 + n*k)
	ideal := time.Duration(calls) * latency / concurrency
	var total time.Duration
	for b.Loop() {
		faults := &alignmenttest.Faults{Delay: latency}
		loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: faults.Judge(constJudge), Prompts: genSource{prompts},
			Samples: n, JudgeSamples: k, Concurrency: concurrency}
		start := time.Now()
		if _, err := loop.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if faults.Calls() != calls {
			b.Fatalf("made %d calls, want %d", faults.Calls(), calls)
		}
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(ideal), "wall/ideal")
	b.ReportMetric(float64(timerFloor(concurrency, (calls+concurrency-1)/concurrency, latency))/float64(ideal), "timers-alone/ideal")
}

// timerFloor is the wall time of workers goroutines each sleeping rounds
// times for latency: what the machine's timers alone cost, with no Loop.
// On a loaded machine it is well above the ideal bound too.
func timerFloor(workers, rounds int, latency time.Duration) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				t := time.NewTimer(latency)
				<-t.C
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
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
