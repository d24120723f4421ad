package alignmenttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/selfalign/selfalign/alignment"
)

// promptly is how long after cancellation a call may take to return; a
// variable so that tests of this package can shorten it.
var promptly = time.Second

// Concurrency check: goroutines each making callsPerGoroutine calls.
const (
	goroutines        = 16
	callsPerGoroutine = 4
)

// TestPolicy checks that p follows the alignment.Policy contract (see the
// package doc) and returns one error per misbehaviour, joined, or nil.
func TestPolicy(ctx context.Context, p alignment.Policy) error {
	var probes []probe
	for _, pr := range samplePrompts() {
		for _, n := range []int{0, 1, 3} {
			o := sampleOptions(n)
			probes = append(probes, probe{
				name: fmt.Sprintf("Generate(prompt %q, N=%d)", pr.ID, n),
				call: func(ctx context.Context) outcome { return generate(ctx, p, pr, o) },
			})
		}
	}
	return errors.Join(runProbes(ctx, "TestPolicy", probes)...)
}

func generate(ctx context.Context, p alignment.Policy, pr alignment.Prompt, o alignment.SampleOptions) outcome {
	pc, oc := clonePrompt(pr), o.Clone()
	out, err := p.Generate(ctx, pc, oc)
	if err != nil {
		return outcome{err: err}
	}
	var res outcome
	res.notMutated("prompt", pr, pc)
	res.notMutated("options", o, oc)
	if len(out) < 1 || len(out) > o.Count() {
		res.badf("returned %d responses, want 1 to %d", len(out), o.Count())
	}
	texts := make([]string, len(out))
	for i, r := range out {
		texts[i] = r.Text
		if r.Tokens < 0 {
			res.badf("response %d has Tokens %d < 0", i, r.Tokens)
		}
		if r.HasLogProb && (!(r.LogProb <= 0) || math.IsInf(r.LogProb, 0)) {
			res.badf("response %d has log-probability %v, want finite and <= 0", i, r.LogProb)
		}
		for j, t := range r.TokenLogProbs {
			if !(t.LogProb <= 0) || math.IsInf(t.LogProb, 0) {
				res.badf("response %d token %d has log-probability %v, want finite and <= 0", i, j, t.LogProb)
			}
		}
	}
	res.summary = fmt.Sprintf("%q", texts)
	return res
}

// TestJudge checks that j follows the alignment.Judge contract (see the
// package doc) and returns one error per misbehaviour, joined, or nil.
func TestJudge(ctx context.Context, j alignment.Judge) error {
	var errs []error
	var lo, hi float64
	rj, ranged := j.(alignment.Ranged)
	if ranged {
		lo, hi = rj.ScoreRange()
		if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) || lo > hi {
			errs = append(errs, fmt.Errorf("alignmenttest: TestJudge: ScoreRange() = [%v, %v], want finite lo <= hi", lo, hi))
			ranged = false
		}
	}
	var probes []probe
	for _, pr := range samplePrompts() {
		for _, r := range sampleResponses() {
			seed := uint64(len(probes) + 1)
			probes = append(probes, probe{
				name: fmt.Sprintf("Judge(prompt %q, response %q)", pr.ID, r.Text),
				call: func(ctx context.Context) outcome {
					return judge(alignment.WithSeed(ctx, seed), j, pr, r, ranged, lo, hi)
				},
			})
		}
	}
	return errors.Join(append(errs, runProbes(ctx, "TestJudge", probes)...)...)
}

func judge(ctx context.Context, j alignment.Judge, pr alignment.Prompt, r alignment.Response, ranged bool, lo, hi float64) outcome {
	pc, rc := clonePrompt(pr), cloneResponse(r)
	v, err := j.Judge(ctx, pc, rc)
	if err != nil {
		return outcome{err: err}
	}
	var res outcome
	res.notMutated("prompt", pr, pc)
	res.notMutated("response", r, rc)
	res.score("Score", v.Score, ranged, lo, hi)
	for i, s := range v.Samples {
		res.score(fmt.Sprintf("Samples[%d]", i), s, ranged, lo, hi)
	}
	for k, s := range v.Aspects {
		res.score(fmt.Sprintf("Aspects[%q]", k), s, false, 0, 0)
	}
	if v.Unparsed < 0 {
		res.badf("Unparsed is %d < 0", v.Unparsed)
	}
	res.summary = fmt.Sprintf("%v %v %v %q %d", v.Score, v.Samples, v.Aspects, v.Rationale, v.Unparsed)
	return res
}

// TestComparer checks that c follows the alignment.Comparer contract (see
// the package doc) and returns one error per misbehaviour, joined, or nil.
// It does not require the two presentation orders to agree: position bias is
// a quality, measured by the judge package's audits.
func TestComparer(ctx context.Context, c alignment.Comparer) error {
	var probes []probe
	rs := sampleResponses()
	for _, pr := range samplePrompts() {
		for i := range rs {
			a, b := rs[i], rs[(i+1)%len(rs)]
			seed := uint64(len(probes) + 1)
			probes = append(probes, probe{
				name: fmt.Sprintf("Compare(prompt %q, %q, %q)", pr.ID, a.Text, b.Text),
				call: func(ctx context.Context) outcome { return compare(alignment.WithSeed(ctx, seed), c, pr, a, b) },
			})
		}
	}
	return errors.Join(runProbes(ctx, "TestComparer", probes)...)
}

func compare(ctx context.Context, c alignment.Comparer, pr alignment.Prompt, a, b alignment.Response) outcome {
	pc, ac, bc := clonePrompt(pr), cloneResponse(a), cloneResponse(b)
	v, err := c.Compare(ctx, pc, ac, bc)
	if err != nil {
		return outcome{err: err}
	}
	var res outcome
	res.notMutated("prompt", pr, pc)
	res.notMutated("response a", a, ac)
	res.notMutated("response b", b, bc)
	if !(v.ProbA >= 0 && v.ProbA <= 1) {
		res.badf("ProbA is %v, want within [0, 1]", v.ProbA)
	}
	res.summary = fmt.Sprintf("%v %v %q", v.ProbA, v.Inconsistent, v.Rationale)
	return res
}

// TestRefiner checks that r follows the alignment.Refiner contract (see the
// package doc) and returns one error per misbehaviour, joined, or nil.
// Besides the common checks, the refined response must keep the input's
// Revisions as a prefix, and its Text must be that of the last new revision
// that did not fail, or the input's Text when every new revision failed or
// there is none.
func TestRefiner(ctx context.Context, r alignment.Refiner) error {
	var probes []probe
	for _, pr := range samplePrompts() {
		for _, in := range sampleResponses() {
			seed := uint64(len(probes) + 1)
			probes = append(probes, probe{
				name: fmt.Sprintf("Refine(prompt %q, response %q)", pr.ID, in.Text),
				call: func(ctx context.Context) outcome { return refine(alignment.WithSeed(ctx, seed), r, pr, in) },
			})
		}
	}
	return errors.Join(runProbes(ctx, "TestRefiner", probes)...)
}

func refine(ctx context.Context, r alignment.Refiner, pr alignment.Prompt, in alignment.Response) outcome {
	pc, ic := clonePrompt(pr), cloneResponse(in)
	out, err := r.Refine(ctx, pc, ic)
	if err != nil {
		return outcome{err: err}
	}
	var res outcome
	res.notMutated("prompt", pr, pc)
	res.notMutated("response", in, ic)
	n := len(in.Revisions)
	if len(out.Revisions) < n || !slices.Equal(out.Revisions[:n], in.Revisions) {
		res.badf("returned Revisions %+v, which do not start with the input's %+v", out.Revisions, in.Revisions)
	} else {
		want, by := in.Text, "the input's text"
		for i, v := range out.Revisions[n:] {
			if !v.Failed {
				want, by = v.Text, fmt.Sprintf("the text of new revision %d", i)
			}
		}
		if out.Text != want {
			res.badf("returned text %q, want %s %q", out.Text, by, want)
		}
	}
	res.summary = fmt.Sprintf("%q %+v", out.Text, out.Revisions)
	return res
}

// TestSink checks that s follows the alignment.PreferenceSink contract and
// returns one error per misbehaviour, joined, or nil: Write accepts nil and
// empty slices and ordinary pairs without modifying them, Flush works when
// s implements alignment.Flusher, and a cancelled context makes Write return
// an error promptly. The Loop calls a sink from one goroutine at a time, so
// TestSink does too. It writes pairs to s and leaves them flushed.
func TestSink(ctx context.Context, s alignment.PreferenceSink) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("alignmenttest: TestSink: "+format, args...))
	}
	if err := s.Write(ctx, nil); err != nil {
		fail("Write(nil): %w", err)
	}
	if err := s.Write(ctx, []alignment.Pair{}); err != nil {
		fail("Write(empty slice): %w", err)
	}
	pairs := samplePairs()
	for _, batch := range [][]alignment.Pair{pairs, pairs[1:2]} {
		cp := clonePairs(batch)
		if err := s.Write(ctx, cp); err != nil {
			fail("Write(%d ordinary pairs): %w", len(batch), err)
			continue
		}
		if !reflect.DeepEqual(cp, batch) {
			fail("Write(%d pairs) modified its pairs: got %+v, want %+v", len(batch), cp, batch)
		}
	}
	f, flusher := s.(alignment.Flusher)
	if flusher {
		if err := f.Flush(ctx); err != nil {
			fail("Flush: %w", err)
		}
	}
	write := func(ctx context.Context) outcome { return outcome{err: s.Write(ctx, clonePairs(pairs[:1]))} }
	for _, err := range cancellation(write) {
		fail("Write(1 pair): %w", err)
	}
	if flusher {
		if err := f.Flush(ctx); err != nil {
			fail("Flush after cancelled writes: %w", err)
		}
	}
	return errors.Join(errs...)
}

// probe is one kind of call of the implementation under test, on fixed
// inputs.
type probe struct {
	name string
	// call runs the implementation once on fresh copies of the inputs.
	call func(context.Context) outcome
}

// outcome is what one call did: the implementation's error, or a summary
// of its output that equal calls must reproduce and the misbehaviours seen.
type outcome struct {
	err     error
	summary string
	bad     []error
}

func (o *outcome) badf(format string, args ...any) {
	o.bad = append(o.bad, fmt.Errorf(format, args...))
}

func (o *outcome) notMutated(what string, want, got any) {
	if !reflect.DeepEqual(want, got) {
		o.badf("modified its %s: it became %+v, was %+v", what, got, want)
	}
}

func (o *outcome) score(what string, v float64, ranged bool, lo, hi float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		o.badf("%s is %v, want a finite number", what, v)
	case ranged && (v < lo || v > hi):
		o.badf("%s is %v, outside ScoreRange [%v, %v]", what, v, lo, hi)
	}
}

// runProbes makes every probe's call, twice in sequence and then from many
// goroutines, and checks cancellation on the first and last probes.
func runProbes(ctx context.Context, test string, probes []probe) []error {
	var errs []error
	fail := func(p probe, format string, args ...any) {
		errs = append(errs, fmt.Errorf("alignmenttest: %s: %s: "+format, append([]any{test, p.name}, args...)...))
	}
	want := make([]*string, len(probes))
	for i, p := range probes {
		first := p.call(ctx)
		if first.err != nil {
			fail(p, "failed on ordinary input: %w", first.err)
			continue
		}
		for _, b := range first.bad {
			fail(p, "%w", b)
		}
		again := p.call(ctx)
		switch {
		case again.err != nil:
			fail(p, "failed when repeated: %w", again.err)
		case again.summary != first.summary:
			fail(p, "not deterministic: the same inputs and seed gave %s, then %s", first.summary, again.summary)
		default:
			want[i] = &first.summary
		}
	}

	var mu sync.Mutex
	seen := make([]bool, len(probes))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for k := range callsPerGoroutine {
				i := (g*callsPerGoroutine + k) % len(probes)
				if want[i] == nil {
					continue
				}
				got := probes[i].call(ctx)
				mu.Lock()
				if !seen[i] {
					switch {
					case got.err != nil:
						seen[i] = true
						fail(probes[i], "failed under %d concurrent callers: %w", goroutines, got.err)
					case got.summary != *want[i]:
						seen[i] = true
						fail(probes[i], "gave %s under %d concurrent callers, %s alone", got.summary, goroutines, *want[i])
					case len(got.bad) > 0:
						seen[i] = true
						fail(probes[i], "under %d concurrent callers: %w", goroutines, errors.Join(got.bad...))
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	for _, p := range []probe{probes[0], probes[len(probes)-1]} {
		for _, err := range cancellation(p.call) {
			fail(p, "%w", err)
		}
	}
	return errs
}

// cancellation checks that call returns an error wrapping context.Canceled
// within promptly when its context is already cancelled, and that it
// returns within promptly of a cancellation that happens during the call.
// A call that does not return is abandoned, still running.
func cancellation(call func(context.Context) outcome) []error {
	var errs []error
	// Each check has its own context: an abandoned call still uses it.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	got, ok := within(promptly, func() outcome { return call(done) })
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("did not return within %v with an already cancelled context", promptly))
	case got.err == nil:
		errs = append(errs, errors.New("returned no error with an already cancelled context"))
	case !errors.Is(got.err, context.Canceled):
		errs = append(errs, fmt.Errorf("returned %q with an already cancelled context, want an error wrapping context.Canceled", got.err))
	}

	const after = 20 * time.Millisecond
	later, cancelLater := context.WithCancel(context.Background())
	defer cancelLater()
	time.AfterFunc(after, cancelLater)
	if _, ok := within(after+promptly, func() outcome { return call(later) }); !ok {
		errs = append(errs, fmt.Errorf("did not return within %v of its context being cancelled", promptly))
	}
	return errs
}

// within runs f and waits at most d for it to end.
func within(d time.Duration, f func() outcome) (outcome, bool) {
	done := make(chan outcome, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case o := <-done:
		return o, true
	case <-t.C:
		return outcome{}, false
	}
}
