package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
	"github.com/selfalign/selfalign/internal/chart"
)

// row is one line of the report: the policy after Iteration DPO
// iterations (0 is the fine-tuned model before any DPO), judged on the
// held-out prompts, and the pairs it produced on the training prompts
// (none for the final policy, which nothing samples for training).
type row struct {
	Iteration int `json:"iteration"`
	// MeanScore is the rule judge's mean score (0–5) of the policy's
	// samples on the held-out prompts.
	MeanScore float64 `json:"mean_score"`
	// Pairs is the number of preference pairs the policy's samples made
	// on Prompts training prompts, of which Failed failed (they were
	// retried, and their backend calls failed again); PairYield is Pairs
	// over all the training prompts, failed ones included.
	Pairs     int     `json:"pairs"`
	Prompts   int     `json:"prompts"`
	Failed    int     `json:"failed"`
	PairYield float64 `json:"pair_yield"`
	// MeanLength is the mean length in words of the held-out samples.
	MeanLength float64 `json:"mean_length"`
	// TrainScore is the judge's mean score of the training samples.
	TrainScore float64 `json:"train_score,omitempty"`
	// JudgeAccuracy and JudgeSpearman measure the policy as a judge with
	// -judge self: judge.Calibrate's pairwise accuracy and Spearman
	// correlation on the task world's gold set. SelfScoreMean is its mean
	// score of its own training samples (TrainScore) and
	// SelfScoreSaturation the share of them at 4.5 or more (90% of the
	// scale's top). PairAgreement is the share of the policy's pairs whose
	// chosen answer the world's rules score above the rejected one. All
	// are absent with -judge rules, and the last three for the final
	// policy, which judges no training samples.
	JudgeAccuracy       *float64 `json:"judge_accuracy,omitempty"`
	JudgeSpearman       *float64 `json:"judge_spearman,omitempty"`
	SelfScoreMean       *float64 `json:"self_score_mean,omitempty"`
	SelfScoreSaturation *float64 `json:"self_score_saturation,omitempty"`
	PairAgreement       *float64 `json:"pair_agreement,omitempty"`
	// RulePass is, per rule of the world, the share of the policy's
	// held-out samples that pass it (rule name → rate): which qualities the
	// held-out score is made of.
	RulePass map[string]float64 `json:"rule_pass,omitempty"`
}

// report is what report.json holds.
type report struct {
	Seed    uint64 `json:"seed"`
	Backend string `json:"backend"`
	// Judge is who judged the training answers: "self" or "rules".
	Judge      string `json:"judge"`
	Iterations []row  `json:"iterations"`
	// Gain is the last MeanScore minus the first.
	Gain float64 `json:"gain"`
	// ElapsedSec is the time the Loop spent on the iterations and the
	// evaluations, as the run's journal records it (fine-tuning, before
	// the Loop, is not included), so that running a finished directory
	// again reports the original run's time.
	ElapsedSec float64 `json:"elapsed_seconds"`

	// EFTJudgments is the number of judgments labelled by the rules that
	// the model was fine-tuned on to judge (-judge self), the only use of
	// the rules in its training.
	EFTJudgments int `json:"eft_judgments,omitempty"`
}

// newReport builds the report of a run from its Result.
func newReport(seed uint64, backend string, res alignment.Result) report {
	rep := report{Seed: seed, Backend: backend}
	var elapsed time.Duration
	for _, r := range res.Reports {
		elapsed += r.Elapsed
		if r.Eval == nil {
			continue // an iteration stopped by the plateau safeguard before its prompts
		}
		rep.Iterations = append(rep.Iterations, row{Iteration: r.Iteration, MeanScore: r.Eval.MeanScore, MeanLength: r.Eval.MeanLength,
			Pairs: r.Pairs, Prompts: r.Prompts, Failed: r.Failed, PairYield: float64(r.Pairs) / float64(max(r.Prompts, 1)), TrainScore: r.Score.Mean})
	}
	if f := res.Final; f != nil {
		elapsed += f.Elapsed
		rep.Iterations = append(rep.Iterations, row{Iteration: f.Iteration, MeanScore: f.MeanScore, MeanLength: f.MeanLength})
	}
	if n := len(rep.Iterations); n > 0 {
		rep.Gain = rep.Iterations[n-1].MeanScore - rep.Iterations[0].MeanScore
	}
	rep.ElapsedSec = elapsed.Seconds()
	return rep
}

// elapsed returns the report's run time, rounded for display.
func (rep report) elapsed() time.Duration {
	return time.Duration(rep.ElapsedSec * float64(time.Second)).Round(100 * time.Millisecond)
}

// writeReports writes report.json, report.md and report.png into dir.
func writeReports(dir string, rep report) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "report.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "report.md"), []byte(markdown(rep))); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "report.png"), func(w io.Writer) error { return drawChart(rep, w) })
}

// table renders the rows as a Markdown table, which also reads well on a
// terminal.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| iteration | held-out score (0–5) | mean length | pairs | pair yield | failed prompts |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		pairs, yield, failed := "–", "–", "–"
		if r.Prompts > 0 {
			pairs, yield, failed = fmt.Sprint(r.Pairs), fmt.Sprintf("%.2f", r.PairYield), fmt.Sprint(r.Failed)
		}
		fmt.Fprintf(&b, "| %d | %.3f | %.2f | %s | %s | %s |\n", r.Iteration, r.MeanScore, r.MeanLength, pairs, yield, failed)
	}
	return b.String()
}

func markdown(rep report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# selfalign quickstart report\n\n")
	fmt.Fprintf(&b, "Policy: %s. Seed %d. Iteration 0 is the fine-tuned model before any DPO; iteration i is the model after i iterations. ", rep.Backend, rep.Seed)
	fmt.Fprintf(&b, "Scores are the rule judge's mean over the held-out prompts; pairs are those the iteration's model produced on the training prompts, judged by %s, and the pair yield is pairs per training prompt, failed prompts included.\n\n", judgeName(rep.Judge))
	b.WriteString(table(rep.Iterations))
	if js := judgeLines(rep.Iterations); js != "" {
		fmt.Fprintf(&b, "\n- %s\n", strings.ReplaceAll(js, "\n", "\n- "))
	}
	fmt.Fprintf(&b, "\nHeld-out score gain: %+.3f. Run time: %s (the iterations and evaluations, as the run's journal records them; fine-tuning not included).\n\n![chart](report.png)\n", rep.Gain, rep.elapsed())
	return b.String()
}

// judgeName says who judged the training answers.
func judgeName(j string) string {
	if j == judgeSelf {
		return "the model itself (Self-Rewarding)"
	}
	return "the task world's rules (on-policy DPO with a rule verifier)"
}

// Panel size of report.png in pixels; the image is one panel wide per
// panel drawn.
const panelWidth, panelHeight = 420, 360

// drawChart draws report.png's panels side by side: held-out score, pair yield
// and response length per iteration and, when the policy judged (-judge
// self), its figures as a judge: pairwise accuracy and Spearman
// correlation on the gold set and the share of its own training samples it
// scores at 4.5 or more. A panel with no figure in any row is left out.
func drawChart(rep report, w io.Writer) error {
	type line struct {
		name  string
		value func(row) *float64
	}
	val := func(f func(row) float64) func(row) *float64 { return func(r row) *float64 { v := f(r); return &v } }
	specs := []struct {
		p     chart.Panel
		lines []line
	}{
		{chart.Panel{Title: "Held-out judge score", YLabel: "mean score (0–5)", YMin: 0, YMax: 5},
			[]line{{"held-out score", val(func(r row) float64 { return r.MeanScore })}}},
		{chart.Panel{Title: "Pair yield", YLabel: "pairs per training prompt"},
			[]line{{"pair yield", func(r row) *float64 {
				if r.Prompts == 0 {
					return nil
				}
				return &r.PairYield
			}}}},
		{chart.Panel{Title: "Response length", YLabel: "mean words"},
			[]line{{"length", val(func(r row) float64 { return r.MeanLength })}}},
		{chart.Panel{Title: "The policy as a judge", YLabel: "accuracy, correlation, share", YMin: 0, YMax: 1, Legend: true},
			[]line{
				{"gold pairwise accuracy", func(r row) *float64 { return r.JudgeAccuracy }},
				{"gold Spearman", func(r row) *float64 { return r.JudgeSpearman }},
				{"self-score saturation", func(r row) *float64 { return r.SelfScoreSaturation }},
			}},
	}
	var panels []chart.Panel
	for _, sp := range specs {
		p := sp.p
		p.XLabel, p.IntegerX = "iteration", true
		for _, l := range sp.lines {
			s := chart.Series{Name: l.name}
			for _, r := range rep.Iterations {
				if v := l.value(r); v != nil {
					s.X, s.Y = append(s.X, float64(r.Iteration)), append(s.Y, *v)
					if *v < 0 && p.YMax == 1 {
						p.YMin = -1 // a negative correlation
					}
				}
			}
			if len(s.X) > 0 {
				p.Series = append(p.Series, s)
			}
		}
		if len(p.Series) > 0 {
			panels = append(panels, p)
		}
	}
	return chart.WritePNG(w, panelWidth, panelHeight, panels...)
}

// rulePass fills each row's RulePass: every held-out sample of its policy
// judged again by the rules, each rule's pass rate (the rules judge gives
// one aspect a rule, 1 for a pass).
func rulePass(ctx context.Context, rules alignment.Judge, heldOut []alignment.Prompt, res alignment.Result, rows []row) error {
	byID := make(map[string]alignment.Prompt, len(heldOut))
	for _, p := range heldOut {
		byID[p.ID] = p
	}
	evals := map[int]*alignment.EvalReport{}
	for _, r := range res.Reports {
		if r.Eval != nil {
			evals[r.Iteration] = r.Eval
		}
	}
	if f := res.Final; f != nil {
		evals[f.Iteration] = f
	}
	for i := range rows {
		ev := evals[rows[i].Iteration]
		if ev == nil {
			continue
		}
		pass, n := map[string]float64{}, 0
		for _, r := range ev.Results {
			p, ok := byID[r.PromptID]
			if !ok {
				return fmt.Errorf("held-out prompt %q of iteration %d is not in the task world", r.PromptID, rows[i].Iteration)
			}
			for _, smp := range r.Samples {
				j, err := rules.Judge(ctx, p, alignment.Response{Text: smp.Text, Tokens: smp.Tokens})
				if err != nil {
					return fmt.Errorf("judging a held-out sample of iteration %d by the rules: %w", rows[i].Iteration, err)
				}
				for name, v := range j.Aspects {
					pass[name] += v
				}
				n++
			}
		}
		for name := range pass {
			pass[name] /= float64(max(n, 1))
		}
		rows[i].RulePass = pass
	}
	return nil
}
