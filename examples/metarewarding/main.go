// Metarewarding runs Meta-Rewarding (Wu et al., 2024) offline with
// recipe.MetaRewarding: the embedded tiny language model, fine-tuned on
// the built-in task world, samples answers; a judge scores each answer
// three times; the shortest of the top answers is preferred to the longest
// of the bottom ones (length control ρ); for the answer whose three
// judgments disagree most, a meta-judge compares the judgments, a
// Bradley–Terry fit (judge.BradleyTerry) ranks them, and the best judgment
// is preferred to the worst as a judge-training pair; DPO trains on both
// kinds of pair. A held-out evaluation scores every policy with the world's
// rule constitution.
//
//	go run ./examples/metarewarding                 # full size
//	go run ./examples/metarewarding -short          # seconds, as CI runs it
//	go run ./examples/metarewarding -rho 0 -dir out # no length window; pairs in out/, resumable
//
// A tiny model cannot grade answers, so the judge and the meta-judge are
// rule-based here: a judgment checks a seeded sample of three of the five
// rules (so that judgments of one answer vary, as a sampled model judge's
// do) and writes what it found; the meta-judge trusts the judgment whose
// score is nearer the full rule score. With a capable model,
// judge.NewRubric and judge.NewMeta over the policy take these places, and
// their judge pairs train the model as a judge.
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/cli"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "metarewarding:", err)
		os.Exit(1)
	}
}

// size is the scale of a run.
type size struct {
	world     taskworld.Options
	model     tinylm.Config
	sftEpochs int
}

var (
	full  = size{world: taskworld.Options{}, model: tinylm.Config{}, sftEpochs: 10}
	short = size{world: taskworld.Options{Train: 32, HeldOut: 12, Examples: 200}, model: tinylm.Config{Embed: 16, Hidden: 64}, sftEpochs: 8}
)

// checked is the number of rules one judgment checks.
const checked = 3

// about says what the program does, and output what its lines mean.
const (
	about  = "Metarewarding runs Meta-Rewarding on the embedded tiny model: each iteration, DPO on actor pairs (answers, length-controlled) and judge pairs (judgments, ranked by a meta-judge)."
	output = `
  task world: P prompts, H held out; fine-tuned tinylm, loss A → B
      The world's sizes, and the supervised fine-tuning before any DPO.
  iteration N: P prompts, A actor pairs (chosen C tokens, rejected R), J judge pairs, held-out rule score S before training
      A actor pairs prefer a short top-scored answer to a long bottom-scored
      one (C and R: their mean lengths); a prompt whose answers all scored
      alike makes none. J judge pairs prefer the judgment the meta-judge
      ranked best to the one it ranked worst, for the answer whose judgments
      disagreed most: none after -judge-iterations, nor when they agree.
      S is the rule judge's score (0-5, on held-out prompts never trained on)
      of the policy iteration N sampled from, before iteration N trained it.
  final policy: held-out rule score S, mean length L tokens
      The policy after the last iteration's training.`
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet("metarewarding", about, output, stdout)
	isShort := fs.Bool("short", false, "a run of a few seconds on a small world and model, as CI runs it")
	seed := fs.Uint64("seed", 1, "seed of the world, the model and every sample: the same seed gives the same run")
	iterations := fs.Int("iterations", 3, "Meta-Rewarding iterations")
	judgeIterations := fs.Int("judge-iterations", 2, "iterations, from the first, that make judge-training pairs (0: all)")
	rho := fs.Float64("rho", 0.2, "length-control window ρ in [0, 0.5)")
	dir := fs.String("dir", "", "output directory for pairs and checkpoints (resumable); empty keeps everything in memory")
	if ok, err := cli.Parse(fs, args); !ok {
		return err
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
	world, rules, model := kit.World, kit.Rules, kit.Model

	prompts, err := alignment.NewSliceSource(taskworld.Prompts(world.Train()))
	if err != nil {
		return err
	}
	trainer, err := dpo.NewTrainer(&dpo.TrainerOptions{Epochs: 2, LearningRate: 3e-3, Seed: *seed}, dpo.LoadFunc(tinylm.Load))
	if err != nil {
		return err
	}
	counts := tally{}
	sampled := sampledRules{rules: taskworld.Rules()}
	meta := ruleMeta{rules: rules}
	mr := recipe.MetaRewarding{
		Base: alignment.Loop{
			Policy:     model,
			Prompts:    prompts,
			Trainer:    trainer,
			Iterations: *iterations,
			Samples:    8,
			Sampling:   alignment.SampleOptions{Temperature: 1, MaxTokens: 20},
			Seed:       *seed,
			Dir:        *dir,
			Eval:       &alignment.Evaluation{Prompts: taskworld.Prompts(world.HeldOut()), Judge: rules, Samples: 4},
			Sink:       counts,
		},
		Judge:       func(alignment.Policy) (alignment.Judge, error) { return sampled, nil },
		MetaJudge:   func(alignment.Policy) (recipe.JudgmentComparer, error) { return meta, nil },
		JudgePrompt: judgePrompt,
		Rho:         *rho,
		Rank: func(wins [][]float64) ([]float64, error) {
			return judge.BradleyTerry(wins, 0.5)
		},
		JudgeIterations: *judgeIterations,
	}
	res, err := mr.Run(ctx)
	if err != nil {
		return err
	}
	if *dir != "" {
		// A resumed run sends the sink only the pairs made after the
		// interruption; the directory's file has them all.
		if counts, err = countFile(filepath.Join(*dir, alignment.PairsFile)); err != nil {
			return err
		}
	}
	for _, r := range res.Reports {
		fmt.Fprintf(stdout, "iteration %d: %d prompts, %d actor pairs (chosen %.1f tokens, rejected %.1f), %d judge pairs",
			r.Iteration, r.Prompts, counts[kind{r.Iteration, recipe.SourceMetaRewarding}], r.ChosenLength.Mean, r.RejectedLength.Mean,
			counts[kind{r.Iteration, recipe.SourceMetaJudge}])
		if r.Eval != nil {
			fmt.Fprintf(stdout, ", held-out rule score %.2f before training", r.Eval.MeanScore)
		}
		fmt.Fprintln(stdout)
	}
	if res.Stopped != nil {
		fmt.Fprintf(stdout, "stopped early: %s\n", res.Stopped.Reason)
	}
	if f := res.Final; f != nil {
		fmt.Fprintf(stdout, "final policy: held-out rule score %.2f, mean length %.1f tokens\n", f.MeanScore, f.MeanLength)
	}
	if *dir != "" {
		fmt.Fprintf(stdout, "pairs in %s/%s\n", *dir, alignment.PairsFile)
	}
	return nil
}

// kind is an iteration and a pair source.
type kind struct {
	iteration int
	source    string
}

// tally is a sink that counts pairs by iteration and source. The Loop
// writes to it from one goroutine at a time.
type tally map[kind]int

// Write implements alignment.PreferenceSink.
func (t tally) Write(ctx context.Context, pairs []alignment.Pair) error {
	for _, p := range pairs {
		t[kind{p.Iteration, p.Source}]++
	}
	return ctx.Err()
}

// countFile counts the pairs of a pairs file by iteration and source.
func countFile(path string) (tally, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := tally{}
	for p, err := range alignment.ReadPairs(f) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		t[kind{p.Iteration, p.Source}]++
	}
	return t, nil
}

// judgePrompt is the prompt a model judge would be asked about r: the
// prompt of judge-training pairs.
func judgePrompt(p alignment.Prompt, r alignment.Response) alignment.Prompt {
	return alignment.NewPrompt("judge:"+p.ID, "grade the reply. request: "+p.Text()+" reply: "+r.Text)
}

// sampledRules is a judge that checks a seeded sample of the rules, so
// that its judgments of one answer vary as a sampled model judge's do,
// and writes what it found, ending with its score.
type sampledRules struct{ rules []taskworld.Rule }

var _ alignment.Judge = sampledRules{}

// Judge implements alignment.Judge.
func (s sampledRules) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, err
	}
	seed, ok := alignment.SeedFrom(ctx)
	if !ok {
		seed = seeds.Derive(0, p.ID, r.Text)
	}
	var b strings.Builder
	pass := 0
	for _, i := range seeds.Rand(seed).Perm(len(s.rules))[:checked] {
		ok := s.rules[i].Check(p, r)
		if ok {
			pass++
		}
		fmt.Fprintf(&b, "%s: %s. ", s.rules[i].ID, map[bool]string{true: "yes", false: "no"}[ok])
	}
	score := float64(taskworld.MaxScore*pass) / checked
	b.WriteString("Score: " + strconv.FormatFloat(score, 'f', 2, 64))
	return alignment.Judgment{Score: score, Rationale: b.String()}, nil
}

// ruleMeta is a meta-judge that trusts the judgment whose score is nearer
// the full rule score of the answer.
type ruleMeta struct{ rules *constitution.Constitution }

var _ recipe.JudgmentComparer = ruleMeta{}

// CompareJudgments implements recipe.JudgmentComparer.
func (m ruleMeta) CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error) {
	truth, err := m.rules.Judge(ctx, p, r)
	if err != nil {
		return alignment.Comparison{}, err
	}
	sa, err := judge.ParseScore(a, 0, taskworld.MaxScore)
	if err != nil {
		return alignment.Comparison{}, err
	}
	sb, err := judge.ParseScore(b, 0, taskworld.MaxScore)
	if err != nil {
		return alignment.Comparison{}, err
	}
	da, db := math.Abs(sa-truth.Score), math.Abs(sb-truth.Score)
	switch {
	case da < db:
		return alignment.Comparison{ProbA: 1}, nil
	case da > db:
		return alignment.Comparison{ProbA: 0}, nil
	}
	return alignment.Comparison{ProbA: 0.5}, nil
}
