package constitution_test

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/constitution"
)

// A scripted model stands in for a real one: it critiques by naming the
// principle's first words and revises by appending a fix.
func ExampleReviser() {
	c, err := constitution.New(
		constitution.Principle{ID: "cite", Critique: "Does the reply give a source?", Revision: "Add a source.", Comparison: "Which response cites its source?"},
		constitution.Principle{ID: "units", Critique: "Does the reply state units?", Revision: "State the units.", Comparison: "Which response states units?"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	model := &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, _ int) alignment.Response {
		text := p.Text()
		if strings.HasSuffix(text, "Critique:") {
			return alignment.Response{Text: "Critique: it lacks what was asked."}
		}
		reply := text[strings.LastIndex(text, "<reply>\n")+len("<reply>\n") : strings.LastIndex(text, "\n</reply>")]
		fix := map[bool]string{true: " (source: CRC Handbook)", false: " metres"}[strings.Contains(text, "Add a source.")]
		return alignment.Response{Text: "Revision: " + reply + fix}
	}}
	v, err := constitution.NewReviser(model, c, &constitution.ReviserOptions{Rounds: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	prompt := alignment.NewPrompt("everest", "How tall is Mount Everest?")
	original := alignment.Response{Text: "About 8849", Source: "tiny"}
	refined, err := v.Refine(alignment.WithSeed(context.Background(), 1), prompt, original)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rev := range refined.Revisions {
		fmt.Printf("%s: %s\n", rev.Principle, rev.Text)
	}
	pair, ok := v.Pair(prompt, original, refined)
	fmt.Println(ok, pair.Source, "|", pair.Chosen.Text, "|", pair.Rejected.Text)
	// Output:
	// units: About 8849 metres
	// cite: About 8849 metres (source: CRC Handbook)
	// true sl-cai | About 8849 metres (source: CRC Handbook) | About 8849
}

// Rule principles judge without any model: one point per passed check,
// scaled to 0–5.
func ExampleRules() {
	judge := constitution.Rules()
	prompt := alignment.NewPrompt("tides", "Why do oceans have tides?")
	for _, text := range []string{
		"Oceans have tides because the moon pulls on the water.",
		"tides tides tides",
	} {
		j, err := judge.Judge(context.Background(), prompt, alignment.Response{Text: text})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%.2f %s\n", j.Score, j.Rationale)
	}
	// Output:
	// 5.00 passed 6 of 6 checks
	// 3.33 passed 4 of 6 checks; failed: complete, no-repetition
}

// The default constitution can be extended with rule principles of one's own.
func ExampleDefault() {
	c := constitution.Default()
	fmt.Println(c.Len())
	p, _ := c.Principle("honest-calibrated")
	fmt.Println(p.Comparison)

	short := constitution.Principle{ID: "short", Check: func(_ alignment.Prompt, r alignment.Response) bool {
		return alignment.WordCount(r.Text) <= 50
	}}
	judge, err := constitution.New(append(constitution.Rules().Principles(), short)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	lo, hi := judge.ScoreRange()
	fmt.Println(judge.Len(), lo, hi)
	// Output:
	// 12
	// Which response is more candid about what it does and does not know?
	// 7 0 5
}

func ExampleLoadMarkdown() {
	_, err := constitution.LoadMarkdown(strings.NewReader(`# House rules

## brief
Critique: Is the reply longer than it needs to be?
Revision: Shorten the reply.
Comparision: Which response is more concise?
`))
	fmt.Println(err)
	// Output:
	// constitution: 6: principles[0].comparision: unknown field (want Critique, Revision or Comparison)
}

// A scripted labeller reports the log-probabilities of its answer letter;
// the Comparer turns them into a soft label averaged over both orders.
func ExampleComparer() {
	labeller := &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, _ int) alignment.Response {
		// P("A") is 0.8 when the first option is the polite one, else 0.3.
		pA := 0.3
		if strings.Contains(p.Text(), "<option-a>\nPlease") {
			pA = 0.8
		}
		return alignment.Response{
			Text: "Answer: (A)",
			TokenLogProbs: []alignment.TokenLogProb{
				{Token: "Answer: (", LogProb: 0},
				{Token: "A", LogProb: math.Log(pA), Top: []alignment.TokenLogProb{{Token: "B", LogProb: math.Log(1 - pA)}}},
				{Token: ")", LogProb: 0},
			},
		}
	}}
	cmp, err := constitution.NewComparer(labeller, constitution.Default(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := cmp.Compare(context.Background(), alignment.NewPrompt("door", "Ask someone to close the door."),
		alignment.Response{Text: "Please close the door."}, alignment.Response{Text: "Door. Now."})
	if err != nil {
		fmt.Println(err)
		return
	}
	// (0.8 + (1 − 0.3)) / 2
	fmt.Printf("P(polite is better) = %.2f, inconsistent: %v\n", got.ProbA, got.Inconsistent)
	// Output:
	// P(polite is better) = 0.75, inconsistent: false
}
