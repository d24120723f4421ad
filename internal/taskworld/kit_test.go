package taskworld

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

func TestConstitutionJudgesLikeScore(t *testing.T) {
	c, err := Constitution()
	require.NoError(t, err)
	w, err := New(1, &Options{Train: 20, HeldOut: 5, Examples: 60})
	require.NoError(t, err)
	for _, ex := range w.Corpus() {
		r := alignment.Response{Text: ex.Response}
		j, err := c.Judge(t.Context(), ex.Prompt, r)
		require.NoError(t, err)
		assert.Equal(t, Score(ex.Prompt, r), j.Score, "%q → %q", ex.Prompt.Text(), ex.Response)
	}
}

func TestFineTuneLowersLoss(t *testing.T) {
	w, err := New(1, &Options{Train: 20, HeldOut: 5, Examples: 60})
	require.NoError(t, err)
	m, losses, err := FineTune(t.Context(), w, tinylm.Config{Embed: 8, Hidden: 16, Seed: 1}, 3, 1)
	require.NoError(t, err)
	require.Len(t, losses, 3)
	assert.Less(t, losses[2], losses[0])
	for _, task := range w.HeldOut() {
		_, _, err := m.LogProb(t.Context(), task.Prompt, "hello .")
		require.NoError(t, err, "held-out prompts are in the vocabulary")
	}
}

func TestNewKit(t *testing.T) {
	k, err := NewKit(t.Context(), 2, &Options{Train: 20, HeldOut: 5, Examples: 60}, tinylm.Config{Embed: 8, Hidden: 16}, 2)
	require.NoError(t, err)
	assert.Len(t, k.Losses, 2)
	assert.Equal(t, uint64(2), k.Model.Config().Seed, "the model is seeded with the kit's seed")
	assert.Contains(t, k.String(), "task world: 20 prompts, 5 held out")
	_, err = NewKit(t.Context(), 2, &Options{BadShare: 2}, tinylm.Config{}, 1)
	assert.ErrorIs(t, err, ErrOptions)
}
