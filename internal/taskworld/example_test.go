package taskworld_test

import (
	"fmt"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/taskworld"
)

// Generate a world, look at held-out prompts, and score a good and a bad
// answer to one of them with the rules.
func Example() {
	w, err := taskworld.New(1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(w.Train()), "training prompts,", len(w.HeldOut()), "held-out,", len(w.Corpus()), "examples")
	held := w.HeldOut()
	for _, t := range held[:3] {
		fmt.Println(t)
	}
	p := held[2].Prompt
	for _, text := range []string{
		"the capital of italy is rome.",
		"ugh, the capital of italy is paris",
	} {
		r := alignment.Response{Text: text}
		fmt.Printf("%-36q %v", text, taskworld.Score(p, r))
		for _, rule := range taskworld.Rules() {
			if !rule.Check(p, r) {
				fmt.Print(" -", rule.ID)
			}
		}
		fmt.Println()
	}
	// Output:
	// 160 training prompts, 60 held-out, 1000 examples
	// heldout-greeting-005 [greeting/phrasing] and good evening!
	// heldout-sound-005 [sound/phrasing] and what does an owl say?
	// heldout-capital-006 [capital/combination] do you know the capital of italy?
	// "the capital of italy is rome."      5
	// "ugh, the capital of italy is paris" 2 -correct -polite -well-formed
}

// The corpus mixes good responses with the systematic flaws that the rules
// catch.
func ExampleWorld_Corpus() {
	w, err := taskworld.New(1, &taskworld.Options{Train: 12, HeldOut: 6, Examples: 24})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range w.Corpus()[:6] {
		s := taskworld.Score(e.Prompt, alignment.Response{Text: e.Response})
		fmt.Printf("%-33s %-10s %v %s\n", e.Prompt.Text(), e.Kind, s, e.Response)
	}
	// Output:
	// tell me the capital of spain.     ramble     1 well, um, let me think, let me think, let me think and so on and so on
	// do you know the capital of germany? good       5 the capital of germany is berlin.
	// do you know the capital of germany? ramble     3 well, the capital of germany is berlin, berlin, berlin, berlin and so on and so on
	// tell me the capital of spain.     misjudged  3 sorry, i can not help with that.
	// hello, friend!                    evasive    3 hmm, i am not certain.
	// please tell me 2 minus 1.         good       5 the answer is 1.
}

// Options out of range name the field.
func ExampleNew_invalid() {
	_, err := taskworld.New(1, &taskworld.Options{BadShare: 1.5})
	fmt.Println(err)
	// Output:
	// taskworld: BadShare 1.5 is outside [0, 1]: taskworld: invalid options
}

// A world with evaluation fine-tuning: judgments labelled by the rules,
// written as judge prompts whose completion is the score.
func ExampleWorld_EFT() {
	w, err := taskworld.New(1, &taskworld.Options{EFT: taskworld.MaxEFT})
	if err != nil {
		fmt.Println(err)
		return
	}
	es := w.EFT()
	fmt.Println(len(es), "labelled judgments;", len(w.Gold()), "gold responses")
	e := es[0]
	fmt.Printf("%q (%s) → %q\n", e.Response, e.Kind, e.Completion)
	fmt.Println(e.Prompt.Text()[strings.LastIndex(e.Prompt.Text(), "<response>"):])
	// Output:
	// 300 labelled judgments; 120 gold responses
	// "sorry, i can not help with that." (misjudged) → "3"
	// <response>
	// sorry, i can not help with that.
	// </response>
	//
	// Score:
}
