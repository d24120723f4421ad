package alignment_test

import (
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// A Self-Rewarding-style loop on fakes: a scripted policy answers, a judge
// scores by text, and the best and worst answers to each prompt become a
// pair. Swap the fakes for a model backend and a judge to run it for real.
func ExampleLoop() {
	policy := &alignmenttest.Script{ByText: map[string][]string{
		"What is 2 + 2?":   {"4.", "2 + 2 = 4.", "5.", "I don't know."},
		"Say hello nicely": {"Hello! How can I help?", "Hi.", "What?", "Hello!"},
	}}
	judge := alignmenttest.Scores{
		"4.": 4, "2 + 2 = 4.": 5, "5.": 0, "I don't know.": 1,
		"Hello! How can I help?": 5, "Hi.": 3, "What?": 0, "Hello!": 4,
	}
	prompts, err := alignment.NewSliceSource([]alignment.Prompt{
		alignment.NewPrompt("math-1", "What is 2 + 2?"),
		alignment.NewPrompt("greet-1", "Say hello nicely"),
	})
	if err != nil {
		panic(err)
	}
	sink := &alignment.MemorySink{}
	loop := alignment.Loop{Policy: policy, Judge: judge, Prompts: prompts, Sink: sink, Samples: 4, JudgeSamples: 3}
	res, err := loop.Run(context.Background())
	if err != nil {
		panic(err)
	}
	for _, p := range sink.Pairs() {
		fmt.Printf("%s: chosen %q (%.0f) over %q (%.0f)\n", p.Prompt.ID, p.Chosen.Text, p.ScoreChosen, p.Rejected.Text, p.ScoreRejected)
	}
	r := res.Reports[0]
	fmt.Printf("prompts %d, pairs %d, ties %d, judge calls %d, mean score %.2f\n", r.Prompts, r.Pairs, r.Ties, r.Judgments, r.Score.Mean)
	// Output:
	// math-1: chosen "2 + 2 = 4." (5) over "5." (0)
	// greet-1: chosen "Hello! How can I help?" (5) over "What?" (0)
	// prompts 2, pairs 2, ties 0, judge calls 24, mean score 2.75
}
