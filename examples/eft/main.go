// Eft measures how well the embedded tiny model judges after evaluation
// fine-tuning (EFT), the step that makes it a Self-Rewarding model: for
// each seed it fine-tunes the model M1 on the task world's corpus and its
// EFT examples (at most 300 judgments labelled by the world's rules), asks
// M1 to judge the world's fixed gold set through judge.Expected (the
// expected score under its distribution over the score tokens), and
// compares it with the raw likelihood of a model fine-tuned on the corpus
// alone (the log-probability it gives each response). Both are scored by
// judge.Calibrate against the rules' labels.
//
//	go run ./examples/eft              # seeds 1 to 8
//	go run ./examples/eft -seeds 3
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eft:", err)
		os.Exit(1)
	}
}

const (
	about  = "Eft measures the tiny model as a judge after evaluation fine-tuning, against its raw likelihood, on the task world's gold set."
	output = `
  seed S: EFT judge accuracy A, Spearman R | raw likelihood accuracy A, Spearman R
      A: the share of gold pairs (two responses to a held-out prompt that
      the rules score differently) that the judge orders as the rules do;
      R: Spearman's correlation of its scores with the rules' labels.
  The last lines give the mean and the range over seeds.`
)

// The world and model of the quickstart's self-judging run.
const (
	heldOut   = 150
	sftEpochs = 10
)

// config holds the command line.
type config struct {
	seeds   int
	heldOut int
	epochs  int
	eft     int
}

func parseFlags(args []string, stderr io.Writer) (c config, ok bool, err error) {
	fs := cli.NewFlagSet("eft", about, output, stderr)
	fs.IntVar(&c.seeds, "seeds", 8, "seeds 1 to N: each its own task world and models")
	fs.IntVar(&c.heldOut, "held-out", heldOut, "held-out prompts, two gold responses each")
	fs.IntVar(&c.epochs, "sft-epochs", sftEpochs, "epochs of fine-tuning")
	fs.IntVar(&c.eft, "eft", taskworld.MaxEFT, "labelled judgments of evaluation fine-tuning")
	if ok, err := cli.Parse(fs, args); !ok {
		return c, false, err
	}
	if c.seeds < 1 || c.heldOut < 1 || c.epochs < 1 || c.eft < 1 {
		return c, false, fmt.Errorf("-seeds, -held-out, -sft-epochs and -eft must be positive")
	}
	return c, true, nil
}

// figures are the gold figures of one seed.
type figures struct {
	eft, raw judge.Calibration
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	c, ok, err := parseFlags(args, stdout)
	if !ok {
		return err
	}
	var all []figures
	for seed := uint64(1); seed <= uint64(c.seeds); seed++ {
		f, err := measure(ctx, c, seed)
		if err != nil {
			return fmt.Errorf("seed %d: %w", seed, err)
		}
		fmt.Fprintf(stdout, "seed %d: EFT judge accuracy %.3f, Spearman %.3f | raw likelihood accuracy %.3f, Spearman %.3f\n",
			seed, f.eft.PairwiseAccuracy, f.eft.Spearman, f.raw.PairwiseAccuracy, f.raw.Spearman)
		all = append(all, f)
	}
	for _, s := range []struct {
		name string
		get  func(figures) judge.Calibration
	}{{"EFT judge", func(f figures) judge.Calibration { return f.eft }}, {"raw likelihood", func(f figures) judge.Calibration { return f.raw }}} {
		var acc []float64
		for _, f := range all {
			acc = append(acc, s.get(f).PairwiseAccuracy)
		}
		fmt.Fprintf(stdout, "%s: gold pairwise accuracy mean %.3f, range %.3f–%.3f over %d seeds\n",
			s.name, mean(acc), slices.Min(acc), slices.Max(acc), len(acc))
	}
	return nil
}

// measure fine-tunes the two models of seed and calibrates their judges on
// the world's gold set.
func measure(ctx context.Context, c config, seed uint64) (figures, error) {
	cfg := tinylm.Config{Context: taskworld.JudgeContext, Seed: seed}
	w, err := taskworld.New(seed, &taskworld.Options{HeldOut: c.heldOut, EFT: c.eft})
	if err != nil {
		return figures{}, err
	}
	m1, _, err := taskworld.FineTune(ctx, w, cfg, c.epochs, seed)
	if err != nil {
		return figures{}, err
	}
	j, err := judge.NewExpected(m1, w.JudgeFormat())
	if err != nil {
		return figures{}, err
	}
	var f figures
	if f.eft, err = judge.Calibrate(ctx, j, w.Gold()); err != nil {
		return figures{}, err
	}
	plain, err := taskworld.New(seed, &taskworld.Options{HeldOut: c.heldOut})
	if err != nil {
		return figures{}, err
	}
	m0, _, err := taskworld.FineTune(ctx, plain, cfg, c.epochs, seed)
	if err != nil {
		return figures{}, err
	}
	f.raw, err = judge.Calibrate(ctx, likelihood(m0), plain.Gold())
	return f, err
}

// likelihood is the raw-likelihood judge of a model: a response scores its
// log-probability under the model, given the prompt.
func likelihood(s alignment.Scorer) alignment.Judge {
	return judge.Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		lp, _, err := s.LogProb(ctx, p, r.Text)
		return alignment.Judgment{Score: lp}, err
	})
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
