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
}

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
	// Alarms lists the alarms this evaluation raised: a plateau when the
	// win rate is at or below Safeguards.PlateauWinRate.
	Alarms []Alarm `json:"alarms,omitempty"`
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
	seen := make(map[string]int, len(ev.Prompts))
	for i, p := range ev.Prompts {
		if j, ok := seen[p.ID]; ok {
			return nil, bad("Prompts["+strconv.Itoa(i)+"]", fmt.Sprintf("repeats the ID %q of Loop.Eval.Prompts[%d]", p.ID, j))
		}
		seen[p.ID] = i
	}
	e := &evalRun{Evaluation: ev, samples: 2, k: 1, sampling: l.Sampling, lo: 0, hi: 5}
	if ev.Samples > 0 {
		e.samples = ev.Samples
	}
	if ev.JudgeSamples > 0 {
		e.k = ev.JudgeSamples
	}
	if ev.Sampling != nil {
		e.sampling = *ev.Sampling
	}
	if rg, ok := ev.Judge.(Ranged); ok {
		e.lo, e.hi = rg.ScoreRange()
	}
	return e, nil
}

// evaluate samples pol on the held-out prompts, judges the samples and,
// given the previous evaluation, computes the win rate over it. Any
// permanent failure fails the evaluation: a partial held-out set would not
// be comparable with the others.
func (r *run) evaluate(ctx context.Context, it int, pol Policy, prev *EvalReport) (*EvalReport, error) {
	e := r.eval
	t0 := time.Now()
	n := len(e.Prompts)
	r.emit(Event{Kind: EvaluationStarted, Iteration: it, Total: n})
	fail := func(i int, what string, err error) error {
		return fmt.Errorf("alignment: evaluating the policy of iteration %d on held-out prompt %q: %s: %w", it, e.Prompts[i].ID, what, err)
	}
	id := func(i int) string { return e.Prompts[i].ID }
	promptSeed := func(i int) uint64 { return seeds.Derive(r.Seed, "eval", e.Prompts[i].ID) }

	samples := make([][]Response, n)
	retries, err := r.callAll(ctx, it, n, id, func(ctx context.Context, i int) error {
		o := e.sampling
		o.N, o.Seed = e.samples, promptSeed(i)
		rs, err := SampleN(ctx, pol, e.Prompts[i], o)
		if err != nil {
			return fail(i, "sampling", err)
		}
		samples[i] = rs
		return nil
	})
	if err != nil {
		return nil, err
	}

	per := e.samples * e.k
	raw := make([]float64, n*per)
	more, err := r.callAll(ctx, it, n*per, func(c int) string { return id(c / per) }, func(ctx context.Context, c int) error {
		i, s := c/per, c%per/e.k
		ctx = WithSeed(ctx, seeds.Derive(promptSeed(i), "judge", strconv.Itoa(c%per)))
		j, err := e.Judge.Judge(ctx, e.Prompts[i], samples[i][s])
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
		return nil, err
	}

	out := &EvalReport{Iteration: it, Prompts: n, ScoreLo: e.lo, ScoreHi: e.hi, Judgments: n * per, Results: make([]EvalResult, n)}
	top := 0
	for i, p := range e.Prompts {
		res := &out.Results[i]
		res.PromptID = p.ID
		res.Samples = make([]EvalSample, len(samples[i]))
		for s, rsp := range samples[i] {
			score := 0.0
			for _, v := range raw[i*per+s*e.k : i*per+(s+1)*e.k] {
				score += v / float64(e.k)
			}
			res.Samples[s] = EvalSample{Text: rsp.Text, Tokens: rsp.Tokens, Score: score}
			out.Score.Add(score)
			out.Length.Add(float64(rsp.Length()))
			if scoreBin(score, e.lo, e.hi) == HistogramBins-1 {
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
		out.Diversity.add(f)
	}
	out.MeanScore, out.MeanLength = out.Score.Mean, out.Length.Mean
	if out.Score.N > 0 {
		out.Saturation = float64(top) / float64(out.Score.N)
	}
	if prev != nil {
		more, err := r.winRate(ctx, it, out, prev)
		retries += more
		if err != nil {
			return nil, err
		}
	}
	out.Retries = retries
	out.Alarms = r.evalAlarms(out)
	out.Elapsed = time.Since(t0)
	return out, nil
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
