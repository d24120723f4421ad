package openai_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// A Policy over a vLLM server (here a fake one) draws N responses in one
// request and counts the tokens used.
func Example() {
	srv := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.VLLM, Model: "Qwen/Qwen2.5-7B-Instruct"})
	defer srv.Close()

	pol, err := openai.New("Qwen/Qwen2.5-7B-Instruct", []string{srv.URL()}, &openai.Options{APIKeyEnv: "-"})
	if err != nil {
		log.Fatal(err)
	}
	rs, err := pol.Generate(context.Background(), alignment.NewPrompt("p1", "Name a prime."),
		alignment.SampleOptions{N: 2, Temperature: 0.8, Seed: 7, Extra: map[string]any{"top_k": 50}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Printf("%s [%s, %s]\n", r.Text, r.FinishReason, r.Source)
	}
	u := pol.Usage()
	fmt.Printf("%d request, %d prompt and %d completion tokens\n", u.Requests, u.PromptTokens, u.CompletionTokens)
	// Output:
	// Reply 0 from vllm (seed 7) to: Name a prime. [stop, Qwen/Qwen2.5-7B-Instruct]
	// Reply 1 from vllm (seed 7) to: Name a prime. [stop, Qwen/Qwen2.5-7B-Instruct]
	// 1 request, 7 prompt and 20 completion tokens
}

// Two llama.cpp replicas with one slot each: the server refuses n above its
// slot count, so the Policy draws the responses one per request, in
// parallel across the replicas, each with its own seed.
func Example_replicas() {
	// Two llama-server replicas started with -np 1: one slot each.
	a := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.LlamaCpp, Slots: 1})
	defer a.Close()
	b := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.LlamaCpp, Slots: 1})
	defer b.Close()

	pol, err := openai.New("llama-3.2-3b", []string{a.URL(), b.URL()}, &openai.Options{APIKeyEnv: "-"})
	if err != nil {
		log.Fatal(err)
	}
	rs, err := pol.Generate(context.Background(), alignment.NewPrompt("p1", "Hi!"),
		alignment.SampleOptions{N: 3, Temperature: 1, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Println(r.Text)
	}
	fmt.Println(len(a.Requests())+len(b.Requests()), "requests,", pol.Usage().Requests, "answered")
	// Output:
	// Reply 0 from llama.cpp (seed 1) to: Hi!
	// Reply 0 from llama.cpp (seed 1515922377) to: Hi!
	// Reply 0 from llama.cpp (seed 963788750) to: Hi!
	// 5 requests, 3 answered
}

// LogProb scores a given completion where the server can echo prompt
// log-probabilities (vLLM); elsewhere it reports alignment.ErrUnsupported.
func ExamplePolicy_LogProb() {
	srv := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.VLLM})
	defer srv.Close()
	pol, err := openai.New("m", []string{srv.URL()}, &openai.Options{APIKeyEnv: "-"})
	if err != nil {
		log.Fatal(err)
	}
	lp, n, err := pol.LogProb(context.Background(), alignment.NewPrompt("p1", "Capital of France?"), "Paris, of course.")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("log-probability %.3f over %d tokens\n", lp, n)
	// Output:
	// log-probability -1.250 over 3 tokens
}

// RedactURL shows a base URL without the credentials it may carry.
func ExampleRedactURL() {
	fmt.Println(openai.RedactURL("https://user:sk-123@example.com/v1?api-key=sk-123&deployment=gpt"))
	// Output:
	// https://REDACTED@example.com/v1?api-key=REDACTED&deployment=gpt
}

// A Handoff trains after each iteration (here a Go function that writes
// an adapter directory, as TRL with PEFT does) and loads the result into
// vLLM; the Policy it returns asks for the adapter by name.
func ExampleHandoff() {
	srv := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.VLLM, Model: "Qwen/Qwen2.5-7B-Instruct", LoRA: true})
	defer srv.Close()
	pol, err := openai.New("Qwen/Qwen2.5-7B-Instruct", []string{srv.URL()}, &openai.Options{APIKeyEnv: "-"})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "handoff")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	h := &openai.Handoff{
		Policy: pol,
		Dir:    dir,
		Load:   openai.LoadVLLMLoRA,
		Func: func(ctx context.Context, job openai.TrainJob) (string, error) {
			// Train on job.Pairs from job.Adapter (or job.BaseModel) and
			// save the adapter to job.Output.
			return "", os.WriteFile(filepath.Join(job.Output, "adapter_config.json"), []byte("{}"), 0o644)
		},
		AdapterName: func(it int) string { return fmt.Sprintf("qwen-sr-%d", it+1) },
	}
	pair := alignment.Pair{Prompt: alignment.NewPrompt("p1", "Hi!"), Chosen: alignment.Response{Text: "Hello!"}, Rejected: alignment.Response{Text: "Go away."}}
	next, err := h.Train(context.Background(), pol, []alignment.Pair{pair})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(next.(*openai.Policy).Model())
	rs, err := next.Generate(context.Background(), alignment.NewPrompt("p2", "Hi again!"), alignment.SampleOptions{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rs[0].Source)
	// Output:
	// qwen-sr-1
	// qwen-sr-1
}
