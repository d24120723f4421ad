package alignment

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/internal/seeds"
)

// Evaluation configures the Loop's held-out evaluation: at the start of
// every iteration, and once more after the last, the Loop samples the
// current policy on a fixed set of held-out prompts and scores the samples
// with a frozen judge, so that a run can tell whether its training pays
// (see Loop.Eval and EvalReport).
//
// The evaluation's randomness derives from (Loop.Seed, "eval", prompt ID)
// and not from the iteration: every iteration's policy answers with the
// same sampling seeds and is judged with the same judge seeds (common
// random numbers). An unchanged policy therefore gives the same samples
// and scores, a win rate of exactly 0.5 against itself, and the change
// from one policy to the next is measured without the noise of fresh draws.
type Evaluation struct {
	// Prompts is the held-out set. Required; IDs must be unique. Keep it
	// small: every sample's text is kept in the EvalReport, which the
	// output directory's progress journal stores once per iteration.
	Prompts []Prompt
	// Judge scores the held-out samples. Required. It should be frozen —
	// the same judge, unchanged, for the whole run — or scores of
	// different iterations cannot be compared.
	Judge Judge
	// Comparer, if set, gives the win rate of each policy over the one
	// before it: Compare(p, new, old) on the samples at the same position
	// for the same prompt, P(new better) averaged. A comparer with a
	// position bias should judge both orders itself. Lacking a Comparer,
	// the win rate comes from Judge's scores: P(new > old) + ½·P(tie) over
	// the same matched samples.
	Comparer Comparer
	// Samples is the number of responses drawn per held-out prompt;
	// default 2.
	Samples int
	// JudgeSamples is the number of Judge calls per sample whose scores
	// are averaged; default 1.
	JudgeSamples int
	// Sampling holds the sampling options; nil means Loop.Sampling. The
	// Loop sets N and Seed.
	Sampling *SampleOptions
	// Suites are capability suites: held-out prompts, each set with its
	// own frozen judge, on which training must not lose what the policy
	// could do at the start (regression testing). Prompts and Judge above
	// are the target suite, which training should improve. Each suite is
	// sampled and judged like the target suite (Samples, JudgeSamples,
	// Sampling), with seeds derived from (Loop.Seed, "eval", "suite",
	// Suite.Name, prompt ID), and its mean score is compared with its
	// baseline, the mean score of the run's first evaluation (iteration
	// 0): a fall below the baseline by more than Suite.MaxDrop raises an
	// AlarmRegression (see EvalReport.Suites).
	Suites []Suite
	// StopOnRegression makes an AlarmRegression stop the run, as a
	// plateau does (Result.Stopped), before the regressed policy is
	// trained further; the run's policy is then the regressed one, and
	// Result.Reports shows which iteration's was the last that held its
	// baselines. False: the alarm is reported and the run goes on.
	StopOnRegression bool
	// KeepBest makes the run end with the best policy it evaluated rather
	// than its last: Result.Policy is then the policy of the evaluation
	// with the highest target MeanScore among those that raised no
	// AlarmRegression (the earliest on a tie), and Result.Best is that
	// evaluation; Result.Final stays the evaluation of the last policy.
	// Iteration 0's evaluation is its suites' baseline, so it is always
	// eligible; were none eligible, the run would keep its last policy,
	// with Best = Final. A Trainer may train a policy in place, so with a
	// Trainer KeepBest keeps the best policy as a checkpoint and the
	// Trainer must be a Checkpointer: with Loop.Dir, the policy of
	// iteration i > 0 is the directory's policy-<i−1>/, and a resumed run
	// makes the same choice from the journaled evaluations; the policy of
	// iteration 0, and without Dir every policy that training would change,
	// is saved, when it is the best so far, in a temporary directory that
	// Run removes before it returns.
	KeepBest bool
}

// Suite is a capability suite of an Evaluation: what training must not
// degrade, such as the correctness of arithmetic and facts while the
// target suite rewards style.
type Suite struct {
	// Name names the suite in reports and alarms. Required and unique
	// within the Evaluation.
	Name string
	// Prompts are the suite's held-out prompts. Required; IDs must be
	// unique within the suite.
	Prompts []Prompt
	// Judge scores the suite's samples; it must be frozen, like
	// Evaluation.Judge. Required.
	Judge Judge
	// MaxDrop is the largest fall of the suite's mean score below its
	// baseline that raises no alarm. 0 means DefaultMaxDrop of the judge's
	// score range (Ranged; [0, 5] otherwise); a negative value turns the
	// check off.
	MaxDrop float64
}

// DefaultMaxDrop is the default Suite.MaxDrop, as a share of the suite
// judge's score range.
const DefaultMaxDrop = 0.05

// EvalReport is the held-out evaluation of one policy: the one iteration
// Iteration uses, or, as Result.Final, the one the run ended with. It is
// plain data, encodable as JSON, and holds the text of every sample so
// that a resumed run can compare the next policy with this one.
type EvalReport struct {
	// Iteration is the iteration whose policy was evaluated; the final
	// policy of a run of M iterations has Iteration M.
	Iteration int `json:"iteration"`
	// Prompts is the number of held-out prompts.
	Prompts int `json:"prompts"`
	// MeanScore is the held-out judge's mean score over all samples
	// (Score.Mean, repeated for readers of the JSON); Score summarises the
	// samples' scores, each the mean of the Evaluation's JudgeSamples
	// calls, on the scale [ScoreLo, ScoreHi].
	MeanScore float64 `json:"mean_score"`
	Score     Summary `json:"score"`
	ScoreLo   float64 `json:"score_lo"`
	ScoreHi   float64 `json:"score_hi"`
	// Saturation is the share of sample scores in the top tenth of the
	// scale (the top bin of Report.Histogram's binning).
	Saturation float64 `json:"saturation"`
	// MeanLength is the samples' mean Response.Length (Length.Mean).
	MeanLength float64 `json:"mean_length"`
	Length     Summary `json:"length"`
	// WinRate is the probability that this policy's sample beats the
	// previous evaluated policy's sample at the same prompt and position,
	// over Compared such positions (see Evaluation.Comparer); nil for the
	// first evaluation of a run or when no position matched.
	WinRate  *float64 `json:"win_rate,omitempty"`
	Compared int      `json:"compared,omitempty"`
	// WinRateSE is the standard error of WinRate, over the held-out
	// prompts: the standard deviation of their own win rates over the
	// square root of their number (samples of one prompt are not
	// independent, prompts are). Nil with WinRate, and with fewer than two
	// compared prompts. The plateau check uses it (Safeguards.PlateauZ).
	WinRateSE *float64 `json:"win_rate_se,omitempty"`
	// Diversity summarises the samples' diversity per held-out prompt.
	Diversity Diversity `json:"diversity"`
	// Judgments counts judge and comparer calls; Retries counts retried
	// calls; Elapsed is the evaluation's wall time.
	Judgments int           `json:"judgments"`
	Retries   int           `json:"retries"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// Results holds each held-out prompt's samples and figures, in the
	// order of Evaluation.Prompts.
	Results []EvalResult `json:"results"`
	// Suites holds the evaluation of each capability suite
	// (Evaluation.Suites), in their order; nil without suites.
	Suites []SuiteReport `json:"suites,omitempty"`
	// Alarms lists the alarms this evaluation raised: a plateau when the
	// win rate is at or below Safeguards.PlateauWinRate, and a regression
	// per capability suite that fell below its baseline by more than its
	// MaxDrop.
	Alarms []Alarm `json:"alarms,omitempty"`
}

// SuiteReport is the evaluation of one capability suite.
type SuiteReport struct {
	// Name is the suite's Name; Prompts its number of prompts.
	Name    string `json:"name"`
	Prompts int    `json:"prompts"`
	// Score summarises the samples' scores, each the mean of the
	// Evaluation's JudgeSamples calls, on the scale [ScoreLo, ScoreHi].
	Score   Summary `json:"score"`
	ScoreLo float64 `json:"score_lo"`
	ScoreHi float64 `json:"score_hi"`
	// Baseline is the suite's mean score in the run's first evaluation,
	// carried from evaluation to evaluation (a resumed run reads it from
	// the journal); the first evaluation, and one whose previous
	// evaluation lacks the suite, is its own baseline. Change is
	// Score.Mean − Baseline: negative is a regression.
	Baseline float64 `json:"baseline"`
	Change   float64 `json:"change"`
	// Results holds each prompt's samples, in the order of Suite.Prompts;
	// their WinRate is nil.
	Results []EvalResult `json:"results"`
}

// EvalResult is the evaluation of one held-out prompt.
type EvalResult struct {
	// PromptID is the held-out prompt's ID.
	PromptID string `json:"prompt_id"`
	// Samples are the policy's responses, in the order drawn, with their
	// scores.
	Samples []EvalSample `json:"samples"`
	// Distinct1 and Distinct2 are the samples' distinct-1 and distinct-2
	// (see Distinct); nil when the samples hold no unigram or bigram.
	Distinct1 *float64 `json:"distinct_1,omitempty"`
	Distinct2 *float64 `json:"distinct_2,omitempty"`
	// Duplicates is the samples' DuplicateRate.
	Duplicates float64 `json:"duplicates"`
	// WinRate is this prompt's share of the run's WinRate; nil when it has
	// none.
	WinRate *float64 `json:"win_rate,omitempty"`
}

// EvalSample is one held-out response with its score: its text and token
// count, all the win rate of the next evaluation needs.
type EvalSample struct {
	// Text and Tokens are the response's Text and Tokens.
	Text   string `json:"text"`
	Tokens int    `json:"tokens,omitempty"`
	// Score is the mean of the held-out judge's scores of the response.
	Score float64 `json:"score"`
}

// response rebuilds the sample as a Response. The win rate compares
// rebuilt responses on both sides, so that a comparison made by a resumed
// run, which has only the previous samples' stored fields, is the same.
func (s EvalSample) response() Response {
	return Response{Text: s.Text, Tokens: s.Tokens}
}

// evalRun is an Evaluation with defaults applied.
type evalRun struct {
	*Evaluation
	samples, k int
	sampling   SampleOptions
	lo, hi     float64
	suites     []suiteRun
}

// suiteRun is a Suite with its judge's range and MaxDrop resolved.
type suiteRun struct {
	Suite
	lo, hi, maxDrop float64
}

// judgeRange returns j's score range: its own when it is Ranged, [0, 5]
// otherwise.
func judgeRange(j Judge) (lo, hi float64) {
	if rg, ok := j.(Ranged); ok {
		return rg.ScoreRange()
	}
	return 0, 5
}

func newEvalRun(l *Loop) (*evalRun, error) {
	ev := l.Eval
	bad := func(field, why string) error {
		return fmt.Errorf("alignment: Loop.Eval.%s %s: %w", field, why, ErrInvalid)
	}
	switch {
	case ev.Judge == nil:
		return nil, bad("Judge", "is nil")
	case len(ev.Prompts) == 0:
		return nil, bad("Prompts", "is empty")
	case ev.Samples < 0 || ev.JudgeSamples < 0:
		return nil, bad("Samples and JudgeSamples", "must not be negative")
	}
	if err := uniqueIDs(ev.Prompts, "Prompts"); err != nil {
		return nil, err
	}
	if _, ok := l.Trainer.(Checkpointer); ev.KeepBest && l.Trainer != nil && !ok {
		return nil, bad("KeepBest", fmt.Sprintf("is set, but Loop.Trainer (%T) is not a Checkpointer, which keeping the best policy needs while training changes it", l.Trainer))
	}
	e := &evalRun{Evaluation: ev, samples: 2, k: 1, sampling: l.Sampling, lo: 0, hi: 5}
	names := make(map[string]int, len(ev.Suites))
	for i, su := range ev.Suites {
		field := "Suites[" + strconv.Itoa(i) + "]"
		j, dup := names[su.Name]
		switch {
		case su.Name == "":
			return nil, bad(field+".Name", "is empty")
		case dup:
			return nil, bad(field+".Name", fmt.Sprintf("repeats the name %q of Loop.Eval.Suites[%d]", su.Name, j))
		case su.Judge == nil:
			return nil, bad(field+".Judge", "is nil")
		case len(su.Prompts) == 0:
			return nil, bad(field+".Prompts", "is empty")
		case math.IsNaN(su.MaxDrop) || math.IsInf(su.MaxDrop, 0):
			return nil, bad(field+".MaxDrop", fmt.Sprintf("is %v, want a finite number", su.MaxDrop))
		}
		names[su.Name] = i
		if err := uniqueIDs(su.Prompts, field+".Prompts"); err != nil {
			return nil, err
		}
		sr := suiteRun{Suite: su, maxDrop: su.MaxDrop}
		sr.lo, sr.hi = judgeRange(su.Judge)
		if sr.maxDrop == 0 {
			sr.maxDrop = DefaultMaxDrop * (sr.hi - sr.lo)
		}
		e.suites = append(e.suites, sr)
	}
	if ev.Samples > 0 {
		e.samples = ev.Samples
	}
	if ev.JudgeSamples > 0 {
		e.k = ev.JudgeSamples
	}
	if ev.Sampling != nil {
		e.sampling = *ev.Sampling
	}
	e.lo, e.hi = judgeRange(ev.Judge)
	return e, nil
}

// uniqueIDs checks that no two of ps, the prompts of Loop.Eval's field
// name, share an ID.
func uniqueIDs(ps []Prompt, name string) error {
	seen := make(map[string]int, len(ps))
	for i, p := range ps {
		if j, ok := seen[p.ID]; ok {
			return fmt.Errorf("alignment: Loop.Eval.%s[%d] repeats the ID %q of Loop.Eval.%s[%d]: %w", name, i, p.ID, name, j, ErrInvalid)
		}
		seen[p.ID] = i
	}
	return nil
}

// evaluate samples pol on the held-out prompts, judges the samples and,
// given the previous evaluation, computes the win rate over it; then it
// does the same for each capability suite and compares the suite with its
// baseline. Any permanent failure fails the evaluation: a partial held-out
// set would not be comparable with the others.
func (r *run) evaluate(ctx context.Context, it int, pol Policy, prev *EvalReport) (*EvalReport, error) {
	e := r.eval
	t0 := time.Now()
	n := len(e.Prompts)
	r.emit(Event{Kind: EvaluationStarted, Iteration: it, Total: n})
	set := evalSet{prompts: e.Prompts, judge: e.Judge, lo: e.lo, hi: e.hi,
		seed: func(id string) uint64 { return seeds.Derive(r.Seed, "eval", id) }}
	out := &EvalReport{Iteration: it, Prompts: n, ScoreLo: e.lo, ScoreHi: e.hi}
	var err error
	out.Results, out.Score, out.Length, out.Saturation, out.Diversity, out.Retries, err = r.scoreSet(ctx, it, pol, set)
	if err != nil {
		return nil, err
	}
	out.Judgments = n * e.samples * e.k
	out.MeanScore, out.MeanLength = out.Score.Mean, out.Length.Mean
	if prev != nil {
		more, err := r.winRate(ctx, it, out, prev)
		out.Retries += more
		if err != nil {
			return nil, err
		}
	}
	for _, su := range e.suites {
		set := evalSet{name: su.Name, prompts: su.Prompts, judge: su.Judge, lo: su.lo, hi: su.hi,
			seed: func(id string) uint64 { return seeds.Derive(r.Seed, "eval", "suite", su.Name, id) }}
		rep := SuiteReport{Name: su.Name, Prompts: len(su.Prompts), ScoreLo: su.lo, ScoreHi: su.hi}
		var retries int
		rep.Results, rep.Score, _, _, _, retries, err = r.scoreSet(ctx, it, pol, set)
		out.Retries += retries
		if err != nil {
			return nil, err
		}
		out.Judgments += len(su.Prompts) * e.samples * e.k
		rep.Baseline = rep.Score.Mean
		if prev != nil {
			for _, p := range prev.Suites {
				if p.Name == su.Name {
					rep.Baseline = p.Baseline
				}
			}
		}
		rep.Change = rep.Score.Mean - rep.Baseline
		out.Suites = append(out.Suites, rep)
	}
	out.Alarms = append(r.evalAlarms(out), r.regressions(out)...)
	out.Elapsed = time.Since(t0)
	return out, nil
}

// evalSet is a set of held-out prompts with the judge that scores their
// samples: the target suite (name "") or a capability suite.
type evalSet struct {
	name    string
	prompts []Prompt
	judge   Judge
	lo, hi  float64
	seed    func(promptID string) uint64
}

// scoreSet samples pol on the set's prompts and judges the samples. It
// returns each prompt's result, the summaries of the samples' scores and
// lengths, the share of scores in the top bin, the diversity, and the
// retries of its calls.
func (r *run) scoreSet(ctx context.Context, it int, pol Policy, set evalSet) (res []EvalResult, score, length Summary, saturation float64, div Diversity, retries int, err error) {
	e := r.eval
	n := len(set.prompts)
	of := ""
	if set.name != "" {
		of = fmt.Sprintf(" of suite %q", set.name)
	}
	fail := func(i int, what string, err error) error {
		return fmt.Errorf("alignment: evaluating the policy of iteration %d on held-out prompt %q%s: %s: %w", it, set.prompts[i].ID, of, what, err)
	}
	id := func(i int) string { return set.prompts[i].ID }

	samples := make([][]Response, n)
	retries, err = r.callAll(ctx, it, n, id, func(ctx context.Context, i int) error {
		o := e.sampling
		o.N, o.Seed = e.samples, set.seed(id(i))
		rs, err := SampleN(ctx, pol, set.prompts[i], o)
		if err != nil {
			return fail(i, "sampling", err)
		}
		samples[i] = rs
		return nil
	})
	if err != nil {
		return
	}

	per := e.samples * e.k
	raw := make([]float64, n*per)
	more, err := r.callAll(ctx, it, n*per, func(c int) string { return id(c / per) }, func(ctx context.Context, c int) error {
		i, s := c/per, c%per/e.k
		ctx = WithSeed(ctx, seeds.Derive(set.seed(id(i)), "judge", strconv.Itoa(c%per)))
		j, err := set.judge.Judge(ctx, set.prompts[i], samples[i][s])
		if err != nil {
			return fail(i, "judging", err)
		}
		if math.IsNaN(j.Score) || math.IsInf(j.Score, 0) {
			return fail(i, "judging", fmt.Errorf("judge returned score %v for sample %d: %w", j.Score, s, ErrInvalid))
		}
		raw[c] = j.Score
		return nil
	})
	retries += more
	if err != nil {
		return
	}

	res = make([]EvalResult, n)
	top := 0
	for i, p := range set.prompts {
		res := &res[i]
		res.PromptID = p.ID
		res.Samples = make([]EvalSample, len(samples[i]))
		for s, rsp := range samples[i] {
			v := 0.0
			for _, x := range raw[i*per+s*e.k : i*per+(s+1)*e.k] {
				v += x / float64(e.k)
			}
			res.Samples[s] = EvalSample{Text: rsp.Text, Tokens: rsp.Tokens, Score: v}
			score.Add(v)
			length.Add(float64(rsp.Length()))
			if scoreBin(v, set.lo, set.hi) == HistogramBins-1 {
				top++
			}
		}
		f := measureDiversity(len(res.Samples), func(s int) string { return res.Samples[s].Text })
		if f.d1 >= 0 {
			res.Distinct1 = ptr(f.d1)
		}
		if f.d2 >= 0 {
			res.Distinct2 = ptr(f.d2)
		}
		res.Duplicates = f.dup
		div.add(f)
	}
	if score.N > 0 {
		saturation = float64(top) / float64(score.N)
	}
	return res, score, length, saturation, div, retries, nil
}

// regressions returns an AlarmRegression for each capability suite of ev
// whose mean score fell below its baseline by more than its MaxDrop.
func (r *run) regressions(ev *EvalReport) []Alarm {
	var out []Alarm
	for i, rep := range ev.Suites {
		su := r.eval.suites[i]
		if su.maxDrop < 0 || -rep.Change <= su.maxDrop {
			continue
		}
		out = append(out, Alarm{Kind: AlarmRegression, Signal: "suite_change", Iteration: ev.Iteration, Value: rep.Change, Threshold: -su.maxDrop,
			Reason: fmt.Sprintf("the policy of iteration %d scores %.3g on capability suite %q, %.3g below its baseline %.3g of the run's first evaluation, a fall above %.3g",
				ev.Iteration, rep.Score.Mean, rep.Name, -rep.Change, rep.Baseline, su.maxDrop)})
	}
	return out
}

// winRate sets the win rates of ev over prev, position by position for
// the prompts both hold.
func (r *run) winRate(ctx context.Context, it int, ev, prev *EvalReport) (retries int, err error) {
	e := r.eval
	old := make(map[string]*EvalResult, len(prev.Results))
	for i := range prev.Results {
		old[prev.Results[i].PromptID] = &prev.Results[i]
	}
	// Matched positions, in prompt then sample order.
	type match struct{ prompt, sample int }
	var ms []match
	for i := range ev.Results {
		if o, ok := old[ev.Results[i].PromptID]; ok {
			for s := range min(len(ev.Results[i].Samples), len(o.Samples)) {
				ms = append(ms, match{i, s})
			}
		}
	}
	if len(ms) == 0 {
		return 0, nil
	}
	wins := make([]float64, len(ms))
	if e.Comparer != nil {
		retries, err = r.callAll(ctx, it, len(ms), func(m int) string { return ev.Results[ms[m].prompt].PromptID }, func(ctx context.Context, m int) error {
			i, s := ms[m].prompt, ms[m].sample
			p := e.Prompts[i]
			ctx = WithSeed(ctx, seeds.Derive(r.Seed, "eval", p.ID, "compare", strconv.Itoa(s)))
			c, err := e.Comparer.Compare(ctx, p, ev.Results[i].Samples[s].response(), old[p.ID].Samples[s].response())
			if err != nil {
				return fmt.Errorf("alignment: evaluating the policy of iteration %d on held-out prompt %q: comparing sample %d with the previous policy's: %w", it, p.ID, s, err)
			}
			if !(c.ProbA >= 0 && c.ProbA <= 1) {
				return fmt.Errorf("alignment: evaluating the policy of iteration %d on held-out prompt %q: comparer returned P(A better) = %v for sample %d, want a probability: %w", it, p.ID, c.ProbA, s, ErrInvalid)
			}
			wins[m] = c.ProbA
			return nil
		})
		if err != nil {
			return retries, err
		}
		ev.Judgments += len(ms)
	} else {
		for m, mt := range ms {
			a, b := ev.Results[mt.prompt].Samples[mt.sample].Score, old[ev.Results[mt.prompt].PromptID].Samples[mt.sample].Score
			switch {
			case a > b:
				wins[m] = 1
			case a == b:
				wins[m] = 0.5
			}
		}
	}
	total := 0.0
	var perPrompt Summary
	for lo := 0; lo < len(ms); {
		hi := lo
		sum := 0.0
		for hi < len(ms) && ms[hi].prompt == ms[lo].prompt {
			sum += wins[hi]
			hi++
		}
		w := sum / float64(hi-lo)
		ev.Results[ms[lo].prompt].WinRate = ptr(w)
		perPrompt.Add(w)
		total += sum
		lo = hi
	}
	ev.WinRate, ev.Compared = ptr(total/float64(len(ms))), len(ms)
	if perPrompt.N >= 2 {
		ev.WinRateSE = ptr(perPrompt.Stdev() / math.Sqrt(float64(perPrompt.N)))
	}
	return retries, nil
}

// callAll runs f(0..n−1), each as one retried call under the run's call
// limit, and returns the retries and the first permanent error, which
// cancels the calls still running. id(i) names the prompt of call i for
// retry events.
func (r *run) callAll(ctx context.Context, it, n int, id func(i int) string, f func(ctx context.Context, i int) error) (retries int, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.concurrency)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			tries, err := r.call(gctx, it, id(i), func(ctx context.Context) error { return f(ctx, i) })
			mu.Lock()
			retries += tries
			mu.Unlock()
			return err
		})
	}
	err = g.Wait()
	if ctx.Err() != nil {
		// Calls skipped because ctx ended must not pass for done.
		err = context.Cause(ctx)
	}
	return retries, err
}

func ptr[T any](v T) *T { return &v }
