package taskworld

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/judge"
)

func TestEFT(t *testing.T) {
	for _, n := range []int{1, 2, 100, MaxEFT} {
		w, err := New(3, &Options{EFT: n})
		require.NoError(t, err)
		es := w.EFT()
		require.Len(t, es, n, "the budget of labelled judgments")
		train := map[string]bool{}
		for _, x := range w.Train() {
			train[x.Prompt.Text()] = true
		}
		tasks := map[string][]Kind{}
		for _, e := range es {
			rsp := alignment.Response{Text: e.Response}
			assert.True(t, train[e.Task.Text()], "seed prompt %q is a training prompt", e.Task.Text())
			assert.Equal(t, Score(e.Task, rsp), e.Score, "labelled by the rules")
			assert.Equal(t, w.JudgeFormat().Prompt(e.Task, rsp), e.Prompt, "rendered in the judge's format")
			c, err := w.JudgeFormat().Completion(e.Score)
			require.NoError(t, err)
			assert.Equal(t, c, e.Completion)
			assert.Contains(t, e.Prompt.Text(), e.Response, "the whole response is in the judge prompt")
			tasks[e.Task.ID] = append(tasks[e.Task.ID], e.Kind)
		}
		assert.Len(t, tasks, (n+eftResponses-1)/eftResponses, "three responses per seed prompt")
		for id, ks := range tasks {
			assert.Contains(t, ks, KindGood, "seed prompt %s has a good response", id)
			slices.Sort(ks)
			assert.Len(t, slices.Compact(ks), len(ks), "seed prompt %s has distinct kinds", id)
		}
		again, err := New(3, &Options{EFT: n})
		require.NoError(t, err)
		assert.Equal(t, es, again.EFT(), "the same seed gives the same examples")
	}
	w, err := New(3, nil)
	require.NoError(t, err)
	assert.Empty(t, w.EFT(), "no EFT by default")
}

func TestEFTLabelsSpread(t *testing.T) {
	w, err := New(1, &Options{EFT: MaxEFT})
	require.NoError(t, err)
	labels := map[float64]int{}
	for _, e := range w.EFT() {
		labels[e.Score]++
	}
	assert.Equal(t, MaxEFT/eftResponses, labels[MaxScore], "one good response per seed prompt")
	assert.GreaterOrEqual(t, len(labels), 4, "labels %v: the judge must learn more than good or bad", labels)
}

func TestVocabularyCoversEFT(t *testing.T) {
	plain, err := New(2, nil)
	require.NoError(t, err)
	w, err := New(2, &Options{EFT: 30})
	require.NoError(t, err)
	v := w.Vocabulary()
	for _, e := range w.EFT() {
		for _, tok := range append(split(e.Prompt.Text()), split(e.Completion)...) {
			assert.Contains(t, v, tok)
		}
	}
	for _, s := range w.JudgeFormat().Scores() {
		c, err := w.JudgeFormat().Completion(s)
		require.NoError(t, err)
		assert.Contains(t, v, c, "every score can be said")
	}
	assert.Subset(t, v, plain.Vocabulary())
	assert.NotContains(t, plain.Vocabulary(), "score", "a world without EFT keeps its vocabulary")
}

func TestGold(t *testing.T) {
	w, err := New(4, &Options{EFT: MaxEFT, HeldOut: 50})
	require.NoError(t, err)
	gold := w.Gold()
	require.Len(t, gold, 100, "two responses per held-out prompt")
	held := map[string]bool{}
	for _, x := range w.HeldOut() {
		held[x.Prompt.ID+" "+x.Prompt.Text()] = true
	}
	seedPrompts := map[string]bool{}
	for _, e := range w.EFT() {
		seedPrompts[e.Task.Text()] = true
	}
	differ := 0
	for i, g := range gold {
		assert.True(t, held[g.Prompt.ID+" "+g.Prompt.Text()], "gold %d is a held-out prompt", i)
		assert.False(t, seedPrompts[g.Prompt.Text()], "gold %d is not an EFT seed prompt", i)
		assert.Equal(t, Score(g.Prompt, g.Response), g.Label, "gold %d is labelled by the rules", i)
		if i%2 == 1 {
			assert.Equal(t, gold[i-1].Prompt.ID, g.Prompt.ID, "a pair shares its prompt")
			if gold[i-1].Label != g.Label {
				differ++
			}
		}
	}
	assert.Greater(t, differ, 25, "most pairs have a better response")
	assert.Equal(t, gold, w.Gold(), "the gold set is fixed")
	// A judge that knows the rules is perfect on it.
	c, err := judge.Calibrate(t.Context(), judge.Func(func(_ context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: Score(p, r)}, nil
	}), gold)
	require.NoError(t, err)
	assert.Equal(t, differ, c.Pairs)
	assert.Equal(t, 1.0, c.PairwiseAccuracy)
}

// FineTune trains on the EFT examples with the corpus: the model learns to
// give higher scores to the responses the rules prefer.
func TestFineTuneTeachesJudging(t *testing.T) {
	w, err := New(1, &Options{Train: 40, HeldOut: 20, Examples: 160, EFT: 120})
	require.NoError(t, err)
	m, _, err := FineTune(t.Context(), w, tinylm.Config{Context: JudgeContext, Embed: 16, Hidden: 64, Seed: 1}, 6, 1)
	require.NoError(t, err)
	j, err := judge.NewExpected(m, w.JudgeFormat())
	require.NoError(t, err)
	c, err := judge.Calibrate(t.Context(), j, w.Gold())
	require.NoError(t, err)
	assert.Greater(t, c.PairwiseAccuracy, 0.7, "gold pairwise accuracy after EFT")

	plain, err := New(1, &Options{Train: 40, HeldOut: 20, Examples: 160})
	require.NoError(t, err)
	m, _, err = FineTune(t.Context(), plain, tinylm.Config{Context: JudgeContext, Embed: 16, Hidden: 64, Seed: 1}, 6, 1)
	require.NoError(t, err)
	_, ok := m.Tokenizer().ID("score")
	assert.False(t, ok, "without EFT the model never sees a judge prompt")
}
