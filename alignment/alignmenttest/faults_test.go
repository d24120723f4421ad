package alignmenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func TestFaultsFailCalls(t *testing.T) {
	f := &Faults{FailCalls: []int{2, 4}}
	j := f.Judge(Scores{"x": 1})
	p := alignment.NewPrompt("p", "q")
	var failed []int
	for n := 1; n <= 5; n++ {
		_, err := j.Judge(t.Context(), p, alignment.Response{Text: "x"})
		if err != nil {
			assert.ErrorIs(t, err, ErrInjected)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			failed = append(failed, n)
		}
	}
	assert.Equal(t, []int{2, 4}, failed)
	assert.Equal(t, 5, f.Calls())
	tr, pe := f.Injected()
	assert.Equal(t, [2]int{0, 2}, [2]int{tr, pe})
}

// firstAttemptFailures calls a wrapped judge once for each response text, in
// the given order, and returns the texts whose call failed.
func firstAttemptFailures(t *testing.T, f *Faults, order []string) []string {
	j := f.Judge(JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: 1}, nil
	}))
	var out []string
	for _, text := range order {
		_, err := j.Judge(alignment.WithSeed(t.Context(), 3), alignment.NewPrompt("p", "q"), alignment.Response{Text: text})
		if err != nil {
			require.ErrorIs(t, err, alignment.ErrTransient)
			require.ErrorIs(t, err, ErrInjected)
			out = append(out, text)
		}
	}
	slices.Sort(out)
	return out
}

func TestFaultsTransientRateIsRepeatable(t *testing.T) {
	const n = 2000
	order := make([]string, n)
	for i := range order {
		order[i] = fmt.Sprint("response ", i)
	}
	a := firstAttemptFailures(t, &Faults{TransientRate: 0.3, Seed: 5}, order)
	slices.Reverse(order)
	b := firstAttemptFailures(t, &Faults{TransientRate: 0.3, Seed: 5}, order)
	assert.Equal(t, a, b, "which calls fail does not depend on call order")
	// Binomial(2000, 0.3) has a standard deviation of 20.5; 5 of them either side.
	assert.InDelta(t, 0.3*n, len(a), 103)
	c := firstAttemptFailures(t, &Faults{TransientRate: 0.3, Seed: 6}, order)
	assert.NotEqual(t, a, c, "the seed selects the failing calls")
}

func TestFaultsTransientRetrySucceeds(t *testing.T) {
	f := &Faults{TransientRate: 0.9, Seed: 1}
	pol := f.Policy(&Script{Default: []string{"x"}})
	p := alignment.NewPrompt("p", "q")
	attempts := 0
	for {
		attempts++
		require.Less(t, attempts, 500, "retries never succeed")
		_, err := pol.Generate(t.Context(), p, alignment.SampleOptions{Seed: 1})
		if err == nil {
			break
		}
		require.ErrorIs(t, err, alignment.ErrTransient)
	}
	tr, pe := f.Injected()
	assert.Equal(t, attempts-1, tr)
	assert.Zero(t, pe)
}

func TestFaultsPermanent(t *testing.T) {
	f := &Faults{PermanentIDs: []string{"chosen"}, PermanentRate: 0.05, Seed: 2}
	r := f.Refiner(Rewrites{})
	const n = 2000
	var ids []string
	for i := range n {
		id := fmt.Sprint("prompt-", i)
		_, err := r.Refine(t.Context(), alignment.NewPrompt(id, "q"), alignment.Response{Text: "x"})
		assert.Equal(t, f.Permanent(id), err != nil, id)
		if err != nil {
			assert.ErrorIs(t, err, ErrInjected)
			assert.NotErrorIs(t, err, alignment.ErrTransient)
			ids = append(ids, id)
		}
	}
	// Binomial(2000, 0.05) has a standard deviation of 9.7.
	assert.InDelta(t, 0.05*n, len(ids), 49)
	_, err := r.Refine(t.Context(), alignment.NewPrompt("chosen", "q"), alignment.Response{Text: "x"})
	assert.ErrorIs(t, err, ErrInjected)
	assert.ErrorContains(t, err, `"chosen"`)
	assert.True(t, f.Permanent("chosen"))
	assert.False(t, (&Faults{}).Permanent("chosen"))
}

func TestFaultsSink(t *testing.T) {
	rec := &Recorder{}
	f := &Faults{PermanentIDs: []string{"bad"}}
	s := f.Sink(rec)
	_, ok := s.(alignment.Flusher)
	assert.True(t, ok, "a wrapped Flusher stays a Flusher")
	require.NoError(t, s.Write(t.Context(), []alignment.Pair{{Prompt: alignment.NewPrompt("good", "q")}}))
	err := s.Write(t.Context(), []alignment.Pair{{Prompt: alignment.NewPrompt("good", "q")}, {Prompt: alignment.NewPrompt("bad", "q")}})
	assert.ErrorIs(t, err, ErrInjected)
	assert.Len(t, rec.Pairs(), 1)
	_, ok = (&Faults{}).Sink(sinkFunc(func(context.Context, []alignment.Pair) error { return nil })).(alignment.Flusher)
	assert.False(t, ok)
}

func TestFaultsDelay(t *testing.T) {
	f := &Faults{Delay: 30 * time.Millisecond}
	c := f.Comparer(Scores{"a": 1, "b": 0})
	p := alignment.NewPrompt("p", "q")
	start := time.Now()
	v, err := c.Compare(t.Context(), p, alignment.Response{Text: "a"}, alignment.Response{Text: "b"})
	require.NoError(t, err)
	assert.Equal(t, 1.0, v.ProbA)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	f.Delay = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.Compare(ctx, p, alignment.Response{Text: "a"}, alignment.Response{Text: "b"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the delay honours cancellation")
	assert.Equal(t, 2, f.Calls())
}

func TestFaultsInjectedErrorsAreNotContextErrors(t *testing.T) {
	f := &Faults{FailCalls: []int{1}}
	_, err := f.Policy(&Script{Default: []string{"x"}}).Generate(t.Context(), alignment.NewPrompt("p", "q"), alignment.SampleOptions{})
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
