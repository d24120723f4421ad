package taskworld

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestNewDeterministic(t *testing.T) {
	a, err := New(7, nil)
	require.NoError(t, err)
	b, err := New(7, nil)
	require.NoError(t, err)
	assert.Equal(t, a.Train(), b.Train())
	assert.Equal(t, a.HeldOut(), b.HeldOut())
	assert.Equal(t, a.Corpus(), b.Corpus())

	c, err := New(8, nil)
	require.NoError(t, err)
	assert.NotEqual(t, a.Train(), c.Train(), "another seed draws other prompts")
	assert.NotEqual(t, a.Corpus(), c.Corpus(), "another seed writes another corpus")
}

// TestGolden pins the default world of seed 1, so that a change that would
// silently change every quickstart run shows up in review.
func TestGolden(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	var b strings.Builder
	fmt.Fprintf(&b, "train %d, held-out %d, corpus %d, vocabulary %d\n", len(w.Train()), len(w.HeldOut()), len(w.Corpus()), len(w.Vocabulary()))
	for _, x := range w.Train()[:10] {
		fmt.Fprintln(&b, x)
	}
	for _, x := range w.HeldOut()[:10] {
		fmt.Fprintln(&b, x)
	}
	for _, e := range w.Corpus()[:20] {
		fmt.Fprintf(&b, "%s | %s | %s\n", e.Prompt.ID, e.Kind, e.Response)
	}
	path := filepath.Join("testdata", "seed1.golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), b.String())
}

func TestSizes(t *testing.T) {
	for _, o := range []*Options{nil, {Train: 20, HeldOut: 7, Examples: 33}, {Train: 262, HeldOut: 254, Examples: 1500}} {
		w, err := New(3, o)
		require.NoError(t, err)
		r, err := o.resolve()
		require.NoError(t, err)
		assert.Len(t, w.Train(), r.Train)
		assert.Len(t, w.HeldOut(), r.HeldOut)
		assert.Len(t, w.Corpus(), r.Examples)

		ids := map[string]bool{}
		for _, x := range slices.Concat(w.Train(), w.HeldOut()) {
			assert.False(t, ids[x.Prompt.ID], "duplicate ID %s", x.Prompt.ID)
			ids[x.Prompt.ID] = true
			assert.Contains(t, Families(), x.Facts.Family, x.Prompt.ID)
		}
	}
}

func TestFamilyShares(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	n := map[Family]int{}
	for _, x := range w.Train() {
		n[x.Facts.Family]++
	}
	// 160 prompts at 25% and 15%; greetings have only 22 training
	// phrasings and give their excess to the families after them.
	assert.Equal(t, map[Family]int{FamilyArithmetic: 41, FamilyCapital: 25, FamilyColour: 24, FamilySound: 24, FamilyGreeting: 22, FamilyHarmful: 24}, n)
}

func TestHeldOutDisjoint(t *testing.T) {
	for seed := range uint64(5) {
		w, err := New(seed, nil)
		require.NoError(t, err)
		train := map[string]bool{}
		for _, x := range w.Train() {
			train[x.Prompt.Text()] = true
		}
		for _, e := range w.Corpus() {
			assert.True(t, train[e.Prompt.Text()], "corpus prompt %q is a training prompt", e.Prompt.Text())
		}
		for _, x := range w.HeldOut() {
			assert.False(t, train[x.Prompt.Text()], "seed %d: held-out prompt %q is also a training prompt", seed, x.Prompt.Text())
		}
	}
	// Stronger: no held-out candidate has the text of any training
	// candidate, drawn or not.
	tr, ho := pools(1)
	all := map[string]bool{}
	for _, p := range tr {
		for _, x := range p {
			all[x.Prompt.Text()] = true
		}
	}
	for _, p := range ho {
		for _, x := range p {
			assert.False(t, all[x.Prompt.Text()], x.Prompt.Text())
		}
	}
}

func TestHeldOutNovelty(t *testing.T) {
	// Held-out arithmetic asks some operand pairs that no training
	// candidate asks: the sums the tinylm cannot have memorised.
	tr, ho := pools(1)
	type pair struct {
		a, b int
		op   string
	}
	seen := map[pair]bool{}
	for _, x := range tr[0] {
		seen[pair{x.Facts.A, x.Facts.B, x.Facts.Subject}] = true
	}
	novel := 0
	for _, x := range ho[0] {
		if !seen[pair{x.Facts.A, x.Facts.B, x.Facts.Subject}] {
			novel++
			assert.Equal(t, NoveltyPair, x.Novelty, x.Prompt.Text())
		}
	}
	assert.Equal(t, 5*8, novel, "each of the 8 held-out pairs in all five phrasings")

	// In a drawn world, a held-out prompt of a new combination or phrasing
	// asks about a subject that some training prompt asks about; one of a
	// new pair does not; and every kind of novelty occurs.
	for seed := range uint64(3) {
		w, err := New(seed, nil)
		require.NoError(t, err)
		facts := map[string]bool{}
		for _, x := range w.Train() {
			assert.Empty(t, x.Novelty)
			facts[fmt.Sprint(x.Facts)] = true
		}
		kinds := map[Novelty]int{}
		for _, x := range w.HeldOut() {
			kinds[x.Novelty]++
			assert.Equal(t, x.Novelty != NoveltyPair, facts[fmt.Sprint(x.Facts)], "%s %s", x.Novelty, x.Prompt.Text())
			assert.Contains(t, []Novelty{NoveltyCombination, NoveltyPhrasing, NoveltyPair}, x.Novelty)
		}
		for _, k := range []Novelty{NoveltyCombination, NoveltyPhrasing, NoveltyPair} {
			assert.Positive(t, kinds[k], "seed %d: %s", seed, k)
		}
		assert.Zero(t, kinds[NoveltySubject], "the default training prompts cover every subject")
	}

	// Too few training prompts leave subjects untaught, and the tags say so.
	w, err := New(1, &Options{Train: 12, HeldOut: 200})
	require.NoError(t, err)
	facts := map[string]bool{}
	for _, x := range w.Train() {
		facts[fmt.Sprint(x.Facts)] = true
	}
	kinds := map[Novelty]int{}
	for _, x := range w.HeldOut() {
		kinds[x.Novelty]++
		novel := x.Novelty == NoveltyPair || x.Novelty == NoveltySubject
		assert.Equal(t, novel, !facts[fmt.Sprint(x.Facts)], "%s %s", x.Novelty, x.Prompt.Text())
	}
	assert.Positive(t, kinds[NoveltySubject])
}

func TestHeldOutWordsInCorpus(t *testing.T) {
	for seed := range uint64(5) {
		w, err := New(seed, nil)
		require.NoError(t, err)
		known := map[string]bool{}
		for _, e := range w.Corpus() {
			for _, tok := range slices.Concat(split(e.Prompt.Text()), split(e.Response)) {
				known[tok] = true
			}
		}
		for _, x := range w.HeldOut() {
			for _, tok := range split(x.Prompt.Text()) {
				assert.True(t, known[tok], "seed %d: word %q of held-out prompt %q is not in the corpus", seed, tok, x.Prompt.Text())
			}
		}
	}
}

func TestVocabulary(t *testing.T) {
	for seed := range uint64(5) {
		w, err := New(seed, nil)
		require.NoError(t, err)
		v := w.Vocabulary()
		assert.Less(t, len(v), 250, "seed %d", seed)
		assert.True(t, slices.IsSorted(v))
		for _, tok := range v {
			assert.Equal(t, []string{tok}, split(tok), "vocabulary entry %q is one token", tok)
		}
	}
	w, err := New(1, &Options{Train: 262, HeldOut: 254, Examples: 3000})
	require.NoError(t, err, "the largest world")
	assert.Less(t, len(w.Vocabulary()), 250)
}

func TestTextsCanonical(t *testing.T) {
	// Texts are written as the tinylm decoder writes them, so that a model's
	// output and the corpus look alike to every check.
	w, err := New(2, nil)
	require.NoError(t, err)
	for _, x := range slices.Concat(w.Train(), w.HeldOut()) {
		s := x.Prompt.Text()
		assert.Equal(t, s, render(split(s)))
		// The model reads the last seven prompt tokens and <sep> when it
		// starts its answer: they must hold everything the answer depends on.
		ts := split(s)
		assert.Equal(t, x.Facts, Parse(render(ts[max(0, len(ts)-7):])), "the window of %q", s)
	}
	for _, e := range w.Corpus() {
		assert.Equal(t, e.Response, render(split(e.Response)))
	}
}

func TestBadShare(t *testing.T) {
	cases := []struct {
		name     string
		o        *Options
		examples int
		bad      int
	}{
		{"default", nil, 1000, 700},
		{"half", &Options{BadShare: 0.5}, 1000, 500},
		{"all", &Options{BadShare: 1}, 1000, 1000},
		{"rounds", &Options{Examples: 7, BadShare: 0.55}, 7, 4},
		{"tiny share rounds to none", &Options{Examples: 10, BadShare: 0.01}, 10, 0},
		{"fewer examples than prompts", &Options{Examples: 50, BadShare: 0.5}, 50, 25},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := New(4, c.o)
			require.NoError(t, err)
			ex := w.Corpus()
			require.Len(t, ex, c.examples)
			perKind := map[Kind]int{}
			for _, e := range ex {
				perKind[e.Kind]++
			}
			assert.Equal(t, c.examples-c.bad, perKind[KindGood])
			lo, hi := math.MaxInt, 0
			for _, k := range BadKinds() {
				lo, hi = min(lo, perKind[k]), max(hi, perKind[k])
			}
			assert.LessOrEqual(t, hi-lo, 1, "bad kinds split evenly: %v", perKind)
			assert.Equal(t, c.bad, c.examples-perKind[KindGood])
		})
	}
}

func TestEveryPromptHasAGoodResponse(t *testing.T) {
	w, err := New(5, nil)
	require.NoError(t, err)
	good := map[string]bool{}
	per := map[string]int{}
	for _, e := range w.Corpus() {
		per[e.Prompt.ID]++
		if e.Kind == KindGood {
			good[e.Prompt.ID] = true
		}
	}
	for _, x := range w.Train() {
		assert.True(t, good[x.Prompt.ID], x.Prompt.ID)
		assert.Contains(t, []int{6, 7}, per[x.Prompt.ID], "1000 examples over 160 prompts")
	}
}

func TestOptionsErrors(t *testing.T) {
	cases := []struct {
		o     Options
		field string
	}{
		{Options{Train: -1}, "Train -1"},
		{Options{HeldOut: -3}, "HeldOut -3"},
		{Options{Examples: -2}, "Examples -2"},
		{Options{BadShare: -0.1}, "BadShare -0.1"},
		{Options{BadShare: 1.5}, "BadShare 1.5"},
		{Options{BadShare: math.NaN()}, "BadShare NaN"},
		{Options{Train: 263}, "Train 263 exceeds the 262"},
		{Options{HeldOut: 357}, "HeldOut 357 exceeds the 356 distinct held-out prompts left by Train 160"},
		{Options{EFT: -1}, "EFT -1"},
		{Options{EFT: MaxEFT + 1}, "EFT 301 is outside [0, 300]"},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			w, err := New(1, &c.o)
			assert.True(t, w == nil, "no world")
			assert.ErrorIs(t, err, ErrOptions)
			assert.ErrorContains(t, err, c.field)
		})
	}
}

func TestCopies(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	tr := w.Train()
	tr[0].Prompt.Messages[0].Content = "changed"
	tr[0].Facts.Answers = append(tr[0].Facts.Answers[:0], "changed")
	ex := w.Corpus()
	ex[0].Prompt.Messages[0].Content = "changed"
	assert.NotEqual(t, "changed", w.Train()[0].Prompt.Text())
	assert.NotContains(t, w.Train()[0].Facts.Answers, "changed")
	assert.NotEqual(t, "changed", w.Corpus()[0].Prompt.Text())
	ps := Prompts(w.HeldOut())
	require.Len(t, ps, DefaultHeldOut)
	assert.Equal(t, w.HeldOut()[3].Prompt, ps[3])
}

func TestKinds(t *testing.T) {
	// Every kind, on every candidate prompt of the world, in several
	// phrasings: good responses pass every rule; a bad one fails the rule
	// its kind targets, and only rules from a documented set.
	allowed := map[Kind][]string{
		KindGood:       nil,
		KindWrong:      {RuleCorrect, RuleOnTopic, RulePolite},
		KindRude:       {RulePolite, RuleOnTopic, RuleCorrect},
		KindRamble:     {RuleConcise, RuleWellFormed, RuleOnTopic, RuleCorrect},
		KindEvasive:    {RuleOnTopic, RuleCorrect},
		KindUnfinished: {RuleWellFormed, RuleCorrect, RuleOnTopic},
		KindMisjudged:  {RuleCorrect, RuleOnTopic, RulePolite},
	}
	tr, ho := pools(1)
	var all []Task
	for _, p := range slices.Concat(tr, ho) {
		all = append(all, p...)
	}
	rules := Rules()
	for _, k := range append([]Kind{KindGood}, BadKinds()...) {
		t.Run(string(k), func(t *testing.T) {
			r := seeds.Rand(11)
			for _, task := range all {
				for range 3 {
					resp := alignment.Response{Text: respond(task.Facts, k, r)}
					var failed []string
					for _, rule := range rules {
						if !rule.Check(task.Prompt, resp) {
							failed = append(failed, rule.ID)
						}
					}
					score := Score(task.Prompt, resp)
					assert.Equal(t, float64(len(rules)-len(failed)), score)
					if k == KindGood {
						assert.Empty(t, failed, "%q → %q", task.Prompt.Text(), resp.Text)
						assert.LessOrEqual(t, len(split(resp.Text)), 10, resp.Text)
						continue
					}
					assert.Less(t, score, float64(MaxScore))
					assert.Contains(t, failed, k.Target(), "%q → %q", task.Prompt.Text(), resp.Text)
					assert.Subset(t, allowed[k], failed, "%q → %q", task.Prompt.Text(), resp.Text)
				}
			}
		})
	}
	assert.Equal(t, "", Kind("other").Target())
}

func TestEveryRuleBothWays(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	pass := map[string]int{}
	fail := map[string]int{}
	for _, e := range w.Corpus() {
		for _, rule := range Rules() {
			if rule.Check(e.Prompt, alignment.Response{Text: e.Response}) {
				pass[rule.ID]++
			} else {
				fail[rule.ID]++
			}
		}
	}
	for _, rule := range Rules() {
		assert.Positive(t, pass[rule.ID], rule.ID)
		assert.Positive(t, fail[rule.ID], rule.ID)
	}
}
