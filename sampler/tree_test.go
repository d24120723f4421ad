package sampler

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// fenced returns the content of the last region fenced with tag in text.
func fenced(text, tag string) string {
	open, close := "<"+tag+">\n", "\n</"+tag+">"
	i := strings.LastIndex(text, open)
	if i < 0 {
		return ""
	}
	rest := text[i+len(open):]
	j := strings.Index(rest, close)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// refiner is a scripted policy whose k-th refinement of text T is "T.k".
func refiner() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, k int) alignment.Response {
		return alignment.Response{Text: "Revision: " + fenced(p.Text(), "response") + "." + strconv.Itoa(k), FinishReason: "stop"}
	}}
}

// table is a judge scoring texts from a map (0 for others), with a
// rationale naming the text, and counting its calls.
type table struct {
	mu     sync.Mutex
	scores map[string]float64
	calls  []string
}

func (j *table) Judge(ctx context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, r.Text)
	return alignment.Judgment{Score: j.scores[r.Text], Rationale: "needs work on " + r.Text}, nil
}

func (j *table) ScoreRange() (lo, hi float64) { return 0, 1 }

// oneJudgment is the search of the tests that count calls: one judgment
// per node, accepted when it passes.
var oneJudgment = &TreeOptions{Samples: 1, Threshold: -1}

func TestTreeSearchFindsPlantedRefinement(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		pol := refiner()
		judge := &table{scores: map[string]float64{"r.1": 0.5, "r.1.2": 1, "r.0.0.0": 1, "r.1.2.0": 1}}
		ts, err := NewTreeSearch(pol, judge, &TreeOptions{Branch: 3, Depth: 4, Keep: keep, Samples: 1, Threshold: -1})
		require.NoError(t, err)
		p := alignment.NewPrompt("p", "Write r properly.")
		in := alignment.Response{Text: "r", Source: "actor", Tokens: 1, Revisions: []alignment.Revision{{Refiner: "earlier", Text: "r"}}}
		res, err := ts.Search(context.Background(), p, in)
		require.NoError(t, err)

		assert.True(t, res.Found, "keep %d", keep)
		assert.Equal(t, 2, res.Depth, "the planted refinement sits at depth 2")
		assert.Equal(t, "r.1.2", res.Response.Text)
		assert.Equal(t, 1.0, res.PassRate)
		assert.Equal(t, 1.0, res.Score)
		assert.Equal(t, 0.0, res.OriginalScore)
		assert.Equal(t, in, res.Original)
		require.Len(t, res.Response.Revisions, 3)
		assert.Equal(t, in.Revisions[0], res.Response.Revisions[0])
		assert.Equal(t, alignment.Revision{Refiner: refinerName, Critique: "needs work on r", Text: "r.1"}, res.Response.Revisions[1])
		assert.Equal(t, alignment.Revision{Refiner: refinerName, Critique: "needs work on r.1", Text: "r.1.2"}, res.Response.Revisions[2])
		assert.Equal(t, refinerName, res.Response.Source)
		assert.Zero(t, res.Response.Tokens)

		// Breadth-first with r.1 ranked first at depth 1: the search stops
		// at r.1.2 and never judges anything deeper.
		wantJudged := []string{"r", "r.0", "r.1", "r.2", "r.1.0", "r.1.1", "r.1.2"}
		assert.Equal(t, wantJudged, judge.calls, "keep %d", keep)
		assert.Len(t, pol.Calls(), 2)
		assert.Equal(t, 9, res.Calls)
		assert.Equal(t, TreeStats{Searches: 1, Found: 1}, ts.Stats())

		pair, ok := res.Pair(p)
		require.True(t, ok)
		assert.Equal(t, "spar", pair.Source)
		assert.Equal(t, "r.1.2", pair.Chosen.Text)
		assert.Equal(t, "r", pair.Rejected.Text)
		assert.Equal(t, [2]float64{1, 0}, [2]float64{pair.ScoreChosen, pair.ScoreRejected})

		refined, err := ts.Refine(context.Background(), p, in)
		require.NoError(t, err)
		assert.Equal(t, res.Response, refined)
	}
}

func TestTreeSearchBudget(t *testing.T) {
	judge := &table{scores: map[string]float64{"r.1": 0.5, "r.1.2": 1}}
	p := alignment.NewPrompt("p", "q")
	in := alignment.Response{Text: "r"}

	ts, err := NewTreeSearch(refiner(), judge, &TreeOptions{Keep: 1, Budget: 9, Samples: 1, Threshold: -1})
	require.NoError(t, err)
	res, err := ts.Search(context.Background(), p, in)
	require.NoError(t, err)
	assert.True(t, res.Found, "nine calls are enough")

	ts, err = NewTreeSearch(refiner(), judge, &TreeOptions{Keep: 1, Budget: 8, Samples: 1, Threshold: -1})
	require.NoError(t, err)
	_, err = ts.Refine(context.Background(), p, in)
	assert.ErrorIs(t, err, ErrBudget)
	assert.ErrorContains(t, err, "more than 8 model calls")
	assert.Equal(t, TreeStats{OverBudget: 1}, ts.Stats())
}

func TestTreeSearchOutcomes(t *testing.T) {
	p := alignment.NewPrompt("p", "q")
	in := alignment.Response{Text: "r", Source: "actor"}

	pol := refiner()
	ts, err := NewTreeSearch(pol, &table{scores: map[string]float64{"r": 1}}, oneJudgment)
	require.NoError(t, err)
	res, err := ts.Search(context.Background(), p, in)
	require.NoError(t, err)
	assert.True(t, res.AlreadyPassing)
	assert.False(t, res.Found)
	assert.Equal(t, in, res.Response)
	assert.Empty(t, pol.Calls(), "a passing response is not refined")
	_, ok := res.Pair(p)
	assert.False(t, ok)

	judge := &table{scores: map[string]float64{}}
	ts, err = NewTreeSearch(refiner(), judge, &TreeOptions{Branch: 2, Depth: 2, Samples: 1, Threshold: -1})
	require.NoError(t, err)
	out, err := ts.Refine(context.Background(), p, in)
	require.NoError(t, err)
	assert.Equal(t, in, out, "no passing refinement: the input comes back unchanged")
	assert.Len(t, judge.calls, 1+2+4)
	assert.Equal(t, TreeStats{Searches: 1, Exhausted: 1}, ts.Stats())
}

func TestTreeSearchPassRate(t *testing.T) {
	// Each judging of "r.0" alternates pass and fail; "r.1" always passes.
	var mu sync.Mutex
	seen := map[string]int{}
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Text]++
		pass := r.Text == "r.1" || r.Text == "r.0" && seen[r.Text]%2 == 1
		if pass {
			return alignment.Judgment{Score: 5}, nil
		}
		return alignment.Judgment{Score: 2}, nil
	})
	for _, tt := range []struct {
		threshold float64
		want      string
	}{
		{-1, "r.0"},  // any passing sample is enough
		{0.5, "r.1"}, // r.0 passes half the time, which does not exceed 0.5
		{0, "r.1"},   // the default is 0.5
	} {
		clear(seen)
		ts, err := NewTreeSearch(refiner(), judge, &TreeOptions{Samples: 4, Threshold: tt.threshold})
		require.NoError(t, err)
		res, err := ts.Search(context.Background(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
		require.NoError(t, err)
		assert.Equal(t, tt.want, res.Response.Text, "threshold %v", tt.threshold)
		assert.Equal(t, 4, seen["r"], "each node is judged Samples times")
		if tt.want == "r.1" {
			assert.Equal(t, 1.0, res.PassRate)
			assert.Equal(t, 5.0, res.Score)
		} else {
			assert.Equal(t, 0.5, res.PassRate)
			assert.Equal(t, 3.5, res.Score)
		}
	}
}

func TestTreeSearchSkipsBadCandidates(t *testing.T) {
	pol := &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, k int) alignment.Response {
		switch k {
		case 0:
			return alignment.Response{Text: "I cannot help."}
		case 1:
			return alignment.Response{Text: "Revision: " + strings.ToUpper(fenced(p.Text(), "response"))}
		}
		return alignment.Response{Text: "Revision: fixed"}
	}}
	judge := &table{scores: map[string]float64{"fixed": 1}}
	ts, err := NewTreeSearch(pol, judge, oneJudgment)
	require.NoError(t, err)
	res, err := ts.Search(context.Background(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "bad"})
	require.NoError(t, err)
	assert.Equal(t, "fixed", res.Response.Text)
	assert.Equal(t, []string{"bad", "fixed"}, judge.calls, "the unparsed and the repeated candidates are not judged")
	assert.Equal(t, TreeStats{Searches: 1, Found: 1, Unparsed: 1, Duplicates: 1}, ts.Stats())
}

func TestTreeSearchPrompt(t *testing.T) {
	pol := refiner()
	judge := &table{scores: map[string]float64{"r.0": 1}}
	ts, err := NewTreeSearch(pol, judge, &TreeOptions{Sample: alignment.SampleOptions{Temperature: 0.9, N: 7, Stop: []string{"##"}}})
	require.NoError(t, err)
	hostile := "r"
	multi := alignment.Prompt{ID: "m", Messages: []alignment.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say r."}}}
	_, err = ts.Search(context.Background(), multi, alignment.Response{Text: hostile})
	require.NoError(t, err)
	calls := pol.Calls()
	require.Len(t, calls, 1)
	text := calls[0].Prompt.Text()
	assert.Equal(t, "system: Be brief.\n\nuser: Say r.", fenced(text, "request"))
	assert.Equal(t, "needs work on r", fenced(text, "feedback"))
	assert.True(t, strings.HasSuffix(text, "\nRevision:"))
	assert.Equal(t, 3, calls[0].Options.N, "N comes from Branch")
	assert.Equal(t, 0.9, calls[0].Options.Temperature)
	assert.Equal(t, []string{"##"}, calls[0].Options.Stop)
	assert.Equal(t, "m", calls[0].Prompt.ID)
}

func TestTreeSearchSeeds(t *testing.T) {
	pol := refiner()
	var mu sync.Mutex
	var judged []uint64
	judge := alignmenttest.JudgeFunc(func(ctx context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		s, _ := alignment.SeedFrom(ctx)
		mu.Lock()
		judged = append(judged, s)
		mu.Unlock()
		return alignment.Judgment{}, nil
	})
	ts, err := NewTreeSearch(pol, judge, &TreeOptions{Branch: 1, Depth: 1, Seed: 3})
	require.NoError(t, err)
	p, in := alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"}
	run := func(ctx context.Context) (uint64, []uint64) {
		judged = nil
		_, err := ts.Search(ctx, p, in)
		require.NoError(t, err)
		calls := pol.Calls()
		return calls[len(calls)-1].Options.Seed, append([]uint64(nil), judged...)
	}
	s1, j1 := run(context.Background())
	s2, j2 := run(context.Background())
	assert.Equal(t, s1, s2)
	assert.Equal(t, j1, j2)
	assert.NotEqual(t, j1[0], j1[1], "each node is judged under its own seed")
	s3, j3 := run(alignment.WithSeed(context.Background(), 8))
	assert.NotEqual(t, s1, s3, "a seed in ctx takes precedence")
	assert.NotEqual(t, j1, j3)
}

func TestTreeSearchErrors(t *testing.T) {
	pol, judge := refiner(), &table{}
	for name, o := range map[string]*TreeOptions{
		"negative branch":  {Branch: -1},
		"negative depth":   {Depth: -1},
		"negative keep":    {Keep: -1},
		"negative samples": {Samples: -1},
		"negative budget":  {Budget: -1},
		"threshold 1":      {Threshold: 1},
		"-Inf threshold":   {Threshold: math.Inf(-1)},
		"NaN threshold":    {Threshold: math.NaN()},
		"NaN pass":         {Pass: math.NaN()},
		"bad temperature":  {Sample: alignment.SampleOptions{Temperature: -1}},
	} {
		ts, err := NewTreeSearch(pol, judge, o)
		assert.Nil(t, ts, name)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	_, err := NewTreeSearch(nil, judge, nil)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = NewTreeSearch(pol, nil, nil)
	assert.ErrorIs(t, err, ErrInvalid)

	nan := alignmenttest.JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: math.NaN()}, nil
	})
	ts, err := NewTreeSearch(pol, nan, nil)
	require.NoError(t, err)
	_, err = ts.Refine(context.Background(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
	assert.ErrorIs(t, err, ErrScore)

	ts, err = NewTreeSearch(&alignmenttest.Script{}, judge, nil)
	require.NoError(t, err)
	_, err = ts.Refine(context.Background(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ts.Refine(ctx, alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestTreeSearchDefaultPass(t *testing.T) {
	// Without a Ranged judge, a sample passes at 5, the top of the default
	// rubric.
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: map[string]float64{"r.0": 4.9, "r.1": 5}[r.Text]}, nil
	})
	ts, err := NewTreeSearch(refiner(), judge, nil)
	require.NoError(t, err)
	res, err := ts.Search(context.Background(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
	require.NoError(t, err)
	assert.Equal(t, "r.1", res.Response.Text)
}

func TestTreeSearchConformance(t *testing.T) {
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if strings.HasSuffix(r.Text, ".1") {
			return alignment.Judgment{Score: 1}, nil
		}
		return alignment.Judgment{Score: 0, Rationale: "not yet"}, nil
	})
	ts, err := NewTreeSearch(refiner(), judge, &TreeOptions{Pass: 1})
	require.NoError(t, err)
	if err := alignmenttest.TestRefiner(t.Context(), ts); err != nil {
		t.Error(err)
	}
}

// TestTreeSearchSPaRDefaults: the zero options are SPaR's (thu-coai/SPaR,
// src/ToT/task.py): breadth 3, the best 2 of a level kept, depth 3, 5
// judgments per node, accepted on a pass rate above 0.5.
func TestTreeSearchSPaRDefaults(t *testing.T) {
	ts, err := NewTreeSearch(refiner(), &table{}, nil)
	require.NoError(t, err)
	o := ts.o
	assert.Equal(t, [4]int{3, 3, 2, 5}, [4]int{o.Branch, o.Depth, o.Keep, o.Samples})
	assert.Equal(t, 0.5, o.Threshold)
	ts, err = NewTreeSearch(refiner(), &table{}, &TreeOptions{Branch: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, ts.o.Keep, "no more kept than drawn")

	// "r.0" passes 2 of its 5 judgments, "r.1" 3 of 5: a majority.
	var mu sync.Mutex
	seen := map[string]int{}
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Text]++
		n := seen[r.Text]
		if r.Text == "r.0" && n <= 2 || r.Text == "r.1" && n <= 3 {
			return alignment.Judgment{Score: 5}, nil
		}
		return alignment.Judgment{Score: 1, Rationale: "no"}, nil
	})
	ts, err = NewTreeSearch(refiner(), judge, nil)
	require.NoError(t, err)
	res, err := ts.Search(t.Context(), alignment.NewPrompt("p", "q"), alignment.Response{Text: "r"})
	require.NoError(t, err)
	assert.Equal(t, "r.1", res.Response.Text)
	assert.Equal(t, 0.6, res.PassRate)
	assert.Equal(t, map[string]int{"r": 5, "r.0": 5, "r.1": 5}, seen)
}

// TestTreeSearchRefinerTrace: a successful search records the prompt that
// asked for the accepted refinement, the answer that gave it and the
// failed answers to the same prompt, which make the refiner's pair.
func TestTreeSearchRefinerTrace(t *testing.T) {
	// Level 1: r.0 and r.1 fail; r.0 has the best score and is expanded
	// first; r.0.0 fails, r.0.1 passes.
	judge := &table{scores: map[string]float64{"r.0": 0.5, "r.0.1": 1}}
	ts, err := NewTreeSearch(refiner(), judge, &TreeOptions{Branch: 2, Samples: 1})
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "Write r properly.")
	actor, ref, found, err := ts.SearchPairs(t.Context(), p, alignment.Response{Text: "r"})
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "r.0.1", actor.Chosen.Text)
	assert.Equal(t, "r", actor.Rejected.Text)
	assert.Equal(t, "spar", actor.Source)

	assert.Equal(t, "refine:p", ref.Prompt.ID)
	assert.Equal(t, "r.0", fenced(ref.Prompt.Text(), "response"), "the prompt that refined r.0")
	assert.Equal(t, "needs work on r.0", fenced(ref.Prompt.Text(), "feedback"))
	assert.Equal(t, "Revision: r.0.1", ref.Chosen.Text, "the refiner's whole answer")
	assert.Equal(t, "Revision: r.0.0", ref.Rejected.Text, "the failed sibling")
	assert.Equal(t, "spar-refiner", ref.Source)
	assert.False(t, ref.Scored)

	// The first answer passes: the rejected answer repeats the text it
	// was asked to refine.
	ts, err = NewTreeSearch(refiner(), &table{scores: map[string]float64{"r.0": 1}}, &TreeOptions{Samples: 1})
	require.NoError(t, err)
	_, ref, found, err = ts.SearchPairs(t.Context(), p, alignment.Response{Text: "r", Revisions: []alignment.Revision{{Text: "earlier"}}})
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "Revision: r.0", ref.Chosen.Text)
	assert.Equal(t, "Revision: r", ref.Rejected.Text, "the original, not a revision made before the search")
	ts, err = NewTreeSearch(refiner(), &table{scores: map[string]float64{"r.0": 0.5, "r.0.0": 1}}, &TreeOptions{Samples: 1})
	require.NoError(t, err)
	_, ref, _, err = ts.SearchPairs(t.Context(), p, alignment.Response{Text: "r"})
	require.NoError(t, err)
	assert.Equal(t, "Revision: r.0", ref.Rejected.Text, "at depth 2, the parent")

	// Nothing found, or nothing to refine: no pairs.
	ts, err = NewTreeSearch(refiner(), &table{scores: map[string]float64{"r": 1}}, nil)
	require.NoError(t, err)
	_, _, found, err = ts.SearchPairs(t.Context(), p, alignment.Response{Text: "r"})
	require.NoError(t, err)
	assert.False(t, found)
	_, ok := TreeResult{}.RefinerPair()
	assert.False(t, ok)
}
