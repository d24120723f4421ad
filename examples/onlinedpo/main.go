// Onlinedpo runs online DPO from AI feedback (Guo et al., 2024) offline
// with recipe.OnlineDPO: the embedded tiny language model, fine-tuned
// on the built-in task world, answers a batch of prompts twice each; an AI
// annotator picks the better answer of each prompt; DPO steps on that batch
// at once, and the next batch is answered by the updated model. A held-out
// evaluation scores the policy before every batch with the world's rule
// constitution.
//
//	go run ./examples/onlinedpo                    # full size
//	go run ./examples/onlinedpo -short             # seconds, as CI runs it
//	go run ./examples/onlinedpo -batch 32 -epochs 3
//
// A tiny model cannot compare answers, so the annotator is rule-based here:
// it prefers the answer that passes more of the world's rules, and calls a
// tie when both pass as many. With a capable model, judge.NewPairwise over
// it takes this place unchanged.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "onlinedpo:", err)
		os.Exit(1)
	}
}

// size is the scale of a run.
type size struct {
	world     taskworld.Options
	model     tinylm.Config
	sftEpochs int
	batch     int
}

var (
	full  = size{world: taskworld.Options{}, model: tinylm.Config{}, sftEpochs: 10, batch: 32}
	short = size{world: taskworld.Options{Train: 32, HeldOut: 12, Examples: 200}, model: tinylm.Config{Embed: 16, Hidden: 64}, sftEpochs: 8, batch: 8}
)

// about says what the program does, and output what its lines mean.
const (
	about  = "Onlinedpo runs online DPO from AI feedback on the embedded tiny model: each batch of prompts is answered twice, an annotator picks the better answer, and DPO steps on the batch at once."
	output = `
  task world: P prompts, H held out; fine-tuned tinylm, loss A → B
      The world's sizes, and the supervised fine-tuning before any DPO.
  batch N: P prompts, Q pairs, T ties, held-out rule score before the step S
      Q pairs where the annotator preferred one of a prompt's two answers,
      T ties where it preferred neither (no pair). S is the rule judge's score
      (0-5, on held-out prompts never trained on) of the policy that answered
      batch N, before the DPO step on its pairs.
  final policy: held-out rule score S, mean length L tokens
      The policy after the last step.`
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet("onlinedpo", about, output, stdout)
	isShort := fs.Bool("short", false, "a run of a few seconds on a small world and model, as CI runs it")
	seed := fs.Uint64("seed", 1, "seed of the world, the model and every sample: the same seed gives the same run")
	batch := fs.Int("batch", 0, "prompts per batch, and so per DPO step (0: 32, or 8 with -short)")
	epochs := fs.Int("epochs", 2, "passes over the prompts")
	dir := fs.String("dir", "", "output directory for pairs and checkpoints (resumable); empty keeps everything in memory")
	if ok, err := cli.Parse(fs, args); !ok {
		return err
	}
	switch {
	case *epochs < 1:
		return fmt.Errorf("-epochs is %d, want at least 1", *epochs)
	case *batch < 0:
		return fmt.Errorf("-batch is %d, want at least 1", *batch)
	}
	sz := full
	if *isShort {
		sz = short
	}
	if *batch > 0 {
		sz.batch = *batch
	}

	kit, err := taskworld.NewKit(ctx, *seed, &sz.world, sz.model, sz.sftEpochs)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, kit)
	world, rules, model := kit.World, kit.Rules, kit.Model

	prompts, err := alignment.NewSliceSource(taskworld.Prompts(world.Train()))
	if err != nil {
		return err
	}
	// One DPO epoch over each batch is one online step, anchored to the
	// fine-tuned model as it is now, as OAIF anchors to the SFT model.
	ref, err := model.Snapshot()
	if err != nil {
		return err
	}
	trainer, err := dpo.NewTrainer(&dpo.TrainerOptions{Epochs: 1, BatchSize: sz.batch, LearningRate: 3e-3, Seed: *seed, Reference: ref}, dpo.LoadFunc(tinylm.Load))
	if err != nil {
		return err
	}
	o := recipe.OnlineDPO{
		Base: alignment.Loop{
			Policy:   model,
			Prompts:  prompts,
			Trainer:  trainer,
			Sampling: alignment.SampleOptions{Temperature: 1, MaxTokens: 20},
			Seed:     *seed,
			Dir:      *dir,
			Eval:     &alignment.Evaluation{Prompts: taskworld.Prompts(world.HeldOut()), Judge: rules, Samples: 2},
			// One batch moves the policy too little for a batch-to-batch
			// win rate to mean a plateau.
			Safeguards: alignment.Safeguards{PlateauWinRate: -1},
		},
		// The rules, compared pairwise, stand for judge.Pairwise on an
		// annotator model, which the tiny model cannot be.
		Comparer:  judge.Pointwise{Judge: rules},
		BatchSize: sz.batch,
		Epochs:    *epochs,
	}
	res, err := o.Run(ctx)
	if err != nil {
		return err
	}
	for _, r := range res.Reports {
		fmt.Fprintf(stdout, "batch %d: %d prompts, %d pairs, %d ties", r.Iteration, r.Prompts, r.Pairs, r.Ties)
		if r.Eval != nil {
			fmt.Fprintf(stdout, ", held-out rule score before the step %.2f", r.Eval.MeanScore)
		}
		fmt.Fprintln(stdout)
	}
	if f := res.Final; f != nil {
		fmt.Fprintf(stdout, "final policy: held-out rule score %.2f, mean length %.1f tokens\n", f.MeanScore, f.MeanLength)
	}
	if *dir != "" {
		fmt.Fprintf(stdout, "pairs in %s/%s\n", *dir, alignment.PairsFile)
	}
	return nil
}
