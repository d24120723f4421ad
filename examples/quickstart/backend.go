package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// proper), and training, if any, is the user's command.
func remote(c config, pol *openai.Policy, stdout io.Writer) (alignment.Policy, alignment.Trainer, alignment.Judge, error) {
	rubric, err := judge.NewRubric(pol, &judge.RubricOptions{Sample: alignment.SampleOptions{MaxTokens: judgeMaxTokens}})
	if err != nil {
		return nil, nil, nil, err
	}
	fmt.Fprintf(stdout, "backend: model %q at %s judges its own answers; training: %s\n", c.model, redactedBackend(c.backend), trainWord(c.trainCmd))
	return pol, &commandTrainer{cmd: c.trainCmd, dir: c.out, policy: pol, stdout: stdout}, rubric, nil
}

func trainWord(cmd string) string {
	if cmd == "" {
		return "none (the pairs are written for an external trainer)"
	}
	return fmt.Sprintf("%q after each iteration", cmd)
}

// commandTrainer "trains" a served model by running the user's command
// between iterations: the command reads the iteration's pairs (TRL format)
// from $SELFALIGN_PAIRS, trains (with TRL or OpenRLHF, say) and makes the
// server serve the result under the same model name. The policy object
// stays the same: it is the server that changes.
type commandTrainer struct {
	cmd    string
	dir    string
	policy alignment.Policy
	stdout io.Writer
}

// Train writes the iteration's pairs to iteration-<i>.jsonl and runs the
// command; without a command it only writes the file.
func (t *commandTrainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	it := 0
	if len(pairs) > 0 {
		it = pairs[0].Iteration
	}
	path, err := filepath.Abs(filepath.Join(t.dir, "iteration-"+strconv.Itoa(it)+".jsonl"))
	if err != nil {
		return nil, err
	}
	sink, err := alignment.CreateJSONL(path, nil)
	if err != nil {
		return nil, err
	}
	if err := sink.Write(ctx, pairs); err != nil {
		sink.Close()
		return nil, err
	}
	if err := sink.Close(); err != nil {
		return nil, err
	}
	if t.cmd == "" {
		return pol, nil
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", t.cmd)
	cmd.Env = append(os.Environ(), "SELFALIGN_PAIRS="+path, "SELFALIGN_ITERATION="+strconv.Itoa(it))
	cmd.Stdout, cmd.Stderr = t.stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("-train-cmd after iteration %d: %w", it, err)
	}
	return pol, nil
}

// SaveCheckpoint records that the iteration was trained; the model itself
// lives on the server.
func (t *commandTrainer) SaveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	return os.WriteFile(filepath.Join(dir, "served"), []byte("the trained model is served by the backend\n"), 0o644)
}

// LoadCheckpoint returns the served policy.
func (t *commandTrainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	if _, err := os.Stat(filepath.Join(dir, "served")); err != nil {
		return nil, err
	}
	return t.policy, nil
}
