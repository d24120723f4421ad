// Custombackend shows how to plug your own model into selfalign: implement
// alignment.Policy (one method), honour the sampling seed and the context,
// check it with alignmenttest.TestPolicy, and hand it to a Loop.
//
//	go run ./examples/custombackend
//	go run ./examples/custombackend -h   # what the output means
//
// The "model" here is a toy: a table of candidate answers per topic, drawn
// with a temperature. Replace Generate's body with a call to your
// inference engine, an RPC, or a cgo binding; the rest stays the same.
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/judge"
)

// tableModel answers a prompt by drawing among the candidate answers of
// the first topic word the prompt mentions; better candidates come first
// and are likelier at low temperatures.
type tableModel struct {
	topics  []string // in the order they are tried
	answers map[string][]string
}

// Generate implements alignment.Policy. The contract, which
// alignmenttest.TestPolicy checks: return between 1 and o.Count()
// responses, honour ctx, do not modify p or o, be safe for concurrent
// calls, and give the same responses for the same o.Seed.
func (m *tableModel) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	candidates := m.answers["*"]
	for _, topic := range m.topics {
		if strings.Contains(strings.ToLower(p.Text()), topic) {
			candidates = m.answers[topic]
			break
		}
	}
	// All randomness comes from the seed, never from a global source, so
	// that runs repeat and the Loop's output does not depend on scheduling.
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	out := make([]alignment.Response, o.Count())
	for i := range out {
		k := 0 // greedy: the best candidate
		if o.Temperature > 0 {
			// Candidate k has logit −k; sample from softmax(logits / T).
			weights := make([]float64, len(candidates))
			sum := 0.0
			for j := range weights {
				weights[j] = math.Exp(-float64(j) / o.Temperature)
				sum += weights[j]
			}
			u := rng.Float64() * sum
			for k = 0; k < len(weights)-1 && u >= weights[k]; k++ {
				u -= weights[k]
			}
		}
		out[i] = alignment.Response{Text: candidates[k], Source: "table-model", FinishReason: "stop"}
	}
	return out, nil
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custombackend:", err)
		os.Exit(1)
	}
}

func newModel() *tableModel {
	return &tableModel{topics: []string{"tea", "python"}, answers: map[string][]string{
		"tea":    {"Warm the pot, add one spoon of leaves per cup, pour boiling water and wait three minutes.", "Put tea in water.", "Tea is a drink."},
		"python": {"Use a virtual environment: python -m venv .venv, then activate it and pip install.", "Install Python.", "Snakes are reptiles."},
		"*":      {"Here is a clear, direct answer to your question.", "Maybe.", "I will not say."},
	}}
}

// about says what the program does, and output what its lines mean.
const (
	about  = "Custombackend plugs a toy model of your own into selfalign as an alignment.Policy and prints the preference pairs one iteration makes from its answers."
	output = `
  PROMPT
    chosen:   ANSWER    the prompt's answer the judge scored highest
    rejected: ANSWER    the one it scored lowest
      Four answers are sampled per prompt; the rule judge scores longer,
      specific answers higher (words / 3, at most 5).
  P prompts, Q pairs, T ties
      T ties: prompts whose answers all scored the same, which make no pair.
      Nothing is trained: this is the pairs of one iteration.`
)

func run(ctx context.Context, args []string, w io.Writer) error {
	if ok, err := cli.Parse(cli.NewFlagSet("custombackend", about, output, w), args); !ok {
		return err
	}
	model := newModel()
	// A rule judge stands in for an LLM judge here: judge.Func adapts any
	// Go function. It prefers longer, specific answers, up to a point.
	rules := judge.Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		words := alignment.WordCount(r.Text)
		return alignment.Judgment{Score: math.Min(5, float64(words)/3)}, nil
	})
	prompts, err := alignment.NewSliceSource([]alignment.Prompt{
		alignment.NewPrompt("tea", "How do I brew tea?"),
		alignment.NewPrompt("py", "How do I set up a Python project?"),
		alignment.NewPrompt("misc", "What should I do today?"),
	})
	if err != nil {
		return err
	}
	sink := &alignment.MemorySink{}
	loop := alignment.Loop{Policy: model, Judge: rules, Prompts: prompts, Sink: sink,
		Samples: 4, Sampling: alignment.SampleOptions{Temperature: 1.5}, Seed: 3}
	res, err := loop.Run(ctx)
	if err != nil {
		return err
	}
	for _, p := range sink.Pairs() {
		fmt.Fprintf(w, "%s\n  chosen:   %s\n  rejected: %s\n", p.Prompt.Text(), p.Chosen.Text, p.Rejected.Text)
	}
	r := res.Reports[0]
	fmt.Fprintf(w, "%d prompts, %d pairs, %d ties\n", r.Prompts, r.Pairs, r.Ties)
	return nil
}
