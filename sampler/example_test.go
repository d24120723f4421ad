package sampler_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/sampler"
)

// A scripted refiner proposes three edits of the quoted response; a judge
// accepts a recipe only when it names both the oven temperature and the
// time. The search finds the minimal fix at depth 2 and stops.
func ExampleTreeSearch() {
	edits := []string{" Serve warm.", " Bake at 180 C.", " Bake for 25 minutes."}
	refiner := &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, k int) alignment.Response {
		text := p.Text()
		quoted := text[strings.Index(text, "<response>\n")+len("<response>\n") : strings.Index(text, "\n</response>")]
		return alignment.Response{Text: "Revision: " + quoted + edits[k]}
	}}
	judge := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		score := 0.0
		if strings.Contains(r.Text, "180 C") {
			score += 0.5
		}
		if strings.Contains(r.Text, "minutes") {
			score += 0.5
		}
		return alignment.Judgment{Score: score, Rationale: "say how hot and how long"}, nil
	})
	ts, err := sampler.NewTreeSearch(refiner, judge, &sampler.TreeOptions{Branch: 3, Depth: 3, Keep: 1, Pass: 1, Samples: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	prompt := alignment.NewPrompt("cake", "How do I bake this cake?")
	res, err := ts.Search(context.Background(), prompt, alignment.Response{Text: "Mix and bake."})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Found, res.Depth, res.Calls)
	pair, _ := res.Pair(prompt)
	fmt.Println("chosen:  ", pair.Chosen.Text)
	fmt.Println("rejected:", pair.Rejected.Text)
	// Output:
	// true 2 9
	// chosen:   Mix and bake. Bake at 180 C. Bake for 25 minutes.
	// rejected: Mix and bake.
}

// An ensemble splits the draws by weight and marks each response with its
// writer; Dedup then drops repeats that differ only in case or spacing.
func ExampleEnsemble() {
	big := &alignmenttest.Script{Default: []string{"Paris.", "paris. ", "It is Paris."}}
	small := &alignmenttest.Script{Default: []string{"PARIS."}}
	e, err := sampler.NewEnsemble(
		sampler.Member{Name: "big", Policy: big, Weight: 3},
		sampler.Member{Name: "small", Policy: small, Weight: 1},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	rs, err := e.Generate(context.Background(), alignment.NewPrompt("fr", "Capital of France?"), alignment.SampleOptions{N: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	count := map[string]int{}
	for _, r := range rs {
		count[r.Source]++
	}
	fmt.Println(count)
	kept, dropped := sampler.Dedup(rs)
	fmt.Println(len(kept), dropped.Total())
	// Output:
	// map[big:3 small:1]
	// 2 2
}
