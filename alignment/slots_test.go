package alignment_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

// Retry.CallTimeout bounds a call from when it starts: the time it waits
// for a slot behind other calls does not count. With one slot, the first
// call holds it three times the bound (it ignores its deadline and
// succeeds), while the second prompt's sampling call, instant itself,
// waits for the slot.
func TestLoopCallTimeoutExcludesTheWaitForASlot(t *testing.T) {
	const bound = 100 * time.Millisecond
	var calls atomic.Int32
	policy := holdFirst{calls: &calls, hold: 3 * bound, Policy: seedPolicy()}
	loop := alignment.Loop{Policy: policy, Judge: digitJudge, Prompts: genSource{2},
		Concurrency: 1, Retry: alignment.Retry{CallTimeout: bound}}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	assert.Zero(t, res.Reports[0].Retries, "no call ran past the bound")
	assert.Equal(t, int32(2), calls.Load())
}

// holdFirst makes the first call it gets take hold, whatever its context
// says, and then succeed.
type holdFirst struct {
	calls *atomic.Int32
	hold  time.Duration
	alignment.Policy
}

func (h holdFirst) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if h.calls.Add(1) == 1 {
		time.Sleep(h.hold)
		ctx = context.WithoutCancel(ctx)
	}
	return h.Policy.Generate(ctx, p, o)
}
