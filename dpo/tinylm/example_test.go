package tinylm_test

import (
	"context"
	"fmt"
	"log"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

// Build a tokenizer and a model from a three-line corpus, fine-tune it on
// the three examples and answer one prompt greedily.
func Example() {
	ctx := context.Background()
	examples := []dpo.Sequence{
		{Prompt: alignment.NewPrompt("1", "What colour is the sky?"), Completion: "The sky is blue."},
		{Prompt: alignment.NewPrompt("2", "What colour is grass?"), Completion: "Grass is green."},
		{Prompt: alignment.NewPrompt("3", "Say hello."), Completion: "Hello, world!"},
	}
	var corpus []string
	for _, ex := range examples {
		corpus = append(corpus, ex.Prompt.Text(), ex.Completion)
	}
	tok, err := tinylm.NewTokenizer(corpus, tinylm.TokenizerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tinylm.New(tok, tinylm.Config{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	losses, err := m.Fit(ctx, examples, tinylm.FitOptions{Epochs: 40, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("vocabulary: %d tokens\n", tok.Len())
	fmt.Printf("loss fell below a tenth: %v\n", losses[len(losses)-1] < losses[0]/10)

	rs, err := m.Generate(ctx, alignment.NewPrompt("q", "Say hello."), alignment.SampleOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q (%s, %d tokens)\n", rs[0].Text, rs[0].FinishReason, rs[0].Tokens)
	// Output:
	// vocabulary: 21 tokens
	// loss fell below a tenth: true
	// "hello, world!" (stop, 5 tokens)
}
