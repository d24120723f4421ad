package alignment_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// course says how a graded policy behaves at each version: the quality
// grade of its answers, the padding words it adds, and whether all its
// samples for a prompt are the same answer. Nil functions mean grade =
// version, no padding, varied samples.
type course struct {
	grade  func(v int) int
	pad    func(v int) int
	repeat func(v int) bool
}

// graded is a policy whose k-th answer to p is "<id> grade <G> take <t>"
// followed by padding, with t = (seed + k) mod 4: the samples of one call
// differ in their take, and two versions answering with the same seed
// differ only in grade and padding, so that gradeJudge tells exactly which
// is better.
type graded struct {
	version int
	course  *course
}

var _ alignment.Policy = (*graded)(nil)

func (g *graded) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	grade, pad, repeat := g.version, 0, false
	if g.course.grade != nil {
		grade = g.course.grade(g.version)
	}
	if g.course.pad != nil {
		pad = g.course.pad(g.version)
	}
	if g.course.repeat != nil {
		repeat = g.course.repeat(g.version)
	}
	out := make([]alignment.Response, o.Count())
	for k := range out {
		t := (o.Seed + uint64(k)) % 4
		if repeat {
			t = 0
		}
		out[k] = alignment.Response{Text: fmt.Sprintf("%s grade %d take %d", p.ID, grade, t) + strings.Repeat(" more", pad)}
	}
	return out, nil
}

// gradeTrainer raises a graded policy's version by one per iteration and
// saves it in a checkpoint.
type gradeTrainer struct {
	course *course
	mu     sync.Mutex
	calls  int
}

func (tr *gradeTrainer) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	tr.mu.Lock()
	tr.calls++
	tr.mu.Unlock()
	return &graded{version: p.(*graded).version + 1, course: tr.course}, nil
}

func (tr *gradeTrainer) SaveCheckpoint(ctx context.Context, p alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "version"), []byte(strconv.Itoa(p.(*graded).version)), 0o644)
}

func (tr *gradeTrainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	data, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return nil, err
	}
	v, err := strconv.Atoi(string(data))
	return &graded{version: v, course: tr.course}, err
}

// gradeOf reads the grade and take of a graded answer.
func gradeOf(text string) (grade, take float64) {
	f := strings.Fields(text)
	for i := 0; i+1 < len(f); i++ {
		v, err := strconv.Atoi(f[i+1])
		switch {
		case err != nil:
		case f[i] == "grade":
			grade = float64(v)
		case f[i] == "take":
			take = float64(v)
		}
	}
	return grade, take
}

// gradeJudge scores a graded answer by its grade plus a quarter point per
// take, capped at 5.
var gradeJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	g, t := gradeOf(r.Text)
	return alignment.Judgment{Score: min(5, g+t/4)}, nil
})

// heldOut returns n held-out prompts.
func heldOut(n int) []alignment.Prompt {
	ps := make([]alignment.Prompt, n)
	for i := range ps {
		ps[i] = alignment.NewPrompt("h"+strconv.Itoa(i), "held-out question "+strconv.Itoa(i))
	}
	return ps
}

// gradeProbes are responses of grades 0 to 3 for judge drift checks.
func gradeProbes() []alignment.Probe {
	var ps []alignment.Probe
	for g := range 4 {
		ps = append(ps, alignment.Probe{Prompt: alignment.NewPrompt("probe"+strconv.Itoa(g), "probe"),
			Response: alignment.Response{Text: fmt.Sprintf("probe grade %d take %d", g, g%2)}})
	}
	return ps
}

// events records a run's events.
type events struct {
	mu   sync.Mutex
	list []alignment.Event
}

func (e *events) Observe(ev alignment.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) alarms() []alignment.Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []alignment.Alarm
	for _, ev := range e.list {
		if ev.Kind == alignment.AlarmRaised {
			out = append(out, *ev.Alarm)
		}
	}
	return out
}

func (e *events) kinds() []alignment.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []alignment.EventKind
	for _, ev := range e.list {
		out = append(out, ev.Kind)
	}
	return out
}

// gradedLoop is a healthy run: the policy's grade rises by one per
// iteration, its samples vary, and the judge is the held-out judge.
func gradedLoop(c *course, iterations int) (*alignment.Loop, *gradeTrainer, *events) {
	tr := &gradeTrainer{course: c}
	ev := &events{}
	return &alignment.Loop{Policy: &graded{course: c}, Judge: gradeJudge, Prompts: genSource{20}, Trainer: tr,
		Iterations: iterations, Samples: 4, Seed: 5, Observer: ev,
		Eval: &alignment.Evaluation{Prompts: heldOut(6), Judge: gradeJudge}}, tr, ev
}

// allAlarms lists the alarms of a result: per iteration, the evaluation's
// then the iteration's, then the final evaluation's.
func allAlarms(res alignment.Result) []alignment.Alarm {
	var out []alignment.Alarm
	for _, r := range res.Reports {
		if r.Eval != nil {
			out = append(out, r.Eval.Alarms...)
		}
		out = append(out, r.Alarms...)
	}
	if res.Final != nil {
		out = append(out, res.Final.Alarms...)
	}
	return out
}

func signalsOf(alarms []alignment.Alarm) []string {
	var out []string
	for _, a := range alarms {
		out = append(out, fmt.Sprintf("%d:%s/%s", a.Iteration, a.Kind, a.Signal))
	}
	return out
}

func TestSafeguardsQuietOnHealthyRun(t *testing.T) {
	c := &course{}
	loop, tr, ev := gradedLoop(c, 3)
	loop.Safeguards = alignment.Safeguards{Reference: gradeJudge, Probes: gradeProbes()}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 3)
	assert.Nil(t, res.Stopped)
	assert.Empty(t, allAlarms(res))
	assert.Empty(t, ev.alarms())
	assert.Equal(t, 3, tr.calls)
	for i, r := range res.Reports {
		s := r.Signals
		assert.Equal(t, 1.0, s.Yield, "four different takes always make a pair")
		require.NotNil(t, s.Drift)
		require.NotNil(t, s.Drift.Correlation)
		assert.Equal(t, 1.0, *s.Drift.Correlation, "the training judge is the reference")
		assert.Zero(t, s.Drift.MeanAbsDiff)
		assert.Zero(t, s.Saturation)
		assert.Equal(t, 20, s.Diversity.Duplicates.N)
		assert.Zero(t, s.Diversity.Duplicates.Mean)
		if i == 0 {
			assert.Nil(t, s.LengthRatio)
			assert.Nil(t, s.ScoreChange)
			assert.Nil(t, r.Eval.WinRate)
			continue
		}
		require.NotNil(t, s.LengthRatio)
		assert.Equal(t, 1.0, *s.LengthRatio)
		require.NotNil(t, s.ScoreChange)
		assert.InDelta(t, 1.0, *s.ScoreChange, 1e-12, "the grade rose by one")
		require.NotNil(t, r.Eval.WinRate)
		assert.Equal(t, 1.0, *r.Eval.WinRate, "every held-out sample improved")
		require.NotNil(t, r.Eval.WinRateSE)
		assert.Zero(t, *r.Eval.WinRateSE, "every held-out prompt won all its comparisons")
	}
	require.NotNil(t, res.Final)
	assert.Equal(t, 3, res.Final.Iteration)
	assert.Equal(t, 1.0, *res.Final.WinRate)
}

func TestSafeguardPlateauStopsTheRun(t *testing.T) {
	// The policy improves once, from grade 0 to 1, and then stays put.
	c := &course{grade: func(v int) int { return min(v, 1) }}
	loop, tr, ev := gradedLoop(c, 5)
	res, err := loop.Run(t.Context())
	require.NoError(t, err, "a planned stop is not a failure")
	require.NotNil(t, res.Stopped)
	assert.Equal(t, alignment.AlarmPlateau, res.Stopped.Kind)
	assert.Equal(t, "win_rate", res.Stopped.Signal)
	assert.Equal(t, 2, res.Stopped.Iteration)
	assert.Equal(t, 0.5, res.Stopped.Value, "same grade, same takes: every comparison ties")
	assert.Equal(t, 0.5, res.Stopped.Threshold, "the default")
	assert.Contains(t, res.Stopped.Reason, "policy of iteration 2")
	assert.Len(t, res.Reports, 2, "iteration 2's prompts were not run")
	assert.Equal(t, 2, tr.calls)
	assert.Equal(t, 1.0, *res.Reports[1].Eval.WinRate, "the one improvement")
	require.NotNil(t, res.Final)
	assert.Equal(t, 2, res.Final.Iteration, "Final evaluates the policy the run ended with")
	assert.Equal(t, res.Stopped, &res.Final.Alarms[0])
	assert.Equal(t, []string{"2:plateau/win_rate"}, signalsOf(ev.alarms()))
	kinds := ev.kinds()
	assert.Equal(t, alignment.RunStopped, kinds[len(kinds)-1], "RunStopped comes last")

	// Turned off, the same run goes on to the end.
	loop, tr, _ = gradedLoop(c, 5)
	loop.Safeguards.PlateauWinRate = -1
	res, err = loop.Run(t.Context())
	require.NoError(t, err)
	assert.Nil(t, res.Stopped)
	assert.Len(t, res.Reports, 5)
	assert.Equal(t, 5, tr.calls)
}

func TestSafeguardYieldCollapseStopsTheRun(t *testing.T) {
	// From version 1 the policy gives one answer four times: every prompt
	// ties and yields no pair.
	c := &course{repeat: func(v int) bool { return v >= 1 }}
	loop, tr, ev := gradedLoop(c, 4)
	loop.Eval = nil
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.NotNil(t, res.Stopped)
	assert.Equal(t, "yield", res.Stopped.Signal)
	assert.Equal(t, 1, res.Stopped.Iteration)
	assert.Zero(t, res.Stopped.Value)
	assert.Equal(t, 0.05, res.Stopped.Threshold)
	require.Len(t, res.Reports, 2, "the iteration that collapsed is finished, the next is not started")
	assert.Equal(t, 2, tr.calls)
	assert.Equal(t, 20, res.Reports[1].Ties)
	assert.Zero(t, res.Reports[1].Yielded)
	assert.Nil(t, res.Final, "no Eval")
	assert.Contains(t, signalsOf(ev.alarms()), "1:plateau/yield")

	loop, _, _ = gradedLoop(c, 4)
	loop.Eval = nil
	loop.Safeguards.MinYield = -1
	res, err = loop.Run(t.Context())
	require.NoError(t, err)
	assert.Nil(t, res.Stopped)
	assert.Len(t, res.Reports, 4)
}

func TestSafeguardJudgeDrift(t *testing.T) {
	// The policy is its own judge; from version 2 it scores backwards.
	c := &course{}
	loop, _, ev := gradedLoop(c, 3)
	loop.Eval = nil
	loop.Judge = nil
	loop.SelfJudge = func(p alignment.Policy) (alignment.Judge, error) {
		v := p.(*graded).version
		return alignmenttest.JudgeFunc(func(ctx context.Context, pr alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			j, err := gradeJudge(ctx, pr, r)
			if v >= 2 {
				j.Score = 5 - j.Score
			}
			return j, err
		}), nil
	}
	loop.Safeguards = alignment.Safeguards{Reference: gradeJudge, Probes: gradeProbes()}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 3)
	for _, r := range res.Reports[:2] {
		assert.Equal(t, 1.0, *r.Signals.Drift.Correlation)
		assert.Empty(t, r.Alarms)
	}
	d := res.Reports[2].Signals.Drift
	assert.Equal(t, -1.0, *d.Correlation, "an inverted judge ranks the probes backwards")
	// Probe scores 0, 1.25, 2, 3.25 against 5, 3.75, 3, 1.75.
	assert.InDelta(t, (5+2.5+1+1.5)/4.0, d.MeanAbsDiff, 1e-12)
	assert.InDelta(t, 1.625, d.ReferenceMean, 1e-12)
	assert.InDelta(t, 3.375, d.JudgeMean, 1e-12)
	assert.Equal(t, []string{"2:judge-drift/spearman", "2:judge-drift/mean_abs_diff"}, signalsOf(res.Reports[2].Alarms))
	assert.Equal(t, signalsOf(res.Reports[2].Alarms), signalsOf(ev.alarms()))
}

func TestSafeguardLengthDrift(t *testing.T) {
	// Each version pads its answers with three more words than the last:
	// 5 words at first, 8 after one training step (1.6 times as long).
	c := &course{pad: func(v int) int { return 3 * v }}
	loop, _, _ := gradedLoop(c, 3)
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 3)
	assert.Equal(t, 5.0, res.Reports[0].ChosenLength.Mean)
	assert.Empty(t, res.Reports[0].Alarms)
	for i, want := range []float64{1.6, 2.2} {
		r := res.Reports[i+1]
		assert.InDelta(t, want, *r.Signals.LengthRatio, 1e-12)
		assert.Equal(t, []string{strconv.Itoa(i+1) + ":length-drift/length_ratio"}, signalsOf(r.Alarms))
		assert.Equal(t, 1.5, r.Alarms[0].Threshold)
	}
	assert.InDelta(t, 5+3*3.0, res.Final.MeanLength, 1e-12, "the held-out evaluation sees the lengths too")
}

func TestSafeguardScoreInflation(t *testing.T) {
	// The policy never improves, but judging itself it grows lenient by
	// half a point per version; the frozen held-out judge sees no gain.
	c := &course{grade: func(int) int { return 1 }}
	loop, _, _ := gradedLoop(c, 3)
	loop.Judge = nil
	loop.SelfJudge = func(p alignment.Policy) (alignment.Judge, error) {
		v := p.(*graded).version
		return alignmenttest.JudgeFunc(func(ctx context.Context, pr alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			j, err := gradeJudge(ctx, pr, r)
			j.Score += float64(v) / 2
			return j, err
		}), nil
	}
	loop.Safeguards.PlateauWinRate = -1 // keep going to see the inflation
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 3)
	assert.Empty(t, res.Reports[0].Alarms)
	for _, r := range res.Reports[1:] {
		assert.Equal(t, 0.5, *r.Eval.WinRate)
		assert.InDelta(t, 0.5, *r.Signals.ScoreChange, 1e-12)
		assert.Equal(t, []string{strconv.Itoa(r.Iteration) + ":score-inflation/score_change"}, signalsOf(r.Alarms))
		assert.Equal(t, 0.25, r.Alarms[0].Threshold, "a twentieth of the 0–5 scale")
	}
	assert.Empty(t, res.Final.Alarms, "the plateau check is off")

	// A policy that improves as its scores rise raises nothing.
	loop, _, _ = gradedLoop(&course{}, 3)
	res, err = loop.Run(t.Context())
	require.NoError(t, err)
	assert.Empty(t, allAlarms(res))
}

func TestSafeguardSaturation(t *testing.T) {
	// Grade 5 answers score 5 whatever their take: all in the top tenth.
	c := &course{grade: func(v int) int { return 5 }}
	loop, _, _ := gradedLoop(c, 1)
	loop.Eval = nil
	loop.Judge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		_, t := gradeOf(r.Text)
		return alignment.Judgment{Score: 4.5 + t/8}, nil
	})
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	r := res.Reports[0]
	assert.Equal(t, 1.0, r.Signals.Saturation)
	assert.Equal(t, []string{"0:saturation/saturation"}, signalsOf(r.Alarms))

	loop.Safeguards.MaxSaturation = -1
	res, err = loop.Run(t.Context())
	require.NoError(t, err)
	assert.Empty(t, res.Reports[0].Alarms)
	assert.Equal(t, 1.0, res.Reports[0].Signals.Saturation, "figures are kept when the check is off")
}

func TestSafeguardCollapse(t *testing.T) {
	// The policy repeats one answer; a noisy judge still makes pairs of
	// the repeats, so only the collapse shows.
	c := &course{repeat: func(int) bool { return true }}
	loop, _, ev := gradedLoop(c, 1)
	loop.Eval = nil
	loop.Judge = digitJudge
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	r := res.Reports[0]
	assert.Greater(t, r.Signals.Yield, 0.05)
	assert.Equal(t, 1.0, r.Signals.Diversity.Duplicates.Mean)
	assert.Equal(t, 0.25, r.Signals.Diversity.Distinct2.Mean, "four copies of four bigrams: 4 distinct of 16")
	assert.Equal(t, 4.0/20, r.Signals.Diversity.Distinct1.Mean, `"p0 grade 0 take 0" four times: 4 distinct words of 20`)
	assert.Equal(t, []string{"0:collapse/distinct_2", "0:collapse/duplicates"}, signalsOf(r.Alarms))
	assert.Equal(t, signalsOf(r.Alarms), signalsOf(ev.alarms()))
}

func TestSafeguardsValidation(t *testing.T) {
	base := func() alignment.Loop {
		return alignment.Loop{Policy: seedPolicy(), Prompts: genSource{1}, Judge: digitJudge}
	}
	tests := []struct {
		name string
		edit func(l *alignment.Loop)
		want string
	}{
		{"NaN threshold", func(l *alignment.Loop) { l.Safeguards.MinYield = nan() }, "Loop.Safeguards.MinYield is NaN"},
		{"probes without reference", func(l *alignment.Loop) { l.Safeguards.Probes = gradeProbes() }, "Loop.Safeguards.Reference is nil"},
		{"reference without probes", func(l *alignment.Loop) { l.Safeguards.Reference = gradeJudge }, "Loop.Safeguards.Probes has 0 probes"},
		{"reference with comparer", func(l *alignment.Loop) {
			l.Judge, l.Comparer = nil, alignmenttest.Scores{}
			l.Safeguards.Reference, l.Safeguards.Probes = gradeJudge, gradeProbes()
		}, "pointwise training judge"},
		{"eval without judge", func(l *alignment.Loop) { l.Eval = &alignment.Evaluation{Prompts: heldOut(1)} }, "Loop.Eval.Judge is nil"},
		{"eval without prompts", func(l *alignment.Loop) { l.Eval = &alignment.Evaluation{Judge: gradeJudge} }, "Loop.Eval.Prompts is empty"},
		{"eval repeated ID", func(l *alignment.Loop) {
			l.Eval = &alignment.Evaluation{Judge: gradeJudge, Prompts: append(heldOut(3), heldOut(2)[1])}
		}, `Loop.Eval.Prompts[3] repeats the ID "h1" of Loop.Eval.Prompts[1]`},
		{"eval negative samples", func(l *alignment.Loop) {
			l.Eval = &alignment.Evaluation{Judge: gradeJudge, Prompts: heldOut(1), Samples: -1}
		}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := base()
			tt.edit(&l)
			_, err := l.Run(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func nan() float64 { return math.NaN() }

func TestAlarmString(t *testing.T) {
	a := alignment.Alarm{Kind: alignment.AlarmCollapse, Iteration: 3, Reason: "all the same"}
	assert.Equal(t, "iteration 3: collapse: all the same", a.String())
	assert.Equal(t, "alarm-raised", alignment.AlarmRaised.String())
	assert.Equal(t, "run-stopped", alignment.RunStopped.String())
	assert.Equal(t, "evaluation-done", alignment.EvaluationDone.String())
	assert.Equal(t, "evaluation-started", alignment.EvaluationStarted.String())
}
