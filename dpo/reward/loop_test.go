package reward_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo/reward"
)

// A trained reward model judges a Loop's responses within the range it
// states, and the Loop's pairs prefer what the model learned to prefer.
func TestJudgesALoop(t *testing.T) {
	rm, err := reward.New(&reward.Options{Seed: 1})
	require.NoError(t, err)
	_, err = rm.Fit(t.Context(), []alignment.Pair{
		{Prompt: alignment.NewPrompt("a", "hello!"), Chosen: alignment.Response{Text: "hello to you!"}, Rejected: alignment.Response{Text: "ugh, hello."}},
		{Prompt: alignment.NewPrompt("b", "good night!"), Chosen: alignment.Response{Text: "good night to you!"}, Rejected: alignment.Response{Text: "ugh, night."}, Prob: 0.8},
	})
	require.NoError(t, err)
	prompts, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("c", "good morning!"), alignment.NewPrompt("d", "hi there!")})
	require.NoError(t, err)
	var sink alignment.MemorySink
	_, err = (&alignment.Loop{
		Policy:  &alignmenttest.Script{Default: []string{"ugh, morning.", "good morning to you!"}},
		Prompts: prompts, Judge: rm, Sink: &sink, Samples: 2,
	}).Run(t.Context())
	require.NoError(t, err)
	pairs := sink.Pairs()
	require.Len(t, pairs, 2)
	for _, p := range pairs {
		assert.Equal(t, "good morning to you!", p.Chosen.Text, p.Prompt.ID)
		assert.Greater(t, p.ScoreChosen, p.ScoreRejected)
		assert.True(t, p.ScoreChosen <= 1 && p.ScoreRejected >= 0, "scores within ScoreRange")
	}
}

// A Loop with Dir judged by a reward model resumes with that model loaded
// from its file, and refuses one trained again on other pairs.
func TestLoopDirResumesOnlyWithTheSameRewardModel(t *testing.T) {
	train := func(pairs []alignment.Pair) *reward.Model {
		rm, err := reward.New(&reward.Options{Seed: 1})
		require.NoError(t, err)
		_, err = rm.Fit(t.Context(), pairs)
		require.NoError(t, err)
		return rm
	}
	labels := []alignment.Pair{
		{Prompt: alignment.NewPrompt("a", "hello!"), Chosen: alignment.Response{Text: "hello to you!"}, Rejected: alignment.Response{Text: "ugh, hello."}},
		{Prompt: alignment.NewPrompt("b", "good night!"), Chosen: alignment.Response{Text: "good night to you!"}, Rejected: alignment.Response{Text: "ugh, night."}, Prob: 0.8},
	}
	dir := t.TempDir()
	rmPath := filepath.Join(t.TempDir(), "reward.bin")
	require.NoError(t, train(labels).SaveFile(rmPath))
	loop := func(judge alignment.Judge, iterations int) *alignment.Loop {
		prompts, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("c", "good morning!"), alignment.NewPrompt("d", "hi there!")})
		require.NoError(t, err)
		return &alignment.Loop{Policy: &alignmenttest.Script{Default: []string{"ugh, morning.", "good morning to you!"}},
			Prompts: prompts, Judge: judge, Samples: 2, Dir: dir, Iterations: iterations}
	}
	rm, err := reward.LoadFile(rmPath)
	require.NoError(t, err)
	_, err = loop(rm, 1).Run(t.Context())
	require.NoError(t, err)

	_, err = loop(train(labels[:1]), 2).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.ErrorContains(t, err, "judge reward.Model sha256:")

	again, err := reward.LoadFile(rmPath)
	require.NoError(t, err)
	res, err := loop(again, 2).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Restored)
	assert.Len(t, res.Reports, 2)
}
