package alignmenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// ErrInjected marks a failure injected by Faults. Transient injected
// failures also wrap alignment.ErrTransient.
var ErrInjected = errors.New("injected failure")

// Faults injects failures and delays into the calls of the implementations
// it wraps, and counts the calls. The zero value injects nothing. Set the
// fields before wrapping and leave them alone afterwards; the wrappers may
// then be called from many goroutines at once. One Faults may wrap several
// implementations, which then share its call count; use one per
// implementation to fail the nth call of each.
//
// A call first counts itself, returns the context's error if ctx is done,
// waits Delay (returning early when ctx is done), and then fails, in this
// order of precedence, when its number is in FailCalls (permanent), when it
// is about a prompt for which Permanent is true (permanent), or when the
// transient draw falls under TransientRate. Otherwise it calls the wrapped
// implementation.
//
// The transient draw hashes Seed, what the call is about (the kind of call,
// the prompt ID, the response texts, and the seed of the call:
// SampleOptions.Seed or alignment.SeedFrom) and how many times a call
// about the same thing was made before. A retried call therefore draws
// again and eventually succeeds, and which calls fail does not depend on
// goroutine scheduling.
type Faults struct {
	// FailCalls lists call numbers, counted from 1 in the order calls
	// arrive, that fail with a permanent error.
	FailCalls []int
	// TransientRate is the probability that a call fails with an error
	// wrapping alignment.ErrTransient.
	TransientRate float64
	// PermanentIDs lists prompt IDs about which every call fails with a
	// permanent error.
	PermanentIDs []string
	// PermanentRate is the fraction of prompt IDs about which every call
	// fails with a permanent error; Permanent says which.
	PermanentRate float64
	// Delay is waited before every call, as a slow backend would.
	Delay time.Duration
	// Seed selects which calls and prompts fail.
	Seed uint64

	mu        sync.Mutex
	calls     int
	attempts  map[string]int
	transient int
	permanent int
}

// Policy wraps p so that its calls go through f.
func (f *Faults) Policy(p alignment.Policy) alignment.Policy {
	return faultPolicy{f, p}
}

// Judge wraps j so that its calls go through f. The result implements
// alignment.Ranged when j does.
func (f *Faults) Judge(j alignment.Judge) alignment.Judge {
	if r, ok := j.(alignment.Ranged); ok {
		return faultRangedJudge{faultJudge{f, j}, r}
	}
	return faultJudge{f, j}
}

// Comparer wraps c so that its calls go through f.
func (f *Faults) Comparer(c alignment.Comparer) alignment.Comparer {
	return faultComparer{f, c}
}

// Refiner wraps r so that its calls go through f.
func (f *Faults) Refiner(r alignment.Refiner) alignment.Refiner {
	return faultRefiner{f, r}
}

// Sink wraps s so that its Write calls go through f; a Write is about the
// prompts of its pairs. The result implements alignment.Flusher when s
// does, and Flush is passed through without faults.
func (f *Faults) Sink(s alignment.PreferenceSink) alignment.PreferenceSink {
	if fl, ok := s.(alignment.Flusher); ok {
		return faultFlushSink{faultSink{f, s}, fl}
	}
	return faultSink{f, s}
}

// Permanent reports whether calls about the prompt with the given ID fail
// permanently: the ID is in PermanentIDs or its hash falls under
// PermanentRate.
func (f *Faults) Permanent(id string) bool {
	return slices.Contains(f.PermanentIDs, id) ||
		f.PermanentRate > 0 && unit(seeds.Derive(f.Seed, "permanent", id)) < f.PermanentRate
}

// Calls returns the number of calls made through f so far.
func (f *Faults) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Injected returns the numbers of transient and permanent failures
// injected so far.
func (f *Faults) Injected() (transient, permanent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transient, f.permanent
}

// before runs the fault rules for one call about the prompts ids, described
// by key, and returns the error to fail it with, or nil to go ahead.
func (f *Faults) before(ctx context.Context, kind string, ids []string, key string) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignmenttest: %s call %d: %w", kind, n, err)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("alignmenttest: %s call %d: %w", kind, n, ctx.Err())
		case <-t.C:
		}
	}
	about := strings.Join(ids, ",")
	if slices.Contains(f.FailCalls, n) {
		f.count(false)
		return fmt.Errorf("alignmenttest: %s call %d about %q: permanent %w", kind, n, about, ErrInjected)
	}
	for _, id := range ids {
		if f.Permanent(id) {
			f.count(false)
			return fmt.Errorf("alignmenttest: %s call %d about %q: permanent %w", kind, n, id, ErrInjected)
		}
	}
	if f.TransientRate > 0 {
		key = kind + "\x00" + about + "\x00" + key
		f.mu.Lock()
		if f.attempts == nil {
			f.attempts = make(map[string]int)
		}
		a := f.attempts[key]
		f.attempts[key]++
		f.mu.Unlock()
		if unit(seeds.Derive(f.Seed, "transient", key, strconv.Itoa(a))) < f.TransientRate {
			f.count(true)
			return fmt.Errorf("alignmenttest: %s call %d about %q: transient %w: %w", kind, n, about, ErrInjected, alignment.ErrTransient)
		}
	}
	return nil
}

func (f *Faults) count(transient bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if transient {
		f.transient++
	} else {
		f.permanent++
	}
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

// ctxSeed describes the seed a Judge, Comparer or Refiner call carries.
func ctxSeed(ctx context.Context) string {
	if s, ok := alignment.SeedFrom(ctx); ok {
		return strconv.FormatUint(s, 10)
	}
	return "-"
}

type faultPolicy struct {
	f *Faults
	p alignment.Policy
}

func (w faultPolicy) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	key := strconv.FormatUint(o.Seed, 10) + "\x00" + strconv.Itoa(o.Count())
	if err := w.f.before(ctx, "policy", []string{p.ID}, key); err != nil {
		return nil, err
	}
	return w.p.Generate(ctx, p, o)
}

// Fingerprint is the wrapped policy's: faults change whether a call
// succeeds, never what a successful call returns.
func (w faultPolicy) Fingerprint() string { return alignment.FingerprintOf(w.p) }

type faultJudge struct {
	f *Faults
	j alignment.Judge
}

func (w faultJudge) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := w.f.before(ctx, "judge", []string{p.ID}, ctxSeed(ctx)+"\x00"+r.Text); err != nil {
		return alignment.Judgment{}, err
	}
	return w.j.Judge(ctx, p, r)
}

// Fingerprint is the wrapped judge's.
func (w faultJudge) Fingerprint() string { return alignment.FingerprintOf(w.j) }

type faultRangedJudge struct {
	faultJudge
	r alignment.Ranged
}

func (w faultRangedJudge) ScoreRange() (lo, hi float64) { return w.r.ScoreRange() }

type faultComparer struct {
	f *Faults
	c alignment.Comparer
}

func (w faultComparer) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if err := w.f.before(ctx, "comparer", []string{p.ID}, ctxSeed(ctx)+"\x00"+a.Text+"\x00"+b.Text); err != nil {
		return alignment.Comparison{}, err
	}
	return w.c.Compare(ctx, p, a, b)
}

// Fingerprint is the wrapped comparer's.
func (w faultComparer) Fingerprint() string { return alignment.FingerprintOf(w.c) }

type faultRefiner struct {
	f *Faults
	r alignment.Refiner
}

func (w faultRefiner) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	key := ctxSeed(ctx) + "\x00" + strconv.Itoa(len(r.Revisions)) + "\x00" + r.Text
	if err := w.f.before(ctx, "refiner", []string{p.ID}, key); err != nil {
		return alignment.Response{}, err
	}
	return w.r.Refine(ctx, p, r)
}

// Fingerprint is the wrapped refiner's.
func (w faultRefiner) Fingerprint() string { return alignment.FingerprintOf(w.r) }

type faultSink struct {
	f *Faults
	s alignment.PreferenceSink
}

func (w faultSink) Write(ctx context.Context, pairs []alignment.Pair) error {
	ids := make([]string, len(pairs))
	for i, p := range pairs {
		ids[i] = p.Prompt.ID
	}
	if err := w.f.before(ctx, "sink", ids, strconv.Itoa(len(pairs))); err != nil {
		return err
	}
	return w.s.Write(ctx, pairs)
}

type faultFlushSink struct {
	faultSink
	fl alignment.Flusher
}

func (w faultFlushSink) Flush(ctx context.Context) error { return w.fl.Flush(ctx) }
