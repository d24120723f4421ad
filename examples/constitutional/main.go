// Constitutional runs Constitutional AI (Bai et al., 2022) offline with
// recipe.ConstitutionalAI: the embedded tiny language model, fine-tuned
// on the built-in task world, answers the world's prompts; in the
// supervised stage each answer is revised and the model is fine-tuned on
// the revisions, as Bai et al. do (-sl pairs trains DPO on revision ≻
// draft pairs instead; -sl compare runs both from the same start and
// reports each); in the reinforcement stage a
// feedback model compares two fresh answers per prompt, and DPO trains on
// its preferences, iteration after iteration. A held-out evaluation scores
// every policy with the world's rule constitution.
//
//	go run ./examples/constitutional                # full size
//	go run ./examples/constitutional -short         # seconds, as CI runs it
//	go run ./examples/constitutional -dir out       # pairs and checkpoints in out/sl and out/rl, resumable
//	go run ./examples/constitutional -sl compare    # SL-CAI by fine-tuning and by revision pairs, side by side
//
// A tiny model cannot write critiques, so the two model roles are played
// by the rule constitution here: the reviser (taskworld.Reviser) replaces
// an answer that fails some rule by the best of a few fresh samples when
// the rules score one higher (recording the failed rules as the
// revision's principle), and the
// feedback model prefers the answer that passes more rules. With a capable
// model, constitution.NewReviser and constitution.NewComparer over it take
// these places unchanged.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

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
		fmt.Fprintln(os.Stderr, "constitutional:", err)
		os.Exit(1)
	}
}

// size is the scale of a run.
type size struct {
	world         taskworld.Options
	model         tinylm.Config
	sftEpochs     int
	revisionDraws int
}

var (
	full  = size{world: taskworld.Options{}, model: tinylm.Config{}, sftEpochs: 10, revisionDraws: 8}
	short = size{world: taskworld.Options{Train: 32, HeldOut: 12, Examples: 200},
		model: tinylm.Config{Embed: 16, Hidden: 64}, sftEpochs: 8, revisionDraws: 4}
)

// about says what the program does, and output what its lines mean.
const (
	about  = "Constitutional runs Constitutional AI on the embedded tiny model: fine-tuning on revised answers (SL stage; -sl pairs: DPO on revised-over-draft pairs), then DPO on a feedback model's preferences between two answers (RL stage)."
	output = `
  task world: P prompts, H held out; fine-tuned tinylm, loss A → B
      The world's sizes, and the supervised fine-tuning before any DPO.
  SL form F
      With -sl compare, the report of each form (sft, pairs) follows its
      own such line; both start from the same fine-tuned model.
  SL stage: P prompts, A answers, R revision pairs
      Answers that fail a rule are revised; R revision pairs prefer a
      revision to its draft. The held-out rule score (0-5, on prompts never
      trained on) follows, before → after fine-tuning on the revisions (or
      DPO on the pairs, with -sl pairs).
  RL iteration N: P prompts, Q pairs, T ties, held-out rule score S before training
      The feedback model compared two answers per prompt: Q pairs where it
      preferred one, T ties where it preferred neither (no pair). S scores the
      policy iteration N sampled from, before iteration N trained it.
  final policy: held-out rule score S, mean length L tokens
      The policy after the last iteration's training.
  correctness C (baseline B at the RL stage's start)
      The capability suite: 5 × the share of right answers to the held-out
      arithmetic and fact prompts; alignment must not lower it. The SL
      stage's line shows it before → after that stage. A regression alarm,
      listed after it, says it fell by more than 0.25 during the RL stage.`
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet("constitutional", about, output, stdout)
	isShort := fs.Bool("short", false, "a run of a few seconds on a small world and model, as CI runs it")
	seed := fs.Uint64("seed", 1, "seed of the world, the model and every sample: the same seed gives the same run")
	iterations := fs.Int("iterations", 2, "iterations of the reinforcement stage")
	dir := fs.String("dir", "", "output directory for pairs and checkpoints (resumable); empty keeps everything in memory")
	slForm := fs.String("sl", "sft", "how the SL stage trains: sft (on the revisions, as Bai et al.), pairs (DPO on revision ≻ draft) or compare (both, from the same start)")
	if ok, err := cli.Parse(fs, args); !ok {
		return err
	}
	var forms []recipe.SLForm
	switch *slForm {
	case "sft", "pairs":
		forms = []recipe.SLForm{recipe.SLForm(*slForm)}
	case "compare":
		forms = []recipe.SLForm{recipe.SLSupervised, recipe.SLPairs}
	default:
		return fmt.Errorf("-sl is %q, want sft, pairs or compare", *slForm)
	}
	switch {
	case *iterations < 1:
		return fmt.Errorf("-iterations is %d, want at least 1", *iterations)
	}
	sz := full
	if *isShort {
		sz = short
	}

	kit, err := taskworld.NewKit(ctx, *seed, &sz.world, sz.model, sz.sftEpochs)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, kit)
	for _, form := range forms {
		d := *dir
		if len(forms) > 1 {
			fmt.Fprintf(stdout, "SL form %s\n", form)
			if d != "" {
				d = filepath.Join(d, string(form))
			}
		}
		if err := runCAI(ctx, kit, sz, form, *seed, *iterations, d, stdout); err != nil {
			return err
		}
	}
	return nil
}

// runCAI runs Constitutional AI from a copy of the kit's model, with the
// SL stage in the given form, and reports it.
func runCAI(ctx context.Context, kit *taskworld.Kit, sz size, form recipe.SLForm, seed uint64, iterations int, dir string, stdout io.Writer) error {
	world, rules, model := kit.World, kit.Rules, kit.Model.Clone()

	prompts, err := alignment.NewSliceSource(taskworld.Prompts(world.Train()))
	if err != nil {
		return err
	}
	capability, err := taskworld.CapabilitySuite(world.HeldOut())
	if err != nil {
		return err
	}
	sampling := alignment.SampleOptions{Temperature: 1, MaxTokens: 20}
	reviser, err := taskworld.NewReviser(model.Clone(), rules, sz.revisionDraws, sampling)
	if err != nil {
		return err
	}
	slTrainer, err := newTrainer(seed)
	if err != nil {
		return err
	}
	rlTrainer, err := newTrainer(seed)
	if err != nil {
		return err
	}
	cai := recipe.ConstitutionalAI{
		Base: alignment.Loop{
			Policy:     model,
			Prompts:    prompts,
			Trainer:    rlTrainer,
			Iterations: iterations,
			Sampling:   sampling,
			Seed:       seed,
			Dir:        dir,
			Eval: &alignment.Evaluation{Prompts: taskworld.Prompts(world.HeldOut()), Judge: rules, Samples: 4,
				Suites: []alignment.Suite{capability}},
		},
		Reviser:   reviser,
		SLTrainer: slTrainer,
		SLForm:    form,
		// The rules, compared pairwise, stand for constitution.Comparer on a
		// feedback model: the tiny model cannot answer multiple choice.
		Comparer: judge.Pointwise{Judge: rules},
	}
	res, err := cai.Run(ctx)
	if err != nil {
		return err
	}

	sl := res.SL.Reports[0]
	fmt.Fprintf(stdout, "SL stage: %d prompts, %d answers, %d revision pairs\n", sl.Prompts, sl.Responses, sl.Pairs)
	if sl.Eval != nil && res.SL.Final != nil {
		how := "fine-tuning on the revisions"
		if form == recipe.SLPairs {
			how = "DPO on the revision pairs"
		}
		fmt.Fprintf(stdout, "  held-out rule score %.2f → %.2f after %s", sl.Eval.MeanScore, res.SL.Final.MeanScore, how)
		for i, su := range res.SL.Final.Suites {
			fmt.Fprintf(stdout, "; %s %.2f → %.2f", su.Name, sl.Eval.Suites[i].Score.Mean, su.Score.Mean)
		}
		fmt.Fprintln(stdout)
	}
	for _, r := range res.RL.Reports {
		fmt.Fprintf(stdout, "RL iteration %d: %d prompts, %d pairs, %d ties", r.Iteration, r.Prompts, r.Pairs, r.Ties)
		if r.Eval != nil {
			fmt.Fprintf(stdout, ", held-out rule score %.2f before training", r.Eval.MeanScore)
		}
		fmt.Fprintln(stdout)
	}
	if res.RL.Stopped != nil {
		fmt.Fprintf(stdout, "RL stage stopped early: %s\n", res.RL.Stopped.Reason)
	}
	if f := res.RL.Final; f != nil {
		fmt.Fprintf(stdout, "final policy: held-out rule score %.2f, mean length %.1f tokens\n", f.MeanScore, f.MeanLength)
		for _, su := range f.Suites {
			fmt.Fprintf(stdout, "  %s %.2f (baseline %.2f at the RL stage's start)\n", su.Name, su.Score.Mean, su.Baseline)
		}
		for _, a := range f.Alarms {
			if a.Kind == alignment.AlarmRegression {
				fmt.Fprintf(stdout, "  alarm: %s\n", a.Reason)
			}
		}
	}
	if dir != "" {
		fmt.Fprintf(stdout, "pairs in %s/sl/%s and %s/rl/%s\n", dir, alignment.PairsFile, dir, alignment.PairsFile)
	}
	return nil
}

// newTrainer returns the DPO trainer of a stage, with a loader so that a
// run in a directory can resume after training.
func newTrainer(seed uint64) (*dpo.Trainer, error) {
	return dpo.NewTrainer(&dpo.TrainerOptions{Epochs: 2, LearningRate: 3e-3, Seed: seed}, dpo.LoadFunc(tinylm.Load))
}
