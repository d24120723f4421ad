package alignment_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// groupRecorder is a GroupTrainer (and a Trainer, as dpo.GroupTrainer is)
// that records what the Loop hands it.
type groupRecorder struct {
	mu     sync.Mutex
	groups [][]alignment.Group
	pairs  int
}

func (g *groupRecorder) TrainGroups(ctx context.Context, pol alignment.Policy, groups []alignment.Group) (alignment.Policy, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups = append(g.groups, groups)
	return pol, nil
}

func (g *groupRecorder) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pairs++
	return pol, nil
}

// A Trainer that is also a GroupTrainer learns from every judged prompt's
// scored responses, not from the selected pairs: one group per prompt, in
// prompt order, with all N responses and their scores; a prompt that failed
// gives no group.
func TestLoopGivesGroupsToGroupTrainer(t *testing.T) {
	faults := &alignmenttest.Faults{PermanentIDs: []string{"p3"}}
	tr := &groupRecorder{}
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Prompts: genSource{6}, Judge: digitJudge, Samples: 4,
		Trainer: tr, Sink: rec, Iterations: 2, Seed: 5, FailureBudget: 0.5, Concurrency: 3}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Zero(t, tr.pairs, "Train is not called when the Trainer takes groups")
	require.Len(t, tr.groups, 2)
	for it, groups := range tr.groups {
		var ids []string
		for _, g := range groups {
			ids = append(ids, g.Prompt.ID)
			assert.Equal(t, it, g.Iteration)
			require.Len(t, g.Responses, 4)
			for _, s := range g.Responses {
				assert.True(t, strings.HasPrefix(s.Response.Text, g.Prompt.ID+" answer"))
				assert.Len(t, s.Judgments, 1)
				assert.Equal(t, s.Judgments[0].Score, s.Score)
			}
		}
		assert.Equal(t, []string{"p0", "p1", "p2", "p4", "p5"}, ids, "iteration %d: prompt order, the failed prompt left out", it)
		assert.Equal(t, 1, res.Reports[it].Failed)
	}
	assert.NotEmpty(t, rec.Pairs(), "the pairs are still written to the sinks")
}

// The groups live in memory only, so a run that must resume cannot take a
// GroupTrainer yet.
func TestLoopGroupTrainerWithDir(t *testing.T) {
	loop := alignment.Loop{Policy: seedPolicy(), Prompts: genSource{2}, Judge: digitJudge, Trainer: &groupRecorder{}, Dir: t.TempDir()}
	_, err := loop.Run(t.Context())
	assert.ErrorIs(t, err, alignment.ErrInvalid)
	assert.ErrorContains(t, err, "is a GroupTrainer")
}

// A Comparer's probabilities reach the pairs as soft labels: Pair.Prob is
// the mean over its rounds of the probability that chosen beats rejected.
func TestLoopComparerSoftLabels(t *testing.T) {
	// A beats B with probability 0.8 when A's text sorts first, whatever
	// the order it is shown in.
	cmp := alignmenttest.ComparerFunc(func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
		if a.Text < b.Text {
			return alignment.Comparison{ProbA: 0.8}, nil
		}
		return alignment.Comparison{ProbA: 0.2}, nil
	})
	pol := &alignmenttest.Script{ByID: map[string][]string{"p0": {"b", "a"}, "p1": {"a", "b"}}}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("p0", "q0"), alignment.NewPrompt("p1", "q1")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: pol, Prompts: src, Comparer: cmp, Samples: 2, JudgeSamples: 2, Sink: rec}
	_, err = loop.Run(t.Context())
	require.NoError(t, err)
	pairs := rec.Pairs()
	require.Len(t, pairs, 2)
	for _, p := range pairs {
		assert.Equal(t, "a", p.Chosen.Text)
		assert.InDelta(t, 0.8, p.Prob, 1e-12, "prompt %s", p.Prompt.ID)
		assert.InDelta(t, 0.8, p.ScoreChosen, 1e-12)
	}
}
