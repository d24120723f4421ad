package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/taskworld"
)

// arm is one configuration of the comparison: a name for the table and a
// function that runs it on one trial and returns the held-out figures of
// every policy it made, from the fine-tuned one (iteration 0) to the last.
type arm struct {
	Name        string
	Description string
	Run         func(ctx context.Context, t trial) ([]point, error)
}

// budget is what every arm gets, so that the arms differ only in the
// choice under study: the same passes over the same training prompts, the
// same samples per prompt, the same DPO epochs and step size, and the same
// held-out evaluation.
type budget struct {
	Iterations   int     `json:"iterations"`
	Samples      int     `json:"samples"`
	DPOEpochs    int     `json:"dpo_epochs"`
	LearningRate float64 `json:"learning_rate"`
	Beta         float64 `json:"beta"`
	Temperature  float64 `json:"temperature"`
	MaxTokens    int     `json:"max_tokens"`
	EvalSamples  int     `json:"eval_samples"`
	Concurrency  int     `json:"concurrency"`
}

// trial is what an arm runs on: one seed's task world, the model
// fine-tuned on it, and the budget.
type trial struct {
	Seed  uint64
	World *taskworld.World
	// Model is the arm's own copy of the fine-tuned model, which it may
	// train; SFT is the copy every arm of the seed shares, read-only.
	Model  *tinylm.Model
	SFT    *tinylm.Model
	Rules  *constitution.Constitution
	Budget budget
}

// point is the held-out evaluation of one policy of an arm.
type point struct {
	Iteration int `json:"iteration"`
	// Score is the rule judge's mean score (0–5) of the policy's samples on
	// the held-out prompts; Length their mean length in tokens.
	Score  float64 `json:"mean_score"`
	Length float64 `json:"mean_length"`
	// WinRate is the held-out win rate over the policy before it, nil for
	// iteration 0.
	WinRate *float64 `json:"win_rate,omitempty"`
	// WinRateSE is WinRate's standard error over the held-out prompts
	// (alignment.EvalReport.WinRateSE).
	WinRateSE *float64 `json:"win_rate_se,omitempty"`
	// JudgeAccuracy is the policy's pairwise accuracy as a judge
	// (judge.Expected in the EFT judge format) on the world's gold set
	// (judge.Calibrate): for the fine-tuned model, the last policy, and
	// every policy of an arm whose model judges itself.
	JudgeAccuracy *float64 `json:"judge_accuracy,omitempty"`
	// Pairs is the number of pairs this policy's iteration trained the next
	// policy on; none for the last policy.
	Pairs int `json:"pairs"`
	// Capability is the policy's mean score (0–5) on the capability suite
	// (taskworld.CapabilitySuite: correctness of the held-out sums and
	// facts); Regressed says its evaluation raised a regression alarm.
	Capability *float64 `json:"capability,omitempty"`
	Regressed  bool     `json:"regressed,omitempty"`
	// Kept is, on the last point of an arm that runs with
	// Evaluation.KeepBest, what that kept.
	Kept *kept `json:"kept,omitempty"`
	// RMAccuracy is, on the last point of an arm whose judge is a reward
	// model, that model's pairwise accuracy on held-out gold pairs: two
	// answers to a held-out prompt that the world's rules score
	// differently.
	RMAccuracy *float64 `json:"rm_accuracy,omitempty"`
}

// trialResult is one arm's points on one seed.
type trialResult struct {
	Seed   uint64  `json:"seed"`
	Points []point `json:"iterations"`
}

// setup sizes each seed's world and fine-tuning and holds the budget every
// arm gets.
type setup struct {
	World     taskworld.Options
	SFTEpochs int
	Budget    budget
}

// compare runs every arm on every seed: one world and one fine-tuned model
// per seed, shared by all its arms, each arm on its own copy, up to
// parallel arms at once. It returns results[arm][seed]. The world holds
// the evaluation fine-tuning examples (taskworld.MaxEFT labelled
// judgments) and the model M1 is fine-tuned on them and on their
// meta-judge comparisons (taskworld.FineTuneMeta), with the context of a
// judge (taskworld.JudgeContext), so that every arm starts from a model
// that answers, judges and meta-judges, whether the arm uses that or not.
func compare(ctx context.Context, s setup, arms []arm, seedList []uint64, parallel int, log func(format string, a ...any)) ([][]trialResult, error) {
	rules, err := taskworld.Constitution()
	if err != nil {
		return nil, err
	}
	results := make([][]trialResult, len(arms))
	for a := range arms {
		results[a] = make([]trialResult, len(seedList))
	}
	for si, seed := range seedList {
		t0 := time.Now()
		world, err := taskworld.New(seed, &s.World)
		if err != nil {
			return nil, err
		}
		sft, losses, err := taskworld.FineTuneMeta(ctx, world, tinylm.Config{Seed: seed, Context: taskworld.JudgeContext}, s.SFTEpochs, seed)
		if err != nil {
			return nil, fmt.Errorf("seed %d: fine-tuning: %w", seed, err)
		}
		var m1 judgeAccuracy
		if err := m1.measure(ctx, trial{World: world}, 0, sft); err != nil {
			return nil, fmt.Errorf("seed %d: %w", seed, err)
		}
		m1Acc := m1.acc[0]
		log("seed %d: %d training prompts, %d held-out; fine-tuned %d epochs, loss %.2f → %.2f; as a judge, gold accuracy %.3f (%s)",
			seed, len(world.Train()), len(world.HeldOut()), len(losses), losses[0], losses[len(losses)-1], m1Acc, since(t0))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallel)
		for a, arm := range arms {
			g.Go(func() error {
				t1 := time.Now()
				pts, err := arm.Run(gctx, trial{Seed: seed, World: world, Model: sft.Clone(), SFT: sft, Rules: rules, Budget: s.Budget})
				if err != nil {
					return fmt.Errorf("arm %s, seed %d: %w", arm.Name, seed, err)
				}
				if err := checkPoints(pts, s.Budget.Iterations); err != nil {
					return fmt.Errorf("arm %s, seed %d: %w", arm.Name, seed, err)
				}
				pts[0].JudgeAccuracy = &m1Acc
				results[a][si] = trialResult{Seed: seed, Points: pts}
				last := pts[len(pts)-1]
				log("seed %d: %-18s held-out %.2f → %.2f, length %.1f (%s)", seed, arm.Name, pts[0].Score, last.Score, last.Length, since(t1))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// checkPoints makes sure an arm returned one finite point per policy, so
// that the table never averages a missing or NaN figure.
func checkPoints(pts []point, iterations int) error {
	if len(pts) != iterations+1 {
		return fmt.Errorf("returned %d evaluations, want %d (iterations 0 to %d)", len(pts), iterations+1, iterations)
	}
	for i, p := range pts {
		if p.Iteration != i {
			return fmt.Errorf("evaluation %d is of iteration %d", i, p.Iteration)
		}
		if !finite(p.Score) || !finite(p.Length) || (p.WinRate != nil && !finite(*p.WinRate)) || (p.Capability != nil && !finite(*p.Capability)) ||
			(p.RMAccuracy != nil && !finite(*p.RMAccuracy)) {
			return fmt.Errorf("evaluation of iteration %d is not finite: %+v", i, p)
		}
	}
	return nil
}

// loopPoints reads a run's held-out figures: the opening evaluation of
// every iteration and the final one. A run that stopped early, or lacks
// an evaluation, is an error: the harness disables the plateau stop so
// that every arm runs its whole budget.
func loopPoints(res alignment.Result, iterations int) ([]point, error) {
	if res.Stopped != nil {
		return nil, fmt.Errorf("run stopped at iteration %d: %s", res.Stopped.Iteration, res.Stopped.Reason)
	}
	if len(res.Reports) != iterations || res.Final == nil {
		return nil, fmt.Errorf("run made %d iterations (final evaluation %t), want %d", len(res.Reports), res.Final != nil, iterations)
	}
	pts := make([]point, 0, iterations+1)
	for i, r := range res.Reports {
		if r.Eval == nil {
			return nil, fmt.Errorf("iteration %d has no held-out evaluation", i)
		}
		pts = append(pts, evalPoint(*r.Eval, r.Pairs))
	}
	return append(pts, evalPoint(*res.Final, 0)), nil
}

func evalPoint(e alignment.EvalReport, pairs int) point {
	p := point{Iteration: e.Iteration, Score: e.MeanScore, Length: e.MeanLength, WinRate: e.WinRate, WinRateSE: e.WinRateSE, Pairs: pairs}
	for _, s := range e.Suites {
		if s.Name == taskworld.SuiteCorrectness {
			p.Capability = &s.Score.Mean
		}
	}
	p.Regressed = slices.ContainsFunc(e.Alarms, func(a alignment.Alarm) bool { return a.Kind == alignment.AlarmRegression })
	return p
}

// stat is a mean and a sample standard deviation over seeds; SD is 0 for a
// single seed.
type stat struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	N    int     `json:"n"`
}

func newStat(xs []float64) stat {
	var s alignment.Summary
	for _, x := range xs {
		s.Add(x)
	}
	sd := 0.0
	if s.N > 1 {
		sd = s.Stdev()
	}
	return stat{Mean: s.Mean, SD: sd, N: s.N}
}

// summary is one arm's figures over seeds, per iteration.
type summary struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Iterations  []iterSummary `json:"iterations"`
	// Pairs is the mean over seeds of all the pairs the arm trained on.
	Pairs float64       `json:"pairs"`
	Runs  []trialResult `json:"runs"`
}

// iterSummary is one iteration's figures over seeds.
type iterSummary struct {
	Iteration int   `json:"iteration"`
	Score     stat  `json:"mean_score"`
	Length    stat  `json:"mean_length"`
	WinRate   *stat `json:"win_rate,omitempty"`
	Pairs     stat  `json:"pairs"`
}

func summarise(arms []arm, results [][]trialResult) []summary {
	out := make([]summary, len(arms))
	for a, arm := range arms {
		runs := results[a]
		s := summary{Name: arm.Name, Description: arm.Description, Runs: runs}
		for i := range runs[0].Points {
			var score, length, win, pairs []float64
			for _, r := range runs {
				p := r.Points[i]
				score, length, pairs = append(score, p.Score), append(length, p.Length), append(pairs, float64(p.Pairs))
				if p.WinRate != nil {
					win = append(win, *p.WinRate)
				}
			}
			is := iterSummary{Iteration: i, Score: newStat(score), Length: newStat(length), Pairs: newStat(pairs)}
			if len(win) == len(runs) {
				w := newStat(win)
				is.WinRate = &w
			}
			s.Pairs += is.Pairs.Mean
			s.Iterations = append(s.Iterations, is)
		}
		out[a] = s
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }
