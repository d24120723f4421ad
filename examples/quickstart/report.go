package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
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
	return atomicfile.Write(filepath.Join(dir, "report.png"), func(w io.Writer) error { return chart(rep, w) })
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

// chart draws three panels side by side: held-out score, pair yield and
// response length per iteration.
func chart(rep report, w io.Writer) error {
	panels := []struct {
		title, y string
		value    func(row) (float64, bool)
	}{
		{"Held-out judge score", "mean score (0–5)", func(r row) (float64, bool) { return r.MeanScore, true }},
		{"Pair yield", "pairs per training prompt", func(r row) (float64, bool) { return r.PairYield, r.Prompts > 0 }},
		{"Response length", "mean words", func(r row) (float64, bool) { return r.MeanLength, true }},
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, len(panels))}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "iteration"
		p.Y.Label.Text = pn.y
		p.X.Tick.Marker = integerTicks{}
		var xys plotter.XYs
		for _, r := range rep.Iterations {
			if v, ok := pn.value(r); ok {
				xys = append(xys, plotter.XY{X: float64(r.Iteration), Y: v})
			}
		}
		if len(xys) > 0 {
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
			line.Width = vg.Points(2)
			points.Color = line.Color
			points.Shape = draw.CircleGlyph{}
			p.Add(line, points, plotter.NewGrid())
		}
		if i == 0 {
			p.Y.Min, p.Y.Max = 0, 5
		}
		plots[0][i] = p
	}
	img := vgimg.New(vg.Points(900), vg.Points(300))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range panels {
		plots[0][i].Draw(canvases[0][i])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// integerTicks puts a tick at every whole iteration.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for x := int(lo); float64(x) <= hi; x++ {
		if float64(x) >= lo {
			ts = append(ts, plot.Tick{Value: float64(x), Label: fmt.Sprint(x)})
		}
	}
	return ts
}
