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

// selfMargin is the smallest difference of self-scores that makes a pair.
// The expected score of judge.Expected almost never ties, so MaxMin alone
// would pair answers the judge cannot tell apart; measured on seeds 1 to 4,
// pairs closer than half a point mostly disagreed with the rules, and
// dropping them raised the held-out gain at the best iteration from 0.60
// to 0.67 on average (a margin of 1 gave 0.60).
const selfMargin = 0.5

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

// pairAgreement returns, per iteration, the share of the pairs in dir's
// pairs file whose chosen answer the world's rules score above the
// rejected one. The file keeps only the answers' text, so an answer cut at
// the token limit is scored as if it had ended there.
func pairAgreement(dir string) (map[int]float64, error) {
	f, err := os.Open(filepath.Join(dir, alignment.PairsFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	agree, total := map[int]int{}, map[int]int{}
	for p, err := range alignment.ReadPairs(f) {
		if err != nil {
			return nil, err
		}
		total[p.Iteration]++
		if taskworld.Score(p.Prompt, p.Chosen) > taskworld.Score(p.Prompt, p.Rejected) {
			agree[p.Iteration]++
		}
	}
	out := make(map[int]float64, len(total))
	for it, n := range total {
		out[it] = float64(agree[it]) / float64(n)
	}
	return out, nil
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
		if r.PairAgreement != nil {
			fmt.Fprintf(&b, "; pairs the rules agree with %.2f", *r.PairAgreement)
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
