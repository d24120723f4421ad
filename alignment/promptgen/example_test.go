package promptgen_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/promptgen"
)

// A model's output often carries a label, a list marker or quotes around
// the prompt it wrote; ParseInstruction keeps the prompt.
func ExampleParseInstruction() {
	for _, out := range []string{
		"Task 4: Name three primary colours.\nTask 5: Explain gravity.",
		`**Prompt:** "How do vaccines work?"`,
		"Task 4:",
	} {
		p, err := promptgen.ParseInstruction(out)
		fmt.Printf("%q %v\n", p, err)
	}
	// Output:
	// "Name three primary colours." <nil>
	// "How do vaccines work?" <nil>
	// "" promptgen: no prompt in the policy's output (7 bytes): unparsable model output
}

// Self-instruct on a fake model: each request shows seed prompts as
// numbered tasks and asks for the next one; a repeat of a seed prompt and
// a one-word prompt are filtered out.
func ExampleNewSelfInstruct() {
	outputs := []string{"Task 3: What is the capital of Spain?", "Task 3: Why?", "Task 3: Name a fruit that is red.", "Task 3: How do bees make honey?"}
	calls := 0
	model := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		calls++ // generators ask one request at a time
		return alignment.Response{Text: outputs[(calls-1)%len(outputs)]}
	}}
	seeds := []alignment.Prompt{
		alignment.NewPrompt("s1", "What is the capital of Spain?"),
		alignment.NewPrompt("s2", "Give me a synonym for happy."),
	}
	si, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: model, Count: 2, Seed: 7}, seeds, 2)
	if err != nil {
		panic(err)
	}
	for p, err := range si.Prompts(context.Background(), 0) {
		if err != nil {
			panic(err)
		}
		fmt.Println(strings.HasPrefix(p.ID, "self-instruct-0-"), p.Text())
	}
	fmt.Printf("%+v\n", si.Stats())
	// Output:
	// true Name a fruit that is red.
	// true How do bees make honey?
	// {Attempts:4 Accepted:2 Unparsable:0 TooShort:1 TooLong:0 Duplicates:1}
}

// Keyword-seeded generation on a fake model that writes its request from
// the keywords it is given.
func ExampleNewKeywordPrompts() {
	model := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		words := strings.TrimSuffix(strings.SplitN(p.Text(), "Keywords: ", 2)[1], "\nRequest:")
		return alignment.Response{Text: "Request: Write a short story about " + strings.ReplaceAll(words, ", ", " and ") + "."}
	}}
	kw, err := promptgen.NewKeywordPrompts(promptgen.Generation{Policy: model, Count: 2, Seed: 3},
		[]string{"lighthouse", "storm", "cat", "letter"}, 2)
	if err != nil {
		panic(err)
	}
	for p, err := range kw.Prompts(context.Background(), 0) {
		if err != nil {
			panic(err)
		}
		fmt.Println(p.Text())
	}
	// Output:
	// Write a short story about letter and lighthouse.
	// Write a short story about cat and storm.
}

// Instruction inversion: a model writes the request that a rude reply
// answers; a Loop samples fresh replies from a good model, and Pairs
// prefers the best of them to the rude text.
func ExampleInversion() {
	inverter := &alignmenttest.Script{Default: []string{"Request: Can you check my essay?"}}
	good := &alignmenttest.Script{Default: []string{"Happy to. Please paste it here.", "Sure."}}
	judge := alignmenttest.Scores{"Happy to. Please paste it here.": 5, "Sure.": 3, "Do it yourself.": 0}
	inv, err := promptgen.NewInversion(promptgen.Generation{Policy: inverter, Seed: 1}, []string{"Do it yourself."}, judge)
	if err != nil {
		panic(err)
	}
	sink := &alignment.MemorySink{}
	loop := alignment.Loop{Policy: good, Prompts: inv, Judge: judge, Selector: alignment.NoPair{}, Extra: inv.Pairs, Samples: 2, Sink: sink}
	if _, err := loop.Run(context.Background()); err != nil {
		panic(err)
	}
	for _, p := range sink.Pairs() {
		fmt.Printf("%s: %q (%g) over %q (%g)\n", p.Prompt.Text(), p.Chosen.Text, p.ScoreChosen, p.Rejected.Text, p.ScoreRejected)
	}
	// Output:
	// Can you check my essay?: "Happy to. Please paste it here." (5) over "Do it yourself." (0)
}
