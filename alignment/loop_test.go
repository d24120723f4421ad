package alignment_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// genSource yields n prompts "p0", "p1", … per iteration without holding
// them, as a large prompt file would.
type genSource struct{ n int }

func (g genSource) Prompts(ctx context.Context, it int) iter.Seq2[alignment.Prompt, error] {
	return func(yield func(alignment.Prompt, error) bool) {
		for i := range g.n {
			id := "p" + strconv.Itoa(i)
			if !yield(alignment.NewPrompt(id, "question "+id), nil) {
				return
			}
		}
	}
}

func (g genSource) Len(int) int { return g.n }

// unsized hides the size of a source.
type unsized struct{ alignment.PromptSource }

// seedPolicy writes responses that depend on the prompt and the seed only:
// "<prompt-id> answer <n>" with n drawn from the seed, repeated words making
// lengths differ.
func seedPolicy() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		n := (o.Seed>>7 + uint64(k)*2654435761) % 97
		return alignment.Response{Text: p.ID + " answer " + strconv.FormatUint(n, 10) + strings.Repeat(" more", int(n%5))}
	}}
}

// digitJudge scores a response by the last number in it modulo 6, plus the
// seed's parity as judging noise, so that scores depend on the judge's seed.
var digitJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	f := strings.Fields(r.Text)
	n := 0
	for _, w := range f {
		if v, err := strconv.Atoi(w); err == nil {
			n = v
		}
	}
	s, _ := alignment.SeedFrom(ctx)
	return alignment.Judgment{Score: float64(n%6) + float64(s%2)/4}, nil
})

func TestLoopKnownPairs(t *testing.T) {
	pol := &alignmenttest.Script{
		ByID: map[string][]string{
			"a":   {"good", "bad", "ok", "meh"},
			"b":   {"ok", "meh", "good", "ok"},
			"tie": {"same", "same", "same", "same"},
		},
	}
	judge := alignmenttest.Scores{"good": 5, "ok": 3, "meh": 2, "bad": 0, "same": 3}
	src, err := alignment.NewSliceSource([]alignment.Prompt{
		alignment.NewPrompt("a", "first"), alignment.NewPrompt("tie", "second"), alignment.NewPrompt("b", "third"),
	})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Sink: rec, JudgeSamples: 3, Source: "test"}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 1)
	rep := res.Reports[0]

	got := rec.Pairs()
	require.Len(t, got, 2)
	assert.Equal(t, []string{"a", "b"}, []string{got[0].Prompt.ID, got[1].Prompt.ID}, "pairs come in prompt order")
	assert.Equal(t, "good", got[0].Chosen.Text)
	assert.Equal(t, "bad", got[0].Rejected.Text)
	assert.Equal(t, "good", got[1].Chosen.Text)
	assert.Equal(t, "meh", got[1].Rejected.Text)
	assert.Equal(t, 5.0, got[1].ScoreChosen)
	assert.Equal(t, 2.0, got[1].ScoreRejected)
	assert.Equal(t, "test", got[0].Source)

	assert.Equal(t, 3, rep.Prompts)
	assert.Equal(t, 0, rep.Failed)
	assert.Equal(t, 2, rep.Pairs)
	assert.Equal(t, 1, rep.Ties)
	assert.Equal(t, 12, rep.Responses)
	assert.Equal(t, 36, rep.Judgments, "N=4 × k=3 per prompt")
	assert.Equal(t, 12, rep.Score.N)
	assert.InDelta(t, (5+0+3+2+3+2+5+3+3*4)/12.0, rep.Score.Mean, 1e-12)
	assert.Equal(t, 0.0, rep.ScoreLo)
	assert.Equal(t, 5.0, rep.ScoreHi, "the range comes from the Ranged judge")
	assert.Equal(t, 12, sum(rep.Histogram))
	assert.Equal(t, 1, rep.Histogram[0], "the one zero")
	assert.Equal(t, 2, rep.Histogram[9], "the two fives fall in the top bin")
	assert.Equal(t, 2, rep.ChosenLength.N)
	assert.Equal(t, 1.0, rep.ChosenLength.Mean)
}

func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}

func TestLoopSameSeedSamePairsAtAnyConcurrency(t *testing.T) {
	run := func(concurrency int, seed uint64) []alignment.Pair {
		rec := &alignmenttest.Recorder{}
		loop := alignment.Loop{Policy: seedPolicy(), Prompts: genSource{60}, Judge: digitJudge, Sink: rec,
			JudgeSamples: 2, Concurrency: concurrency, Seed: seed, Iterations: 2}
		_, err := loop.Run(t.Context())
		require.NoError(t, err)
		return rec.Pairs()
	}
	one := run(1, 7)
	require.NotEmpty(t, one)
	assert.Equal(t, one, run(16, 7), "concurrency must not change the pairs or their order")
	assert.NotEqual(t, one, run(16, 8), "the seed must matter")
}

func TestLoopLengthControlledSelector(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {
		"top answer that is long", "top short", "bottom", "bottom but very very long",
	}}}
	judge := alignmenttest.Scores{"top answer that is long": 5, "top short": 4.8, "bottom": 0, "bottom but very very long": 0.1}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Sink: rec, Selector: alignment.LengthControlled{Rho: 0.1}}
	_, err = loop.Run(t.Context())
	require.NoError(t, err)
	got := rec.Pairs()
	require.Len(t, got, 1)
	assert.Equal(t, "top short", got[0].Chosen.Text)
	assert.Equal(t, "bottom but very very long", got[0].Rejected.Text)
}

func TestLoopComparer(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {"x", "y", "z"}, "t": {"x", "x2"}}}
	scores := alignmenttest.Scores{"x": 1, "y": 3, "z": 2, "x2": 1}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q"), alignment.NewPrompt("t", "q2")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: pol, Prompts: src, Comparer: scores, Sink: rec, Samples: 3}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	got := rec.Pairs()
	require.Len(t, got, 1, "the tied prompt yields no pair")
	assert.Equal(t, "y", got[0].Chosen.Text)
	assert.Equal(t, "x", got[0].Rejected.Text)
	assert.Equal(t, 1.0, got[0].ScoreChosen, "y beats both others")
	assert.Equal(t, 0.0, got[0].ScoreRejected)
	assert.Equal(t, 3+3, res.Reports[0].Judgments, "3 comparisons for 3 responses, 3 for the tied prompt's 3 samples")
	assert.Equal(t, 1, res.Reports[0].Ties)
}

func TestLoopRefiner(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {"draft", "other"}}}
	ref := alignmenttest.Rewrites{"draft": "polished"}
	judge := alignmenttest.Scores{"polished": 4, "other": 1}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	_, err = (&alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Refiner: ref, Sink: rec, Samples: 2}).Run(t.Context())
	require.NoError(t, err)
	got := rec.Pairs()
	require.Len(t, got, 1)
	assert.Equal(t, "polished", got[0].Chosen.Text)
	require.Len(t, got[0].Chosen.Revisions, 1, "the refinement chain is kept")
}

func TestLoopValidation(t *testing.T) {
	src := genSource{1}
	pol := seedPolicy()
	tests := []struct {
		name string
		loop alignment.Loop
		want string
	}{
		{"no policy", alignment.Loop{Prompts: src, Judge: digitJudge}, "Loop.Policy is nil"},
		{"no prompts", alignment.Loop{Policy: pol, Judge: digitJudge}, "Loop.Prompts is nil"},
		{"no judge", alignment.Loop{Policy: pol, Prompts: src}, "Loop.Judge is nil"},
		{"one sample", alignment.Loop{Policy: pol, Prompts: src, Judge: digitJudge, Samples: 1}, "Loop.Samples is 1"},
		{"negative", alignment.Loop{Policy: pol, Prompts: src, Judge: digitJudge, Concurrency: -1}, "must not be negative"},
		{"budget", alignment.Loop{Policy: pol, Prompts: src, Judge: digitJudge, FailureBudget: 2}, "FailureBudget"},
		{"trainer without checkpoints", alignment.Loop{Policy: pol, Prompts: src, Judge: digitJudge, Dir: t.TempDir(),
			Trainer: trainerFunc(func(ctx context.Context, p alignment.Policy, _ []alignment.Pair) (alignment.Policy, error) {
				return p, nil
			})}, "not a Checkpointer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.loop.Run(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

type trainerFunc func(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error)

func (f trainerFunc) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	return f(ctx, p, pairs)
}

func fastRetry() alignment.Retry {
	return alignment.Retry{Attempts: 20, BaseDelay: time.Microsecond, MaxDelay: 50 * time.Microsecond}
}

func TestLoopTransientFailuresAllComplete(t *testing.T) {
	faults := &alignmenttest.Faults{TransientRate: 0.3, Seed: 3}
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: faults.Judge(digitJudge), Prompts: genSource{100},
		Sink: rec, JudgeSamples: 2, Concurrency: 8, Retry: fastRetry()}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	transient, permanent := faults.Injected()
	assert.Greater(t, transient, 100, "about 30% of ~900 calls failed transiently")
	assert.Zero(t, permanent)
	assert.Equal(t, 100, rep.Prompts)
	assert.Zero(t, rep.Failed)
	assert.Equal(t, transient, rep.Retries, "every transient failure was retried")
	assert.Equal(t, 100, rep.Pairs+rep.Ties)
}

func TestLoopPermanentFailuresReported(t *testing.T) {
	faults := &alignmenttest.Faults{PermanentRate: 0.05, Seed: 11}
	var want []string
	for i := range 200 {
		if id := "p" + strconv.Itoa(i); faults.Permanent(id) {
			want = append(want, id)
		}
	}
	require.NotEmpty(t, want)
	require.LessOrEqual(t, len(want), 20, "the planted failures must fit the default 10% budget")
	var failedEvents []string
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: digitJudge, Prompts: genSource{200}, Sink: rec,
		Observer: alignment.ObserverFunc(func(e alignment.Event) {
			if e.Kind == alignment.ItemFailed {
				failedEvents = append(failedEvents, e.PromptID)
			}
		})}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	var got []string
	for _, f := range rep.Failures {
		got = append(got, f.PromptID)
		assert.Contains(t, f.Err, "injected")
	}
	assert.Equal(t, want, got, "exactly the planted prompts fail, in prompt order")
	assert.Equal(t, want, failedEvents)
	assert.Equal(t, len(want), rep.Failed)
	assert.Equal(t, 200-len(want), rep.Pairs+rep.Ties)
	for _, p := range rec.Pairs() {
		assert.NotContains(t, want, p.Prompt.ID)
	}
}

func TestLoopFailureBudgetStopsAndFlushes(t *testing.T) {
	for _, src := range []alignment.PromptSource{genSource{200}, unsized{genSource{200}}} {
		faults := &alignmenttest.Faults{PermanentRate: 0.3, Seed: 5}
		rec := &alignmenttest.Recorder{}
		loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: digitJudge, Prompts: src, Sink: rec, Concurrency: 4}
		res, err := loop.Run(t.Context())
		require.Error(t, err)
		assert.ErrorIs(t, err, alignment.ErrBudget)
		assert.Contains(t, err.Error(), "failure budget")
		assert.Empty(t, res.Reports, "the iteration did not finish")
		assert.Positive(t, rec.Flushes())
		assert.Equal(t, rec.Pairs(), rec.Flushed(), "every pair written was flushed before returning")
		assert.NotEmpty(t, rec.Pairs())
	}
}

func TestLoopCancelReturnsPromptly(t *testing.T) {
	faults := &alignmenttest.Faults{Delay: 20 * time.Millisecond}
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: digitJudge, Prompts: genSource{10000}, Sink: rec, Concurrency: 16}
	ctx, cancel := context.WithCancel(t.Context())
	var cancelled time.Time
	time.AfterFunc(150*time.Millisecond, func() { cancelled = time.Now(); cancel() })
	_, err := loop.Run(ctx)
	took := time.Since(cancelled)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, took, 100*time.Millisecond, "Run must return within 100 ms of cancellation")
	assert.NotEmpty(t, rec.Pairs(), "prompts finished before the cancellation are written")
	assert.Equal(t, rec.Pairs(), rec.Flushed(), "and flushed")
}

func TestLoopObserverEvents(t *testing.T) {
	var mu sync.Mutex
	kinds := map[alignment.EventKind]int{}
	var last alignment.Event
	loop := alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{25}, Iterations: 2,
		Observer: alignment.ObserverFunc(func(e alignment.Event) {
			mu.Lock()
			defer mu.Unlock()
			kinds[e.Kind]++
			if e.Kind == alignment.ItemDone {
				last = e
			}
		})}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, kinds[alignment.IterationStarted])
	assert.Equal(t, 50, kinds[alignment.ItemDone])
	assert.Equal(t, 2, kinds[alignment.IterationDone])
	assert.Zero(t, kinds[alignment.TrainingStarted], "no Trainer")
	assert.Equal(t, 25, last.Done)
	assert.Equal(t, 25, last.Total)
	require.Len(t, res.Reports, 2)
	assert.Equal(t, 1, res.Reports[1].Iteration)
}

// versioned is a policy whose answers depend on a version that training
// raises, standing in for a model that DPO changes.
type versioned struct {
	version int
	script  *alignmenttest.Script
}

func newVersioned(v int) *versioned {
	return &versioned{version: v, script: &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		n := (o.Seed>>11 + uint64(k)*40503 + uint64(v)*7) % 89
		return alignment.Response{Text: fmt.Sprintf("%s v%d answer %d", p.ID, v, n)}
	}}}
}

func (v *versioned) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	return v.script.Generate(ctx, p, o)
}

// bumpTrainer "trains" by raising the version by the number of pairs modulo
// 5 plus one, so the next policy depends on the pairs it was given, and
// saves the version to a file.
type bumpTrainer struct{ calls int }

func (b *bumpTrainer) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	b.calls++
	h := 0
	for _, pr := range pairs {
		h += len(pr.Chosen.Text) + 2*len(pr.Rejected.Text)
	}
	return newVersioned(p.(*versioned).version*31 + h%97 + 1), nil
}

func (b *bumpTrainer) SaveCheckpoint(ctx context.Context, p alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "version"), []byte(strconv.Itoa(p.(*versioned).version)), 0o644)
}

func (b *bumpTrainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	data, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return nil, err
	}
	v, err := strconv.Atoi(string(data))
	return newVersioned(v), err
}

func TestLoopTrainsBetweenIterations(t *testing.T) {
	tr := &bumpTrainer{}
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: newVersioned(1), Judge: digitJudge, Prompts: genSource{20}, Iterations: 3, Trainer: tr, Sink: rec}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, tr.calls)
	assert.NotEqual(t, 1, res.Policy.(*versioned).version)
	it0, it1 := rec.Pairs(alignmenttest.Iteration(0)), rec.Pairs(alignmenttest.Iteration(1))
	require.NotEmpty(t, it0)
	require.NotEmpty(t, it1)
	for _, p := range it0 {
		assert.Contains(t, p.Chosen.Text, " v1 ", "iteration 0 uses the given policy")
	}
	for _, p := range it1 {
		assert.NotContains(t, p.Chosen.Text, " v1 ", "iteration 1 uses the trained policy")
	}
}

func TestLoopDirResumesAfterStop(t *testing.T) {
	// A run stopped by cancellation part-way and run again finishes with
	// the same file as an uninterrupted run.
	newLoop := func(dir string, pol alignment.Policy) *alignment.Loop {
		return &alignment.Loop{Policy: pol, Judge: digitJudge, Prompts: genSource{300}, Iterations: 2,
			Trainer: &bumpTrainer{}, Dir: dir, Concurrency: 8, Seed: 42}
	}
	ref := t.TempDir()
	want, err := newLoop(ref, newVersioned(1)).Run(t.Context())
	require.NoError(t, err)
	wantPairs, err := os.ReadFile(filepath.Join(ref, alignment.PairsFile))
	require.NoError(t, err)

	dir := t.TempDir()
	newSlowLoop := func() *alignment.Loop {
		l := newLoop(dir, newVersioned(1))
		l.Judge = (&alignmenttest.Faults{Delay: time.Millisecond}).Judge(digitJudge)
		return l
	}
	var got alignment.Result
	stops := 0
	for ; stops < 50; stops++ {
		ctx, cancel := context.WithTimeout(t.Context(), 80*time.Millisecond)
		got, err = newSlowLoop().Run(ctx)
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.NoError(t, err)
	assert.Greater(t, stops, 3, "the run was interrupted several times, in both iterations")
	gotPairs, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	assert.Equal(t, string(wantPairs), string(gotPairs))
	require.Len(t, got.Reports, 2)
	for i := range want.Reports {
		assert.Equal(t, stripTimes(want.Reports[i]), stripTimes(got.Reports[i]))
	}
	assert.Equal(t, want.Policy.(*versioned).version, got.Policy.(*versioned).version)

	// Running the finished directory again does nothing more.
	again, err := newLoop(dir, newVersioned(1)).Run(t.Context())
	require.NoError(t, err)
	assert.Len(t, again.Reports, 2)
	same, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	assert.Equal(t, string(wantPairs), string(same))
}

func stripTimes(r alignment.Report) alignment.Report {
	r.Elapsed, r.Sampling, r.Refining, r.Judging, r.Training, r.Resumed = 0, 0, 0, 0, 0, false
	return r
}

func TestLoopDirRejectsOtherSettings(t *testing.T) {
	dir := t.TempDir()
	_, err := (&alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{5}, Dir: dir, Seed: 1}).Run(t.Context())
	require.NoError(t, err)
	_, err = (&alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{5}, Dir: dir, Seed: 2}).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.Contains(t, err.Error(), "seed 1")
}

func TestLoopDirDropsTornProgressLine(t *testing.T) {
	dir := t.TempDir()
	loop := func() *alignment.Loop {
		return &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{40}, Dir: dir, Iterations: 2}
	}
	_, err := loop().Run(t.Context())
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	// Simulate a crash in the middle of writing both files: a torn pair
	// line and a torn progress line.
	appendTo(t, filepath.Join(dir, alignment.PairsFile), `{"prompt":"torn`)
	appendTo(t, filepath.Join(dir, alignment.ProgressFile), `{"kind":"progr`)
	_, err = loop().Run(t.Context())
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "the torn tail is removed, never parsed")
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestSampleNFillsShortBackends(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"a", "b", "c"}, MaxPerCall: 1}
	rs, err := alignment.SampleN(t.Context(), pol, alignment.NewPrompt("x", "q"), alignment.SampleOptions{N: 3, Seed: 9})
	require.NoError(t, err)
	assert.Len(t, rs, 3)
	assert.Len(t, pol.Calls(), 3, "one call for all, then one per missing response")
	_, err = alignment.SampleN(t.Context(), badPolicy{}, alignment.NewPrompt("x", "q"), alignment.SampleOptions{N: 2})
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

type badPolicy struct{}

func (badPolicy) Generate(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
	return make([]alignment.Response, 5), nil
}

func TestSelectors(t *testing.T) {
	sc := func(text string, s float64) alignment.Scored {
		return alignment.Scored{Response: alignment.Response{Text: text}, Score: s}
	}
	tests := []struct {
		name   string
		sel    alignment.Selector
		rs     []alignment.Scored
		c, r   int
		wantOK bool
	}{
		{"maxmin", alignment.MaxMin{}, []alignment.Scored{sc("a", 1), sc("b", 3), sc("c", 0)}, 1, 2, true},
		{"maxmin tie", alignment.MaxMin{}, []alignment.Scored{sc("a", 2), sc("b", 2)}, 0, 0, false},
		{"maxmin one", alignment.MaxMin{}, []alignment.Scored{sc("a", 2)}, 0, 0, false},
		{"maxmin equal top keeps first", alignment.MaxMin{}, []alignment.Scored{sc("a", 1), sc("b", 3), sc("c", 3)}, 1, 0, true},
		{"length rho 0 prefers short among top", alignment.LengthControlled{}, []alignment.Scored{sc("x y z", 3), sc("x", 3), sc("q", 1), sc("q r s", 1)}, 1, 3, true},
		{"length window", alignment.LengthControlled{Rho: 0.25}, []alignment.Scored{sc("long long long", 4), sc("short", 3.6), sc("low", 0), sc("low and long", 0.9), sc("mid", 2)}, 1, 3, true},
		{"length tie", alignment.LengthControlled{Rho: 0.2}, []alignment.Scored{sc("a", 1), sc("b b", 1)}, 0, 0, false},
		{"length rho too big is capped", alignment.LengthControlled{Rho: 0.9}, []alignment.Scored{sc("a a", 1), sc("b", 0)}, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r, ok := tt.sel.Select(tt.rs)
			assert.Equal(t, tt.wantOK, ok)
			if ok {
				assert.Equal(t, []int{tt.c, tt.r}, []int{c, r})
			}
		})
	}
}

func TestReportSummary(t *testing.T) {
	var s alignment.Summary
	for _, x := range []float64{2, 4, 4, 4, 5, 5, 7, 9} {
		s.Add(x)
	}
	assert.Equal(t, 8, s.N)
	assert.InDelta(t, 5.0, s.Mean, 1e-12)
	// Sample standard deviation of the classic example: sqrt(32/7).
	assert.InDelta(t, 2.138089935299395, s.Stdev(), 1e-12)
	assert.Equal(t, 2.0, s.Min)
	assert.Equal(t, 9.0, s.Max)
	assert.Equal(t, "n=8 mean=5 sd=2.14 min=2 max=9", s.String())
}

// childDirEnv names the output directory of a Loop run by this test binary
// as a child process, for TestLoopResumesAfterSIGKILL; childGroupsEnv,
// when set, makes its Trainer a GroupTrainer.
const (
	childDirEnv    = "SELFALIGN_LOOP_CHILD_DIR"
	childGroupsEnv = "SELFALIGN_LOOP_CHILD_GROUPS"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		loop := killLoop(dir, os.Getenv(childGroupsEnv) != "")
		loop.Judge = (&alignmenttest.Faults{Delay: time.Millisecond}).Judge(digitJudge)
		if _, err := loop.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func killLoop(dir string, groups bool) *alignment.Loop {
	var tr alignment.Trainer = &bumpTrainer{}
	if groups {
		tr = &groupBump{}
	}
	return &alignment.Loop{Policy: newVersioned(1), Judge: digitJudge, Prompts: genSource{200}, Iterations: 2,
		Trainer: tr, Dir: dir, Concurrency: 16, Seed: 99, JudgeSamples: 2,
		Eval:       &alignment.Evaluation{Prompts: heldOut(20), Judge: digitJudge, Samples: 2},
		Safeguards: alignment.Safeguards{PlateauWinRate: -1, Reference: digitJudge, Probes: gradeProbes()}}
}

// TestLoopResumesAfterSIGKILL kills a child process running a Loop at
// several moments, in the middle of writes, trainings and checkpoints, and
// starts it again each time on the same directory. The file it ends with
// must equal, byte for byte, that of an uninterrupted run; so must the
// groups file when the Trainer is a GroupTrainer, and the final policy,
// which the final evaluation measures, depends on the groups it trained on.
func TestLoopResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Run("pairs", func(t *testing.T) { testResumesAfterSIGKILL(t, false) })
	t.Run("groups", func(t *testing.T) { testResumesAfterSIGKILL(t, true) })
}

func testResumesAfterSIGKILL(t *testing.T, groups bool) {
	ref := t.TempDir()
	wantRes, err := killLoop(ref, groups).Run(t.Context())
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(ref, alignment.PairsFile))
	require.NoError(t, err)

	dir := t.TempDir()
	kills := 0
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 60, "the run never finished")
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		if groups {
			cmd.Env = append(cmd.Env, childGroupsEnv+"=1")
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill points spread over the run: each child lives a little
		// longer than the one before, so kills land in every phase and the
		// run eventually finishes.
		wait := time.Duration(30+attempt*attempt*8) * time.Millisecond
		select {
		case err := <-done:
			require.NoError(t, err, "child failed: %s", stderr.String())
			got, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
			require.NoError(t, err)
			t.Logf("the child was killed %d times before it finished", kills)
			assert.GreaterOrEqual(t, kills, 3, "the child was killed several times")
			assert.Equal(t, string(want), string(got), "the resumed run wrote exactly the uninterrupted run's pairs")
			n := 0
			for _, err := range alignment.ReadPairs(strings.NewReader(string(got))) {
				require.NoError(t, err)
				n++
			}
			assert.Equal(t, strings.Count(string(want), "\n"), n)
			if groups {
				assert.Equal(t, string(readFile(t, filepath.Join(ref, alignment.GroupsFile))), string(readFile(t, filepath.Join(dir, alignment.GroupsFile))),
					"the resumed run wrote exactly the uninterrupted run's groups")
			}
			// The journal restores the reports, evaluations included.
			res, err := killLoop(dir, groups).Run(t.Context())
			require.NoError(t, err)
			wantReps, wantFinal := stripResult(wantRes)
			gotReps, gotFinal := stripResult(res)
			assert.Equal(t, wantReps, gotReps)
			assert.Equal(t, wantFinal, gotFinal)
			return
		case <-time.After(wait):
			err := cmd.Process.Signal(syscall.SIGKILL)
			werr := <-done
			if err != nil {
				// The child finished just as the kill was due; the next
				// child finds the run complete.
				require.ErrorIs(t, err, os.ErrProcessDone)
				require.NoError(t, werr, "child failed: %s", stderr.String())
				continue
			}
			kills++
		}
	}
}

func TestLoopExtraPairs(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {"draft", "other"}}}
	ref := alignmenttest.Rewrites{"draft": "polished"}
	judge := alignmenttest.Scores{"polished": 4, "other": 1}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	var (
		seen      []alignment.Scored
		callSeeds []uint64
	)
	loop := alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Refiner: ref, Sink: rec, Samples: 2, JudgeSamples: 2,
		Extra: func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			seen = rs
			assert.Same(t, pol, x.Policy, "Extra sees the iteration's policy")
			// A backend call of the hook: retried, seeded from the item.
			err := x.Call(ctx, func(ctx context.Context) error {
				s, _ := alignment.SeedFrom(ctx)
				callSeeds = append(callSeeds, s)
				_, err := x.Judge.Judge(ctx, x.Prompt, rs[0].Response)
				return err
			}, "probe")
			if err != nil {
				return nil, err
			}
			var out []alignment.Pair
			for _, s := range rs {
				if s.Response.Text != s.Unrefined.Text {
					out = append(out, alignment.Pair{Prompt: x.Prompt, Chosen: s.Response, Rejected: s.Unrefined, Iteration: x.Iteration, Source: "sl-cai"})
				}
			}
			return out, nil
		}}
	faults := &alignmenttest.Faults{FailCalls: nil, TransientRate: 0.5, Seed: 4}
	loop.Judge = faults.Judge(judge)
	loop.Retry = fastRetry()
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	transient, _ := faults.Injected()
	assert.Equal(t, transient, res.Reports[0].Retries, "retries of Extra's calls are counted with the rest")
	_, err = loop.Run(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(callSeeds), 2, "one call per run, and its retries")
	for _, s := range callSeeds {
		assert.Equal(t, callSeeds[0], s, "Item.Call seeds its call from the item, the same on every run and retry")
	}
	require.Len(t, seen, 2)
	assert.Len(t, seen[0].Judgments, 2, "the k judgments reach Extra")
	got := rec.Pairs(alignmenttest.Iteration(0))[:2]
	require.Len(t, got, 2, "the selected pair, then the extra one")
	assert.Equal(t, "loop", got[0].Source)
	assert.Equal(t, "sl-cai", got[1].Source)
	assert.Equal(t, "polished", got[1].Chosen.Text)
	assert.Equal(t, "draft", got[1].Rejected.Text)
	assert.Equal(t, 2, res.Reports[0].Pairs)
	assert.Equal(t, 1, res.Reports[0].ExtraPairs)

	loop.Extra = func(context.Context, *alignment.Item, []alignment.Scored) ([]alignment.Pair, error) {
		return nil, errors.New("boom")
	}
	loop.FailureBudget = 1
	res, err = loop.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports[0].Failures, 1)
	assert.Contains(t, res.Reports[0].Failures[0].Err, "extra pairs: boom")
}

// Pairs made by Extra alone, from one sample per prompt, count as extra
// pairs; the selector declines every time, and a judged prompt that
// yielded nothing is a tie.
func TestLoopExtraOnly(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {"draft"}, "b": {"other"}}}
	ref := alignmenttest.Rewrites{"draft": "polished"}
	judge := alignmenttest.Scores{"polished": 4, "other": 1}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q"), alignment.NewPrompt("b", "r")})
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Refiner: ref, Sink: rec, Samples: 1, Selector: alignment.NoPair{},
		Extra: func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			if rs[0].Response.Text == rs[0].Unrefined.Text {
				return nil, nil
			}
			return []alignment.Pair{{Prompt: x.Prompt, Chosen: rs[0].Response, Rejected: rs[0].Unrefined, Iteration: x.Iteration, Source: "sl-cai"}}, nil
		}}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	assert.Equal(t, 1, rep.Pairs)
	assert.Equal(t, 1, rep.ExtraPairs)
	assert.Equal(t, 1, rep.Yielded, "a yielded a revision pair")
	assert.Equal(t, 1, rep.Ties, "the selector declined both prompts, and Extra made nothing of b")
	assert.Equal(t, 2, rep.ExtraPrompts)
	require.Len(t, rec.Pairs(), 1)
	assert.Equal(t, "polished", rec.Pairs()[0].Chosen.Text)
}

// FuzzProgressJournal feeds arbitrary bytes to a run as its progress
// journal, with one byte of the pair file set to an arbitrary value: the
// run must either resume, start over after dropping a torn tail, or refuse
// with an error wrapping ErrNotResumable — never panic, and never write a
// pair file that differs from a clean run's when it succeeds, so never
// keep a damaged byte.
func FuzzProgressJournal(f *testing.F) {
	clean := t0Dir(f)
	journal, err := os.ReadFile(filepath.Join(clean, alignment.ProgressFile))
	require.NoError(f, err)
	want, err := os.ReadFile(filepath.Join(clean, alignment.PairsFile))
	require.NoError(f, err)
	lines := strings.SplitAfter(string(journal), "\n")
	half := strings.Join(lines[:len(lines)/2], "")
	intact := uint32(len(want)) // past the end: no byte is damaged
	f.Add(string(journal), intact, byte(0))
	f.Add(lines[0], intact, byte(0))
	f.Add(half, intact, byte(0))
	f.Add(lines[0]+`{"kind":"done","iteration":0,"offset":99999999}`+"\n", intact, byte(0))
	f.Add(lines[0]+`{"kind":"progress","iteration":0,"next":-5,"offset":-1}`+"\n", intact, byte(0))
	f.Add(`{"kind":"run","seed":3}`+"\n", intact, byte(0))
	f.Add("not json\n"+lines[0], intact, byte(0))
	f.Add(string(journal), uint32(len(want)/2), byte(0))
	f.Add(string(journal), uint32(0), byte('['))
	f.Add(string(journal), uint32(len(want)-1), byte(' '))
	f.Add(half, uint32(len(want)/4), byte('x'))
	f.Add(half, uint32(len(want)-2), byte('x'))
	f.Fuzz(func(t *testing.T, data string, at uint32, b byte) {
		dir := t.TempDir()
		pairs := []byte(string(want))
		if int64(at) < int64(len(pairs)) {
			pairs[at] = b
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, alignment.ProgressFile), []byte(data), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, alignment.PairsFile), pairs, 0o644))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := journalLoop(dir).Run(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("resuming from journal %q hung", data)
			}
			if !errors.Is(err, alignment.ErrNotResumable) {
				t.Fatalf("a bad journal gave %v, want an error wrapping ErrNotResumable", err)
			}
			return
		}
		got, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
		require.NoError(t, err)
		if string(got) != string(want) {
			t.Fatalf("resuming from journal %q with byte %d set to %q wrote\n%s\nwant\n%s", data, at, b, got, want)
		}
	})
}

func journalLoop(dir string) *alignment.Loop {
	return &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{6}, Iterations: 2, Dir: dir, Seed: 3}
}

func t0Dir(tb testing.TB) string {
	dir := tb.TempDir()
	_, err := journalLoop(dir).Run(context.Background())
	require.NoError(tb, err)
	return dir
}

// With no judge at all, Extra's pairs are the run's: nothing is judged and
// the report has no scores.
func TestLoopUnjudged(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{"a": {"draft"}}}
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "q")})
	require.NoError(t, err)
	loop := alignment.Loop{Policy: pol, Prompts: src, Refiner: alignmenttest.Rewrites{"draft": "polished"}, Samples: 1,
		Extra: func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			assert.Nil(t, x.Judge)
			assert.Nil(t, rs[0].Judgments)
			return []alignment.Pair{{Prompt: x.Prompt, Chosen: rs[0].Response, Rejected: rs[0].Unrefined, Source: "sl-cai"}}, nil
		}}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	assert.Equal(t, 1, rep.Pairs)
	assert.Zero(t, rep.Judgments)
	assert.Zero(t, rep.Score.N, "no scores are made up")
	assert.Zero(t, rep.Ties, "nor ties")
	assert.Equal(t, 1, rep.Length.N)
}
