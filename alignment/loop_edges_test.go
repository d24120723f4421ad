package alignment_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// The sharp edges of issue 14: wiring mistakes and bad parts that used to
// give a nil-error run looking like a normal one.

// nilJudge is a pointer judge; (*nilJudge)(nil) is the typed nil that
// passes a nil check and panics at its first call.
type nilJudge struct{ score float64 }

func (j *nilJudge) Judge(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: j.score}, nil
}

// A judge builder that fails, or builds nothing, stops the run at once
// with an error that names the builder and the iteration, instead of a run
// with no judgments that stops on a "plateau".
func TestLoopSelfJudgeBuilderFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		build   func(alignment.Policy) (alignment.Judge, error)
		atIter  int
		want    string
		wrapped error
	}{
		{"error", func(alignment.Policy) (alignment.Judge, error) { return nil, boom }, 0,
			"Loop.SelfJudge failed for iteration 0: boom", boom},
		{"nil judge", func(alignment.Policy) (alignment.Judge, error) { return nil, nil }, 0,
			"Loop.SelfJudge returned a nil Judge for iteration 0", nil},
		{"typed nil judge", func(alignment.Policy) (alignment.Judge, error) { return (*nilJudge)(nil), nil }, 0,
			"Loop.SelfJudge returned a nil *alignment_test.nilJudge as the Judge of iteration 0", nil},
		{"nil judge for the trained policy", func(p alignment.Policy) (alignment.Judge, error) {
			if p.(*versioned).version != 1 {
				return nil, nil
			}
			return digitJudge, nil
		}, 1, "Loop.SelfJudge returned a nil Judge for iteration 1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &alignmenttest.Recorder{}
			loop := alignment.Loop{Policy: newVersioned(1), Prompts: genSource{8}, SelfJudge: tt.build, Sink: rec,
				Iterations: 2, Trainer: &bumpTrainer{}}
			res, err := loop.Run(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			if tt.wrapped != nil {
				assert.ErrorIs(t, err, tt.wrapped)
			}
			assert.Contains(t, err.Error(), tt.want)
			assert.Len(t, res.Reports, tt.atIter, "the run stops before the prompts of the iteration")
			assert.Empty(t, rec.Pairs(alignmenttest.Iteration(tt.atIter)))
		})
	}
}

// Every interface part of a Loop that holds a nil pointer, map or func is
// refused at Run, naming the field and its type, instead of panicking at
// its first call.
func TestLoopTypedNilParts(t *testing.T) {
	src := genSource{2}
	pol := seedPolicy()
	tests := []struct {
		name string
		set  func(l *alignment.Loop)
		want string
	}{
		{"Policy", func(l *alignment.Loop) { l.Policy = (*alignmenttest.Script)(nil) }, "Loop.Policy is a nil *alignmenttest.Script"},
		{"Prompts", func(l *alignment.Loop) { l.Prompts = (*alignment.SliceSource)(nil) }, "Loop.Prompts is a nil *alignment.SliceSource"},
		{"Judge", func(l *alignment.Loop) { l.Judge = (*nilJudge)(nil) }, "Loop.Judge is a nil *alignment_test.nilJudge"},
		{"Judge map", func(l *alignment.Loop) { l.Judge = alignmenttest.Scores(nil) }, "Loop.Judge is a nil alignmenttest.Scores"},
		{"Judge func", func(l *alignment.Loop) { l.Judge = alignmenttest.JudgeFunc(nil) }, "Loop.Judge is a nil alignmenttest.JudgeFunc"},
		{"Comparer", func(l *alignment.Loop) { l.Comparer = alignmenttest.Scores(nil) }, "Loop.Comparer is a nil alignmenttest.Scores"},
		{"Refiner", func(l *alignment.Loop) { l.Refiner = alignmenttest.Rewrites(nil) }, "Loop.Refiner is a nil alignmenttest.Rewrites"},
		{"Selector", func(l *alignment.Loop) { l.Selector = (*alignment.LengthControlled)(nil) }, "Loop.Selector is a nil *alignment.LengthControlled"},
		{"Trainer", func(l *alignment.Loop) { l.Trainer = (*bumpTrainer)(nil) }, "Loop.Trainer is a nil *alignment_test.bumpTrainer"},
		{"Sink", func(l *alignment.Loop) { l.Sink = (*alignmenttest.Recorder)(nil) }, "Loop.Sink is a nil *alignmenttest.Recorder"},
		{"Observer", func(l *alignment.Loop) { l.Observer = alignment.ObserverFunc(nil) }, "Loop.Observer is a nil alignment.ObserverFunc"},
		{"Reference", func(l *alignment.Loop) {
			l.Safeguards = alignment.Safeguards{Reference: (*nilJudge)(nil), Probes: make([]alignment.Probe, 2)}
		}, "Loop.Safeguards.Reference is a nil *alignment_test.nilJudge"},
		{"Eval.Judge", func(l *alignment.Loop) {
			l.Eval = &alignment.Evaluation{Prompts: []alignment.Prompt{alignment.NewPrompt("h", "q")}, Judge: (*nilJudge)(nil)}
		}, "Loop.Eval.Judge is a nil *alignment_test.nilJudge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loop := alignment.Loop{Policy: pol, Prompts: src, Judge: digitJudge}
			tt.set(&loop)
			var err error
			require.NotPanics(t, func() { _, err = loop.Run(t.Context()) })
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// rangedFunc is a judge that states the range [lo, hi] and scores with f.
type rangedFunc struct {
	lo, hi float64
	f      func(r alignment.Response) float64
}

func (j rangedFunc) Judge(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: j.f(r)}, nil
}

func (j rangedFunc) ScoreRange() (lo, hi float64) { return j.lo, j.hi }

// A Ranged judge is held to the range it states: a score outside it fails
// the prompt, naming the judge, the score and the range, and no pair is
// written with it. The same holds for a judge SelfJudge builds.
func TestLoopRangedJudgeOutOfRange(t *testing.T) {
	pol := &alignmenttest.Script{ByID: map[string][]string{
		"high": {"seven", "one"}, "low": {"minus two", "one"}, "ok": {"five", "one"},
	}}
	scores := map[string]float64{"seven": 7, "minus two": -2, "five": 5, "one": 1}
	judge := rangedFunc{0, 5, func(r alignment.Response) float64 { return scores[r.Text] }}
	src, err := alignment.NewSliceSource([]alignment.Prompt{
		alignment.NewPrompt("high", "q"), alignment.NewPrompt("low", "q"), alignment.NewPrompt("ok", "q"),
	})
	require.NoError(t, err)
	for _, self := range []bool{false, true} {
		t.Run(map[bool]string{false: "Judge", true: "SelfJudge"}[self], func(t *testing.T) {
			rec := &alignmenttest.Recorder{}
			var failed []error
			loop := alignment.Loop{Policy: pol, Prompts: src, Sink: rec, Samples: 2, FailureBudget: 1,
				Observer: alignment.ObserverFunc(func(e alignment.Event) {
					if e.Kind == alignment.ItemFailed {
						failed = append(failed, e.Err)
					}
				})}
			if self {
				loop.SelfJudge = func(alignment.Policy) (alignment.Judge, error) { return judge, nil }
			} else {
				loop.Judge = judge
			}
			res, err := loop.Run(t.Context())
			require.NoError(t, err)
			rep := res.Reports[0]
			assert.Equal(t, 2, rep.Failed)
			require.Len(t, rep.Failures, 2)
			assert.Contains(t, rep.Failures[0].Err, "response 0: judge alignment_test.rangedFunc returned score 7, outside the range [0, 5] it states")
			assert.Contains(t, rep.Failures[1].Err, "response 0: judge alignment_test.rangedFunc returned score -2, outside the range [0, 5] it states")
			require.Len(t, failed, 2)
			for _, e := range failed {
				assert.ErrorIs(t, e, alignment.ErrInvalid)
			}
			got := rec.Pairs()
			require.Len(t, got, 1, "only the prompt scored in range makes a pair")
			assert.Equal(t, "ok", got[0].Prompt.ID)
		})
	}

	t.Run("drift probes", func(t *testing.T) {
		probes := []alignment.Probe{
			{Prompt: alignment.NewPrompt("a", "q"), Response: alignment.Response{Text: "five"}},
			{Prompt: alignment.NewPrompt("b", "q"), Response: alignment.Response{Text: "seven"}},
		}
		loop := alignment.Loop{Policy: pol, Prompts: src, Judge: judge, Samples: 2,
			Safeguards: alignment.Safeguards{Reference: alignmenttest.Scores{"five": 5, "seven": 5}, Probes: probes}}
		_, err := loop.Run(t.Context())
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, "the training judge on probe 1 (prompt \"b\"): judge alignment_test.rangedFunc returned score 7, outside the range [0, 5]")
	})

	t.Run("bad range", func(t *testing.T) {
		loop := alignment.Loop{Policy: pol, Prompts: src, Judge: rangedFunc{5, 0, nil}}
		_, err := loop.Run(t.Context())
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, "Loop.Judge (alignment_test.rangedFunc) states the score range [5, 0]")
	})
}

// emptyAfter yields the prompts of genSource{n} in iterations before it,
// and none from then on, as a generator that ran dry would.
type emptyAfter struct {
	genSource
	it int
}

func (e emptyAfter) Prompts(ctx context.Context, it int) iter.Seq2[alignment.Prompt, error] {
	if it >= e.it {
		return func(func(alignment.Prompt, error) bool) {}
	}
	return e.genSource.Prompts(ctx, it)
}

func (e emptyAfter) Len(it int) int {
	if it >= e.it {
		return 0
	}
	return e.n
}

// An iteration with no prompts is an error naming the iteration, not a
// successful run with no pairs.
func TestLoopNoPrompts(t *testing.T) {
	empty, err := alignment.NewSliceSource(nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "prompts.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("\n\n"), 0o644))
	emptyFile, err := alignment.OpenJSONLPrompts(path, nil)
	require.NoError(t, err)
	tests := []struct {
		name    string
		src     alignment.PromptSource
		reports int
		want    string
	}{
		{"empty slice", empty, 0, "iteration 0 has no prompts"},
		{"empty JSONL", emptyFile, 0, "iteration 0 has no prompts"},
		{"unsized", unsized{genSource{0}}, 0, "iteration 0 has no prompts"},
		{"dry after one iteration", emptyAfter{genSource{4}, 1}, 1, "iteration 1 has no prompts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dir := range []string{"", t.TempDir()} {
				loop := alignment.Loop{Policy: seedPolicy(), Prompts: tt.src, Judge: digitJudge, Iterations: 2, Dir: dir}
				res, err := loop.Run(t.Context())
				require.Error(t, err)
				assert.ErrorIs(t, err, alignment.ErrInvalid)
				assert.Contains(t, err.Error(), tt.want)
				assert.Len(t, res.Reports, tt.reports)
				if dir != "" {
					_, again := loop.Run(t.Context())
					assert.Equal(t, err.Error(), again.Error(), "running the directory again fails the same way")
				}
			}
		})
	}
}

// A Loop whose Extra hook runs on judged prompts but makes no pair in an
// iteration raises the extra-pairs alarm; the yield check cannot see it,
// since the selected pairs still come.
func TestLoopExtraPairsAlarm(t *testing.T) {
	makes := func(n int) func(context.Context, *alignment.Item, []alignment.Scored) ([]alignment.Pair, error) {
		return func(_ context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			if x.Prompt.ID >= "p"+string(rune('0'+n)) {
				return nil, nil
			}
			return []alignment.Pair{{Prompt: x.Prompt, Chosen: rs[0].Response, Rejected: rs[1].Response, Iteration: x.Iteration, Source: "extra"}}, nil
		}
	}
	tests := []struct {
		name       string
		extra      int // prompts p0…p(extra−1) get an extra pair
		min        int
		iterations int
		extraIters int
		alarmed    []bool // per iteration
	}{
		{"none made", 0, 0, 1, 0, []bool{true}},
		{"some made", 2, 0, 1, 0, []bool{false}},
		{"check off", 0, -1, 1, 0, []bool{false}},
		{"below a higher minimum", 2, 3, 1, 0, []bool{true}},
		{"not after ExtraIterations", 0, 0, 2, 1, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loop := alignment.Loop{Policy: seedPolicy(), Prompts: genSource{6}, Judge: digitJudge, Extra: makes(tt.extra),
				Iterations: tt.iterations, ExtraIterations: tt.extraIters, Safeguards: alignment.Safeguards{MinExtraPairs: tt.min, MinYield: -1}}
			res, err := loop.Run(t.Context())
			require.NoError(t, err)
			require.Len(t, res.Reports, tt.iterations)
			for i, rep := range res.Reports {
				var kinds []alignment.AlarmKind
				for _, a := range rep.Alarms {
					kinds = append(kinds, a.Kind)
				}
				if tt.alarmed[i] {
					assert.Contains(t, kinds, alignment.AlarmExtraPairs, "iteration %d", i)
				} else {
					assert.NotContains(t, kinds, alignment.AlarmExtraPairs, "iteration %d", i)
				}
				if tt.extraIters > 0 && i >= tt.extraIters {
					assert.Zero(t, rep.ExtraPrompts, "Extra does not run after ExtraIterations")
				} else {
					assert.Equal(t, 6, rep.ExtraPrompts)
					assert.Equal(t, tt.extra, rep.ExtraPairs)
				}
			}
		})
	}

	t.Run("unjudged loops rely on the yield check", func(t *testing.T) {
		loop := alignment.Loop{Policy: seedPolicy(), Prompts: genSource{6}, Samples: 2, Extra: makes(0)}
		res, err := loop.Run(t.Context())
		require.NoError(t, err)
		require.Len(t, res.Reports[0].Alarms, 1)
		assert.Equal(t, alignment.AlarmPlateau, res.Reports[0].Alarms[0].Kind)
	})
}

// A Report's counts add up: every handled prompt is yielded, tied,
// unjudged or failed, whatever the shape of the loop.
func TestReportCountsAddUp(t *testing.T) {
	faults := &alignmenttest.Faults{PermanentRate: 0.2, Seed: 5}
	extraEven := func(_ context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		if x.Prompt.ID[len(x.Prompt.ID)-1]%2 == 1 {
			return nil, nil
		}
		return []alignment.Pair{{Prompt: x.Prompt, Chosen: rs[0].Response, Rejected: rs[0].Unrefined, Iteration: x.Iteration, Source: "extra"}}, nil
	}
	tieScores := alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if strings.HasSuffix(p.ID, "0") || strings.HasSuffix(p.ID, "5") {
			return alignment.Judgment{Score: 1}, nil // every response of the prompt ties
		}
		f := strings.Fields(r.Text)
		n, err := strconv.Atoi(f[2]) // "<id> answer <n> …": n differs between a prompt's samples
		return alignment.Judgment{Score: float64(n)}, err
	})
	tests := []struct {
		name                              string
		loop                              alignment.Loop
		yielded, ties, unjudged, failedGE int
	}{
		{"judge with ties", alignment.Loop{Judge: tieScores}, 16, 4, 0, 0},
		{"comparer", alignment.Loop{Comparer: alignmenttest.ComparerFunc(func(_ context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
			if strings.HasSuffix(p.ID, "0") {
				return alignment.Comparison{ProbA: 0.5}, nil
			}
			return alignment.Comparison{ProbA: map[bool]float64{true: 1, false: 0}[a.Text < b.Text]}, nil
		})}, 18, 2, 0, 0},
		{"extra only, unjudged", alignment.Loop{Samples: 1, Extra: extraEven, Safeguards: alignment.Safeguards{MinYield: -1}}, 10, 0, 10, 0},
		{"judge, NoPair and extra", alignment.Loop{Judge: digitJudge, Selector: alignment.NoPair{}, Extra: extraEven}, 10, 10, 0, 0},
		{"failures", alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: tieScores, FailureBudget: 1}, -1, -1, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loop := tt.loop
			if loop.Policy == nil {
				loop.Policy = seedPolicy()
			}
			loop.Prompts, loop.Iterations = genSource{20}, 2
			res, err := loop.Run(t.Context())
			require.NoError(t, err)
			for _, rep := range res.Reports {
				assert.Equal(t, rep.Prompts, rep.Yielded+rep.Ties+rep.Unjudged+rep.Failed, "%+v", rep)
				assert.Equal(t, 20, rep.Prompts)
				if tt.yielded >= 0 {
					assert.Equal(t, tt.yielded, rep.Yielded, "yielded")
					assert.Equal(t, tt.ties, rep.Ties, "ties")
				}
				assert.Equal(t, tt.unjudged, rep.Unjudged, "unjudged")
				assert.GreaterOrEqual(t, rep.Failed, tt.failedGE, "failed")
			}
		})
	}
}

// Elapsed counts each part of an iteration once: summed over the reports
// it is at most the wall time of the run, with Dir and a Trainer set and a
// slow policy, so that generation dominates.
func TestLoopElapsedCountsGenerationOnce(t *testing.T) {
	slow := &alignmenttest.Faults{Delay: 40 * time.Millisecond}
	v := newVersioned(1)
	loop := alignment.Loop{Policy: slow.Policy(v), Prompts: genSource{4}, Judge: digitJudge, Iterations: 2,
		Dir: t.TempDir(), Trainer: &wrapTrainer{bumpTrainer{}, slow}}
	start := time.Now()
	res, err := loop.Run(t.Context())
	wall := time.Since(start)
	require.NoError(t, err)
	require.Len(t, res.Reports, 2)
	var sum time.Duration
	for _, r := range res.Reports {
		assert.GreaterOrEqual(t, r.Elapsed, r.Training)
		sum += r.Elapsed
	}
	assert.LessOrEqual(t, sum, wall, "Elapsed summed over the iterations is at most the run's wall time")
}

// wrapTrainer trains a versioned policy hidden behind a slow wrapper, and
// wraps the trained one again.
type wrapTrainer struct {
	bumpTrainer
	slow *alignmenttest.Faults
}

func (w *wrapTrainer) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	next, err := w.bumpTrainer.Train(ctx, newVersioned(1), pairs)
	return w.slow.Policy(next), err
}

func (w *wrapTrainer) SaveCheckpoint(ctx context.Context, p alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "version"), []byte("1"), 0o644)
}

func (w *wrapTrainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	return w.slow.Policy(newVersioned(1)), nil
}

// Every transient fault is counted: retried ones in Retries — the calls of
// the prompts, of Extra through Item.Call, and of the judge drift probes —
// and the ones that outlasted their attempts in RetriesExhausted.
func TestLoopCountsEveryTransientFault(t *testing.T) {
	faults := &alignmenttest.Faults{TransientRate: 0.35, Seed: 21}
	judge := faults.Judge(digitJudge)
	loop := alignment.Loop{Policy: faults.Policy(seedPolicy()), Prompts: genSource{40}, Judge: judge, JudgeSamples: 2,
		Concurrency: 1, FailureBudget: 1,
		Retry: alignment.Retry{Attempts: 3, BaseDelay: time.Microsecond, MaxDelay: 10 * time.Microsecond},
		Extra: func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
			return nil, x.Call(ctx, func(ctx context.Context) error {
				_, err := x.Judge.Judge(ctx, x.Prompt, rs[0].Response)
				return err
			}, "again")
		},
		Safeguards: alignment.Safeguards{Reference: digitJudge, Probes: []alignment.Probe{
			{Prompt: alignment.NewPrompt("probe-a", "q"), Response: alignment.Response{Text: "a 1"}},
			{Prompt: alignment.NewPrompt("probe-b", "q"), Response: alignment.Response{Text: "b 4"}},
			{Prompt: alignment.NewPrompt("probe-c", "q"), Response: alignment.Response{Text: "c 3"}},
		}, MinExtraPairs: -1},
	}
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	transient, permanent := faults.Injected()
	require.Zero(t, permanent)
	assert.Positive(t, rep.RetriesExhausted, "some calls ran out of attempts")
	// A prompt whose call ran out of attempts is tried again after the
	// others (the retry pass); one still failing then exhausted a call in
	// each pass.
	assert.GreaterOrEqual(t, rep.RetriesExhausted, 2*rep.Failed, "each prompt still failing exhausted a call in both passes")
	assert.Equal(t, transient, rep.Retries+rep.RetriesExhausted, "every transient fault is counted once")
	assert.Equal(t, rep.Prompts, rep.Yielded+rep.Ties+rep.Unjudged+rep.Failed)
}
