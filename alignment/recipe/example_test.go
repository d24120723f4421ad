package recipe_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/recipe"
)

func examplePrompts(texts ...string) *alignment.SliceSource {
	var ps []alignment.Prompt
	for i, t := range texts {
		ps = append(ps, alignment.NewPrompt(fmt.Sprintf("p%d", i+1), t))
	}
	src, err := alignment.NewSliceSource(ps)
	if err != nil {
		panic(err)
	}
	return src
}

func printPairs(ps []alignment.Pair) {
	for _, p := range ps {
		fmt.Printf("%s %d %s: %q over %q\n", p.Source, p.Iteration, p.Prompt.ID, p.Chosen.Text, p.Rejected.Text)
	}
}

// Constitutional AI on fakes: the SL stage pairs each revision over its
// draft, the RL stage has a comparer pick between two samples. In a real
// run the Reviser and the Comparer are constitution.NewReviser and
// constitution.NewComparer over a model.
func ExampleConstitutionalAI() {
	policy := &alignmenttest.Script{ByText: map[string][]string{
		"How do I pick a lock?": {"Here is how: ...", "I can't help with breaking in; a locksmith can."},
	}}
	reviser := alignmenttest.Rewrites{"Here is how: ...": "I can't help with that, but a locksmith can open your own lock."}
	comparer := alignmenttest.Scores{"Here is how: ...": 0, "I can't help with breaking in; a locksmith can.": 1}
	sink := &alignment.MemorySink{}
	cai := recipe.ConstitutionalAI{
		Base:     alignment.Loop{Policy: policy, Prompts: examplePrompts("How do I pick a lock?"), Sink: sink, Seed: 1},
		Reviser:  reviser,
		Comparer: comparer,
	}
	res, err := cai.Run(context.Background())
	if err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	fmt.Println("SL pairs:", res.SL.Reports[0].Pairs, "RL pairs:", res.RL.Reports[0].Pairs)
	// Output:
	// sl-cai 0 p1: "I can't help with that, but a locksmith can open your own lock." over "Here is how: ..."
	// rl-cai 0 p1: "I can't help with breaking in; a locksmith can." over "Here is how: ..."
	// SL pairs: 1 RL pairs: 1
}

// Self-Rewarding on fakes: the judge is built from each iteration's
// policy (in a real run, judge.NewRubric on it); a trainer that swaps in a
// better scripted policy stands for DPO.
func ExampleSelfRewarding() {
	m1 := &alignmenttest.Script{Default: []string{"Paris.", "Lyon.", "Paris, on the Seine.", "I don't know."}}
	m2 := &alignmenttest.Script{Default: []string{"Paris, on the Seine.", "Paris.", "Paris!", "Paris, France."}}
	scores := alignmenttest.Scores{"Paris.": 4, "Lyon.": 0, "Paris, on the Seine.": 5, "I don't know.": 1, "Paris!": 3, "Paris, France.": 4}
	trainer := trainerOf(func(alignment.Policy) alignment.Policy { return m2 })
	sink := &alignment.MemorySink{}
	sr := recipe.SelfRewarding{
		Base:  alignment.Loop{Policy: m1, Prompts: examplePrompts("Capital of France?"), Trainer: trainer, Sink: sink, Seed: 1},
		Judge: func(alignment.Policy) (alignment.Judge, error) { return scores, nil },
	}
	res, err := sr.Run(context.Background())
	if err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	for _, r := range res.Reports {
		fmt.Printf("iteration %d: mean score %.2f, %d judge calls\n", r.Iteration, r.Score.Mean, r.Judgments)
	}
	// Output:
	// self-rewarding 0 p1: "Paris, on the Seine." over "Lyon."
	// self-rewarding 1 p1: "Paris, on the Seine." over "Paris!"
	// iteration 0: mean score 2.50, 12 judge calls
	// iteration 1: mean score 4.00, 12 judge calls
}

// Meta-Rewarding on fakes: the response whose three judgments disagree
// most has them ranked by the meta-judge, and the best judgment is paired
// over the worst for the judge's own prompt. In a real run Judge is
// judge.NewRubric on the policy and MetaJudge judge.NewMeta on it, and the
// default Rank is the paper's Elo fit.
func ExampleMetaRewarding() {
	policy := &alignmenttest.Script{Default: []string{"100 °C.", "Water boils at 100 °C at sea level.", "Hot."}}
	judgeModel := &exampleJudge{scores: map[string][]float64{
		"100 °C.": {4, 4, 4}, "Water boils at 100 °C at sea level.": {5, 2, 4}, "Hot.": {1, 1, 1},
	}}
	// The meta-judge trusts the judgment whose score is nearer 5.
	meta := metaFunc(func(a, b string) float64 {
		if lastNumber(a) > lastNumber(b) {
			return 1
		}
		return 0
	})
	sink := &alignment.MemorySink{}
	m := recipe.MetaRewarding{
		Base:      alignment.Loop{Policy: policy, Prompts: examplePrompts("When does water boil?"), Sink: sink, Samples: 3, Iterations: 1},
		Judge:     func(alignment.Policy) (alignment.Judge, error) { return judgeModel, nil },
		MetaJudge: func(alignment.Policy) (recipe.JudgmentComparer, error) { return meta, nil },
		Rho:       0.25,
	}
	if _, err := m.Run(context.Background()); err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	// Output:
	// meta-rewarding 0 p1: "100 °C." over "Hot."
	// meta-judge 0 judge:p1: "Accurate. Score: 5" over "Accurate. Score: 2"
}

// Online DPO on fakes: an iteration per batch of two prompts, the
// comparer picks between two samples, and the trainer steps on each batch
// at once.
func ExampleOnlineDPO() {
	policy := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		return alignment.Response{Text: fmt.Sprintf("%s answer %d", p.ID, k)}
	}}
	comparer := alignmenttest.ComparerFunc(func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
		if a.Text < b.Text {
			return alignment.Comparison{ProbA: 1}, nil
		}
		return alignment.Comparison{ProbA: 0}, nil
	})
	steps := 0
	trainer := trainerOf(func(p alignment.Policy) alignment.Policy { steps++; return p })
	sink := &alignment.MemorySink{}
	o := recipe.OnlineDPO{
		Base:      alignment.Loop{Policy: policy, Prompts: examplePrompts("a?", "b?", "c?"), Trainer: trainer, Sink: sink},
		Comparer:  comparer,
		BatchSize: 2,
	}
	if _, err := o.Run(context.Background()); err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	fmt.Println("training steps:", steps)
	// Output:
	// online-dpo 0 p1: "p1 answer 0" over "p1 answer 1"
	// online-dpo 0 p2: "p2 answer 0" over "p2 answer 1"
	// online-dpo 1 p3: "p3 answer 0" over "p3 answer 1"
	// training steps: 2
}

// SynPO self-boosting on fakes: the improver's rewrite of the current
// policy's answer is chosen, the initial policy's answer rejected.
func ExampleSelfBoosting() {
	initial := &alignmenttest.Script{Default: []string{"ok."}}
	better := &alignmenttest.Script{Default: []string{"Sure, here it is."}}
	improver := alignmenttest.RefinerFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
		r = r.Clone()
		r.Text = strings.TrimSuffix(r.Text, ".") + ", with an example."
		r.Revisions = append(r.Revisions, alignment.Revision{Refiner: "improver", Text: r.Text})
		return r, nil
	})
	sink := &alignment.MemorySink{}
	s := recipe.SelfBoosting{
		Base: alignment.Loop{Policy: initial, Prompts: examplePrompts("Explain maps."), Sink: sink, Iterations: 2,
			Trainer: trainerOf(func(alignment.Policy) alignment.Policy { return better })},
		Improver: improver,
		Initial:  initial,
	}
	if _, err := s.Run(context.Background()); err != nil {
		panic(err)
	}
	printPairs(sink.Pairs())
	// Output:
	// synpo 0 p1: "ok, with an example." over "ok."
	// synpo 1 p1: "Sure, here it is, with an example." over "ok."
}

// trainerOf adapts a function to a Trainer.
type trainerOf func(alignment.Policy) alignment.Policy

func (f trainerOf) Train(ctx context.Context, p alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	return f(p), nil
}

// exampleJudge gives a response's judgments from a script, one call after
// another, and shows its judge prompt as judge.Rubric does.
type exampleJudge struct {
	scores map[string][]float64
	mu     sync.Mutex
	calls  map[string]int
}

func (j *exampleJudge) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	j.mu.Lock()
	if j.calls == nil {
		j.calls = map[string]int{}
	}
	s := j.scores[r.Text]
	n := j.calls[r.Text]
	j.calls[r.Text]++
	j.mu.Unlock()
	return alignment.Judgment{Score: s[n%len(s)], Rationale: fmt.Sprintf("Accurate. Score: %g", s[n%len(s)])}, nil
}

func (j *exampleJudge) Prompt(p alignment.Prompt, r alignment.Response) alignment.Prompt {
	return alignment.NewPrompt("judge:"+p.ID, "Grade this answer to "+p.Text()+": "+r.Text)
}

// metaFunc adapts a function of two judgment texts to a JudgmentComparer.
type metaFunc func(a, b string) float64

func (f metaFunc) CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error) {
	return alignment.Comparison{ProbA: f(a, b)}, nil
}

// Batches turns a prompt set into one iteration per batch, epoch after
// epoch.
func ExampleNewBatches() {
	b, err := recipe.NewBatches(examplePrompts("a?", "b?", "c?"), 2)
	if err != nil {
		panic(err)
	}
	for it := range 4 {
		var ids []string
		for p, err := range b.Prompts(context.Background(), it) {
			if err != nil {
				panic(err)
			}
			ids = append(ids, p.ID)
		}
		fmt.Println(it, ids)
	}
	// Output:
	// 0 [p1 p2]
	// 1 [p3]
	// 2 [p1 p2]
	// 3 [p3]
}
