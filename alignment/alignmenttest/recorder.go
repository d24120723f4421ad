package alignmenttest

import (
	"context"
	"fmt"
	"sync"

	"github.com/selfalign/selfalign/alignment"
)

var (
	_ alignment.PreferenceSink = (*Recorder)(nil)
	_ alignment.Flusher        = (*Recorder)(nil)
)

// Recorder is a PreferenceSink that keeps copies of the pairs written to it,
// for inspection with filters, as zap's observer keeps log entries. Its zero
// value is ready to use, and it is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	pairs   []alignment.Pair
	writes  int
	flushes int
	flushed int // len(pairs) at the last Flush
}

// Write implements alignment.PreferenceSink, copying pairs.
func (r *Recorder) Write(ctx context.Context, pairs []alignment.Pair) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignmenttest: recorder: %w", err)
	}
	cp := clonePairs(pairs)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pairs = append(r.pairs, cp...)
	r.writes++
	return nil
}

// Flush implements alignment.Flusher: it marks the pairs written so far as
// flushed. It works on a cancelled context too, as a final flush must.
func (r *Recorder) Flush(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
	r.flushed = len(r.pairs)
	return nil
}

// Pairs returns copies of the pairs written so far, in the order written,
// keeping those that pass every filter.
func (r *Recorder) Pairs(filters ...Filter) []alignment.Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	return filter(r.pairs, filters)
}

// Flushed returns copies of the pairs written before the last Flush that
// pass every filter: what a durable sink would hold after a crash.
func (r *Recorder) Flushed(filters ...Filter) []alignment.Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	return filter(r.pairs[:r.flushed], filters)
}

// Writes returns the number of successful Write calls.
func (r *Recorder) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Flushes returns the number of Flush calls.
func (r *Recorder) Flushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushes
}

// Filter selects recorded pairs.
type Filter func(alignment.Pair) bool

// Iteration selects the pairs of iteration i.
func Iteration(i int) Filter {
	return func(p alignment.Pair) bool { return p.Iteration == i }
}

// Source selects the pairs whose Source is s.
func Source(s string) Filter {
	return func(p alignment.Pair) bool { return p.Source == s }
}

// PromptID selects the pairs about the prompt with the given ID.
func PromptID(id string) Filter {
	return func(p alignment.Pair) bool { return p.Prompt.ID == id }
}

func filter(pairs []alignment.Pair, filters []Filter) []alignment.Pair {
	out := []alignment.Pair{}
outer:
	for _, p := range pairs {
		for _, f := range filters {
			if !f(p) {
				continue outer
			}
		}
		out = append(out, clonePair(p))
	}
	return out
}
