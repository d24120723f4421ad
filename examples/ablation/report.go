package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
	"github.com/selfalign/selfalign/internal/chart"
	"github.com/selfalign/selfalign/internal/taskworld"
)

// report is what report.json holds.
type report struct {
	Seeds []uint64 `json:"seeds"`
	World world    `json:"world"`
	// SFTEpochs is the fine-tuning every arm starts from.
	SFTEpochs int       `json:"sft_epochs"`
	Budget    budget    `json:"budget"`
	Arms      []summary `json:"arms"`
	// Findings are the interpretation printed after the table.
	Findings   []string `json:"findings"`
	ElapsedSec float64  `json:"elapsed_seconds"`
}

// world is the size of each seed's task world.
type world struct {
	Train    int `json:"train_prompts"`
	HeldOut  int `json:"held_out_prompts"`
	Examples int `json:"sft_examples"`
}

func worldSize(o taskworld.Options) world {
	w := world{Train: o.Train, HeldOut: o.HeldOut, Examples: o.Examples}
	if w.Train == 0 {
		w.Train = taskworld.DefaultTrain
	}
	if w.HeldOut == 0 {
		w.HeldOut = taskworld.DefaultHeldOut
	}
	if w.Examples == 0 {
		w.Examples = taskworld.DefaultExamples
	}
	return w
}

// writeReports writes report.json and report.png into dir.
func writeReports(dir string, rep report) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "report.json"), append(js, '\n')); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "report.png"), func(w io.Writer) error { return drawChart(rep, w) })
}

// table renders the comparison as a Markdown table, which also reads well
// on a terminal: the held-out score of each arm's policy after each
// iteration, mean ± standard deviation over seeds.
func table(rep report) string {
	var b strings.Builder
	iters := len(rep.Arms[0].Iterations)
	b.WriteString("| arm |")
	for i := range iters {
		if i == 0 {
			b.WriteString(" 0 (SFT) |")
		} else {
			fmt.Fprintf(&b, " %d |", i)
		}
	}
	b.WriteString(" final length | pairs |")
	extra := 2
	rm := slices.ContainsFunc(rep.Arms, func(a summary) bool { return rmStat(a) != nil })
	if rm {
		b.WriteString(" RM gold acc. |")
		extra++
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", iters+extra))
	b.WriteString("\n")
	for _, a := range rep.Arms {
		fmt.Fprintf(&b, "| %s |", a.Name)
		for _, it := range a.Iterations {
			fmt.Fprintf(&b, " %s |", it.Score.format(2, len(rep.Seeds)))
		}
		last := a.Iterations[len(a.Iterations)-1]
		fmt.Fprintf(&b, " %s | %.0f |", last.Length.format(1, len(rep.Seeds)), a.Pairs)
		if rm {
			if st := rmStat(a); st != nil {
				fmt.Fprintf(&b, " %s |", st.format(3, len(rep.Seeds)))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nHeld-out score: the exact rule judge's mean (0–5) over %d samples of each of %d held-out prompts, after each iteration (0 is the fine-tuned model); ",
		rep.Budget.EvalSamples, rep.World.HeldOut)
	if len(rep.Seeds) > 1 {
		fmt.Fprintf(&b, "mean ± sd over %d seeds. ", len(rep.Seeds))
	} else {
		b.WriteString("one seed. ")
	}
	b.WriteString("Final length: mean tokens of the last policy's held-out answers. Pairs: all pairs trained on, per seed.")
	if slices.ContainsFunc(rep.Arms, func(a summary) bool { return isRL(a.Name) }) {
		b.WriteString(" The reinforcement-learning arms train on every judged prompt's samples instead; their pairs are the ones the Loop selected all the same.")
	}
	if rm {
		b.WriteString(" RM gold acc.: the reward model's pairwise accuracy on held-out pairs the rules order.")
	}
	b.WriteString("\n")
	return b.String()
}

func (s stat) format(prec, seeds int) string {
	if seeds < 2 {
		return fmt.Sprintf("%.*f", prec, s.Mean)
	}
	return fmt.Sprintf("%.*f ± %.*f", prec, s.Mean, prec, s.SD)
}

// findings interprets the figures: each sentence is computed from them and
// is left out when the arms it needs were not run.
func findings(arms []summary) []string {
	find := func(name string) *summary {
		i := slices.IndexFunc(arms, func(s summary) bool { return s.Name == name })
		if i < 0 {
			return nil
		}
		return &arms[i]
	}
	var out []string
	on, off, lc := find(armOnPolicy), find(armOffline), find(armLength)
	if on != nil && off != nil {
		out = append(out, "on-policy vs offline: "+versus(*on, *off, "on-policy", "offline"))
	}
	if on != nil {
		out = append(out, plateau(*on))
	}
	if on != nil && lc != nil {
		k := len(on.Iterations) - 1
		a, b := on.Iterations[k], lc.Iterations[k]
		out = append(out, fmt.Sprintf("length control: at iteration %d, length %+.1f tokens (%.1f → %.1f), held-out score %+.2f (%.2f → %.2f) against max/min pairs",
			k, b.Length.Mean-a.Length.Mean, a.Length.Mean, b.Length.Mean, b.Score.Mean-a.Score.Mean, a.Score.Mean, b.Score.Mean))
	}
	if on != nil {
		if o := find(armOnline); o != nil {
			out = append(out, "frequent refresh vs iterative: "+versus(*o, *on, "frequent refresh", "iterative"))
		}
	}
	self := find(armSelf)
	if self != nil && on != nil {
		out = append(out, "self-rewarding vs verifier: "+versus(*self, *on, "the self-judging policy", "the rule verifier's"))
	}
	if self != nil {
		if m := find(armMeta); m != nil {
			out = append(out, "meta-rewarding vs self-rewarding: "+versus(*m, *self, "meta-rewarding", "self-rewarding"))
		}
		if x := find(armMixed); x != nil {
			out = append(out, "EFT mixed back vs self-rewarding: "+versus(*x, *self, "EFT mixed back", "self-rewarding"))
		}
		if x := find(armAnchor); x != nil {
			out = append(out, "frozen judge anchor vs self-rewarding: "+versus(*x, *self, "the frozen M1 judge", "self-rewarding"))
		}
	}
	if s := judging(arms); s != "" {
		out = append(out, s)
	}
	out = append(out, recipeFindings(arms, find)...)
	out = append(out, rlFindings(find)...)
	if j, n := find(armJury), find(armNoisy); j != nil && n != nil {
		s := "jury vs one noisy judge: " + versus(*j, *n, "the jury", "one noisy judge")
		if on != nil {
			k := len(on.Iterations) - 1
			s += fmt.Sprintf("; the exact rule judge reaches %.2f", on.Iterations[k].Score.Mean)
		}
		out = append(out, s)
	}
	return out
}

// versus compares arm a with arm b seed by seed: the mean and spread of
// the paired differences of the held-out score at the last iteration, how
// many seeds a leads on, the two-sided sign test of those leads, and the
// largest gap along the way.
func versus(a, b summary, an, bn string) string {
	k := len(a.Iterations) - 1
	d, lead, behind := paired(a, b, k)
	var s string
	switch {
	case math.Abs(d.Mean) < 0.005: // what %.2f shows as ±0.00
		s = fmt.Sprintf("%s ties with %s at iteration %d (%+.2f)", an, bn, k, d.Mean)
	case d.Mean > 0:
		s = fmt.Sprintf("%s beats %s by %+.2f at iteration %d", an, bn, d.Mean, k)
	default:
		s = fmt.Sprintf("%s trails %s by %+.2f at iteration %d", an, bn, d.Mean, k)
	}
	if d.N > 1 {
		s += fmt.Sprintf(" (sd %.2f over seeds; ahead on %d of %d; sign test p = %.2g)", d.SD, lead, d.N, signTest(lead, behind))
	}
	best, bestI := 0.0, 0
	for i := 1; i <= k; i++ {
		if m, _, _ := paired(a, b, i); math.Abs(m.Mean) > math.Abs(best) {
			best, bestI = m.Mean, i
		}
	}
	if bestI != k && bestI > 0 {
		s += fmt.Sprintf("; the gap was widest at iteration %d (%+.2f)", bestI, best)
	}
	return s
}

// paired returns the paired differences of the held-out scores of arms a
// and b at iteration i over seeds, and the seeds a leads and trails on.
func paired(a, b summary, i int) (d stat, lead, behind int) {
	var ds []float64
	for s := range a.Runs {
		x, y := a.Runs[s].Points[i].Score, b.Runs[s].Points[i].Score
		ds = append(ds, x-y)
		switch {
		case x > y:
			lead++
		case x < y:
			behind++
		}
	}
	return newStat(ds), lead, behind
}

// signTest is the two-sided exact sign test of wins against losses (ties
// left out): the probability, were either arm as likely to lead on each
// seed, of a split at least as uneven. With no wins nor losses it is 1.
func signTest(wins, losses int) float64 {
	n := wins + losses
	k := max(wins, losses)
	// P(X ≥ k) for X ~ Binomial(n, 1/2), summed in logs for large n.
	tail := 0.0
	for i := k; i <= n; i++ {
		lg := lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1) - float64(n)*math.Ln2
		tail += math.Exp(lg)
	}
	return min(1, 2*tail)
}

func lgamma(x int) float64 {
	v, _ := math.Lgamma(float64(x))
	return v
}

// judging reads how each arm's policy does as a judge: its gold pairwise
// accuracy at the fine-tuned model (M1) and at the last iteration, mean
// over seeds, and on how many seeds it rose. Arms without the figures are
// left out.
func judging(arms []summary) string {
	var parts []string
	for _, a := range arms {
		k := len(a.Iterations) - 1
		var first, last []float64
		rose := 0
		for _, r := range a.Runs {
			p0, pk := r.Points[0].JudgeAccuracy, r.Points[k].JudgeAccuracy
			if p0 == nil || pk == nil {
				break
			}
			first, last = append(first, *p0), append(last, *pk)
			if *pk > *p0 {
				rose++
			}
		}
		if len(first) != len(a.Runs) || len(first) == 0 {
			continue
		}
		f, l := newStat(first), newStat(last)
		parts = append(parts, fmt.Sprintf("%s %.3f → %.3f (rose on %d of %d)", a.Name, f.Mean, l.Mean, rose, len(first)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "the policy as a judge (gold pairwise accuracy of judge.Expected, M1 → last iteration): " + strings.Join(parts, "; ")
}

// plateau reads where iterations stop paying: the score gain and the
// held-out win rate over the previous policy of each iteration, how much of
// the whole gain the first iterations make, and the first iteration whose
// policy wins no more than half of its matched held-out samples, and per
// seed where the Loop's plateau safeguard would stop a run: where the win
// rate's lower confidence bound (DefaultPlateauZ standard errors below
// it) is at most 0.5.
func plateau(a summary) string {
	k := len(a.Iterations) - 1
	gain := func(i int) float64 { return a.Iterations[i].Score.Mean - a.Iterations[i-1].Score.Mean }
	var gains, wins []string
	stop := 0
	for i := 1; i <= k; i++ {
		gains = append(gains, fmt.Sprintf("%+.2f", gain(i)))
		if w := a.Iterations[i].WinRate; w != nil {
			wins = append(wins, fmt.Sprintf("%.2f", w.Mean))
			if stop == 0 && w.Mean <= 0.5 {
				stop = i
			}
		}
	}
	s := fmt.Sprintf("where iterations stop paying (%s): held-out score gain per iteration %s", a.Name, strings.Join(gains, ", "))
	if len(wins) == k {
		s += fmt.Sprintf("; win rate over the previous policy %s", strings.Join(wins, ", "))
	}
	// Diminishing returns: the first iteration from which every gain is
	// under a tenth of the first iteration's.
	if g1 := gain(1); g1 > 0 && k > 1 {
		from := 0
		for i := k; i > 1 && gain(i) < g1/10; i-- {
			from = i
		}
		if from > 0 {
			total := a.Iterations[k].Score.Mean - a.Iterations[0].Score.Mean
			made := a.Iterations[from-1].Score.Mean - a.Iterations[0].Score.Mean
			first := fmt.Sprintf("iterations 1–%d make", from-1)
			if from == 2 {
				first = "iteration 1 makes"
			}
			s += fmt.Sprintf("; %s %.0f%% of the gain of %d, and from iteration %d on each adds under a tenth of iteration 1's",
				first, 100*made/total, k, from)
		}
	}
	if stop > 0 {
		s += fmt.Sprintf("; on average iteration %d's policy wins only %.2f of matched samples over the one before (≤ 0.5)",
			stop, a.Iterations[stop].WinRate.Mean)
	}
	var per []string
	for _, r := range a.Runs {
		at := "never"
		for _, p := range r.Points[1:] {
			if p.WinRate == nil {
				continue
			}
			low := *p.WinRate
			if p.WinRateSE != nil {
				low -= alignment.DefaultPlateauZ * *p.WinRateSE
			}
			if low <= 0.5 {
				at = fmt.Sprintf("at iteration %d", p.Iteration)
				break
			}
		}
		per = append(per, fmt.Sprintf("seed %d %s", r.Seed, at))
	}
	return s + "; the plateau safeguard (the win rate's lower 95% bound ≤ 0.5) would stop the run: " + strings.Join(per, ", ")
}

// Panel size of report.png in pixels; the image is two panels wide, and
// taller than panelHeight when the legend needs legendRow pixels for each
// of more arms.
const panelWidth, panelHeight, legendRow = 560, 380, 32

// drawChart draws two panels: the held-out score per iteration, with the
// seeds' standard deviation as error bars, and the held-out answers' mean
// length; one line per arm, named in the length panel's legend.
func drawChart(rep report, w io.Writer) error {
	specs := []struct {
		title, y string
		value    func(iterSummary) stat
	}{
		{"Held-out rule-judge score", "mean score (0–5)", func(it iterSummary) stat { return it.Score }},
		{"Held-out answer length", "mean tokens", func(it iterSummary) stat { return it.Length }},
	}
	var panels []chart.Panel
	for pi, sp := range specs {
		p := chart.Panel{Title: sp.title, XLabel: "iteration", YLabel: sp.y, IntegerX: true, Legend: pi == 1}
		if len(rep.Seeds) > 1 {
			p.Title += fmt.Sprintf(" (mean ± sd, %d seeds)", len(rep.Seeds))
		}
		for ai, a := range rep.Arms {
			// Arms are spread a little along x, over at most a third of
			// an iteration, so their error bars do not hide each other.
			shift := (float64(ai) - float64(len(rep.Arms)-1)/2) * min(0.04, 0.3/float64(max(1, len(rep.Arms)-1)))
			s := chart.Series{Name: a.Name}
			for _, it := range a.Iterations {
				st := sp.value(it)
				s.X, s.Y = append(s.X, float64(it.Iteration)+shift), append(s.Y, st.Mean)
				if len(rep.Seeds) > 1 {
					s.Err = append(s.Err, st.SD)
				}
			}
			p.Series = append(p.Series, s)
		}
		panels = append(panels, p)
	}
	return chart.WritePNG(w, panelWidth, max(panelHeight, 100+legendRow*len(rep.Arms)), panels...)
}

// syncLog serialises the progress lines of arms running at once.
func syncLog(logf func(string, ...any)) func(string, ...any) {
	var mu sync.Mutex
	return func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		logf(format, a...)
	}
}
