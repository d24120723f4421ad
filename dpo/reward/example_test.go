package reward_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/reward"
)

// A reward model learns from a few labelled pairs that rude answers lose,
// then judges an answer to a prompt it has not seen.
func Example() {
	ctx := context.Background()
	pair := func(id, prompt, chosen, rejected string, prob float64) alignment.Pair {
		return alignment.Pair{Prompt: alignment.NewPrompt(id, prompt),
			Chosen: alignment.Response{Text: chosen}, Rejected: alignment.Response{Text: rejected}, Prob: prob}
	}
	pairs := []alignment.Pair{
		pair("1", "what is the capital of france?", "it is paris.", "ugh, paris.", 0.9),
		pair("2", "hello!", "hello to you!", "ugh, go away.", 0.8),
		pair("3", "what colour is grass?", "grass is green.", "ugh, green.", 0), // a hard label
	}
	rm, err := reward.New(&reward.Options{Seed: 1})
	if err != nil {
		panic(err)
	}
	if _, err := rm.Fit(ctx, pairs); err != nil {
		panic(err)
	}
	held := []alignment.Pair{pair("4", "what colour is the sky?", "the sky is blue.", "ugh, blue.", 0)}
	m, err := rm.Evaluate(held)
	if err != nil {
		panic(err)
	}
	fmt.Printf("held-out accuracy %.0f%%\n", 100*m.Accuracy)

	p := alignment.NewPrompt("5", "good morning!")
	polite, _ := rm.Judge(ctx, p, alignment.Response{Text: "good morning!"})
	rude, _ := rm.Judge(ctx, p, alignment.Response{Text: "ugh, morning."})
	fmt.Println("polite scores higher:", polite.Score > rude.Score)
	// Output:
	// held-out accuracy 100%
	// polite scores higher: true
}

// A trained reward model is saved once and loaded by a resumed run, which
// then judges exactly as the first run did; a Loop with Dir checks this
// through the fingerprint.
func ExampleLoadFile() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "reward")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	rm, err := reward.New(&reward.Options{Seed: 1})
	if err != nil {
		panic(err)
	}
	_, err = rm.Fit(ctx, []alignment.Pair{{Prompt: alignment.NewPrompt("1", "hello!"),
		Chosen: alignment.Response{Text: "hello to you!"}, Rejected: alignment.Response{Text: "ugh, go away."}}})
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "reward.bin")
	if err := rm.SaveFile(path); err != nil {
		panic(err)
	}

	loaded, err := reward.LoadFile(path)
	if err != nil {
		panic(err)
	}
	p, r := alignment.NewPrompt("2", "good morning!"), alignment.Response{Text: "good morning to you!"}
	before, _ := rm.Judge(ctx, p, r)
	after, _ := loaded.Judge(ctx, p, r)
	fmt.Println("same score:", before.Score == after.Score)
	fmt.Println("same fingerprint:", rm.Fingerprint() == loaded.Fingerprint())
	// Output:
	// same score: true
	// same fingerprint: true
}
