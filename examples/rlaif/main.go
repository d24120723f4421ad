// Rlaif runs RL-CAI, the reinforcement stage of Constitutional AI (Bai et
// al., 2022), in its paper form, offline: a feedback model compares two
// answers of the policy at a time and gives the probability that each is
// better (a soft label); a reward model (dpo/reward) is trained on those
// labelled pairs; and the policy, the embedded tiny language model
// fine-tuned on the built-in task world, is trained against the reward
// model with GRPO (dpo.GroupTrainer), iteration after iteration. A
// baseline arm trains the same model with the same GRPO on verifiable
// rewards: the world's rules score the answers, and no model judges. The
// rules are also the gold standard that scores both arms on held-out
// prompts and measures the reward model's accuracy.
//
//	go run ./examples/rlaif                  # full size, report in rlaif-out/report.json
//	go run ./examples/rlaif -short           # seconds, as CI runs it
//	go run ./examples/rlaif -seed 2 -out /tmp/rlaif
//
// A tiny model cannot answer a multiple-choice question, so the feedback
// model is played here by the rules (taskworld.Feedback): it prefers the
// answer that passes more of them, with the probability σ(difference in
// rules passed), soft as a feedback model's option log-probabilities are.
// With a capable model, constitution.NewComparer over it takes its place
// unchanged.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/reward"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/atomicfile"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/taskworld"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rlaif:", err)
		os.Exit(1)
	}
}

// size is the scale of a run.
type size struct {
	world       taskworld.Options
	model       tinylm.Config
	sftEpochs   int
	samples     int // responses per training prompt
	evalSamples int // responses per held-out prompt
}

var (
	full  = size{world: taskworld.Options{}, model: tinylm.Config{}, sftEpochs: 10, samples: 4, evalSamples: 4}
	short = size{world: taskworld.Options{Train: 32, HeldOut: 12, Examples: 200},
		model: tinylm.Config{Embed: 16, Hidden: 64}, sftEpochs: 8, samples: 4, evalSamples: 4}
)

// about says what the program does, and output what its lines mean.
const (
	about  = "Rlaif runs RL-CAI on the embedded tiny model: a feedback model's soft preference labels train a reward model, and GRPO trains the policy against it; a baseline arm runs GRPO on the world's rules (verifiable rewards)."
	output = `
  task world: P prompts, H held out; fine-tuned tinylm, loss A → B
      The world's sizes, and the supervised fine-tuning before any RL.
  feedback: Q labelled pairs from P prompts, S with soft labels
      The feedback model compared the policy's answers to each training
      prompt; Q pairs of the best and worst answer train the reward model,
      S of them labelled with a probability below 1 (Pair.Prob).
  reward model: held-out gold accuracy A, margin M (G pairs); B on best-and-worst pairs (W); train accuracy T
      The reward model's accuracy on the G pairs of answers to held-out
      prompts that the rules (the gold standard) score differently, and the
      mean reward margin between them; its accuracy B on the W pairs of
      each prompt's best and worst answer; its accuracy on its own
      training pairs.
  ARM iteration N: held-out rule score S before training
      ARM is rl-cai (GRPO against the reward model) or rlvr (GRPO against
      the rules). S is the held-out rule score (0-5, on prompts never
      trained on) of the policy iteration N sampled from.
  ARM final: held-out rule score S, mean length L tokens
      The policy after the last iteration's training.`
)

// Settings of the runs.
const (
	temperature = 1.0
	maxTokens   = 20
	grpoLR      = 3e-3
	grpoEpochs  = 2
)

// Report is the content of report.json.
type Report struct {
	Seed       uint64 `json:"seed"`
	Iterations int    `json:"iterations"`
	// FeedbackPairs is the number of pairs the reward model trained on,
	// and SoftLabels the number of them whose label (Pair.Prob) is
	// strictly between 0 and 1.
	FeedbackPairs int `json:"feedback_pairs"`
	SoftLabels    int `json:"soft_labels"`
	// RMAccuracy is the reward model's accuracy on held-out pairs ordered
	// by the rules: every two answers to a held-out prompt that the rules
	// score differently. RM holds all its metrics on them, under TRL's
	// names; RMMaxMin those on the best-and-worst pair of each prompt
	// only, and RMTrain those on its training pairs.
	RMAccuracy float64        `json:"rm_accuracy"`
	RM         reward.Metrics `json:"rm"`
	RMMaxMin   reward.Metrics `json:"rm_maxmin"`
	RMTrain    reward.Metrics `json:"rm_train"`
	// Arm is the RL-CAI arm's held-out record, whose fields appear at the
	// top level (mean_score, mean_length), and RLVR the baseline arm's.
	Arm
	RLVR    Arm     `json:"rlvr"`
	Seconds float64 `json:"seconds"`
}

// Arm is one arm's held-out record: the rules' mean score of, and the
// mean length in tokens of the answers of, the policy each iteration
// sampled from, then the final policy.
type Arm struct {
	MeanScore  []float64 `json:"mean_score"`
	MeanLength []float64 `json:"mean_length"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet("rlaif", about, output, stdout)
	isShort := fs.Bool("short", false, "a run of a few seconds on a small world and model, as CI runs it")
	seed := fs.Uint64("seed", 1, "seed of the world, the models and every sample: the same seed gives the same run")
	iterations := fs.Int("iterations", 2, "GRPO iterations of each arm")
	out := fs.String("out", "rlaif-out", "output directory of report.json")
	if ok, err := cli.Parse(fs, args); !ok {
		return err
	}
	switch {
	case *iterations < 1:
		return fmt.Errorf("-iterations is %d, want at least 1", *iterations)
	case *out == "":
		return fmt.Errorf("-out is empty")
	}
	sz := full
	if *isShort {
		sz = short
	}
	start := time.Now()

	kit, err := taskworld.NewKit(ctx, *seed, &sz.world, sz.model, sz.sftEpochs)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, kit)
	rep := Report{Seed: *seed, Iterations: *iterations}

	// Feedback: one round of the policy's answers to the training prompts,
	// compared pairwise by the feedback model.
	sampling := alignment.SampleOptions{Temperature: temperature, MaxTokens: maxTokens}
	labelled, err := taskworld.FeedbackPairs(ctx, kit.Model, taskworld.Prompts(kit.World.Train()), kit.Rules, sz.samples, sampling, *seed)
	if err != nil {
		return err
	}
	train, err := alignment.NewSliceSource(taskworld.Prompts(kit.World.Train()))
	if err != nil {
		return err
	}
	rep.FeedbackPairs = len(labelled)
	for _, p := range labelled {
		if p.Prob > 0 && p.Prob < 1 {
			rep.SoftLabels++
		}
	}
	fmt.Fprintf(stdout, "feedback: %d labelled pairs from %d prompts, %d with soft labels\n", len(labelled), len(kit.World.Train()), rep.SoftLabels)

	// The reward model, trained on the labels and measured on held-out
	// pairs that the rules order.
	rm, err := reward.New(&reward.Options{Seed: *seed})
	if err != nil {
		return err
	}
	fit, err := rm.Fit(ctx, labelled)
	if err != nil {
		return fmt.Errorf("reward model: %w", err)
	}
	gold, maxMin, err := taskworld.GoldPairs(ctx, kit.Model, kit.World, kit.Rules, sz.evalSamples, sampling, *seed^0x601d)
	if err != nil {
		return err
	}
	if rep.RM, err = rm.Evaluate(gold); err != nil {
		return err
	}
	if rep.RMMaxMin, err = rm.Evaluate(maxMin); err != nil {
		return err
	}
	rep.RMAccuracy, rep.RMTrain = rep.RM.Accuracy, fit.Train
	fmt.Fprintf(stdout, "reward model: held-out gold accuracy %.3f, margin %.2f (%d pairs); %.3f on best-and-worst pairs (%d); train accuracy %.3f\n",
		rep.RM.Accuracy, rep.RM.Margin, rep.RM.Pairs, rep.RMMaxMin.Accuracy, rep.RMMaxMin.Pairs, fit.Train.Accuracy)

	// The two arms: the same model, the same GRPO, two judges.
	for _, arm := range []struct {
		name  string
		judge alignment.Judge
		into  *Arm
	}{{"rl-cai", rm, &rep.Arm}, {"rlvr", kit.Rules, &rep.RLVR}} {
		a, err := runArm(ctx, arm.name, kit, arm.judge, train, sz, sampling, *iterations, *seed, stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", arm.name, err)
		}
		*arm.into = a
	}
	rep.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(*out, "report.json")
	if err := atomicfile.WriteBytes(path, append(data, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report in %s\n", path)
	return nil
}

// runArm trains a copy of the kit's model with GRPO against judge for the
// given iterations and returns its held-out record.
func runArm(ctx context.Context, name string, kit *taskworld.Kit, judge alignment.Judge, train alignment.PromptSource,
	sz size, sampling alignment.SampleOptions, iterations int, seed uint64, stdout io.Writer) (Arm, error) {
	gt, err := dpo.NewGroupTrainer(&dpo.GroupTrainerOptions{Epochs: grpoEpochs, LearningRate: grpoLR, Seed: seed}, dpo.LoadFunc(tinylm.Load))
	if err != nil {
		return Arm{}, err
	}
	res, err := (&alignment.Loop{
		Policy: kit.Model.Clone(), Prompts: train, Judge: judge, Trainer: gt,
		Iterations: iterations, Samples: sz.samples, Sampling: sampling, Seed: seed, Source: name,
		Eval: &alignment.Evaluation{Prompts: taskworld.Prompts(kit.World.HeldOut()), Judge: kit.Rules, Samples: sz.evalSamples},
	}).Run(ctx)
	if err != nil {
		return Arm{}, err
	}
	var a Arm
	for _, r := range res.Reports {
		if r.Eval != nil {
			fmt.Fprintf(stdout, "%s iteration %d: held-out rule score %.2f before training\n", name, r.Iteration, r.Eval.MeanScore)
			a.MeanScore = append(a.MeanScore, r.Eval.MeanScore)
			a.MeanLength = append(a.MeanLength, r.Eval.MeanLength)
		}
	}
	if f := res.Final; f != nil {
		fmt.Fprintf(stdout, "%s final: held-out rule score %.2f, mean length %.1f tokens\n", name, f.MeanScore, f.MeanLength)
		a.MeanScore = append(a.MeanScore, f.MeanScore)
		a.MeanLength = append(a.MeanLength, f.MeanLength)
	}
	return a, nil
}
