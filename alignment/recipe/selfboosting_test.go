package recipe_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/recipe"
)

// learnedImprover is a scripted improver model: it rewrites the response
// on the last line of its prompt, naming what it was fine-tuned on.
type learnedImprover struct{ trainedOn []alignment.Example }

func (m *learnedImprover) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	lines := strings.Split(p.Text(), "\n")
	text := fmt.Sprintf("%s, improved after %d examples", lines[len(lines)-1], len(m.trainedOn))
	out := make([]alignment.Response, max(o.N, 1))
	for i := range out {
		out[i] = alignment.Response{Text: text}
	}
	return out, nil
}

// improverSFT records the examples of every TrainSFT call.
type improverSFT struct {
	mu    sync.Mutex
	calls [][]alignment.Example
}

func (s *improverSFT) TrainSFT(ctx context.Context, pol alignment.Policy, ex []alignment.Example) (alignment.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := pol.(*learnedImprover); len(m.trainedOn) > 0 {
		return nil, fmt.Errorf("improverSFT: the improver was trained before")
	}
	s.calls = append(s.calls, slices.Clone(ex))
	return &learnedImprover{trainedOn: slices.Clone(ex)}, nil
}

// TestSelfBoostingRelearnsItsImprover: SynPO re-learns the improver every
// iteration from a fresh copy, on (the iteration's policy's answer to a
// seed prompt → its gold response), and rewrites with it.
func TestSelfBoostingRelearnsItsImprover(t *testing.T) {
	texts := func(v int, id string) []string { return []string{fmt.Sprintf("v%d answer to %s", v, id)} }
	sft := &improverSFT{}
	fresh := 0
	gold := []alignment.Example{
		{Prompt: alignment.NewPrompt("g1", "question g1"), Completion: "gold g1"},
		{Prompt: alignment.NewPrompt("g2", "question g2"), Completion: "gold g2"},
	}
	rec := &alignmenttest.Recorder{}
	s := recipe.SelfBoosting{
		Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Trainer: &rcpTrainer{texts: texts}, Sink: rec,
			Iterations: 2, Concurrency: 4},
		NewImprover:     func() (alignment.Policy, error) { fresh++; return &learnedImprover{}, nil },
		ImproverTrainer: sft,
		Gold:            gold,
		Initial:         newRcpPolicy(0, texts),
	}
	_, err := s.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, fresh, "a fresh improver per iteration")
	require.Len(t, sft.calls, 2)
	for it, ex := range sft.calls {
		want := []alignment.Example{
			{Prompt: recipe.ImproverPrompt(gold[0].Prompt, alignment.Response{Text: fmt.Sprintf("v%d answer to g1", it)}), Completion: "gold g1"},
			{Prompt: recipe.ImproverPrompt(gold[1].Prompt, alignment.Response{Text: fmt.Sprintf("v%d answer to g2", it)}), Completion: "gold g2"},
		}
		assert.Equal(t, want, ex, "iteration %d learns from its own policy's answers", it)
	}
	var want []brief
	for it := range 2 {
		for _, id := range []string{"a", "b"} {
			want = append(want, brief{id, fmt.Sprintf("v%d answer to %s, improved after 2 examples", it, id), "v0 answer to " + id, "synpo", it})
		}
	}
	assert.Equal(t, want, briefs(rec.Pairs()))
}

// TestSelfBoostingGapFilter: a pair is kept only when the judge puts the
// chosen response more than MinGap above the rejected one.
func TestSelfBoostingGapFilter(t *testing.T) {
	texts := func(v int, id string) []string { return []string{fmt.Sprintf("v%d %s", v, id)} }
	improve := alignmenttest.Rewrites{"v0 a": "much better a", "v0 b": "slightly better b", "v0 c": "worse c"}
	rec := &alignmenttest.Recorder{}
	s := recipe.SelfBoosting{
		Base:     alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b", "c"), Sink: rec, Iterations: 1},
		Improver: improve,
		Initial:  newRcpPolicy(0, texts),
		GapJudge: alignmenttest.Scores{"much better a": 5, "v0 a": 1, "slightly better b": 2, "v0 b": 1.5, "worse c": 0, "v0 c": 1},
		MinGap:   1,
	}
	res, err := s.Run(t.Context())
	require.NoError(t, err)
	pairs := rec.Pairs()
	require.Len(t, pairs, 1, "b's gap of 0.5 and c's of −1 are at or below MinGap")
	assert.Equal(t, brief{"a", "much better a", "v0 a", "synpo", 0}, briefs(pairs)[0])
	assert.True(t, pairs[0].Scored)
	assert.Equal(t, [2]float64{5, 1}, [2]float64{pairs[0].ScoreChosen, pairs[0].ScoreRejected})
	assert.Equal(t, 1, res.Reports[0].Pairs)
}

// rcpSaver is an rcpTrainer that checkpoints the policy's version.
type rcpSaver struct{ *rcpTrainer }

func (s rcpSaver) SaveCheckpoint(ctx context.Context, p alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "version"), []byte(strconv.Itoa(p.(*rcpPolicy).version)), 0o644)
}

func (s rcpSaver) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	data, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return nil, err
	}
	v, err := strconv.Atoi(string(data))
	return newRcpPolicy(v, s.texts), err
}

// TestSelfBoostingAccumulates: each iteration trains on the pairs of
// every iteration so far, and a run resumed from its directory trains on
// the same pairs as one that was not stopped.
func TestSelfBoostingAccumulates(t *testing.T) {
	texts := func(v int, id string) []string { return []string{fmt.Sprintf("v%d answer to %s", v, id)} }
	run := func(dir string, iterations int) *rcpTrainer {
		tr := &rcpTrainer{texts: texts}
		s := recipe.SelfBoosting{
			Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Trainer: rcpSaver{tr},
				Iterations: iterations, Dir: dir},
			Improver:   alignmenttest.RefinerFunc(improved),
			Initial:    newRcpPolicy(0, texts),
			Accumulate: true,
		}
		_, err := s.Run(t.Context())
		require.NoError(t, err)
		return tr
	}
	whole := run("", 3)
	require.Len(t, whole.calls, 3)
	for it, call := range whole.calls {
		assert.Len(t, call, 2*(it+1), "iteration %d trains on the pairs of iterations 0..%d", it, it)
	}
	assert.Equal(t, briefs(whole.calls[1]), briefs(whole.calls[2][:4]))

	dir := t.TempDir()
	run(dir, 1)
	rest := run(dir, 3)
	require.Len(t, rest.calls, 2, "iterations 1 and 2")
	assert.Equal(t, briefs(whole.calls[1]), briefs(rest.calls[0]), "the pairs of iteration 0 come back from the checkpoint")
	assert.Equal(t, briefs(whole.calls[2]), briefs(rest.calls[1]))

	// Resuming without Accumulate is another training: refused.
	tr := &rcpTrainer{texts: texts}
	s := recipe.SelfBoosting{
		Base:     alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Trainer: rcpSaver{tr}, Iterations: 4, Dir: dir},
		Improver: alignmenttest.RefinerFunc(improved),
		Initial:  newRcpPolicy(0, texts),
	}
	_, err := s.Run(t.Context())
	assert.ErrorIs(t, err, alignment.ErrNotResumable)
}

func improved(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	r = r.Clone()
	r.Text += ", improved"
	return r, nil
}

func TestSelfBoostingRejectsBadSettings(t *testing.T) {
	pol := newRcpPolicy(0, func(int, string) []string { return []string{"x"} })
	base := alignment.Loop{Policy: pol, Prompts: rcpSource(t, "a")}
	gold := []alignment.Example{{Prompt: alignment.NewPrompt("g", "q"), Completion: "gold"}}
	newImp := func() (alignment.Policy, error) { return &learnedImprover{}, nil }
	for want, s := range map[string]recipe.SelfBoosting{
		"Improver is nil (and no NewImprover":        {Base: base, Initial: pol},
		"Improver is set, but NewImprover":           {Base: base, Initial: pol, Improver: alignmenttest.Rewrites{}, NewImprover: newImp, ImproverTrainer: &improverSFT{}, Gold: gold},
		"ImproverTrainer (set: false) and Gold":      {Base: base, Initial: pol, NewImprover: newImp, Gold: gold},
		"and Gold (0 examples) go together":          {Base: base, Initial: pol, NewImprover: newImp, ImproverTrainer: &improverSFT{}},
		`Gold[0] (prompt "g") has an empty`:          {Base: base, Initial: pol, NewImprover: newImp, ImproverTrainer: &improverSFT{}, Gold: []alignment.Example{{Prompt: gold[0].Prompt}}},
		"MinGap is -1":                               {Base: base, Initial: pol, Improver: alignmenttest.Rewrites{}, MinGap: -1},
		"MinGap is set, but GapJudge is nil":         {Base: base, Initial: pol, Improver: alignmenttest.Rewrites{}, MinGap: 1},
		"Accumulate is set, but Base.Trainer is nil": {Base: base, Initial: pol, Improver: alignmenttest.Rewrites{}, Accumulate: true},
	} {
		l, err := s.Loop()
		assert.Nil(t, l, want)
		require.ErrorIs(t, err, alignment.ErrInvalid, want)
		assert.ErrorContains(t, err, want)
	}
}
