package recipe_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/sampler"
)

// SPaR on fakes: the actor's answer that the judge fails is refined by a
// tree search until a correction passes; the correction is preferred to
// the failed answer (the actor's pair), and the refiner's answer that gave
// it to a failed answer to the same refine prompt (the refiner's pair).
// The actor and the refiner are one model here, as by default.
func ExampleSPaR() {
	model := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		text := p.Text()
		if i := strings.Index(text, "<response>\n"); i >= 0 { // a refine prompt
			draft := strings.TrimSuffix(text[i+len("<response>\n"):strings.Index(text, "\n</response>")], ".")
			if k == 0 {
				return alignment.Response{Text: "Revision: " + draft + "?"} // a miss
			}
			return alignment.Response{Text: "It must end with an exclamation mark.\nRevision: " + draft + "!"}
		}
		answers := map[string][]string{
			"Greet me, and end with an exclamation mark.": {"Hello.", "Hi!"},
			"Cheer for the team, ending with a bang.":     {"Go team!"},
		}[text]
		return alignment.Response{Text: answers[k%len(answers)]}
	}}
	// The judge passes answers that end with "!" and fails the rest; in a
	// real run it is the model itself, judging at temperature 0.7.
	judge := alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		if strings.HasSuffix(r.Text, "!") {
			return alignment.Judgment{Score: 5, Rationale: "Follows the instruction."}, nil
		}
		return alignment.Judgment{Score: 0, Rationale: "It does not end with an exclamation mark."}, nil
	})
	trainer := trainerOf(func(p alignment.Policy) alignment.Policy { return p })
	sink := &alignment.MemorySink{}
	s := recipe.SPaR{
		Base: alignment.Loop{Policy: model, Trainer: trainer, Sink: sink, Iterations: 1, Samples: 2,
			Prompts: examplePrompts("Greet me, and end with an exclamation mark.", "Cheer for the team, ending with a bang.")},
		Judge: func(alignment.Policy) (alignment.Judge, error) { return judge, nil },
		Search: func(refiner alignment.Policy, j alignment.Judge) (recipe.RefinementSearcher, error) {
			return sampler.NewTreeSearch(refiner, j, nil) // SPaR's breadth 3, keep 2, depth 3, 5 judgments
		},
	}
	res, err := s.Run(context.Background())
	if err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	fmt.Println("pairs trained on:", res.Reports[0].Pairs)
	// Output:
	// spar 0 p1: "Hello!" over "Hello."
	// spar-refiner 0 refine:p1: "It must end with an exclamation mark.\nRevision: Hello!" over "Revision: Hello?"
	// pairs trained on: 2
}

// fakeSearch is a RefinementSearcher that records what it was asked to
// refine and "refines" an answer by appending "!".
type fakeSearch struct {
	mu       sync.Mutex
	searched []string
	fail     bool
}

func (f *fakeSearch) SearchPairs(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Pair, alignment.Pair, bool, error) {
	f.mu.Lock()
	f.searched = append(f.searched, r.Text)
	f.mu.Unlock()
	if f.fail {
		return alignment.Pair{}, alignment.Pair{}, false, nil
	}
	actor := alignment.Pair{Prompt: p, Chosen: alignment.Response{Text: r.Text + "!"}, Rejected: r, Source: "x"}
	ref := alignment.Pair{Prompt: alignment.NewPrompt("refine:"+p.ID, "refine "+r.Text), Chosen: alignment.Response{Text: "Revision: " + r.Text + "!"},
		Rejected: alignment.Response{Text: "Revision: " + r.Text}, Source: "y"}
	return actor, ref, true, nil
}

// votes is a judge that gives each text its scripted scores in turn.
type votes struct {
	mu     sync.Mutex
	scores map[string][]float64
	calls  map[string]int
}

func (v *votes) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.scores[r.Text]
	n := v.calls[r.Text]
	v.calls[r.Text]++
	return alignment.Judgment{Score: s[n%len(s)], Rationale: "r"}, nil
}

func (v *votes) ScoreRange() (lo, hi float64) { return 0, 1 }

// TestSPaRRefinesFailingAnswers: an answer fails unless a majority of its
// 5 judgments pass; one failing answer per prompt is searched; the
// search's pairs are the iteration's only pairs, the refiner's included
// when the refiner is the actor's own model.
func TestSPaRRefinesFailingAnswers(t *testing.T) {
	// A text whose scripted votes differ appears once among a prompt's 5
	// samples: the votes judge counts calls per text, and the 5 judgments
	// of two equal answers, made concurrently, would share out its votes
	// in any order.
	texts := func(v int, id string) []string {
		return map[string][]string{
			"q1": {"three of five", "all pass", "all pass", "all pass", "all pass"},
			"q2": {"two of five", "none pass", "none pass", "none pass", "none pass"},
			"q3": {"all pass"},
		}[id]
	}
	scores := map[string][]float64{
		"three of five": {1, 0, 1, 0, 1},
		"two of five":   {1, 0, 1, 0, 0},
		"none pass":     {0},
		"all pass":      {1},
	}
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprint("separate refiner ", separate), func(t *testing.T) {
			search := &fakeSearch{}
			var built []alignment.Policy
			var mu sync.Mutex
			tr := &rcpTrainer{texts: texts}
			rec := &alignmenttest.Recorder{}
			s := recipe.SPaR{
				Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q1", "q2", "q3"), Trainer: tr, Sink: rec, Iterations: 2},
				Judge: func(alignment.Policy) (alignment.Judge, error) {
					return &votes{scores: scores, calls: map[string]int{}}, nil
				},
				Search: func(r alignment.Policy, j alignment.Judge) (recipe.RefinementSearcher, error) {
					mu.Lock()
					built = append(built, r)
					mu.Unlock()
					return search, nil
				},
			}
			if separate {
				s.Refiner = newRcpPolicy(99, texts)
			}
			l, err := s.Loop()
			require.NoError(t, err)
			assert.Equal(t, [3]int{5, 5, 2}, [3]int{l.Samples, l.JudgeSamples, l.Iterations}, "Samples 5 and JudgeSamples 5 by default")
			res, err := s.Run(t.Context())
			require.NoError(t, err)

			// Only q2's answers fail (2 and 0 passes of 5); one of them is
			// refined each iteration.
			var want []brief
			for it, r := range search.searched {
				assert.Contains(t, []string{"two of five", "none pass"}, r)
				want = append(want, brief{"q2", r + "!", r, "spar", it})
				if !separate {
					want = append(want, brief{"refine:q2", "Revision: " + r + "!", "Revision: " + r, "spar-refiner", it})
				}
			}
			assert.Equal(t, want, briefs(rec.Pairs()))
			assert.Len(t, search.searched, 2, "one search per prompt with a failing answer, per iteration")
			require.Len(t, built, 2, "a search per iteration")
			for it, r := range built {
				if separate {
					assert.Equal(t, 99, r.(*rcpPolicy).version)
				} else {
					assert.Equal(t, it, r.(*rcpPolicy).version, "the refiner is the iteration's policy")
				}
			}
			assert.Len(t, tr.calls[0], len(want)/2, "the model trains on the search's pairs")
			for _, a := range res.Reports[0].Alarms {
				assert.NotEqual(t, alignment.AlarmExtraPairs, a.Kind)
			}
		})
	}
}

func TestSPaRNoRefinementRaisesTheAlarm(t *testing.T) {
	texts := func(int, string) []string { return []string{"bad", "worse"} }
	search := &fakeSearch{fail: true}
	rec := &alignmenttest.Recorder{}
	s := recipe.SPaR{
		Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Sink: rec, Iterations: 1, Samples: 2},
		Judge: func(alignment.Policy) (alignment.Judge, error) {
			return &votes{scores: map[string][]float64{"bad": {0}, "worse": {0}}, calls: map[string]int{}}, nil
		},
		Search: func(alignment.Policy, alignment.Judge) (recipe.RefinementSearcher, error) { return search, nil },
	}
	res, err := s.Run(t.Context())
	require.NoError(t, err)
	assert.Empty(t, rec.Pairs())
	assert.Len(t, search.searched, 1)
	var kinds []alignment.AlarmKind
	for _, a := range res.Reports[0].Alarms {
		kinds = append(kinds, a.Kind)
	}
	assert.Contains(t, kinds, alignment.AlarmExtraPairs)
}

func TestSPaRRejectsBadSettings(t *testing.T) {
	texts := func(int, string) []string { return []string{"a"} }
	judge := func(alignment.Policy) (alignment.Judge, error) { return &votes{}, nil }
	search := func(alignment.Policy, alignment.Judge) (recipe.RefinementSearcher, error) { return &fakeSearch{}, nil }
	base := func() alignment.Loop {
		return alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q")}
	}
	for _, tt := range []struct {
		name string
		s    recipe.SPaR
		msg  string
	}{
		{"no judge", recipe.SPaR{Base: base(), Search: search}, "Judge is nil"},
		{"no search", recipe.SPaR{Base: base(), Judge: judge}, "Search is nil"},
		{"NaN pass", recipe.SPaR{Base: base(), Judge: judge, Search: search, Pass: math.NaN()}, "Pass is NaN"},
		{"Base.Refiner", func() recipe.SPaR {
			b := base()
			b.Refiner = alignmenttest.Rewrites{}
			return recipe.SPaR{Base: b, Judge: judge, Search: search}
		}(), "Base.Refiner is set"},
		{"no prompts", recipe.SPaR{Base: alignment.Loop{Policy: newRcpPolicy(0, texts)}, Judge: judge, Search: search}, "Base.Prompts is nil"},
	} {
		_, err := tt.s.Loop()
		assert.ErrorIs(t, err, alignment.ErrInvalid, tt.name)
		assert.ErrorContains(t, err, tt.msg, tt.name)
	}

	// A builder's failure, or a nil search, stops the run and names it.
	for _, tt := range []struct {
		search func(alignment.Policy, alignment.Judge) (recipe.RefinementSearcher, error)
		msg    string
	}{
		{func(alignment.Policy, alignment.Judge) (recipe.RefinementSearcher, error) {
			return nil, errors.New("no GPU")
		}, "SPaR.Search: no GPU"},
		{func(alignment.Policy, alignment.Judge) (recipe.RefinementSearcher, error) {
			return (*fakeSearch)(nil), nil
		}, "SPaR.Search returned a nil"},
	} {
		s := recipe.SPaR{Base: base(), Judge: judge, Search: tt.search}
		_, err := s.Run(t.Context())
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tt.msg)
	}
}
