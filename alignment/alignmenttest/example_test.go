package alignmenttest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// A scripted policy and a map judge stand in for models, and the
// conformance test tells a well-behaved judge from a broken one.
func Example() {
	ctx := context.Background()
	pol := &alignmenttest.Script{ByID: map[string][]string{
		"capital": {"Paris.", "I believe it is Lyon."},
	}}
	judge := alignmenttest.Scores{"Paris.": 5, "I believe it is Lyon.": 1}

	p := alignment.NewPrompt("capital", "What is the capital of France?")
	rs, err := pol.Generate(ctx, p, alignment.SampleOptions{N: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs {
		j, err := judge.Judge(ctx, p, r)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%.0f %s\n", j.Score, r.Text)
	}

	byWords := alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: float64(alignment.WordCount(r.Text))}, nil
	})
	fmt.Println("word judge conforms:", alignmenttest.TestJudge(ctx, byWords) == nil)

	broken := alignmenttest.JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: math.NaN()}, nil
	})
	err = alignmenttest.TestJudge(ctx, broken)
	fmt.Println(strings.Split(err.Error(), "\n")[0])
	// Output:
	// 5 Paris.
	// 1 I believe it is Lyon.
	// word judge conforms: true
	// alignmenttest: TestJudge: Judge(prompt "conformance-single", response "Two is the only even prime number."): Score is NaN, want a finite number
}

// Faults makes a third of the calls fail with transient errors; retrying a
// call draws again, so every prompt is eventually answered.
func ExampleFaults() {
	ctx := context.Background()
	f := &alignmenttest.Faults{TransientRate: 0.3, PermanentIDs: []string{"p3"}, Seed: 1}
	pol := f.Policy(&alignmenttest.Script{Default: []string{"ok"}})
	for _, id := range []string{"p1", "p2", "p3"} {
		p := alignment.NewPrompt(id, "Say ok.")
		for attempt := 1; ; attempt++ {
			_, err := pol.Generate(ctx, p, alignment.SampleOptions{})
			if errors.Is(err, alignment.ErrTransient) {
				continue
			}
			fmt.Printf("%s: attempts %d, failed %v\n", id, attempt, err != nil)
			break
		}
	}
	transient, permanent := f.Injected()
	fmt.Println("calls", f.Calls(), "transient", transient, "permanent", permanent)
	// Output:
	// p1: attempts 2, failed false
	// p2: attempts 1, failed false
	// p3: attempts 1, failed true
	// calls 4 transient 1 permanent 1
}
