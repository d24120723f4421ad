package alignment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

var (
	_ PreferenceSink = (*MemorySink)(nil)
	_ PreferenceSink = (*MultiSink)(nil)
	_ Flusher        = (*MultiSink)(nil)
	_ io.Closer      = (*MultiSink)(nil)
)

// MemorySink keeps the pairs written to it in memory, for tests and for
// programs that use the pairs themselves. Its zero value is ready to use,
// and it is safe for concurrent use.
type MemorySink struct {
	mu    sync.Mutex
	pairs []Pair
}

// Write implements PreferenceSink, keeping copies of pairs.
func (m *MemorySink) Write(ctx context.Context, pairs []Pair) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignment: memory sink: %w", err)
	}
	cp := make([]Pair, len(pairs))
	for i, p := range pairs {
		cp[i] = clonePair(p)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pairs = append(m.pairs, cp...)
	return nil
}

// Pairs returns copies of the pairs written so far, in the order written.
func (m *MemorySink) Pairs() []Pair {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Pair, len(m.pairs))
	for i, p := range m.pairs {
		out[i] = clonePair(p)
	}
	return out
}

// Len returns the number of pairs written so far.
func (m *MemorySink) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pairs)
}

// MultiSink writes every pair to several sinks, as io.MultiWriter does for
// writers. Make one with FanOut.
//
// Design choice: a failing sink does not keep the others from being
// written, flushed or closed; every sink is tried, in order, and the errors
// are joined, each naming the index of its sink. A sink that fails alone
// thus does not starve, say, the durable file behind a flaky monitor, and
// the caller still sees the failure. A MultiSink is as safe for concurrent
// use as the least safe of its sinks.
type MultiSink struct {
	sinks []PreferenceSink
}

// FanOut returns a sink that writes to each of sinks in order.
func FanOut(sinks ...PreferenceSink) *MultiSink {
	return &MultiSink{sinks: append([]PreferenceSink(nil), sinks...)}
}

// Write implements PreferenceSink. A cancelled ctx fails the call before any
// sink is written.
func (m *MultiSink) Write(ctx context.Context, pairs []Pair) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignment: fan-out sink: %w", err)
	}
	var errs []error
	for i, s := range m.sinks {
		if err := s.Write(ctx, pairs); err != nil {
			errs = append(errs, fmt.Errorf("alignment: fan-out sink %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Flush implements Flusher, flushing every sink that is a Flusher.
func (m *MultiSink) Flush(ctx context.Context) error {
	var errs []error
	for i, s := range m.sinks {
		if f, ok := s.(Flusher); ok {
			if err := f.Flush(ctx); err != nil {
				errs = append(errs, fmt.Errorf("alignment: fan-out sink %d: flush: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink that is an io.Closer.
func (m *MultiSink) Close() error {
	var errs []error
	for i, s := range m.sinks {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("alignment: fan-out sink %d: close: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// clonePair returns a deep copy of p, down to the alternatives of each token
// log-probability.
func clonePair(p Pair) Pair {
	p.Prompt = p.Prompt.Clone()
	p.Chosen = cloneResponseDeep(p.Chosen)
	p.Rejected = cloneResponseDeep(p.Rejected)
	return p
}

func cloneResponseDeep(r Response) Response {
	r.TokenLogProbs = cloneLogProbs(r.TokenLogProbs)
	r.Revisions = append([]Revision(nil), r.Revisions...)
	return r
}

func cloneLogProbs(ts []TokenLogProb) []TokenLogProb {
	if ts == nil {
		return nil
	}
	out := make([]TokenLogProb, len(ts))
	for i, t := range ts {
		t.Top = cloneLogProbs(t.Top)
		out[i] = t
	}
	return out
}
