package dpo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

// TestTrainerReportsItsReference: recipes ask whether the reference is
// fixed and how many steps a Train call takes (OAIF: the initial model,
// one step per batch).
func TestTrainerReportsItsReference(t *testing.T) {
	snap, err := newTabular(completions...).Snapshot()
	require.NoError(t, err)
	for _, tt := range []struct {
		o     *dpo.TrainerOptions
		fixed bool
		steps [3]int // for 0, 16 and 17 pairs
	}{
		{nil, false, [3]int{0, 1, 2}},
		{&dpo.TrainerOptions{Reference: snap, BatchSize: 32}, true, [3]int{0, 1, 1}},
		{&dpo.TrainerOptions{Epochs: 2, BatchSize: 8}, false, [3]int{0, 4, 6}},
	} {
		tr := newTrainer(t, tt.o)
		assert.Equal(t, tt.fixed, tr.ReferenceFixed())
		assert.Equal(t, tt.steps, [3]int{tr.Steps(0), tr.Steps(16), tr.Steps(17)}, "%+v", tt.o)
	}
}

// TestTrainerRefusesThePolicyAsReference: training changes the model in
// place, so a Reference that is the model itself would move with it.
func TestTrainerRefusesThePolicyAsReference(t *testing.T) {
	m := newTabular(completions...)
	tr := newTrainer(t, &dpo.TrainerOptions{Reference: m})
	pairs := []alignment.Pair{{Prompt: alignment.NewPrompt("p", "q"), Chosen: alignment.Response{Text: completions[0]}, Rejected: alignment.Response{Text: completions[1]}}}
	_, err := tr.Train(t.Context(), m, pairs)
	assert.ErrorIs(t, err, dpo.ErrInvalid)
	assert.ErrorContains(t, err, "Snapshot")

	snap, err := m.Snapshot()
	require.NoError(t, err)
	tr = newTrainer(t, &dpo.TrainerOptions{Reference: snap})
	_, err = tr.Train(t.Context(), m, pairs)
	assert.NoError(t, err)
}
