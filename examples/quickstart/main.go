// Quickstart runs selfalign's main job offline: it trains the embedded tiny
// language model on a built-in task world, then runs iterations in which
// the model samples answers, a judge scores them, the best and worst
// answers become preference pairs, and DPO trains the next model. It writes
// the pairs (TRL's format) and a report with a chart to an output
// directory, and resumes an interrupted run.
//
// The judge is chosen with -judge. With -judge rules (the default) the
// task world's rules, Go checks that know every answer, judge the
// answers: on-policy DPO with a rule verifier, whose pairs say "verifier".
// With -judge self the run is Self-Rewarding: the model is fine-tuned on
// the corpus and on at most 300 judgments labelled by the rules
// (evaluation fine-tuning), then judges its own answers through
// judge.Expected, built from each iteration's policy; its pairs say
// "self-rewarding", and the rules only label those judgments and score
// the held-out evaluation, where they also measure the model as a judge.
//
//	go run ./examples/quickstart                 # 3 iterations into ./quickstart-out/seed-1
//	go run ./examples/quickstart -seed 2         # into ./quickstart-out/seed-2
//	go run ./examples/quickstart -judge self     # into ./quickstart-out/seed-1-judge-self
//	go run ./examples/quickstart -iterations 5 -seed 7 -out /tmp/run
//	go run ./examples/quickstart -h              # flags, and what the output means
//
// With -backend URL -model NAME it runs against an OpenAI-compatible
// server (vLLM, llama.cpp, Ollama, ...) instead: the server's model writes
// the answers and judges them itself through a rubric; there is no
// in-process training then, and -train-cmd runs your training command
// between iterations on the pairs written so far.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/atomicfile"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "quickstart: interrupted; run the same command again to resume")
		}
		os.Exit(1)
	}
}

// config holds the command line.
type config struct {
	iterations  int
	seed        uint64
	out         string
	concurrency int
	backend     string
	model       string
	trainCmd    string
	serve       string
	prompts     int // training prompts; 0 means the task world's default
	heldOut     int // held-out prompts
	sftEpochs   int
	judge       string // judgeRules or judgeSelf
}

// The judges of -judge, and the Source of the pairs a verifier run makes.
const (
	judgeRules     = "rules"
	judgeSelf      = "self"
	sourceVerifier = "verifier"
)

// parseFlags reads the command line; ok is false when the program must not
// run, because of an error or because -h printed the usage.
func parseFlags(args []string, stderr io.Writer) (c config, ok bool, err error) {
	fs := cli.NewFlagSet("quickstart", about, output, stderr)
	fs.IntVar(&c.iterations, "iterations", 3, "iterations (each samples, judges, writes pairs and trains)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the task world, the model and every sample: the same seed gives the same run")
	fs.StringVar(&c.out, "out", "", "output directory; an interrupted run there is resumed (default quickstart-out/seed-S, the name extended by the other settings that change the run)")
	fs.IntVar(&c.concurrency, "concurrency", runtime.NumCPU(), "model calls in flight")
	fs.StringVar(&c.backend, "backend", "", "base URL of an OpenAI-compatible server (e.g. http://localhost:8000/v1), or several comma-separated replicas; empty means the embedded tiny model")
	fs.StringVar(&c.model, "model", "", "model name on -backend")
	fs.StringVar(&c.trainCmd, "train-cmd", "", "with -backend: shell command run after each iteration to train on $SELFALIGN_PAIRS and serve the result")
	fs.StringVar(&c.serve, "serve", "none", "with -train-cmd: how the trained model reaches -backend: none (the command serves it, under the name of a SELFALIGN_MODEL=name line it prints, or the same name), vllm-lora, sglang-lora or sglang-weights (load $SELFALIGN_OUTPUT)")
	fs.IntVar(&c.prompts, "prompts", 0, "training prompts (0: the task world's default of 160)")
	fs.IntVar(&c.heldOut, "held-out", heldOut, "held-out evaluation prompts")
	fs.IntVar(&c.sftEpochs, "sft-epochs", sftEpochs, "epochs of supervised fine-tuning before the first iteration")
	fs.StringVar(&c.judge, "judge", judgeSelf, "who judges the answers: self (the model, after evaluation fine-tuning on 300 judgments labelled by the rules: Self-Rewarding) or rules (the task world's rules: on-policy DPO with a rule verifier); with -backend the server's model judges itself")
	if ok, err := cli.Parse(fs, args); !ok {
		return c, false, err
	}
	outSet, judgeSet := false, false
	fs.Visit(func(f *flag.Flag) {
		outSet = outSet || f.Name == "out"
		judgeSet = judgeSet || f.Name == "judge"
	})
	switch {
	case c.judge != judgeRules && c.judge != judgeSelf:
		return c, false, fmt.Errorf("-judge is %q, want rules or self", c.judge)
	case c.backend != "" && judgeSet && c.judge == judgeRules:
		return c, false, errors.New("-judge rules needs the embedded model: with -backend the server's model judges its own answers")
	case c.backend != "":
		c.judge = judgeSelf
	}
	if !outSet {
		c.out = defaultOut(settingsOf(c))
	}
	switch {
	case c.iterations < 1:
		return c, false, fmt.Errorf("-iterations is %d, want at least 1", c.iterations)
	case c.concurrency < 1:
		return c, false, fmt.Errorf("-concurrency is %d, want at least 1", c.concurrency)
	case c.out == "":
		return c, false, errors.New("-out is empty")
	case c.backend != "" && c.model == "":
		return c, false, errors.New("-backend needs -model")
	case c.backend == "" && (c.model != "" || c.trainCmd != ""):
		return c, false, errors.New("-model and -train-cmd need -backend")
	case c.serve != "none" && c.trainCmd == "":
		return c, false, errors.New("-serve needs -train-cmd")
	case !validServe(c.serve):
		return c, false, fmt.Errorf("-serve is %q, want none, vllm-lora, sglang-lora or sglang-weights", c.serve)
	case c.sftEpochs < 1:
		return c, false, fmt.Errorf("-sft-epochs is %d, want at least 1", c.sftEpochs)
	case c.prompts < 0 || c.heldOut < 1:
		return c, false, errors.New("-prompts must not be negative and -held-out must be positive")
	}
	return c, true, nil
}

// Settings of the embedded run, tuned on the task world (see the README's
// table): a corpus in which most answers are flawed leaves the fine-tuned
// model plenty to learn; eight samples per prompt make pairs with a clear
// winner; two DPO epochs at 3e-3 per iteration move the tiny model far
// enough without the length blow-up that larger steps cause; 150 held-out
// prompts with 8 samples each keep the evaluation's noise well below the
// gains it measures.
const (
	samples      = 8
	evalSamples  = 8
	heldOut      = 150
	sftEpochs    = 10
	dpoEpochs    = 2
	dpoLR        = 3e-3
	dpoBeta      = 0.1
	temperature  = 1.0
	maxNewTokens = 20
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	c, ok, err := parseFlags(args, stdout)
	if !ok {
		return err
	}
	p := newProgress(stdout)
	wo := &taskworld.Options{Train: c.prompts, HeldOut: c.heldOut}
	self := c.backend == "" && c.judge == judgeSelf
	if self {
		wo.EFT = taskworld.MaxEFT
	}
	world, err := taskworld.New(c.seed, wo)
	if err != nil {
		return err
	}
	be, err := dialBackend(ctx, c) // before anything is written
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := checkRunFile(c); err != nil {
		return err
	}
	rules, err := rulesJudge()
	if err != nil {
		return err
	}
	var (
		policy      alignment.Policy
		trainer     alignment.Trainer
		answerJudge alignment.Judge = rules
		source                      = sourceVerifier
		selfJudge   func(alignment.Policy) (alignment.Judge, error)
	)
	if c.backend == "" {
		p.linef("task world: %d training prompts, %d held-out prompts, %d supervised examples (seed %d)",
			len(world.Train()), len(world.HeldOut()), len(world.Corpus()), c.seed)
		if self {
			p.linef("judge: the model itself, after evaluation fine-tuning on %d judgments labelled by the rules; the rules score only the held-out evaluation",
				len(world.EFT()))
			selfJudge = func(pol alignment.Policy) (alignment.Judge, error) {
				return judge.NewExpected(pol, world.JudgeFormat())
			}
			source = recipe.SourceSelfRewarding
		} else {
			p.linef("judge: the task world's rules (on-policy DPO with a rule verifier)")
		}
		m, err := fineTuned(ctx, c, world, p)
		if err != nil {
			return err
		}
		policy = m
		trainer, err = dpo.NewTrainer(&dpo.TrainerOptions{
			Loss: dpo.Sigmoid{Beta: dpoBeta}, Epochs: dpoEpochs, LearningRate: dpoLR, Seed: c.seed,
		}, dpo.LoadFunc(tinylm.Load))
		if err != nil {
			return err
		}
	} else {
		policy, trainer, selfJudge, err = remote(c, be, stdout)
		if err != nil {
			return err
		}
		source = recipe.SourceSelfRewarding
		p.training = func(it int) string {
			if c.trainCmd == "" {
				return fmt.Sprintf("writing its pairs to iteration-%d.jsonl; nothing trains without -train-cmd", it)
			}
			return fmt.Sprintf("writing its pairs to iteration-%d.jsonl and running -train-cmd", it)
		}
	}
	prompts, err := alignment.NewSliceSource(taskworld.Prompts(world.Train()))
	if err != nil {
		return err
	}
	loop := &alignment.Loop{
		Policy:      policy,
		Judge:       answerJudge,
		Prompts:     prompts,
		Trainer:     trainer,
		Iterations:  c.iterations,
		Samples:     samples,
		Sampling:    alignment.SampleOptions{Temperature: temperature, MaxTokens: maxTokens(c)},
		Concurrency: c.concurrency,
		Seed:        c.seed,
		Dir:         c.out,
		Source:      source,
		Observer:    p,
		// Every policy, from the fine-tuned one to the last trained one, is
		// scored by the rule judge on prompts it never trains on.
		Eval: &alignment.Evaluation{Prompts: taskworld.Prompts(world.HeldOut()), Judge: rules, Samples: evalSamples},
	}
	if selfJudge != nil {
		loop.Judge = nil
		if self {
			// The tiny model of each iteration judges its own answers,
			// once each: its verdict is an expectation, not a sample.
			loop.JudgeSamples = 1
			loop.Selector = alignment.MaxMin{MinGap: selfMargin}
		}
		sr := recipe.SelfRewarding{Base: *loop, Judge: selfJudge}
		if loop, err = sr.Loop(); err != nil {
			return err
		}
	}
	p.linef("writing to %s", c.out)
	res, err := loop.Run(ctx)
	if err != nil {
		return err
	}
	rep := newReport(c.seed, backendName(c), res)
	rep.Judge, rep.EFTJudgments = c.judge, len(world.EFT())
	if self {
		for i, rw := range rep.Iterations {
			if rw.Iteration < len(res.Reports) {
				r := res.Reports[rw.Iteration]
				rep.Iterations[i].SelfScoreMean, rep.Iterations[i].SelfScoreSaturation = ptr(r.Score.Mean), ptr(saturation(r.Histogram))
			}
		}
	}
	if err := rulePass(ctx, rules, taskworld.Prompts(world.HeldOut()), res, rep.Iterations); err != nil {
		return err
	}
	if res.Restored > 0 && res.Restored == len(res.Reports) {
		p.linef("the run in %s was already complete: its iterations were read back from %s, not run again", c.out, alignment.ProgressFile)
	}
	if res.Stopped != nil {
		p.linef("stopped early: %s", res.Stopped.Reason)
	}
	if self {
		p.status("measuring each policy as a judge on %d gold responses…", len(world.Gold()))
		if err := judgeFigures(ctx, c.out, trainer, world, selfJudge, rep.Iterations); err != nil {
			return err
		}
		agree, err := pairAgreement(c.out)
		if err != nil {
			return err
		}
		for i, r := range rep.Iterations {
			if a, ok := agree[r.Iteration]; ok {
				rep.Iterations[i].PairAgreement = ptr(a)
			}
		}
	}
	if err := writeReports(c.out, rep); err != nil {
		return err
	}
	p.linef("\n%s\nheld-out score %+.2f over %d iterations, in %s", table(rep.Iterations), rep.Gain, len(res.Reports), rep.elapsed())
	if self {
		p.linef("%s", judgeLines(rep.Iterations))
	}
	files, err := describeOutputs(c.out, c.backend != "")
	if err != nil {
		return err
	}
	p.linef("%s", files)
	return nil
}

func backendName(c config) string {
	if c.backend == "" {
		return "embedded tinylm"
	}
	return c.model + " at " + redactedBackend(c.backend)
}

// fineTuned returns the model fine-tuned on the task world's corpus,
// loading it from the output directory when an earlier run saved it.
func fineTuned(ctx context.Context, c config, world *taskworld.World, p *progress) (*tinylm.Model, error) {
	path := filepath.Join(c.out, sftFile)
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		m, err := tinylm.Load(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (remove it, or choose another -out)", path, err)
		}
		p.linef("fine-tuned model: loaded from %s", path)
		return m, nil
	}
	p.status("fine-tuning the model on %d examples…", len(world.Corpus()))
	t0 := time.Now()
	cfg := tinylm.Config{Seed: c.seed}
	if len(world.EFT()) > 0 {
		cfg.Context = taskworld.JudgeContext
	}
	m, losses, err := taskworld.FineTune(ctx, world, cfg, c.sftEpochs, c.seed)
	if err != nil {
		return nil, err
	}
	p.linef("fine-tuned model: %d epochs of supervised training, loss %.2f → %.2f (%s)",
		len(losses), losses[0], losses[len(losses)-1], time.Since(t0).Round(10*time.Millisecond))
	return m, atomicfile.Write(path, m.Save)
}

// sftFile is the fine-tuned model in the output directory.
const sftFile = "sft.bin"

// runFile records the settings a run's directory was made with, so that a
// rerun with other settings is refused rather than mixed in.
const runFile = "quickstart.json"

type runSettings struct {
	Seed      uint64 `json:"seed"`
	Backend   string `json:"backend"`
	Model     string `json:"model"`
	Prompts   int    `json:"prompts"`
	HeldOut   int    `json:"held_out"`
	SFTEpochs int    `json:"sft_epochs"`
	// Judge is "self" for an embedded self-judging run and empty
	// otherwise, so that the directories of earlier runs stay valid.
	Judge string `json:"judge,omitempty"`
}

func checkRunFile(c config) error {
	want := settingsOf(c)
	path := filepath.Join(c.out, runFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		js, err := json.Marshal(want)
		if err != nil {
			return err
		}
		return atomicfile.WriteBytes(path, append(js, '\n'))
	}
	if err != nil {
		return err
	}
	var got runSettings
	if err := json.Unmarshal(data, &got); err != nil {
		return fmt.Errorf("%s: %w (remove the directory, or choose another -out)", path, err)
	}
	if got == want {
		return nil
	}
	var was, is []string
	for i, f := range got.flags() {
		if g := want.flags()[i]; f != g {
			was, is = append(was, f), append(is, g)
		}
	}
	fix := "add -out with a new directory"
	if d := defaultOut(want); d != c.out {
		fix = "add -out " + d
	}
	return fmt.Errorf("%s holds a run made with %s, and this one has %s: to keep both, %s; to start over, remove %s",
		c.out, strings.Join(was, " "), strings.Join(is, " "), fix, c.out)
}
