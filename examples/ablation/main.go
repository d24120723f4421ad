// Ablation shows, in miniature on the embedded tiny model and the built-in
// task world, what the field has found about synthetic alignment loops:
//
//   - on-policy beats offline: iterative DPO that samples its pairs from the
//     current policy each iteration ends higher than offline DPO, whose
//     pairs are all sampled from the fine-tuned model and trained on for
//     the same number of epochs (here the offline policy drifts to long,
//     rambling answers as training goes on);
//   - iterations stop paying: the held-out score rises fast, then flattens,
//     and the held-out win rate over the previous policy falls toward one
//     half; the program says where the Loop's plateau safeguard (the win
//     rate's lower 95% confidence bound ≤ 0.5) would have stopped each run;
//   - length control: pairs chosen with LengthControlled instead of MaxMin
//     give shorter answers, and the table shows what that costs in score;
//   - a model that judges itself against a verifier: Self-Rewarding (the
//     policy judges its own answers, as the quickstart's -judge self),
//     Meta-Rewarding (it also meta-judges its judgments and learns to judge
//     from them; see examples/metarewarding) and Self-Rewarding with one
//     of two stabilisers of judge–policy co-evolution (the EFT judgments
//     mixed back each iteration, or a judge anchor: M1 frozen as the
//     judge), each against the on-policy arm, whose judge is the
//     world's rules, and the policy's accuracy as a judge on the world's
//     gold set from the fine-tuned model M1 to the last iteration;
//   - and, as they are cheap here: frequent-refresh DPO (recipe.OnlineDPO
//     with a moving reference and several steps per batch, so not OAIF)
//     against iterative DPO, and one noisy judge against a judge.Jury of
//     three;
//   - recipes that keep their paper's mechanism: SPaR (refinement ≻
//     original pairs from a tree search of the model's own one-token
//     edits of a failing answer; judged by the rules, as the on-policy
//     arm, and by the policy's own sampled verdicts, as in the paper), and
//     Constitutional AI with its supervised stage as fine-tuning on the
//     revisions (Bai et al.) or as DPO on revision ≻ draft pairs;
//   - regression testing: every arm's evaluation holds the capability
//     suite (correctness of the held-out sums and facts), and the findings
//     say per arm how it moved and on how many seeds the run raised a
//     regression alarm; the self-rewarding arm runs with
//     Evaluation.KeepBest, and the findings say what its kept policy
//     scores against its last, on fresh samples;
//   - reinforcement learning instead of DPO, on each iteration's scored
//     groups of samples (dpo.GroupTrainer): RL-CAI, GRPO against a reward
//     model (dpo/reward) trained on soft-labelled pairs of the fine-tuned
//     policy's first-iteration answers, whose held-out gold accuracy the
//     table shows, and GRPO and RLOO with the world's rules as the reward
//     (RL from verifiable rewards), each against the on-policy arm.
//
// Every arm runs on the same task world, the same seeds and the same
// budget: the same passes over the same training prompts, the same samples
// per prompt, the same DPO epochs and step size, and the same held-out
// evaluation by the exact rule judge, with the same sampling seeds for
// every policy. The model M1 is fine-tuned once per seed, on the corpus
// and on the world's evaluation fine-tuning judgments (taskworld.MaxEFT
// labelled by the rules, and comparisons of judgments made from them), so
// that every arm starts from a model that can answer, judge and meta-judge;
// every arm trains its own copy. The program prints one table (held-out
// score per iteration, mean ± standard deviation over seeds; the final
// answer length; the pairs trained on), then an interpretation computed
// from the figures, each comparison of two arms as paired differences
// over seeds with their sd, the seeds each arm leads on and an exact sign
// test, and writes report.json and report.png into the output directory.
// Nothing is resumed: the default run (all 17 arms, 8 seeds, 5
// iterations) took 353 s of CPU, 3 min 20 s on two cores.
//
//	go run ./examples/ablation                    # seeds 1-8, 5 iterations, into ./ablation-out
//	go run ./examples/ablation -seeds 1-12 -arms on-policy,offline
//	go run ./examples/ablation -short             # 1 seed, 2 iterations, a small world: seconds
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/taskworld"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ablation:", err)
		os.Exit(1)
	}
}

// The budget of the default run, that of the quickstart (whose settings
// were tuned on the task world): eight samples per prompt at temperature 1,
// two DPO epochs at 3e-3 per iteration. The held-out set is smaller than
// the quickstart's so that 17 arms, eight seeds and five iterations fit
// in about six minutes of one core; common random numbers across
// policies keep the evaluation's noise below the differences it measures.
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

// about says what the program does, and output what its lines mean.
const (
	about  = "Ablation runs variants (arms) of the iterative DPO loop on the embedded tiny model, with the same seeds and budget, and prints a table of their held-out scores."
	output = `
  seed S: ...  the task world and the fine-tuned model M1 of seed S, with
      its gold pairwise accuracy as a judge.
  seed S: ARM  held-out A → B, length L (time)
      The arm's held-out rule score (0-5, on prompts never trained on) before
      its first iteration and after its last training; L: mean answer tokens.
  The table gives, per arm, the held-out score of the fine-tuned model (0)
  and after each iteration's training (mean ± sd over seeds), the final
  length and the pairs trained on; the lines after it are findings computed
  from the figures: a comparison of two arms gives the mean paired
  difference at the last iteration, its sd over seeds, the seeds the first
  arm leads on and an exact two-sided sign test. The last line names the
  files written.`
)

// config holds the command line.
type config struct {
	out         string
	seeds       []uint64
	iterations  int
	short       bool
	concurrency int
	arms        []arm
}

// parseFlags reads the command line; ok is false when the program must not
// run, because of an error or because -h printed the usage.
func parseFlags(args []string, stderr io.Writer) (c config, ok bool, err error) {
	var arms, seedList string
	all := allArms()
	var names []string
	for _, a := range all {
		names = append(names, a.Name)
	}
	fs := cli.NewFlagSet("ablation", about, output, stderr)
	fs.StringVar(&c.out, "out", "ablation-out", "output directory for report.json and report.png")
	fs.StringVar(&seedList, "seeds", defaultSeeds, "seeds, a comma-separated list of numbers and ranges (1-8,12): each its own task world and fine-tuned model, shared by all arms")
	fs.IntVar(&c.iterations, "iterations", 5, "DPO iterations (passes over the training prompts) per arm")
	fs.BoolVar(&c.short, "short", false, "a CI-sized run: 1 seed, 2 iterations, a small world, 2 epochs of fine-tuning (explicit -seeds and -iterations still apply)")
	fs.IntVar(&c.concurrency, "concurrency", runtime.NumCPU(), "model calls in flight per arm, and arms run at once")
	fs.StringVar(&arms, "arms", strings.Join(names, ","), "comma-separated arms to run")
	if ok, err := cli.Parse(fs, args); !ok {
		return c, false, err
	}
	if c.short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["seeds"] {
			seedList = "1"
		}
		if !set["iterations"] {
			c.iterations = 2
		}
	}
	if c.seeds, err = parseSeeds(seedList); err != nil {
		return c, false, fmt.Errorf("-seeds: %w", err)
	}
	switch {
	case c.out == "":
		return c, false, errors.New("-out is empty")
	case c.iterations < 1:
		return c, false, fmt.Errorf("-iterations is %d, want at least 1", c.iterations)
	case c.concurrency < 1:
		return c, false, fmt.Errorf("-concurrency is %d, want at least 1", c.concurrency)
	}
	for i, name := range strings.Split(arms, ",") {
		name = strings.TrimSpace(name)
		j := slices.IndexFunc(all, func(a arm) bool { return a.Name == name })
		switch {
		case j < 0:
			return c, false, fmt.Errorf("-arms: item %d is %q, want one of %s", i+1, name, strings.Join(names, ", "))
		case slices.ContainsFunc(c.arms, func(a arm) bool { return a.Name == name }):
			return c, false, fmt.Errorf("-arms: item %d, %q, is given twice", i+1, name)
		}
		c.arms = append(c.arms, all[j])
	}
	return c, true, nil
}

// sizes returns the world, fine-tuning and budget of a run.
func sizes(c config) setup {
	s := setup{
		World:     taskworld.Options{HeldOut: heldOut, EFT: taskworld.MaxEFT},
		SFTEpochs: sftEpochs,
		Budget: budget{Iterations: c.iterations, Samples: samples, DPOEpochs: dpoEpochs, LearningRate: dpoLR, Beta: dpoBeta,
			Temperature: temperature, MaxTokens: maxNewTokens, EvalSamples: evalSamples, Concurrency: c.concurrency},
	}
	if c.short {
		s.World = taskworld.Options{Train: 24, HeldOut: 12, Examples: 200, EFT: 60}
		s.SFTEpochs = 2
	}
	return s
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	c, ok, err := parseFlags(args, stdout)
	if !ok {
		return err
	}
	start := time.Now()
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	s := sizes(c)
	seedList := c.seeds
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	logf("%d arms × %d seeds (%s) × %d iterations; %d samples per prompt, %d DPO epochs per iteration", len(c.arms), len(seedList), formatSeeds(seedList), c.iterations, samples, dpoEpochs)
	results, err := compare(ctx, s, c.arms, seedList, c.concurrency, syncLog(logf))
	if err != nil {
		return err
	}
	rep := report{Seeds: seedList, Budget: s.Budget, World: worldSize(s.World), SFTEpochs: s.SFTEpochs, Arms: summarise(c.arms, results)}
	rep.Findings = findings(rep.Arms)
	rep.ElapsedSec = time.Since(start).Seconds()
	if err := writeReports(c.out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n", table(rep))
	for _, f := range rep.Findings {
		fmt.Fprintf(stdout, "- %s\n", f)
	}
	fmt.Fprintf(stdout, "\nwrote report.json and report.png in %s (%s)\n", c.out, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// defaultSeeds is the seeds of the default run: eight, so that a finding
// that holds on every seed has a sign test p-value below 0.01.
const defaultSeeds = "1-8"

// parseSeeds reads a seed list: comma-separated numbers and ranges a-b
// (a ≤ b), each seed once, at most maxSeeds in all.
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("item %d, %q, is not a seed or a range of seeds", i+1, item)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("item %d, %q, is not a range a-b with a ≤ b", i+1, item)
			}
		}
		if b-a >= maxSeeds || len(out)+int(b-a)+1 > maxSeeds {
			return nil, fmt.Errorf("more than %d seeds", maxSeeds)
		}
		// Counting rather than x <= b: b may be the largest uint64.
		for n := uint64(0); n <= b-a; n++ {
			x := a + n
			if seen[x] {
				return nil, fmt.Errorf("item %d, %q, repeats seed %d", i+1, item, x)
			}
			seen[x] = true
			out = append(out, x)
		}
	}
	return out, nil
}

// maxSeeds bounds a seed list, so that a typo cannot start a run of days.
const maxSeeds = 1000

// formatSeeds writes a seed list back in the form parseSeeds reads, runs
// of consecutive seeds as ranges.
func formatSeeds(ss []uint64) string {
	var parts []string
	for i := 0; i < len(ss); {
		j := i
		for j+1 < len(ss) && ss[j+1] == ss[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ss[i], ss[j]))
		} else {
			parts = append(parts, strconv.FormatUint(ss[i], 10))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
