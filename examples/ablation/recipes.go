package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

// Names of the arms of the recipes that keep their paper's mechanism.
const (
	armSPaR     = "spar"
	armSPaRSelf = "spar-self"
	armSLSFT    = "sl-cai-sft"
	armSLPairs  = "sl-cai-pairs"
)

// Settings of the recipe arms.
const (
	// revisionDraws is the number of fresh samples the SL-CAI reviser
	// draws for an answer that fails a rule, as examples/constitutional's.
	revisionDraws = 8
	// SPaR's tree search, as its public code (thu-coai/SPaR, ToT_Task):
	// breadth 3, the best 2 of a level expanded, depth 3, 5 judgments
	// per node and a pass rate above one half to accept.
	sparBranch, sparKeep, sparDepth, sparJudgments = 3, 2, 3, 5
	sparThreshold                                  = 0.5
)

// recipeArms returns the arms of SPaR and of SL-CAI in its two forms.
func recipeArms() []arm {
	search := fmt.Sprintf("one failing answer per prompt is refined by a tree search of one-token edits the model proposes (breadth %d, keep %d, depth %d, pass rate > %.1f); DPO on refinement ≻ original and on the refiner's accepted ≻ failed edit",
		sparBranch, sparKeep, sparDepth, sparThreshold)
	return []arm{
		{armSPaR, "recipe.SPaR judged by the rules, as the on-policy arm: 5 answers per prompt, 5 judgments each; " + search, spar(false)},
		{armSPaRSelf, fmt.Sprintf("recipe.SPaR as the paper has it, the policy its own judge: 5 answers per prompt, %d sampled verdicts each (T = %.1f); ", sparJudgments, taskworld.VerdictTemperature) + search, spar(true)},
		{armSLSFT, "recipe.ConstitutionalAI: the SL stage fine-tunes on the rule-played reviser's revisions (Bai et al.), then RL-CAI iterations (2 answers, the rules as feedback model); iteration 1 is the SL stage", constitutional(recipe.SLSupervised)},
		{armSLPairs, "the same, with the SL stage as DPO on revision ≻ draft pairs instead of fine-tuning", constitutional(recipe.SLPairs)},
	}
}

// spar is SPaR on tinylm: the policy is actor and refiner at once, and
// with self its own judge too, as in the paper: its judge samples
// verdicts (taskworld.VerdictJudge at T = 0.7, SPaR's judging
// temperature), five per answer, and an answer passes when more than half
// of them give the top score. Without self the judge is the world's rules,
// the on-policy arm's, so that the two arms differ only in how they make
// pairs; the rules judge alike every time, so the five judgments agree.
// The refinement is editSearch, the tiny model's form of SPaR's tree
// search. The recipe's 5 answers and 5 judgments per answer replace the
// budget's samples; its iterations are the budget's.
func spar(self bool) func(context.Context, trial) ([]point, error) {
	return func(ctx context.Context, t trial) ([]point, error) {
		base, err := t.loop(t.Model)
		if err != nil {
			return nil, err
		}
		base.Samples, base.JudgeSamples = 0, 0 // the recipe's defaults, SPaR's 5 and 5
		format := t.World.JudgeFormat()
		var acc judgeAccuracy
		base.Observer = alignment.ObserverFunc(acc.observe)
		build := func(alignment.Policy) (alignment.Judge, error) { return t.Rules, nil }
		if self {
			build = func(pol alignment.Policy) (alignment.Judge, error) { return taskworld.NewVerdictJudge(pol, format) }
		}
		s := recipe.SPaR{Base: base, Judge: acc.builder(ctx, t, build), Search: newEditSearch}
		return runRecipe(ctx, t, &acc, s.Run)
	}
}

// editSearch is SPaR's refinement tree search (recipe.RefinementSearcher)
// in the form a tiny model can run. SPaR's refiner reads the failed
// answer and the judge's critique and writes a minimally corrected
// answer; tinylm reads neither, so here the refiner proposes one-token
// edits of the answer — deleting a token, or adding a full stop to an
// answer that does not end with . ! or ? — and chooses among them as a
// model does, in proportion to the likelihood it gives each edited
// answer; three levels make up to three edits. The search is SPaR's: from the failed answer, each level draws
// sparBranch edits of each kept node, judges each sparJudgments times,
// accepts the first whose pass rate exceeds sparThreshold, and expands
// the sparKeep best (by pass rate, then mean score) into the next level,
// for sparDepth levels. An accepted edit differs from the original only
// where it was edited: SPaR's minimally different actor pair. The
// refiner's trace is the accepted edit preferred to a failed edit of the
// same node (none when the first edit tried passed): DPO on it raises the
// likelihood, and so the choice, of the edit that passed, which is what
// training the refiner on its successful searches does.
type editSearch struct {
	model *tinylm.Model
	judge alignment.Judge
	pass  float64
}

var _ recipe.RefinementSearcher = (*editSearch)(nil)

// newEditSearch is recipe.SPaR's Search builder: refiner must be the
// *tinylm.Model whose edits are searched. An answer passes a judgment
// that gives the top of the judge's range (as the recipe's Pass default).
func newEditSearch(refiner alignment.Policy, j alignment.Judge) (recipe.RefinementSearcher, error) {
	m, ok := refiner.(*tinylm.Model)
	if !ok {
		return nil, fmt.Errorf("the edit search needs a *tinylm.Model refiner, not a %T: %w", refiner, alignment.ErrInvalid)
	}
	pass := float64(taskworld.MaxScore)
	if rg, ok := j.(alignment.Ranged); ok {
		_, pass = rg.ScoreRange()
	}
	return &editSearch{model: m, judge: j, pass: pass}, nil
}

// node is an answer of the search with its pass rate and mean score.
type node struct {
	ids         []int
	text        string
	rate, score float64
}

func (n node) response() alignment.Response {
	return alignment.Response{Text: n.text, Tokens: len(n.ids), FinishReason: "stop", Source: "spar-edit"}
}

// SearchPairs implements recipe.RefinementSearcher. Its randomness comes
// from the call's seed (alignment.SeedFrom), or from the prompt and the
// answer without one.
func (s *editSearch) SearchPairs(ctx context.Context, p alignment.Prompt, r alignment.Response) (actor, refiner alignment.Pair, found bool, err error) {
	seed, ok := alignment.SeedFrom(ctx)
	if !ok {
		seed = seeds.Derive(0, "edit-search", p.ID, r.Text)
	}
	rng := seeds.Rand(seeds.Derive(seed, "propose"))
	root := node{ids: s.model.Tokenizer().Encode(r.Text), text: r.Text}
	if err := s.rate(ctx, p, &root, seeds.Derive(seed, "judge", "root")); err != nil {
		return actor, refiner, false, err
	}
	if root.rate > sparThreshold {
		return actor, refiner, false, nil // it passes after all
	}
	seen := map[string]bool{r.Text: true}
	level := []node{root}
	for d := 1; d <= sparDepth; d++ {
		var next []node
		for ni, parent := range level {
			cands, err := s.propose(ctx, p, parent, seen, rng)
			if err != nil {
				return actor, refiner, false, err
			}
			var failed []node
			for ci := range cands {
				c := &cands[ci]
				if err := s.rate(ctx, p, c, seeds.Derive(seed, "judge", strconv.Itoa(d), strconv.Itoa(ni), strconv.Itoa(ci))); err != nil {
					return actor, refiner, false, err
				}
				if c.rate > sparThreshold {
					actor = alignment.Pair{Prompt: p.Clone(), Chosen: c.response(), Rejected: r.Clone(),
						ScoreChosen: c.score, ScoreRejected: root.score, Scored: true}
					if len(failed) > 0 {
						rp := p.Clone()
						rp.ID = "refine:" + p.ID
						refiner = alignment.Pair{Prompt: rp, Chosen: c.response(), Rejected: failed[0].response()}
					}
					return actor, refiner, true, nil
				}
				failed = append(failed, *c)
			}
			next = append(next, failed...)
		}
		slices.SortStableFunc(next, func(a, b node) int {
			return cmp.Or(cmp.Compare(b.rate, a.rate), cmp.Compare(b.score, a.score))
		})
		level = next[:min(sparKeep, len(next))]
		if len(level) == 0 {
			break
		}
	}
	return actor, refiner, false, nil
}

// rate judges n sparJudgments times and sets its pass rate and mean
// score.
func (s *editSearch) rate(ctx context.Context, p alignment.Prompt, n *node, seed uint64) error {
	passes, sum := 0, 0.0
	for k := range sparJudgments {
		j, err := s.judge.Judge(alignment.WithSeed(ctx, seeds.Derive(seed, strconv.Itoa(k))), p, n.response())
		if err != nil {
			return err
		}
		if j.Score >= s.pass {
			passes++
		}
		sum += j.Score
	}
	n.rate, n.score = float64(passes)/sparJudgments, sum/sparJudgments
	return nil
}

// propose returns up to sparBranch edits of parent not seen before,
// drawn without replacement in proportion to the likelihood the model
// gives each edited answer, and marks them seen.
func (s *editSearch) propose(ctx context.Context, p alignment.Prompt, parent node, seen map[string]bool, rng *rand.Rand) ([]node, error) {
	tok := s.model.Tokenizer()
	stop, hasStop := tok.ID(".")
	var cands []node
	add := func(ids []int) {
		if len(ids) == 0 {
			return
		}
		text := tok.Decode(ids)
		if seen[text] || slices.ContainsFunc(cands, func(c node) bool { return c.text == text }) {
			return
		}
		cands = append(cands, node{ids: ids, text: text})
	}
	n := len(parent.ids)
	if n == 0 {
		return nil, nil // nothing to edit
	}
	for i := range n {
		add(slices.Concat(parent.ids[:i], parent.ids[i+1:]))
	}
	if w := tok.Token(parent.ids[n-1]); hasStop && w != "." && w != "!" && w != "?" {
		add(append(slices.Clone(parent.ids), stop))
	}
	weights := make([]float64, len(cands))
	top := math.Inf(-1)
	for i, c := range cands {
		lp, _, err := s.model.LogProb(ctx, p, c.text)
		if err != nil {
			return nil, err
		}
		weights[i] = lp
		top = max(top, lp)
	}
	for i := range weights {
		weights[i] = math.Exp(weights[i] - top)
	}
	var out []node
	for len(out) < sparBranch {
		total := 0.0
		for _, w := range weights {
			total += w
		}
		if !(total > 0) {
			break
		}
		x, pick := rng.Float64()*total, -1
		for i, w := range weights {
			if w == 0 {
				continue
			}
			pick = i
			if x -= w; x < 0 {
				break
			}
		}
		weights[pick] = 0
		seen[cands[pick].text] = true
		out = append(out, cands[pick])
	}
	return out, nil
}

// constitutional is Constitutional AI as examples/constitutional runs it
// (taskworld.Reviser plays the reviser, the rules compared pairwise the
// feedback model), with the SL stage in the given form: iteration 1 of
// the table is the policy after the SL stage, iterations 2 and on after
// each RL-CAI iteration. Both stages use the budget's trainer.
func constitutional(form recipe.SLForm) func(context.Context, trial) ([]point, error) {
	return func(ctx context.Context, t trial) ([]point, error) {
		base, err := t.loop(t.Model)
		if err != nil {
			return nil, err
		}
		base.Samples = 0 // RL-CAI's two answers per prompt
		base.Iterations = max(t.Budget.Iterations-1, 1)
		reviser, err := taskworld.NewReviser(t.SFT.Clone(), t.Rules, revisionDraws, base.Sampling)
		if err != nil {
			return nil, err
		}
		slTrainer, err := t.trainer(nil)
		if err != nil {
			return nil, err
		}
		cai := recipe.ConstitutionalAI{Base: base, Reviser: reviser, SLTrainer: slTrainer, SLForm: form,
			Comparer: judge.Pointwise{Judge: t.Rules}}
		sl, err := cai.SLLoop()
		if err != nil {
			return nil, err
		}
		slRes, err := sl.Run(ctx)
		if err != nil {
			return nil, fmt.Errorf("SL stage: %w", err)
		}
		pts, err := loopPoints(slRes, 1)
		if err != nil || t.Budget.Iterations == 1 {
			return pts, err
		}
		rl, err := cai.RLLoop(slRes.Policy)
		if err != nil {
			return nil, err
		}
		rlRes, err := rl.Run(ctx)
		if err != nil {
			return nil, fmt.Errorf("RL stage: %w", err)
		}
		rlPts, err := loopPoints(rlRes, base.Iterations)
		if err != nil {
			return nil, err
		}
		// The RL stage's first evaluation is the SL stage's last, of the
		// same policy with the same seeds; the SL stage's has the win
		// rate over the fine-tuned model.
		pts[1].Pairs = rlPts[0].Pairs
		for _, p := range rlPts[1:] {
			p.Iteration++
			pts = append(pts, p)
		}
		return pts, nil
	}
}

// kept is what Evaluation.KeepBest did in an arm's run: the iteration
// whose policy it kept, that policy's score in the run's evaluation
// (which chose it), and, so that the choice is not judged by the
// evaluation that made it, the kept and the last policy's scores on
// fresh samples of the held-out prompts.
type kept struct {
	Iteration int     `json:"iteration"`
	Score     float64 `json:"mean_score"`
	Fresh     float64 `json:"fresh_score"`
	FreshLast float64 `json:"fresh_last_score"`
}

// keptOf reads what KeepBest kept in res, whose last policy is last.
func keptOf(ctx context.Context, t trial, res alignment.Result, last alignment.Policy) (*kept, error) {
	k := &kept{Iteration: res.Best.Iteration, Score: res.Best.MeanScore}
	var err error
	if k.Fresh, err = freshScore(ctx, t, res.Policy); err != nil {
		return nil, err
	}
	if k.FreshLast, err = freshScore(ctx, t, last); err != nil {
		return nil, err
	}
	return k, nil
}

// freshScore is pol's mean rule score on the held-out prompts, over the
// budget's evaluation samples drawn with seeds the run's evaluation does
// not use; the same seeds for every policy.
func freshScore(ctx context.Context, t trial, pol alignment.Policy) (float64, error) {
	var s alignment.Summary
	b := t.Budget
	for _, task := range t.World.HeldOut() {
		p := task.Prompt
		rs, err := alignment.SampleN(ctx, pol, p, alignment.SampleOptions{N: b.EvalSamples, Temperature: b.Temperature, MaxTokens: b.MaxTokens,
			Seed: seeds.Derive(t.Seed, "keep-best", "fresh", p.ID)})
		if err != nil {
			return 0, fmt.Errorf("fresh evaluation: %w", err)
		}
		for _, r := range rs {
			s.Add(taskworld.Score(p, r))
		}
	}
	return s.Mean, nil
}

// recipeFindings reads the recipe arms: SPaR against the verifier and
// against plain self-rewarding, the two SL-CAI forms after the SL stage
// and at the end, the capability suite of every arm, and what keeping the
// best policy did.
func recipeFindings(arms []summary, find func(string) *summary) []string {
	var out []string
	on, self := find(armOnPolicy), find(armSelf)
	if sp := find(armSPaR); sp != nil && on != nil {
		out = append(out, "SPaR vs on-policy, both judged by the rules: "+versus(*sp, *on, "SPaR", "on-policy DPO"))
	}
	if sp := find(armSPaRSelf); sp != nil && self != nil {
		out = append(out, "SPaR vs self-rewarding, both self-judged: "+versus(*sp, *self, "SPaR", "self-rewarding"))
	}
	if sft, pairs := find(armSLSFT), find(armSLPairs); sft != nil && pairs != nil {
		s := "SL-CAI, fine-tuning on revisions vs DPO on revision pairs: "
		if len(sft.Iterations) > 2 {
			d, lead, behind := paired(*sft, *pairs, 1)
			s += fmt.Sprintf("after the SL stage (iteration 1) %+.2f (%.2f → %.2f; sd %.2f; ahead on %d of %d; sign test p = %.2g); at the end, ",
				d.Mean, pairs.Iterations[1].Score.Mean, sft.Iterations[1].Score.Mean, d.SD, lead, d.N, signTest(lead, behind))
		}
		out = append(out, s+versus(*sft, *pairs, "fine-tuning", "pairs"))
	}
	if s := capability(arms); s != "" {
		out = append(out, s)
	}
	for _, a := range arms {
		if s := keepBest(a); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// capability reads the capability suite (correctness of the held-out
// sums and facts) of every arm: its score at the fine-tuned model and the
// last iteration, the change, on how many seeds it fell, and on how many
// seeds the run raised a regression alarm at any evaluation.
func capability(arms []summary) string {
	var parts []string
	for _, a := range arms {
		k := len(a.Iterations) - 1
		var first, last, change []float64
		fell, rose, alarmed := 0, 0, 0
		for _, r := range a.Runs {
			p0, pk := r.Points[0].Capability, r.Points[k].Capability
			if p0 == nil || pk == nil {
				break
			}
			first, last, change = append(first, *p0), append(last, *pk), append(change, *pk-*p0)
			switch {
			case *pk < *p0:
				fell++
			case *pk > *p0:
				rose++
			}
			if slices.ContainsFunc(r.Points, func(p point) bool { return p.Regressed }) {
				alarmed++
			}
		}
		if len(first) != len(a.Runs) || len(first) == 0 {
			continue
		}
		d := newStat(change)
		s := fmt.Sprintf("%s %.2f → %.2f (%+.2f", a.Name, newStat(first).Mean, newStat(last).Mean, d.Mean)
		if d.N > 1 {
			s += fmt.Sprintf(", sd %.2f; fell on %d of %d, sign test p = %.2g", d.SD, fell, d.N, signTest(fell, rose))
		}
		parts = append(parts, s+fmt.Sprintf("; alarm on %d of %d seeds)", alarmed, d.N))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("capability suite (correctness of the held-out sums and facts, 0–5, fine-tuned model → last iteration; a regression alarm when an evaluation falls more than %.2g below the run's first): ",
		alignment.DefaultMaxDrop*taskworld.MaxScore) + strings.Join(parts, "; ")
}

// keepBest reads what Evaluation.KeepBest did in an arm that ran with
// it: the iterations it kept, the kept policy's score in the evaluation
// that chose it against the last policy's, and the two on fresh samples.
func keepBest(a summary) string {
	k := len(a.Iterations) - 1
	var its []string
	var chose, fresh []float64
	lead, behind := 0, 0
	for _, r := range a.Runs {
		last := r.Points[k]
		if last.Kept == nil {
			return ""
		}
		its = append(its, strconv.Itoa(last.Kept.Iteration))
		chose = append(chose, last.Kept.Score-last.Score)
		d := last.Kept.Fresh - last.Kept.FreshLast
		fresh = append(fresh, d)
		switch {
		case d > 0:
			lead++
		case d < 0:
			behind++
		}
	}
	if len(its) == 0 {
		return ""
	}
	c, f := newStat(chose), newStat(fresh)
	s := fmt.Sprintf("keep-best (%s, Evaluation.KeepBest): kept iteration %s by seed; the kept policy against the last scores %+.2f on the evaluation that chose it, and %+.2f on fresh samples of the held-out prompts",
		a.Name, strings.Join(its, ", "), c.Mean, f.Mean)
	if f.N > 1 {
		s += fmt.Sprintf(" (sd %.2f over seeds; ahead on %d of %d; sign test p = %.2g)", f.SD, lead, f.N, signTest(lead, behind))
	}
	return s
}
