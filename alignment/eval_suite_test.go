package alignment_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// suiteCase is a run whose capability suite is worked out by hand: the
// target prompt h improves at every stage, while the facts suite (f1, f2,
// judged right 1, wrong 0) is right at stage 0, half right at stage 1
// and wrong at stage 2.
func suiteCase(t *testing.T, iterations int, stop bool, dir string) *alignment.Loop {
	t.Helper()
	pol := &staged{scripts: []*alignmenttest.Script{
		{ByID: map[string][]string{"h": {"poor"}, "f1": {"right"}, "f2": {"right"}, "t": {"x", "y"}}},
		{ByID: map[string][]string{"h": {"fair"}, "f1": {"wrong"}, "f2": {"right"}, "t": {"x", "y"}}},
		{ByID: map[string][]string{"h": {"great"}, "f1": {"wrong"}, "f2": {"wrong"}, "t": {"x", "y"}}},
	}}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("t", "train")})
	require.NoError(t, err)
	style := alignmenttest.Scores{"poor": 1, "fair": 3, "great": 5, "x": 1, "y": 2}
	return &alignment.Loop{Policy: pol, Judge: style, Prompts: src, Samples: 2, Trainer: stageSaver{scripts: pol.scripts}, Seed: 3,
		Iterations: iterations, Dir: dir,
		Safeguards: alignment.Safeguards{PlateauWinRate: -1},
		Eval: &alignment.Evaluation{Prompts: []alignment.Prompt{alignment.NewPrompt("h", "style")}, Judge: style,
			Suites: []alignment.Suite{{Name: "facts", Judge: alignmenttest.Scores{"right": 1, "wrong": 0},
				Prompts: []alignment.Prompt{alignment.NewPrompt("f1", "capital"), alignment.NewPrompt("f2", "sum")}}},
			StopOnRegression: stop}}
}

// stageSaver is a stageTrainer that saves a staged policy's stage, so
// that a run in a directory resumes.
type stageSaver struct {
	stageTrainer
	scripts []*alignmenttest.Script
}

func (s stageSaver) SaveCheckpoint(ctx context.Context, p alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "stage"), []byte(strconv.Itoa(p.(*staged).stage)), 0o644)
}

func (s stageSaver) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	data, err := os.ReadFile(filepath.Join(dir, "stage"))
	if err != nil {
		return nil, err
	}
	v, err := strconv.Atoi(string(data))
	return &staged{stage: v, scripts: s.scripts}, err
}

func suiteFigures(ev *alignment.EvalReport) [3]float64 {
	s := ev.Suites[0]
	return [3]float64{s.Score.Mean, s.Baseline, s.Change}
}

func TestEvalSuiteRegressionByHand(t *testing.T) {
	res, err := suiteCase(t, 2, false, "").Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 2)
	first, second, final := res.Reports[0].Eval, res.Reports[1].Eval, res.Final
	require.Len(t, first.Suites, 1)
	s := first.Suites[0]
	assert.Equal(t, "facts", s.Name)
	assert.Equal(t, 2, s.Prompts)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{s.ScoreLo, s.ScoreHi})
	assert.Equal(t, 4, s.Score.N, "two samples of two prompts")
	assert.Equal(t, []string{"right", "right"}, sampleTexts(s.Results[0]))
	assert.Equal(t, 2+4, first.Judgments, "the target's and the suite's judge calls")
	assert.Equal(t, [3]float64{1, 1, 0}, suiteFigures(first), "the first evaluation is its own baseline")
	assert.Equal(t, [3]float64{0.5, 1, -0.5}, suiteFigures(second))
	assert.Equal(t, [3]float64{0, 1, -1}, suiteFigures(final), "the baseline stays iteration 0's")
	assert.Empty(t, first.Alarms)
	assert.Equal(t, []string{"1:regression/suite_change"}, signalsOf(second.Alarms))
	a := second.Alarms[0]
	assert.Equal(t, -0.5, a.Value)
	assert.Equal(t, -alignment.DefaultMaxDrop, a.Threshold, "a twentieth of the judge's range [0, 1]")
	assert.Contains(t, a.Reason, `capability suite "facts"`)
	assert.Equal(t, []string{"2:regression/suite_change"}, signalsOf(final.Alarms))
	assert.Nil(t, res.Stopped, "without StopOnRegression the alarm only warns")
	assert.Equal(t, 2, res.Policy.(*staged).stage)

	// A drop within MaxDrop, or a check turned off, raises nothing.
	for _, drop := range []float64{0.5, -1} {
		loop := suiteCase(t, 1, true, "")
		loop.Eval.Suites[0].MaxDrop = drop
		res, err := loop.Run(t.Context())
		require.NoError(t, err)
		assert.Empty(t, res.Final.Alarms, "MaxDrop %v", drop)
		assert.Nil(t, res.Stopped)
	}
}

func TestEvalSuiteRegressionStopsTheRun(t *testing.T) {
	res, err := suiteCase(t, 3, true, "").Run(t.Context())
	require.NoError(t, err)
	require.NotNil(t, res.Stopped)
	assert.Equal(t, alignment.AlarmRegression, res.Stopped.Kind)
	assert.Equal(t, 1, res.Stopped.Iteration)
	assert.Len(t, res.Reports, 1, "stopped before iteration 1's prompts")
	assert.Equal(t, 1, res.Policy.(*staged).stage, "the regressed policy is not trained further")
}

// TestEvalSuiteSurvivesResume: the baselines live in the journaled
// evaluations, so a run continued from a directory (here: one iteration,
// then raised to three) reports what an uninterrupted run does, and a
// stopped run stays stopped.
func TestEvalSuiteSurvivesResume(t *testing.T) {
	want, err := suiteCase(t, 3, false, "").Run(t.Context())
	require.NoError(t, err)
	wantReps, wantFinal := stripResult(want)

	dir := t.TempDir()
	_, err = suiteCase(t, 1, false, dir).Run(t.Context())
	require.NoError(t, err)
	got, err := suiteCase(t, 3, false, dir).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, got.Restored)
	gotReps, gotFinal := stripResult(got)
	assert.Equal(t, wantReps, gotReps)
	assert.Equal(t, wantFinal, gotFinal)
	journal, err := os.ReadFile(filepath.Join(dir, alignment.ProgressFile))
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(journal), `"suites":[{"name":"facts"`), "each evaluation's suite is journaled once")

	sdir := t.TempDir()
	first, err := suiteCase(t, 3, true, sdir).Run(t.Context())
	require.NoError(t, err)
	require.NotNil(t, first.Stopped)
	var evaluated int
	again := suiteCase(t, 3, true, sdir)
	again.Observer = alignment.ObserverFunc(func(e alignment.Event) {
		if e.Kind == alignment.EvaluationStarted {
			evaluated++
		}
	})
	res, err := again.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, first.Stopped, res.Stopped)
	assert.Zero(t, evaluated)

	// Another suite is another run: the directory refuses it.
	other := suiteCase(t, 3, true, sdir)
	other.Eval.Suites[0].MaxDrop = 0.9
	_, err = other.Run(t.Context())
	assert.ErrorIs(t, err, alignment.ErrNotResumable)
}

func TestEvalSuiteInvalid(t *testing.T) {
	for name, tt := range map[string]struct {
		edit func(*alignment.Evaluation)
		want string
	}{
		"no name":    {func(e *alignment.Evaluation) { e.Suites[0].Name = "" }, "Loop.Eval.Suites[0].Name is empty"},
		"same name":  {func(e *alignment.Evaluation) { e.Suites = append(e.Suites, e.Suites[0]) }, `Loop.Eval.Suites[1].Name repeats the name "facts"`},
		"no judge":   {func(e *alignment.Evaluation) { e.Suites[0].Judge = nil }, "Loop.Eval.Suites[0].Judge is nil"},
		"no prompts": {func(e *alignment.Evaluation) { e.Suites[0].Prompts = nil }, "Loop.Eval.Suites[0].Prompts is empty"},
		"same ID": {func(e *alignment.Evaluation) {
			e.Suites[0].Prompts = append(e.Suites[0].Prompts, e.Suites[0].Prompts[0])
		}, `Loop.Eval.Suites[0].Prompts[2] repeats the ID "f1"`},
	} {
		loop := suiteCase(t, 1, false, "")
		tt.edit(loop.Eval)
		_, err := loop.Run(t.Context())
		require.ErrorIs(t, err, alignment.ErrInvalid, name)
		assert.ErrorContains(t, err, tt.want, name)
	}
}
