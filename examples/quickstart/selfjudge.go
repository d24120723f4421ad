package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

// rulesJudge returns the task world's rule judge, which scores the
// held-out evaluation and, with -judge rules, the training answers. Tests
// replace it to prove that a self-judging run never asks it about a
// training answer.
var rulesJudge = func() (alignment.Judge, error) { return taskworld.Constitution() }

// judgeOrError adapts a judge builder that can fail to the judge builder
// of recipe.SelfRewarding: when build fails, the judge it returns fails
// every call with that error, so that the Loop counts the prompts as
// failed and stops at its failure budget.
func judgeOrError(build func(alignment.Policy) (alignment.Judge, error)) func(alignment.Policy) alignment.Judge {
	return func(pol alignment.Policy) alignment.Judge {
		j, err := build(pol)
		if err != nil {
			return judge.Func(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
				return alignment.Judgment{}, err
			})
		}
		return j
	}
}

// judgeFigures measures each row's policy as a judge on the world's gold
// set: the fine-tuned model (dir/sft.bin) for row 0, and for row i the
// policy trained by iteration i-1, which the run saved in dir (the
// trainer updates policies in place, so only the saved copies are the
// policies of earlier iterations). It fills JudgeAccuracy and
// JudgeSpearman.
func judgeFigures(ctx context.Context, dir string, trainer alignment.Trainer, w *taskworld.World,
	build func(alignment.Policy) (alignment.Judge, error), rows []row) error {
	cp, ok := trainer.(alignment.Checkpointer)
	if !ok {
		return fmt.Errorf("the trainer %T cannot load the policies of %s", trainer, dir)
	}
	gold := w.Gold()
	for i := range rows {
		var pol alignment.Policy
		var err error
		if it := rows[i].Iteration; it > 0 {
			pol, err = cp.LoadCheckpoint(ctx, filepath.Join(dir, "policy-"+strconv.Itoa(it-1)))
		} else {
			pol, err = loadModel(filepath.Join(dir, sftFile))
		}
		if err != nil {
			return fmt.Errorf("loading policy %d to measure it as a judge: %w", rows[i].Iteration, err)
		}
		j, err := build(pol)
		if err != nil {
			return err
		}
		c, err := judge.Calibrate(ctx, j, gold)
		if err != nil {
			return fmt.Errorf("measuring policy %d as a judge: %w", rows[i].Iteration, err)
		}
		rows[i].JudgeAccuracy, rows[i].JudgeSpearman = ptr(c.PairwiseAccuracy), ptr(c.Spearman)
	}
	return nil
}

// judgeLines says how each policy did as a judge, one line each.
func judgeLines(rows []row) string {
	var b strings.Builder
	for _, r := range rows {
		if r.JudgeAccuracy == nil {
			continue
		}
		fmt.Fprintf(&b, "policy %d as a judge: gold accuracy %.3f, Spearman %.3f", r.Iteration, *r.JudgeAccuracy, *r.JudgeSpearman)
		if r.SelfScoreMean != nil {
			fmt.Fprintf(&b, "; self-scores mean %.2f, saturation %.2f", *r.SelfScoreMean, *r.SelfScoreSaturation)
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// saturation is the share of scores in the histogram's top bin: at least
// 90% of the scale's top (4.5 of 5 with the Report's ten bins over 0–5).
func saturation(hist []int) float64 {
	n := 0
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	return float64(hist[len(hist)-1]) / float64(n)
}

func ptr(x float64) *float64 { return &x }

// loadModel loads the tinylm saved at path.
func loadModel(path string) (*tinylm.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return tinylm.Load(f)
}
