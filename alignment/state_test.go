package alignment_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func slicePrompts(t testing.TB, n int, text string) *alignment.SliceSource {
	t.Helper()
	ps := make([]alignment.Prompt, n)
	for i := range ps {
		ps[i] = alignment.NewPrompt("p"+strconv.Itoa(i), text+" "+strconv.Itoa(i))
	}
	src, err := alignment.NewSliceSource(ps)
	require.NoError(t, err)
	return src
}

func jsonlPrompts(t testing.TB, dir, text string) *alignment.JSONLSource {
	t.Helper()
	path := filepath.Join(dir, "prompts.jsonl")
	var b strings.Builder
	for i := range 8 {
		fmt.Fprintf(&b, "{\"id\": \"p%d\", \"prompt\": \"%s %d\"}\n", i, text, i)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	src, err := alignment.OpenJSONLPrompts(path, nil)
	require.NoError(t, err)
	return src
}

// A directory remembers every part that decides its pairs: running it
// again with another prompt set, judge, selector, policy, trainer or
// sampling is refused, naming the part, whether the run there finished or
// was interrupted.
func TestLoopDirRefusesChangedParts(t *testing.T) {
	base := func(t *testing.T, dir string) *alignment.Loop {
		return &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: slicePrompts(t, 8, "question"),
			Dir: dir, Seed: 1, Iterations: 2, Selector: alignment.LengthControlled{Rho: 0.1}}
	}
	tests := []struct {
		name   string
		change func(t *testing.T, l *alignment.Loop)
		want   string
	}{
		{"prompt texts", func(t *testing.T, l *alignment.Loop) { l.Prompts = slicePrompts(t, 8, "other question") }, "prompts alignment.SliceSource sha256:"},
		{"prompt count", func(t *testing.T, l *alignment.Loop) { l.Prompts = slicePrompts(t, 9, "question") }, "prompts"},
		{"prompt source type", func(t *testing.T, l *alignment.Loop) { l.Prompts = genSource{8} }, "prompts alignment.SliceSource sha256:"},
		{"judge", func(t *testing.T, l *alignment.Loop) { l.Judge = alignmenttest.Scores{} }, "judge alignmenttest.JudgeFunc there, alignmenttest.Scores here"},
		{"self-judge", func(t *testing.T, l *alignment.Loop) {
			l.SelfJudge = func(alignment.Policy) (alignment.Judge, error) { return alignmenttest.Scores{}, nil }
		}, "judge alignmenttest.JudgeFunc there, self-judge alignmenttest.Scores here"},
		{"selector", func(t *testing.T, l *alignment.Loop) { l.Selector = alignment.LengthControlled{Rho: 0.2} }, "selector alignment.LengthControlled rho=0.1 there, alignment.LengthControlled rho=0.2 here"},
		{"default selector", func(t *testing.T, l *alignment.Loop) { l.Selector = nil }, "selector alignment.LengthControlled rho=0.1 there, alignment.MaxMin here"},
		{"policy", func(t *testing.T, l *alignment.Loop) { l.Policy = newVersioned(1) }, "policy *alignmenttest.Script there, *alignment_test.versioned here"},
		{"trainer", func(t *testing.T, l *alignment.Loop) { l.Trainer = &bumpTrainer{} }, "trainer none there, *alignment_test.bumpTrainer here"},
		{"refiner", func(t *testing.T, l *alignment.Loop) { l.Refiner = alignmenttest.Rewrites{} }, "refiner none there"},
		{"extra", func(t *testing.T, l *alignment.Loop) {
			l.Extra = func(context.Context, *alignment.Item, []alignment.Scored) ([]alignment.Pair, error) { return nil, nil }
		}, "extra none there, func here"},
		{"sampling", func(t *testing.T, l *alignment.Loop) { l.Sampling.Temperature = 0.7 }, `"Temperature":0.7`},
		{"samples", func(t *testing.T, l *alignment.Loop) { l.Samples = 3 }, "samples 4 there, 3 here"},
		{"seed", func(t *testing.T, l *alignment.Loop) { l.Seed = 2 }, "seed 1 there, 2 here"},
		{"evaluation", func(t *testing.T, l *alignment.Loop) {
			l.Eval = &alignment.Evaluation{Prompts: heldOut(4), Judge: digitJudge}
		}, "eval none there, prompts sha256:"},
	}
	for _, finished := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/finished=%v", tt.name, finished), func(t *testing.T) {
				dir := t.TempDir()
				first := base(t, dir)
				if !finished {
					// Stop after the first prompt's checkpoint.
					ctx, cancel := context.WithCancel(t.Context())
					first.Observer = alignment.ObserverFunc(func(e alignment.Event) {
						if e.Kind == alignment.ItemDone {
							cancel()
						}
					})
					_, err := first.Run(ctx)
					require.ErrorIs(t, err, context.Canceled)
				} else {
					_, err := first.Run(t.Context())
					require.NoError(t, err)
				}
				before := readFile(t, filepath.Join(dir, alignment.PairsFile))
				l := base(t, dir)
				tt.change(t, l)
				res, err := l.Run(t.Context())
				require.ErrorIs(t, err, alignment.ErrNotResumable)
				assert.Contains(t, err.Error(), tt.want)
				assert.Contains(t, err.Error(), "holds a run with other settings")
				assert.Empty(t, res.Reports, "nothing is returned of the other run")
				assert.Equal(t, before, readFile(t, filepath.Join(dir, alignment.PairsFile)), "nor is its file touched")

				// The unchanged loop still resumes.
				res, err = base(t, dir).Run(t.Context())
				require.NoError(t, err)
				assert.Len(t, res.Reports, 2)
			})
		}
	}
}

// The JSONL source's fingerprint is its file's bytes: a prompts file
// edited between two runs of a directory is noticed.
func TestLoopDirRefusesEditedPromptsFile(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	loop := func(text string) *alignment.Loop {
		return &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: jsonlPrompts(t, files, text), Dir: dir}
	}
	_, err := loop("question").Run(t.Context())
	require.NoError(t, err)
	_, err = loop("question").Run(t.Context())
	require.NoError(t, err, "the same file, opened again, is the same source")
	_, err = loop("questioN").Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.Regexp(t, `prompts alignment.JSONLSource sha256:[0-9a-f]{64} there, alignment.JSONLSource sha256:[0-9a-f]{64} here`, err.Error())
}

// Parts without a fingerprint are recorded by type, and wrappers that
// forward FingerprintOf are transparent.
func TestFingerprintOf(t *testing.T) {
	var nilScript *alignmenttest.Script
	faults := &alignmenttest.Faults{Delay: 1}
	tests := []struct {
		part any
		want string
	}{
		{nil, ""},
		{alignment.MaxMin{}, "alignment.MaxMin"},
		{alignment.LengthControlled{Rho: 0.25}, "alignment.LengthControlled rho=0.25"},
		{seedPolicy(), "*alignmenttest.Script"},
		{nilScript, "*alignmenttest.Script(nil)"},
		{func() {}, "func"},
		{faults.Judge(digitJudge), "alignmenttest.JudgeFunc"},
		{faults.Policy(seedPolicy()), "*alignmenttest.Script"},
	}
	for _, tt := range tests {
		got := alignment.FingerprintOf(tt.part)
		if strings.HasSuffix(tt.want, ":") {
			assert.True(t, strings.HasPrefix(got, tt.want), "%q", got)
		} else {
			assert.Equal(t, tt.want, got)
		}
	}
	a, b := slicePrompts(t, 3, "q"), slicePrompts(t, 3, "q")
	assert.Equal(t, a.Fingerprint(), b.Fingerprint(), "equal prompts, equal digests")
	assert.NotEqual(t, a.Fingerprint(), slicePrompts(t, 3, "r").Fingerprint())
}

// Asking for fewer iterations than the directory holds is refused rather
// than answered with all of them; asking for more continues the run.
func TestLoopDirIterations(t *testing.T) {
	dir := t.TempDir()
	loop := func(n int) *alignment.Loop {
		return &alignment.Loop{Policy: newVersioned(1), Judge: digitJudge, Prompts: genSource{10}, Trainer: &bumpTrainer{}, Dir: dir, Iterations: n}
	}
	res, err := loop(4).Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 4)
	assert.Zero(t, res.Restored)

	for _, n := range []int{1, 2, 3} {
		_, err = loop(n).Run(t.Context())
		require.ErrorIs(t, err, alignment.ErrNotResumable, "Iterations %d", n)
		assert.Contains(t, err.Error(), "holds 4 finished iterations, more than Loop.Iterations = "+strconv.Itoa(n))
	}

	again, err := loop(4).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 4, again.Restored, "every iteration was read back")
	assert.Equal(t, res.Reports, again.Reports, "timings included")

	more, err := loop(6).Run(t.Context())
	require.NoError(t, err)
	require.Len(t, more.Reports, 6)
	assert.Equal(t, 4, more.Restored)
	assert.Equal(t, res.Reports, more.Reports[:4])
	assert.Equal(t, 5, more.Reports[5].Iteration)

	// An interrupted iteration counts too.
	ctx, cancel := context.WithCancel(t.Context())
	l := loop(7)
	l.Observer = alignment.ObserverFunc(func(e alignment.Event) {
		if e.Kind == alignment.ItemDone && e.Iteration == 6 {
			cancel()
		}
	})
	_, err = l.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	_, err = loop(6).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.Contains(t, err.Error(), "holds 6 finished iterations and iteration 6 in progress, more than Loop.Iterations = 6: set it to 7 or more")
}

// A journal written before format 2 cannot be checked and is refused; a
// journal holding only another run's header records no work and is
// replaced.
func TestLoopDirJournalFormat(t *testing.T) {
	loop := func(dir string) *alignment.Loop {
		return &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{5}, Dir: dir, Seed: 1}
	}
	ref := t.TempDir()
	want, err := loop(ref).Run(t.Context())
	require.NoError(t, err)

	old := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(old, alignment.PairsFile), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(old, alignment.ProgressFile), []byte(
		`{"kind":"run","iteration":0,"next":0,"start":0,"offset":0,"seed":1,"samples":4,"judge_samples":1,"source":"loop"}`+"\n"+
			`{"kind":"done","iteration":0,"next":0,"start":0,"offset":0,"report":{"iteration":0}}`+"\n"), 0o644))
	_, err = loop(old).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.Contains(t, err.Error(), "a progress journal of format 1, written by an earlier version of selfalign, without the checksums and fingerprints this one checks")

	newer := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(newer, alignment.PairsFile), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(newer, alignment.ProgressFile), []byte(
		`{"kind":"run","version":3}`+"\n"+`{"kind":"done","iteration":0,"report":{"iteration":0}}`+"\n"), 0o644))
	_, err = loop(newer).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.Contains(t, err.Error(), "a progress journal of format 3, written by a later version of selfalign; this one reads format 2 only")

	headerOnly := t.TempDir()
	other := loop(headerOnly)
	other.Seed = 2
	other.Eval = &alignment.Evaluation{Prompts: heldOut(2), Judge: alignmenttest.Scores{}} // fails before any prompt
	_, err = other.Run(t.Context())
	require.ErrorIs(t, err, alignmenttest.ErrUnscripted)
	got, err := loop(headerOnly).Run(t.Context())
	require.NoError(t, err, "a header alone is replaced")
	assert.Equal(t, stripTimes(want.Reports[0]), stripTimes(got.Reports[0]))
	assert.Equal(t, readFile(t, filepath.Join(ref, alignment.PairsFile)), readFile(t, filepath.Join(headerOnly, alignment.PairsFile)))
}

// Bytes of pairs.jsonl changed after the run wrote them are refused on
// resume, with the damaged byte range named, whether the run there
// finished or was interrupted.
func TestLoopDirRefusesDamagedPairs(t *testing.T) {
	damages := []struct {
		name   string
		damage func(data []byte) int // returns the first damaged offset
	}{
		{"bytes overwritten", func(data []byte) int {
			at := len(data) / 3
			copy(data[at:], "####")
			return at
		}},
		{"a line replaced by NULs", func(data []byte) int {
			start := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
			end := start + bytes.IndexByte(data[start:], '\n')
			for i := start; i < end; i++ {
				data[i] = 0
			}
			return start
		}},
		{"first byte", func(data []byte) int { data[0] = '['; return 0 }},
	}
	for _, finished := range []bool{true, false} {
		for _, d := range damages {
			t.Run(fmt.Sprintf("%s/finished=%v", d.name, finished), func(t *testing.T) {
				dir := t.TempDir()
				loop := &alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{40}, Dir: dir, Iterations: 2}
				if finished {
					_, err := loop.Run(t.Context())
					require.NoError(t, err)
				} else {
					ctx, cancel := context.WithCancel(t.Context())
					l := *loop
					l.Observer = alignment.ObserverFunc(func(e alignment.Event) {
						if e.Kind == alignment.ItemDone && e.Iteration == 1 && e.Done == 20 {
							cancel()
						}
					})
					_, err := l.Run(ctx)
					require.ErrorIs(t, err, context.Canceled)
				}
				path := filepath.Join(dir, alignment.PairsFile)
				data := readFile(t, path)
				at := d.damage(data)
				require.NoError(t, os.WriteFile(path, data, 0o644))

				_, err := loop.Run(t.Context())
				require.ErrorIs(t, err, alignment.ErrNotResumable)
				m := regexp.MustCompile(regexp.QuoteMeta(path) + `: bytes (\d+) to (\d+) do not match the checksum progress.jsonl:(\d+) records`).FindStringSubmatch(err.Error())
				require.NotNil(t, m, err.Error())
				from, _ := strconv.Atoi(m[1])
				to, _ := strconv.Atoi(m[2])
				assert.True(t, from <= at && at < to, "the damage at byte %d lies in the range named, %d to %d", at, from, to)
				assert.Equal(t, data, readFile(t, path), "the damaged file is left for inspection")
			})
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// outage is a backend down for the prompts in ids: their calls fail
// transiently while down is true.
type outage struct {
	alignment.Policy
	mu   sync.Mutex
	ids  map[string]bool
	down bool
}

func newOutage(p alignment.Policy, ids ...string) *outage {
	o := &outage{Policy: p, ids: map[string]bool{}, down: true}
	for _, id := range ids {
		o.ids[id] = true
	}
	return o
}

func (o *outage) set(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *outage) Generate(ctx context.Context, p alignment.Prompt, so alignment.SampleOptions) ([]alignment.Response, error) {
	o.mu.Lock()
	down := o.down && o.ids[p.ID]
	o.mu.Unlock()
	if down {
		return nil, fmt.Errorf("backend unavailable: %w", alignment.ErrTransient)
	}
	return o.Policy.Generate(ctx, p, so)
}

func (o *outage) Fingerprint() string { return alignment.FingerprintOf(o.Policy) }

func pairLines(t testing.TB, dir string) []string {
	t.Helper()
	data := string(readFile(t, filepath.Join(dir, alignment.PairsFile)))
	return strings.Split(strings.TrimSuffix(data, "\n"), "\n")
}

func pairIDs(t testing.TB, dir string) []string {
	t.Helper()
	var ids []string
	for p, err := range alignment.ReadPairs(strings.NewReader(string(readFile(t, filepath.Join(dir, alignment.PairsFile))))) {
		require.NoError(t, err)
		ids = append(ids, p.Prompt.ID)
	}
	return ids
}

// Prompts whose transient failures outlast the retries are tried again at
// the end of the iteration, after the outage; their pairs follow the
// others', and the report counts no failure.
func TestLoopRetriesFailedPromptsAtIterationEnd(t *testing.T) {
	ref := t.TempDir()
	clean := alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{12}, Dir: ref, FailureBudget: 0.3,
		Retry: alignment.Retry{Attempts: 2, BaseDelay: time.Microsecond}}
	want, err := clean.Run(t.Context())
	require.NoError(t, err)

	dir := t.TempDir()
	pol := newOutage(seedPolicy(), "p3", "p7")
	var failed, done []string
	loop := clean
	loop.Dir, loop.Policy = dir, pol
	loop.Observer = alignment.ObserverFunc(func(e alignment.Event) {
		switch e.Kind {
		case alignment.ItemFailed:
			failed = append(failed, e.PromptID)
		case alignment.ItemDone:
			done = append(done, e.PromptID)
			if e.PromptID == "p11" {
				pol.set(false) // the outage ends with the main pass
			}
		}
	})
	res, err := loop.Run(t.Context())
	require.NoError(t, err)
	rep := res.Reports[0]
	assert.Equal(t, []string{"p3", "p7"}, failed, "both failed once the retries ran out")
	assert.Equal(t, []string{"p0", "p1", "p2", "p4", "p5", "p6", "p8", "p9", "p10", "p11", "p3", "p7"}, done, "and were retried after the others")
	assert.Zero(t, rep.Failed)
	assert.Empty(t, rep.Failures)
	assert.Equal(t, stripTimes(want.Reports[0]).Pairs, rep.Pairs)
	assert.Equal(t, 12, rep.Prompts)
	assert.ElementsMatch(t, pairLines(t, ref), pairLines(t, dir), "the same pairs, each once")
	ids := pairIDs(t, dir)
	assert.Equal(t, []string{"p3", "p7"}, ids[len(ids)-2:], "the retried prompts' pairs come last, in prompt order")
}

// A run stopped by the failure budget during an outage, run again once the
// backend is back, retries the failed prompts first and writes every pair
// exactly once.
func TestLoopResumeRetriesFailedPrompts(t *testing.T) {
	ref := t.TempDir()
	newLoop := func(dir string, pol alignment.Policy) *alignment.Loop {
		return &alignment.Loop{Policy: pol, Judge: digitJudge, Prompts: genSource{30}, Dir: dir, Iterations: 2,
			Concurrency: 1, Retry: alignment.Retry{Attempts: 2, BaseDelay: time.Microsecond}}
	}
	want, err := newLoop(ref, seedPolicy()).Run(t.Context())
	require.NoError(t, err)

	dir := t.TempDir()
	pol := newOutage(seedPolicy(), "p4", "p9", "p20", "p21")
	_, err = newLoop(dir, pol).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrBudget, "4 failures of 30 prompts are over the budget of 3")

	_, err = newLoop(dir, pol).Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrBudget, "still down: the retries fail again, and the budget counts them")
	assert.Contains(t, err.Error(), "4 of 30 prompts failed")

	pol.set(false)
	got, err := newLoop(dir, pol).Run(t.Context())
	require.NoError(t, err, "the failed prompts are retried, not counted against the budget again")
	require.Len(t, got.Reports, 2)
	assert.Zero(t, got.Reports[0].Failed)
	assert.Equal(t, 30, got.Reports[0].Prompts)
	for i, w := range want.Reports {
		g := got.Reports[i]
		assert.Equal(t, []int{w.Prompts, w.Failed, w.Pairs, w.Ties, w.Yielded, w.Score.N}, []int{g.Prompts, g.Failed, g.Pairs, g.Ties, g.Yielded, g.Score.N},
			"iteration %d counts as in the uninterrupted run", i)
		assert.InDelta(t, w.Score.Mean, g.Score.Mean, 1e-12, "the same scores, summed in another order")
	}
	assert.ElementsMatch(t, pairLines(t, ref), pairLines(t, dir), "every pair, each once")
	ids := pairIDs(t, dir)
	at := slices.Index(ids, "p4")
	require.GreaterOrEqual(t, at, 0)
	assert.Equal(t, "p9", ids[at+1], "the retried prompts are written together, in prompt order")
}

// Prompts that fail for good are retried and stay failed; an interrupted
// run resumed any number of times writes the uninterrupted run's file, and
// every report counts the failures.
func TestLoopResumeWithFailuresIsExact(t *testing.T) {
	faults := &alignmenttest.Faults{PermanentIDs: []string{"p5", "p17", "p60", "p200"}, Delay: time.Millisecond}
	newLoop := func(dir string) *alignment.Loop {
		return &alignment.Loop{Policy: faults.Policy(seedPolicy()), Judge: digitJudge, Prompts: genSource{250}, Dir: dir,
			Iterations: 2, Concurrency: 4, Seed: 5}
	}
	ref := t.TempDir()
	want, err := newLoop(ref).Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, 4, want.Reports[0].Failed)
	assert.InDelta(t, float64(want.Reports[0].Yielded)/250, want.Reports[0].Signals.Yield, 1e-12, "the yield is over all prompts, failed ones included")

	dir := t.TempDir()
	var got alignment.Result
	stops := 0
	for ; stops < 60; stops++ {
		// Each run lives a little longer, so that a slow machine finishes.
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(20+stops*stops)*time.Millisecond)
		got, err = newLoop(dir).Run(ctx)
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.NoError(t, err)
	assert.Greater(t, stops, 2)
	assert.Equal(t, string(readFile(t, filepath.Join(ref, alignment.PairsFile))), string(readFile(t, filepath.Join(dir, alignment.PairsFile))))
	for i := range want.Reports {
		w, g := stripTimes(want.Reports[i]), stripTimes(got.Reports[i])
		w.Retries, g.Retries = 0, 0 // retried prompts count their calls again
		w.Responses, g.Responses, w.Judgments, g.Judgments = 0, 0, 0, 0
		w.Failures, g.Failures = failureIDs(w.Failures), failureIDs(g.Failures) // the errors number the calls
		assert.Equal(t, w, g)
	}
}

func failureIDs(fs []alignment.Failure) []alignment.Failure {
	out := make([]alignment.Failure, len(fs))
	for i, f := range fs {
		out[i] = alignment.Failure{PromptID: f.PromptID}
	}
	return out
}

// A run cancelled after a prompt's sampling, before its judge calls, must
// not count the prompt as handled: the calls not made would count as
// zeros (a tie), and a resumed run would skip the prompt.
func TestLoopCancelBeforeJudgingLosesNoPrompt(t *testing.T) {
	ref := t.TempDir()
	_, err := (&alignment.Loop{Policy: seedPolicy(), Judge: digitJudge, Prompts: genSource{1}, Dir: ref}).Run(t.Context())
	require.NoError(t, err)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pol := cancelling{seedPolicy(), cancel}
	_, err = (&alignment.Loop{Policy: pol, Judge: digitJudge, Prompts: genSource{1}, Dir: dir, Concurrency: 1}).Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	res, err := (&alignment.Loop{Policy: pol, Judge: digitJudge, Prompts: genSource{1}, Dir: dir, Concurrency: 1}).Run(t.Context())
	require.NoError(t, err)
	assert.Zero(t, res.Reports[0].Ties, "the prompt was judged, not taken for a tie")
	assert.Equal(t, string(readFile(t, filepath.Join(ref, alignment.PairsFile))), string(readFile(t, filepath.Join(dir, alignment.PairsFile))))
}

// cancelling cancels a context once it has answered.
type cancelling struct {
	alignment.Policy
	cancel context.CancelFunc
}

func (c cancelling) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	defer c.cancel()
	return c.Policy.Generate(ctx, p, o)
}

func (c cancelling) Fingerprint() string { return alignment.FingerprintOf(c.Policy) }
