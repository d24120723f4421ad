package alignment_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
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

// groupBump is a GroupTrainer and Checkpointer standing in for GRPO: the
// next policy's version depends on every text, score and aspect of the
// groups it was given, and it records them.
type groupBump struct {
	bumpTrainer
	mu     sync.Mutex
	groups [][]alignment.Group
}

func (g *groupBump) TrainGroups(ctx context.Context, pol alignment.Policy, groups []alignment.Group) (alignment.Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.groups = append(g.groups, groups)
	g.mu.Unlock()
	h := fnv.New64a()
	for _, gr := range groups {
		fmt.Fprintf(h, "%d %s|", gr.Iteration, gr.Prompt.ID)
		for _, s := range gr.Responses {
			fmt.Fprintf(h, "%s %s %v|", s.Response.Text, s.Unrefined.Text, s.Score)
			for _, j := range s.Judgments {
				fmt.Fprintf(h, "%v %v %v %s|", j.Score, j.Aspects["len"], j.Aspects["floor"], j.Rationale)
			}
		}
	}
	return newVersioned(pol.(*versioned).version*31 + int(h.Sum64()%97) + 1), nil
}

func (g *groupBump) trained() [][]alignment.Group {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.groups)
}

// aspectJudge is digitJudge with aspects (one of them -Inf for some
// responses, which JSON cannot hold as a number) and a rationale; it
// fails every call about prompt p4.
var aspectJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if p.ID == "p4" {
		return alignment.Judgment{}, errors.New("no verdict on p4")
	}
	j, err := digitJudge(ctx, p, r)
	j.Aspects = map[string]float64{"len": float64(len(r.Text)) / 3, "floor": j.Score - 1}
	if j.Score < 1 {
		j.Aspects["floor"] = math.Inf(-1)
	}
	j.Rationale = "it says \"" + r.Text + "\""
	return j, err
})

// evenReviser revises the responses whose text has an even length.
var evenReviser = alignmenttest.RefinerFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	if len(r.Text)%2 == 0 {
		r.Revisions = []alignment.Revision{{Refiner: "even", Text: r.Text + " 4"}}
		r.Text += " 4"
	}
	return r, nil
})

func groupLoop(dir string, tr alignment.Trainer) *alignment.Loop {
	return &alignment.Loop{Policy: newVersioned(1), Prompts: genSource{60}, Judge: aspectJudge, JudgeSamples: 2,
		Refiner: evenReviser, Trainer: tr, Dir: dir, Iterations: 3, Seed: 11, Concurrency: 4, FailureBudget: 0.5}
}

// A run with Dir journals the groups to groups.jsonl and trains on them
// read back, so that a run stopped at any point — in the middle of an
// iteration's prompts, or after them and before its training — and run
// again gives the trainer exactly the groups of an uninterrupted run (the
// same as a run without Dir gets), and writes the same files.
func TestLoopGroupTrainerDirResumes(t *testing.T) {
	mem := &groupBump{}
	_, err := groupLoop("", mem).Run(t.Context())
	require.NoError(t, err)

	ref := t.TempDir()
	refTr := &groupBump{}
	want, err := groupLoop(ref, refTr).Run(t.Context())
	require.NoError(t, err)
	require.Len(t, refTr.trained(), 3)
	assert.Equal(t, mem.trained(), refTr.trained(), "the groups read back are those a run without Dir keeps in memory")
	for it, groups := range refTr.trained() {
		assert.Len(t, groups, 59, "iteration %d: every prompt but the failed one", it)
	}

	for _, stop := range []struct {
		name string
		// start returns a run's context, which ends where the run must
		// stop, and the Observer that ends it.
		start func(ctx context.Context, stops int) (context.Context, context.CancelFunc, alignment.Observer)
	}{
		{"mid-prompts", func(ctx context.Context, stops int) (context.Context, context.CancelFunc, alignment.Observer) {
			// Each run lives a little longer than the one before, so that
			// even a slow machine finishes.
			ctx, cancel := context.WithTimeout(ctx, time.Duration(60+20*stops)*time.Millisecond)
			return ctx, cancel, nil
		}},
		{"before training", func(ctx context.Context, stops int) (context.Context, context.CancelFunc, alignment.Observer) {
			// The first run stops as it starts training iteration 0; the
			// others train the iteration whose groups the last one wrote,
			// then stop at the next.
			ctx, cancel := context.WithCancel(ctx)
			seen := 0
			return ctx, cancel, alignment.ObserverFunc(func(e alignment.Event) {
				if e.Kind == alignment.TrainingStarted {
					if seen++; seen == min(stops+1, 2) {
						cancel()
					}
				}
			})
		}},
	} {
		t.Run(stop.name, func(t *testing.T) {
			dir := t.TempDir()
			var got [][]alignment.Group
			var res alignment.Result
			stops := 0
			for ; stops < 50; stops++ {
				tr := &groupBump{}
				l := groupLoop(dir, tr)
				l.Judge = (&alignmenttest.Faults{Delay: time.Millisecond}).Judge(aspectJudge)
				ctx, cancel, obs := stop.start(t.Context(), stops)
				l.Observer = obs
				res, err = l.Run(ctx)
				cancel()
				got = append(got, tr.trained()...)
				if err == nil {
					break
				}
				require.ErrorIs(t, err, ctx.Err())
			}
			require.NoError(t, err)
			assert.Greater(t, stops, 2)
			assert.Equal(t, refTr.trained(), got, "the trainer got the same groups, in the same calls")
			assert.Equal(t, want.Policy.(*versioned).version, res.Policy.(*versioned).version)
			for _, f := range []string{alignment.PairsFile, alignment.GroupsFile} {
				assert.Equal(t, string(readFile(t, filepath.Join(ref, f))), string(readFile(t, filepath.Join(dir, f))), f)
			}
			for i := range want.Reports {
				assert.Equal(t, stripTimes(want.Reports[i]), stripTimes(res.Reports[i]))
			}
		})
	}
}

// Bytes of groups.jsonl changed, cut or removed after the run wrote them
// are refused on resume, with the damaged byte range named as for
// pairs.jsonl, whether the run there finished or was interrupted.
func TestLoopDirRefusesDamagedGroups(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, path string) (at int, want string)
	}{
		// The damage lies in the first iteration's groups, which a
		// record covers however the interrupted run stopped.
		{"bytes overwritten", func(t *testing.T, path string) (int, string) {
			data := readFile(t, path)
			at := len(data) / 4
			copy(data[at:], "####")
			require.NoError(t, os.WriteFile(path, data, 0o644))
			return at, ""
		}},
		{"cut short", func(t *testing.T, path string) (int, string) {
			data := readFile(t, path)
			require.NoError(t, os.WriteFile(path, data[:len(data)/4], 0o644))
			return -1, fmt.Sprintf("%s has %d bytes, but progress.jsonl records", path, len(data)/4)
		}},
		{"removed", func(t *testing.T, path string) (int, string) {
			require.NoError(t, os.Remove(path))
			return -1, path + " is missing, but progress.jsonl records"
		}},
	}
	for _, finished := range []bool{true, false} {
		for _, d := range damages {
			t.Run(fmt.Sprintf("%s/finished=%v", d.name, finished), func(t *testing.T) {
				dir := t.TempDir()
				loop := func() *alignment.Loop {
					l := groupLoop(dir, &groupBump{})
					l.Iterations = 2
					return l
				}
				if finished {
					_, err := loop().Run(t.Context())
					require.NoError(t, err)
				} else {
					ctx, cancel := context.WithCancel(t.Context())
					l := loop()
					l.Observer = alignment.ObserverFunc(func(e alignment.Event) {
						if e.Kind == alignment.ItemDone && e.Iteration == 1 && e.Done == 30 {
							cancel()
						}
					})
					_, err := l.Run(ctx)
					require.ErrorIs(t, err, context.Canceled)
				}
				path := filepath.Join(dir, alignment.GroupsFile)
				at, want := d.damage(t, path)

				_, err := loop().Run(t.Context())
				require.ErrorIs(t, err, alignment.ErrNotResumable)
				if at < 0 {
					assert.ErrorContains(t, err, want)
					return
				}
				m := regexp.MustCompile(regexp.QuoteMeta(path) + `: bytes (\d+) to (\d+) do not match the checksum progress.jsonl:(\d+) records`).FindStringSubmatch(err.Error())
				require.NotNil(t, m, err.Error())
				from, _ := strconv.Atoi(m[1])
				to, _ := strconv.Atoi(m[2])
				assert.True(t, from <= at && at < to, "the damage at byte %d lies in the range named, %d to %d", at, from, to)
			})
		}
	}
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

// Whatever a damaged journal and groups file hold, resuming a group run
// either refuses with ErrNotResumable or finishes with exactly the groups
// file, and the policy, of an undamaged run: a damaged group is never
// trained on.
func FuzzGroupsJournal(f *testing.F) {
	loop := func(dir string) *alignment.Loop {
		return &alignment.Loop{Policy: newVersioned(1), Judge: aspectJudge, Prompts: genSource{6}, Iterations: 2,
			Trainer: &groupBump{}, Dir: dir, Seed: 3, FailureBudget: 0.5}
	}
	clean := f.TempDir()
	wantRes, err := loop(clean).Run(context.Background())
	require.NoError(f, err)
	journal := string(readFile(f, filepath.Join(clean, alignment.ProgressFile)))
	pairs := readFile(f, filepath.Join(clean, alignment.PairsFile))
	want := readFile(f, filepath.Join(clean, alignment.GroupsFile))
	lines := strings.SplitAfter(journal, "\n")
	half := strings.Join(lines[:len(lines)/2], "")
	intact := uint32(len(want))
	f.Add(journal, intact, byte(0))
	f.Add(half, intact, byte(0))
	f.Add(journal, uint32(len(want)/2), byte('#'))
	f.Add(half, uint32(len(want)/5), byte('1'))
	f.Add(journal, uint32(len(want)-1), byte(' '))
	f.Add(lines[0]+`{"kind":"progress","iteration":0,"next":3,"groups_offset":99999,"report":{"iteration":0,"prompts":3}}`+"\n", intact, byte(0))
	f.Add(lines[0]+`{"kind":"progress","iteration":0,"groups_start":9,"groups_offset":2}`+"\n", intact, byte(0))
	f.Fuzz(func(t *testing.T, data string, at uint32, b byte) {
		dir := t.TempDir()
		groups := slices.Clone(want)
		if int64(at) < int64(len(groups)) {
			groups[at] = b
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, alignment.ProgressFile), []byte(data), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, alignment.PairsFile), pairs, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, alignment.GroupsFile), groups, 0o644))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		res, err := loop(dir).Run(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("resuming from journal %q hung", data)
			}
			if !errors.Is(err, alignment.ErrNotResumable) {
				t.Fatalf("a bad journal gave %v, want an error wrapping ErrNotResumable", err)
			}
			return
		}
		if got := readFile(t, filepath.Join(dir, alignment.GroupsFile)); string(got) != string(want) {
			t.Fatalf("resuming from journal %q with byte %d set to %q wrote\n%s\nwant\n%s", data, at, b, got, want)
		}
		if res.Policy.(*versioned).version != wantRes.Policy.(*versioned).version {
			t.Fatalf("resuming from journal %q with byte %d set to %q trained another policy", data, at, b)
		}
	})
}
