package main

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/taskworld"
)

// lengthJudge passes (5) an answer of at most max tokens and fails (0)
// any other, counting its calls.
type lengthJudge struct {
	max   int
	calls *atomic.Int64
}

func (j lengthJudge) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	j.calls.Add(1)
	if len(tinylm.Split(r.Text)) <= j.max {
		return alignment.Judgment{Score: 5}, nil
	}
	return alignment.Judgment{Score: 0}, nil
}

func (lengthJudge) ScoreRange() (lo, hi float64) { return 0, 5 }

// deletions reports whether b is a with some of its tokens deleted, in
// order, and how many.
func deletions(a, b []string) (int, bool) {
	i := 0
	for _, w := range a {
		if i < len(b) && b[i] == w {
			i++
		}
	}
	return len(a) - len(b), i == len(b)
}

// TestEditSearchFindsMinimalRefinements: the search refines a failing
// answer by deleting tokens, one per level, so that the refinement the
// judge passes is the original less as few tokens as the judge needs;
// the pair prefers it to the original. An answer that passes is not
// searched, and a search that finds nothing stops within SPaR's budget.
func TestEditSearchFindsMinimalRefinements(t *testing.T) {
	world, err := taskworld.New(1, &taskworld.Options{Train: 24, HeldOut: 12, Examples: 200})
	require.NoError(t, err)
	model, _, err := taskworld.FineTune(t.Context(), world, tinylm.Config{Embed: 8, Hidden: 16, Seed: 1}, 1, 1)
	require.NoError(t, err)
	p := world.Train()[0].Prompt
	orig := alignment.Response{Text: world.Corpus()[0].Response}
	words := tinylm.Split(orig.Text)
	require.Greater(t, len(words), 4, orig.Text)
	ctx := alignment.WithSeed(t.Context(), 7)

	for _, need := range []int{1, 2, 3} {
		var calls atomic.Int64
		s, err := newEditSearch(model, lengthJudge{max: len(words) - need, calls: &calls})
		require.NoError(t, err)
		actor, refiner, found, err := s.SearchPairs(ctx, p, orig)
		require.NoError(t, err)
		require.True(t, found, "%d deletions", need)
		assert.Equal(t, orig.Text, actor.Rejected.Text)
		n, ok := deletions(words, tinylm.Split(actor.Chosen.Text))
		assert.True(t, ok, "%q is %q less some tokens", actor.Chosen.Text, orig.Text)
		assert.Equal(t, need, n, "one token per level")
		assert.Equal(t, [2]float64{5, 0}, [2]float64{actor.ScoreChosen, actor.ScoreRejected})
		if refiner.Chosen.Text != "" {
			assert.Equal(t, "refine:"+p.ID, refiner.Prompt.ID)
			assert.Equal(t, actor.Chosen.Text, refiner.Chosen.Text)
			assert.Greater(t, len(tinylm.Split(refiner.Rejected.Text)), len(words)-need, "a failed edit")
		}
		again, _, _, err := s.SearchPairs(ctx, p, orig)
		require.NoError(t, err)
		assert.Equal(t, actor, again, "a search is repeatable")
	}

	var calls atomic.Int64
	s, err := newEditSearch(model, lengthJudge{max: 0, calls: &calls})
	require.NoError(t, err)
	_, _, found, err := s.SearchPairs(ctx, p, orig)
	require.NoError(t, err)
	assert.False(t, found)
	assert.LessOrEqual(t, calls.Load(), int64(sparJudgments*(1+sparDepth*sparKeep*sparBranch)))

	calls.Store(0)
	s, err = newEditSearch(model, lengthJudge{max: 100, calls: &calls})
	require.NoError(t, err)
	_, _, found, err = s.SearchPairs(ctx, p, orig)
	require.NoError(t, err)
	assert.False(t, found, "the original passes")
	assert.Equal(t, int64(sparJudgments), calls.Load())

	_, err = newEditSearch(&alignmentPolicy{}, lengthJudge{calls: &calls})
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

// alignmentPolicy is a Policy that is not a tinylm model.
type alignmentPolicy struct{}

func (alignmentPolicy) Generate(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
	return nil, nil
}

func TestRecipeFindings(t *testing.T) {
	with := func(rs []trialResult, capability [][]float64, regressed [][]bool, kept []*kept) []trialResult {
		for s := range rs {
			for i := range rs[s].Points {
				c := capability[s][i]
				rs[s].Points[i].Capability = &c
				rs[s].Points[i].Regressed = regressed != nil && regressed[s][i]
			}
			if kept != nil {
				rs[s].Points[len(rs[s].Points)-1].Kept = kept[s]
			}
		}
		return rs
	}
	capA := [][]float64{{2, 2, 1.5}, {2, 2.1, 2.2}}
	arms := []arm{{Name: armOnPolicy}, {Name: armSelf}, {Name: armSPaR}, {Name: armSPaRSelf}, {Name: armSLSFT}, {Name: armSLPairs}}
	sums := summarise(arms, [][]trialResult{
		with(results([][]float64{{3, 4, 4.2}, {3, 4, 4.4}}, 7, nil), capA, [][]bool{{false, false, true}, {false, false, false}}, nil),
		with(results([][]float64{{3, 3.6, 3.2}, {3, 3.5, 3.3}}, 7, nil), capA, nil,
			[]*kept{{Iteration: 1, Score: 3.6, Fresh: 3.5, FreshLast: 3.3}, {Iteration: 1, Score: 3.5, Fresh: 3.4, FreshLast: 3.5}}),
		with(results([][]float64{{3, 3.8, 4.0}, {3, 3.7, 3.9}}, 5, nil), capA, nil, nil),
		with(results([][]float64{{3, 3.8, 4.0}, {3, 3.7, 3.9}}, 5, nil), capA, nil, nil),
		with(results([][]float64{{3, 3.5, 3.9}, {3, 3.4, 3.8}}, 7, nil), capA, nil, nil),
		with(results([][]float64{{3, 3.4, 3.6}, {3, 3.3, 3.7}}, 7, nil), capA, nil, nil),
	})
	find := func(name string) *summary {
		i := slices.IndexFunc(sums, func(s summary) bool { return s.Name == name })
		return &sums[i]
	}
	got := recipeFindings(sums, func(name string) *summary {
		if slices.ContainsFunc(sums, func(s summary) bool { return s.Name == name }) {
			return find(name)
		}
		return nil
	})
	require.Len(t, got, 5)
	assert.Equal(t, "SPaR vs on-policy, both judged by the rules: SPaR trails on-policy DPO by -0.35 at iteration 2 (sd 0.21 over seeds; ahead on 0 of 2; sign test p = 0.5)", got[0])
	assert.Equal(t, "SPaR vs self-rewarding, both self-judged: SPaR beats self-rewarding by +0.70 at iteration 2 (sd 0.14 over seeds; ahead on 2 of 2; sign test p = 0.5)", got[1])
	assert.Equal(t, "SL-CAI, fine-tuning on revisions vs DPO on revision pairs: after the SL stage (iteration 1) +0.10 (3.35 → 3.45; sd 0.00; ahead on 2 of 2; sign test p = 0.5); at the end, fine-tuning beats pairs by +0.20 at iteration 2 (sd 0.14 over seeds; ahead on 2 of 2; sign test p = 0.5)", got[2])
	assert.True(t, strings.HasPrefix(got[3], "capability suite (correctness of the held-out sums and facts, 0–5, fine-tuned model → last iteration; a regression alarm when an evaluation falls more than 0.25 below the run's first): "), got[3])
	assert.Contains(t, got[3], "on-policy 2.00 → 1.85 (-0.15, sd 0.49; fell on 1 of 2, sign test p = 1; alarm on 1 of 2 seeds); self-rewarding 2.00 → 1.85")
	assert.Contains(t, got[3], "spar 2.00 → 1.85 (-0.15, sd 0.49; fell on 1 of 2, sign test p = 1; alarm on 0 of 2 seeds)")
	assert.Equal(t, "keep-best (self-rewarding, Evaluation.KeepBest): kept iteration 1, 1 by seed; the kept policy against the last scores +0.30 on the evaluation that chose it, and +0.05 on fresh samples of the held-out prompts (sd 0.21 over seeds; ahead on 1 of 2; sign test p = 1)", got[4])

	plain := summarise([]arm{{Name: armOnPolicy}}, [][]trialResult{results([][]float64{{3, 4}}, 7, nil)})
	assert.Empty(t, recipeFindings(plain, func(string) *summary { return nil }), "no sentence without the figures")
}
