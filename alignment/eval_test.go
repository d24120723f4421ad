package alignment_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// staged is a policy that answers from the script of its stage; training
// moves it to the next stage.
type staged struct {
	stage   int
	scripts []*alignmenttest.Script
}

func (s *staged) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	return s.scripts[min(s.stage, len(s.scripts)-1)].Generate(ctx, p, o)
}

type stageTrainer struct{}

func (stageTrainer) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	s := p.(*staged)
	return &staged{stage: s.stage + 1, scripts: s.scripts}, nil
}

// evalCase is a run small enough to work its held-out figures out by
// hand: two held-out prompts, two samples each, one iteration, and a
// training step between the first evaluation and the final one. The
// script answers position s with texts[(seed + s) mod 2], and the
// evaluation's seed does not depend on the iteration, so the samples at
// one position are "bad answer"/"good answer", "ok answer"/"ok answer",
// "fine"/"worse" and "fine"/"fine" in both evaluations.
func evalCase(cmp alignment.Comparer) (*alignment.Loop, error) {
	scores := alignmenttest.Scores{"bad answer": 1, "ok answer": 3, "good answer": 5, "fine": 3, "worse": 2, "x": 1, "y": 2}
	pol := &staged{scripts: []*alignmenttest.Script{
		{ByID: map[string][]string{"h1": {"bad answer", "ok answer"}, "h2": {"fine", "fine"}, "t": {"x", "y"}}},
		{ByID: map[string][]string{"h1": {"good answer", "ok answer"}, "h2": {"worse", "fine"}, "t": {"x", "y"}}},
	}}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("t", "train")})
	if err != nil {
		return nil, err
	}
	return &alignment.Loop{Policy: pol, Judge: scores, Prompts: src, Samples: 2, Trainer: stageTrainer{}, Seed: 3,
		Eval: &alignment.Evaluation{Prompts: []alignment.Prompt{alignment.NewPrompt("h1", "q1"), alignment.NewPrompt("h2", "q2")},
			Judge: scores, Comparer: cmp}}, nil
}

func sampleTexts(r alignment.EvalResult) []string {
	var out []string
	for _, s := range r.Samples {
		out = append(out, s.Text)
	}
	return out
}

func TestEvalFiguresByHand(t *testing.T) {
	loop, err := evalCase(nil)
	require.NoError(t, err)
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 1)

	first := res.Reports[0].Eval
	require.NotNil(t, first)
	assert.Equal(t, 0, first.Iteration)
	assert.Equal(t, 2, first.Prompts)
	assert.Equal(t, 4, first.Judgments)
	assert.Equal(t, 2.5, first.MeanScore, "(1 + 3 + 3 + 3) / 4")
	assert.Equal(t, first.Score.Mean, first.MeanScore)
	assert.Equal(t, 1.5, first.MeanLength, "(2 + 2 + 1 + 1) / 4")
	assert.Equal(t, [2]float64{1, 5}, [2]float64{first.ScoreLo, first.ScoreHi}, "the Scores judge's range")
	assert.Zero(t, first.Saturation)
	assert.Nil(t, first.WinRate, "nothing to compare the first policy with")
	assert.Empty(t, first.Alarms)
	h1, h2 := first.Results[0], first.Results[1]
	assert.Equal(t, "h1", h1.PromptID)
	assert.ElementsMatch(t, []string{"bad answer", "ok answer"}, sampleTexts(h1))
	assert.Equal(t, 0.75, *h1.Distinct1, "bad, answer, ok: 3 of 4 words")
	assert.Equal(t, 1.0, *h1.Distinct2)
	assert.Zero(t, h1.Duplicates)
	assert.Equal(t, 0.5, *h2.Distinct1)
	assert.Nil(t, h2.Distinct2, "one-word samples have no bigram")
	assert.Equal(t, 1.0, h2.Duplicates)
	assert.Equal(t, 0.625, first.Diversity.Distinct1.Mean)
	assert.Equal(t, 1, first.Diversity.Distinct2.N)
	assert.Equal(t, 0.5, first.Diversity.Duplicates.Mean)

	final := res.Final
	require.NotNil(t, final)
	assert.Equal(t, 1, final.Iteration)
	assert.Equal(t, 3.25, final.MeanScore, "(5 + 3 + 2 + 3) / 4")
	assert.Equal(t, 0.25, final.Saturation, "one 5 in the top tenth of [1, 5]")
	require.NotNil(t, final.WinRate)
	// h1: good beats bad (1), ok ties ok (½); h2: worse loses to fine (0),
	// fine ties fine (½).
	assert.Equal(t, 0.5, *final.WinRate)
	assert.Equal(t, 4, final.Compared)
	assert.Equal(t, 0.75, *final.Results[0].WinRate)
	assert.Equal(t, 0.25, *final.Results[1].WinRate)
	assert.Equal(t, []string{"1:plateau/win_rate"}, signalsOf(final.Alarms), "no better than before, but the run was over: no stop")
	assert.Nil(t, res.Stopped)

	for i, s := range final.Results[0].Samples {
		old := first.Results[0].Samples[i]
		assert.Equal(t, old.Text == "bad answer", s.Text == "good answer", "samples are matched by position under common seeds")
	}
}

func TestEvalWinRateFromComparer(t *testing.T) {
	var calls []string
	cmp := alignmenttest.ComparerFunc(func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
		calls = append(calls, p.ID+": "+a.Text+" vs "+b.Text)
		if _, ok := alignment.SeedFrom(ctx); !ok {
			t.Error("comparer called without a seed")
		}
		c, err := alignmenttest.Scores{"bad answer": 1, "ok answer": 3, "good answer": 5, "fine": 3, "worse": 2}.Compare(ctx, p, a, b)
		if a.Text == "ok answer" {
			c.ProbA = 0.9 // a comparer with its own opinion
		}
		return c, err
	})
	loop, err := evalCase(cmp)
	require.NoError(t, err)
	loop.Concurrency = 1
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	final := res.Final
	require.NotNil(t, final.WinRate)
	assert.InDelta(t, (1+0.9+0+0.5)/4, *final.WinRate, 1e-15)
	assert.Equal(t, 4, final.Compared)
	assert.Equal(t, 4+4, final.Judgments, "four judge calls and four comparisons")
	assert.ElementsMatch(t, []string{"h1: good answer vs bad answer", "h1: ok answer vs ok answer", "h2: worse vs fine", "h2: fine vs fine"}, calls,
		"the new sample comes first")
}

// noisyEvalLoop is a run whose every figure depends on seeds: the policy
// samples by seed, the judges add seed noise, and training changes the
// policy by what it was given.
func noisyEvalLoop(dir string, prompts, concurrency int, slow time.Duration) *alignment.Loop {
	judge := alignment.Judge(digitJudge)
	if slow > 0 {
		judge = (&alignmenttest.Faults{Delay: slow}).Judge(digitJudge)
	}
	return &alignment.Loop{Policy: newVersioned(1), Judge: judge, Prompts: genSource{prompts}, Iterations: 3,
		Trainer: &bumpTrainer{}, Dir: dir, Concurrency: concurrency, Seed: 77, JudgeSamples: 2,
		Eval:       &alignment.Evaluation{Prompts: heldOut(12), Judge: judge, Samples: 3, JudgeSamples: 2},
		Safeguards: alignment.Safeguards{PlateauWinRate: -1, Reference: digitJudge, Probes: gradeProbes()}}
}

func stripAll(r alignment.Report) alignment.Report {
	r = stripTimes(r)
	r.Eval = stripEval(r.Eval)
	return r
}

func stripEval(e *alignment.EvalReport) *alignment.EvalReport {
	if e == nil {
		return nil
	}
	c := *e
	c.Elapsed = 0
	return &c
}

func stripResult(res alignment.Result) ([]alignment.Report, *alignment.EvalReport) {
	var reps []alignment.Report
	for _, r := range res.Reports {
		reps = append(reps, stripAll(r))
	}
	return reps, stripEval(res.Final)
}

func TestEvalDeterministicAtAnyConcurrency(t *testing.T) {
	one, err := noisyEvalLoop("", 120, 1, 0).Run(t.Context())
	require.NoError(t, err)
	many, err := noisyEvalLoop("", 120, 16, 0).Run(t.Context())
	require.NoError(t, err)
	require.Len(t, one.Reports, 3)
	wantReps, wantFinal := stripResult(one)
	gotReps, gotFinal := stripResult(many)
	assert.Equal(t, wantReps, gotReps)
	assert.Equal(t, wantFinal, gotFinal)
	for _, r := range one.Reports[1:] {
		require.NotNil(t, r.Eval.WinRate)
		assert.Equal(t, 36, r.Eval.Compared, "12 prompts × 3 samples")
	}
	assert.NotEqual(t, one.Reports[0].Eval.Results, one.Reports[1].Eval.Results, "training changed the policy")

	other := noisyEvalLoop("", 120, 4, 0)
	other.Seed++
	res, err := other.Run(t.Context())
	require.NoError(t, err)
	assert.NotEqual(t, one.Reports[0].Eval.Results, res.Reports[0].Eval.Results, "the seed matters")
}

func TestEvalSurvivesResume(t *testing.T) {
	want, err := noisyEvalLoop(t.TempDir(), 60, 8, 0).Run(t.Context())
	require.NoError(t, err)
	wantReps, wantFinal := stripResult(want)

	dir := t.TempDir()
	// Stop the run in the middle of the first two evaluations, then at
	// moments spread over the rest of it.
	for _, at := range []int{0, 1} {
		ctx, cancel := context.WithCancel(t.Context())
		loop := noisyEvalLoop(dir, 60, 8, time.Millisecond)
		var done bool
		loop.Observer = alignment.ObserverFunc(func(e alignment.Event) {
			switch {
			case e.Kind == alignment.EvaluationStarted && e.Iteration == at:
				cancel()
			case e.Kind == alignment.EvaluationDone && e.Iteration == at:
				done = true
			}
		})
		_, err := loop.Run(ctx)
		cancel()
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, done, "stopped during the evaluation of iteration %d", at)
	}
	var got alignment.Result
	stops := 2
	for ; stops < 60; stops++ {
		// Each attempt runs a little longer than the one before, so that
		// stops land in every phase and the run eventually finishes.
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(30+8*stops)*time.Millisecond)
		got, err = noisyEvalLoop(dir, 60, 8, time.Millisecond).Run(ctx)
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.NoError(t, err)
	assert.Greater(t, stops, 3, "the run was interrupted several times")
	gotReps, gotFinal := stripResult(got)
	assert.Equal(t, wantReps, gotReps)
	assert.Equal(t, wantFinal, gotFinal)

	// Running the finished directory again restores the reports and the
	// final evaluation without evaluating anything.
	var evaluated int
	again := noisyEvalLoop(dir, 60, 8, 0)
	again.Observer = alignment.ObserverFunc(func(e alignment.Event) {
		if e.Kind == alignment.EvaluationStarted {
			evaluated++
		}
	})
	res, err := again.Run(t.Context())
	require.NoError(t, err)
	againReps, againFinal := stripResult(res)
	assert.Equal(t, wantReps, againReps)
	assert.Equal(t, wantFinal, againFinal)
	assert.Zero(t, evaluated)

	// The journal holds each evaluation once, in an opened record, and
	// the samples nowhere else.
	journal, err := os.ReadFile(filepath.Join(dir, alignment.ProgressFile))
	require.NoError(t, err)
	sample := want.Reports[1].Eval.Results[0].Samples[0].Text
	assert.Equal(t, 1, strings.Count(string(journal), `"text":"`+sample+`"`))
	assert.Equal(t, 4, strings.Count(string(journal), `"kind":"opened"`), "three iterations and the final policy")
}

func TestEvalPlateauStopSurvivesRerun(t *testing.T) {
	dir := t.TempDir()
	c := &course{grade: func(v int) int { return min(v, 1) }}
	run := func() (alignment.Result, *gradeTrainer) {
		loop, tr, _ := gradedLoop(c, 5)
		loop.Dir = dir
		res, err := loop.Run(t.Context())
		require.NoError(t, err)
		return res, tr
	}
	first, tr := run()
	require.NotNil(t, first.Stopped)
	assert.Equal(t, 2, tr.calls)
	again, tr := run()
	assert.Zero(t, tr.calls, "a stopped run stays stopped")
	assert.Equal(t, first.Stopped, again.Stopped)
	wantReps, wantFinal := stripResult(first)
	gotReps, gotFinal := stripResult(again)
	assert.Equal(t, wantReps, gotReps)
	assert.Equal(t, wantFinal, gotFinal)
	assert.Equal(t, 2, again.Policy.(*graded).version, "the policy the run ended with, trained twice")

	// With the check off, the run goes on from where it stopped.
	loop, tr, _ := gradedLoop(c, 5)
	loop.Dir = dir
	loop.Safeguards.PlateauWinRate = -1
	more, err := loop.Run(t.Context())
	require.NoError(t, err)
	assert.Nil(t, more.Stopped)
	assert.Len(t, more.Reports, 5)
	assert.Equal(t, 3, tr.calls, "iterations 2, 3 and 4")
	moreReps, _ := stripResult(more)
	assert.Equal(t, wantReps, moreReps[:2], "the first two iterations are restored as they were")

	// A yield stop, recorded in the last finished iteration, holds too.
	ydir := t.TempDir()
	yc := &course{repeat: func(v int) bool { return v >= 1 }}
	runY := func() (alignment.Result, *gradeTrainer) {
		loop, tr, _ := gradedLoop(yc, 4)
		loop.Dir = ydir
		res, err := loop.Run(t.Context())
		require.NoError(t, err)
		return res, tr
	}
	y1, _ := runY()
	require.NotNil(t, y1.Stopped)
	assert.Equal(t, "yield", y1.Stopped.Signal)
	y2, tr := runY()
	assert.Zero(t, tr.calls)
	assert.Equal(t, y1.Stopped, y2.Stopped)
	assert.Equal(t, stripEval(y1.Final), stripEval(y2.Final))
}

func TestEvalFailureStopsTheRun(t *testing.T) {
	loop, _, _ := gradedLoop(&course{}, 2)
	loop.Eval.Judge = alignmenttest.Scores{}
	_, err := loop.Run(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)
	assert.Contains(t, err.Error(), "evaluating the policy of iteration 0 on held-out prompt")

	loop, _, _ = gradedLoop(&course{}, 2)
	faults := &alignmenttest.Faults{TransientRate: 0.3, Seed: 4}
	loop.Eval.Judge = faults.Judge(gradeJudge)
	loop.Retry = fastRetry()
	res, err := loop.Run(t.Context())
	require.NoError(t, err, "transient failures are retried")
	transient, _ := faults.Injected()
	require.Positive(t, transient)
	assert.Equal(t, transient, res.Reports[0].Eval.Retries+res.Reports[1].Eval.Retries+res.Final.Retries)
}
