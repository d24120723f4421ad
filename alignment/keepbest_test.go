package alignment_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// inPlaceSaver trains a staged policy in place, as dpo.Trainer trains a
// model, and saves its stage: a policy held by reference changes under
// the run, so keeping the best one needs its checkpoint.
type inPlaceSaver struct{ stageSaver }

func (inPlaceSaver) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	s := p.(*staged)
	s.stage++
	return s, nil
}

// stage is what the staged policy answers at one stage: the target
// prompt h, judged poor 1, fair 3, great 5, and the facts suite's f1 and
// f2, judged right 1, wrong 0.
type stage struct{ h, f1, f2 string }

// regressAt2 is a run whose iteration 2 regresses: its target score is the
// highest, but the facts suite falls by half. Iteration 3's policy ties
// iteration 1's, so the earliest of the two is the one kept.
var regressAt2 = []stage{{"poor", "right", "right"}, {"fair", "right", "right"}, {"great", "wrong", "right"}, {"fair", "right", "right"}}

// keepCase is a run of the staged policy through stages, with
// Evaluation.KeepBest, trained in place (or by copy), in dir.
func keepCase(t *testing.T, stages []stage, iterations int, dir string, inPlace bool) *alignment.Loop {
	t.Helper()
	var scripts []*alignmenttest.Script
	for _, s := range stages {
		scripts = append(scripts, &alignmenttest.Script{ByID: map[string][]string{"h": {s.h}, "f1": {s.f1}, "f2": {s.f2}, "t": {"x", "y"}}})
	}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("t", "train")})
	require.NoError(t, err)
	var tr alignment.Trainer = stageSaver{scripts: scripts}
	if inPlace {
		tr = inPlaceSaver{stageSaver{scripts: scripts}}
	}
	style := alignmenttest.Scores{"poor": 1, "fair": 3, "great": 5, "x": 1, "y": 2}
	return &alignment.Loop{Policy: &staged{scripts: scripts}, Judge: style, Prompts: src, Samples: 2, Trainer: tr, Seed: 3,
		Iterations: iterations, Dir: dir,
		Safeguards: alignment.Safeguards{PlateauWinRate: -1},
		Eval: &alignment.Evaluation{Prompts: []alignment.Prompt{alignment.NewPrompt("h", "style")}, Judge: style,
			Suites: []alignment.Suite{{Name: "facts", Judge: alignmenttest.Scores{"right": 1, "wrong": 0},
				Prompts: []alignment.Prompt{alignment.NewPrompt("f1", "capital"), alignment.NewPrompt("f2", "sum")}}},
			KeepBest: true}}
}

// noTemp points the temporary directory at an empty one and returns a
// check that the run left nothing there.
func noTemp(t *testing.T) func() {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return func() {
		left, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, left, "the snapshots' temporary directory is removed")
	}
}

// TestKeepBestSkipsTheRegressedIteration: iteration 2 has the highest
// target score but regressed on the facts suite, so the run returns
// iteration 1's policy (the earliest of the two that score 3), with or
// without an output directory, trained in place or not, and when
// StopOnRegression ends the run at iteration 2.
func TestKeepBestSkipsTheRegressedIteration(t *testing.T) {
	for _, tt := range []struct {
		name             string
		dir, inPlace     bool
		stop             bool
		reports, stopped int
	}{
		{name: "copying trainer", reports: 3},
		{name: "in place", inPlace: true, reports: 3},
		{name: "in place, in a directory", dir: true, inPlace: true, reports: 3},
		{name: "stopped by the regression", inPlace: true, stop: true, reports: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			left := noTemp(t)
			dir := ""
			if tt.dir {
				dir = t.TempDir()
			}
			loop := keepCase(t, regressAt2, 3, dir, tt.inPlace)
			loop.Eval.StopOnRegression = tt.stop
			res, err := loop.Run(t.Context())
			require.NoError(t, err)
			require.Len(t, res.Reports, tt.reports)
			assert.Equal(t, tt.stop, res.Stopped != nil)
			require.NotNil(t, res.Best)
			assert.Equal(t, 1, res.Best.Iteration)
			assert.Equal(t, 3.0, res.Best.MeanScore)
			assert.Same(t, res.Reports[1].Eval, res.Best)
			assert.Equal(t, 1, res.Policy.(*staged).stage, "the policy of iteration 1")
			assert.Equal(t, tt.reports, res.Final.Iteration, "Final stays the last policy's evaluation")
			left()
		})
	}

	// Without KeepBest, the run ends with its last policy.
	loop := keepCase(t, regressAt2, 3, "", true)
	loop.Eval.KeepBest = false
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	assert.Nil(t, res.Best)
	assert.Equal(t, 3, res.Policy.(*staged).stage)
}

// TestKeepBestSurvivesResume: a run continued from its directory (two
// iterations, then raised to three) and a finished run read back keep the
// policy an uninterrupted run keeps, reloaded from the directory.
func TestKeepBestSurvivesResume(t *testing.T) {
	want, err := keepCase(t, regressAt2, 3, "", true).Run(t.Context())
	require.NoError(t, err)

	dir := t.TempDir()
	first, err := keepCase(t, regressAt2, 2, dir, true).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, first.Best.Iteration, "iteration 2's final evaluation regressed")
	for _, name := range []string{"continued", "read back"} {
		got, err := keepCase(t, regressAt2, 3, dir, true).Run(t.Context())
		require.NoError(t, err, name)
		require.NotNil(t, got.Best, name)
		assert.Equal(t, stripEval(want.Best), stripEval(got.Best), name)
		assert.Equal(t, 1, got.Policy.(*staged).stage, name)
	}
}

// TestKeepBestKeepsTheFirstPolicy: when training only hurts, the run
// returns iteration 0's policy, which it saved before training changed
// it in place; a resumed run finds it as Loop.Policy, which it does not
// train.
func TestKeepBestKeepsTheFirstPolicy(t *testing.T) {
	worse := []stage{{"fair", "right", "right"}, {"poor", "right", "right"}, {"poor", "right", "right"}}
	for _, withDir := range []bool{false, true} {
		left := noTemp(t)
		dir := ""
		if withDir {
			dir = t.TempDir()
		}
		res, err := keepCase(t, worse, 2, dir, true).Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 0, res.Best.Iteration, "dir %v", withDir)
		assert.Equal(t, 0, res.Policy.(*staged).stage, "dir %v", withDir)
		left()
	}

	dir := t.TempDir()
	_, err := keepCase(t, worse, 1, dir, true).Run(t.Context())
	require.NoError(t, err)
	res, err := keepCase(t, worse, 2, dir, true).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Restored)
	assert.Equal(t, 0, res.Best.Iteration)
	assert.Equal(t, 0, res.Policy.(*staged).stage)
}

func TestKeepBestNeedsACheckpointer(t *testing.T) {
	loop := keepCase(t, regressAt2, 1, "", false)
	loop.Trainer = stageTrainer{}
	_, err := loop.Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrInvalid)
	assert.ErrorContains(t, err, "Loop.Eval.KeepBest is set, but Loop.Trainer (alignment_test.stageTrainer) is not a Checkpointer")
}
