package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai"
	"github.com/selfalign/selfalign/judge"
)

// Settings of the -backend path. A served chat model writes a few sentences
// where the tiny model writes one; 20 tokens, the embedded model's budget,
// would cut almost every answer, and a cut answer makes a poor pair. A
// thinking model spends part of the budget on its reasoning: an answer it
// had no room left for fails its prompt (openai.ErrNoAnswer) rather than
// becoming a pair.
const (
	backendMaxTokens = 1024
	judgeMaxTokens   = 1024
)

// dialBackend makes the policy for -backend and checks, within
// openai.CheckTimeout, that every URL answers and serves -model. It returns
// nil without -backend. The run calls it before it writes anything, so a
// dead backend leaves the output directory as it was.
func dialBackend(ctx context.Context, c config) (*openai.Policy, error) {
	if c.backend == "" {
		return nil, nil
	}
	// Several comma-separated URLs are replicas of one model (vLLM behind
	// no load balancer, say): requests go to the least busy.
	pol, err := openai.New(c.model, strings.Split(c.backend, ","), nil)
	if err != nil {
		return nil, err
	}
	if err := pol.Check(ctx); err != nil {
		return nil, fmt.Errorf("-backend: %w", err)
	}
	return pol, nil
}

// redactedBackend is -backend as it may be shown and stored: each URL
// through openai.RedactURL, so that a key in a URL reaches neither the
// terminal nor quickstart.json, report.json or report.md.
func redactedBackend(backend string) string {
	if backend == "" {
		return ""
	}
	urls := strings.Split(backend, ",")
	for i, u := range urls {
		urls[i] = openai.RedactURL(u)
	}
	return strings.Join(urls, ",")
}

// maxTokens is the answers' token budget: the tiny model's, or the served
// model's.
func maxTokens(c config) int {
	if c.backend != "" {
		return backendMaxTokens
	}
	return maxNewTokens
}

// remote wires the run to an OpenAI-compatible server: the server's model
// answers and judges itself through the default rubric (Self-Rewarding
// proper), and training, if any, is the user's command, run by an
// openai.Handoff that then makes the next iteration ask for the model it
// trained (see -serve).
func remote(c config, pol *openai.Policy, stdout io.Writer) (alignment.Policy, alignment.Trainer, func(alignment.Policy) (alignment.Judge, error), error) {
	// Self-Rewarding: each iteration's model — the one the Handoff serves
	// after training — judges its own answers, k = 3 times at the
	// paper's judge temperature.
	o := &judge.RubricOptions{Sample: alignment.SampleOptions{MaxTokens: judgeMaxTokens, Temperature: 0.7}}
	if _, err := judge.NewRubric(pol, o); err != nil {
		return nil, nil, nil, err
	}
	build := func(p alignment.Policy) (alignment.Judge, error) { return judge.NewRubric(p, o) }
	load, err := openai.ParseLoad(c.serve)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("-serve: %w", err)
	}
	fmt.Fprintf(stdout, "backend: model %q at %s judges its own answers; training: %s\n", c.model, redactedBackend(c.backend), trainWord(c.trainCmd, load))
	return pol, &openai.Handoff{Policy: pol, Dir: c.out, Command: c.trainCmd, Load: load, Stdout: stdout, Stderr: os.Stderr}, build, nil
}

// validServe reports whether -serve names an openai.Load.
func validServe(s string) bool {
	_, err := openai.ParseLoad(s)
	return err == nil
}

func trainWord(cmd string, load openai.Load) string {
	if cmd == "" {
		return "none (the pairs are written for an external trainer)"
	}
	return fmt.Sprintf("%q after each iteration, then -serve %s", cmd, load)
}
