package judge

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Item is a prompt with responses to it, the unit of audits and of jury
// agreement.
type Item struct {
	Prompt    alignment.Prompt
	Responses []alignment.Response
}

// AuditOptions configure Audit; the zero value (or nil) means defaults.
type AuditOptions struct {
	// Pad returns a padded copy of a response text: longer, with no more
	// information. Nil means Restate.
	Pad func(text string) string
	// Self is the Response.Source of responses written by the judge's own
	// model, for self-preference; empty skips that figure.
	Self string
	// Min and Max are the score scale when both are set (Min < Max);
	// otherwise the judge's ScoreRange, or 0–5.
	Min, Max float64
	// Concurrency bounds the judge and comparer calls in flight; values
	// below 1 mean 4.
	Concurrency int
	// Seed seeds every call: each gets alignment.WithSeed with a seed
	// derived from Seed and what the call is, so an audit is repeatable.
	Seed uint64
}

// Restate is the default padding of Audit: the text followed by a
// restatement of itself, which doubles its length and adds nothing.
func Restate(text string) string {
	return text + "\n\nIn other words, to restate the answer above: " + text
}

// AuditReport holds the figures of an audit. A figure whose count is zero
// was not measured (no judge or comparer for it, or every call failed) and
// is 0; the table prints it as "n/a".
type AuditReport struct {
	// Items and Responses count the audited prompts and responses.
	Items, Responses int

	// Scored counts responses the judge scored.
	Scored int
	// LengthSpearman and LengthKendall correlate score with
	// Response.Length (Spearman's rho on average ranks; Kendall's tau-b). A
	// positive value means longer responses score higher.
	LengthSpearman, LengthKendall float64
	// PaddedScored counts responses whose padded copy was scored too.
	PaddedScored int
	// PaddedScoreWinRate is the share of responses whose padded copy scored
	// higher, ties counting half; an unbiased judge is at or below 0.5.
	PaddedScoreWinRate float64
	// PaddedGain is the mean score of padded copies minus that of the
	// originals.
	PaddedGain float64
	// SelfN and OtherN count scored responses by the judge's own model
	// (AuditOptions.Self) and by others; SelfMean and OtherMean are their
	// mean scores and SelfPreference the difference, measured when both
	// counts are positive.
	SelfN, OtherN                       int
	SelfMean, OtherMean, SelfPreference float64
	// Min and Max are the scale; Saturation is the share of scores at Max
	// and Floor the share at Min.
	Min, Max          float64
	Saturation, Floor float64
	// Sampled counts judgments with two or more samples; SampleVariance is
	// the mean of their sample variances (unbiased, n−1).
	Sampled        int
	SampleVariance float64

	// Comparisons counts comparer calls on pairs of different responses
	// (each adjacent pair of an item, in both orders), and Pairs the pairs
	// for which both orders answered.
	Comparisons, Pairs int
	// FirstPosition is the mean ProbA over those comparisons: how often the
	// response shown first wins. A position-free comparer is at 0.5.
	FirstPosition float64
	// PositionBias is 2·FirstPosition − 1: the share of verdicts that go to
	// the first position regardless of content, if biased verdicts always
	// pick the first position and the rest are position-free. Negative
	// values mean a bias toward the second position.
	PositionBias float64
	// SwapConsistency is the share of pairs whose verdict survives swapping
	// the order (the preferred response is the same, or both are ties).
	SwapConsistency float64
	// Flagged is the share of comparisons the comparer itself marked
	// Inconsistent (a Pairwise comparer's own swap test).
	Flagged float64
	// PaddedCompared counts responses compared with their padded copy in
	// both orders; PaddedCompareWinRate is the mean probability that the
	// padded copy is better.
	PaddedCompared       int
	PaddedCompareWinRate float64

	// Failures lists the calls that failed, which the figures leave out.
	Failures []Failure
}

// Failure is a judge or comparer call that failed during an audit or a
// calibration.
type Failure struct {
	// Item and Response index what was being judged; for a comparison of
	// two responses, Response is the first of the pair.
	Item, Response int
	// Call names the call: "judge", "judge padded", "compare", "compare
	// swapped", "compare padded", "compare padded swapped".
	Call string
	Err  error
}

// Audit runs a judge, a comparer or both (either may be nil, not both) over
// items and measures their biases; see AuditReport for the figures. A call
// that fails is listed in Failures and left out of the figures; the audit
// itself fails only on bad input (wrapping ErrInvalid) or when ctx is done.
func Audit(ctx context.Context, j alignment.Judge, c alignment.Comparer, items []Item, o *AuditOptions) (AuditReport, error) {
	if o == nil {
		o = &AuditOptions{}
	}
	if j == nil && c == nil {
		return AuditReport{}, fmt.Errorf("judge: audit: neither a judge nor a comparer: %w", ErrInvalid)
	}
	if (o.Min != 0 || o.Max != 0) && (!finite(o.Min) || !finite(o.Max) || !(o.Min < o.Max)) {
		return AuditReport{}, fmt.Errorf("judge: audit: scale Min %v, Max %v: want finite Min < Max: %w", o.Min, o.Max, ErrInvalid)
	}
	pad := o.Pad
	if pad == nil {
		pad = Restate
	}
	limit := o.Concurrency
	if limit < 1 {
		limit = 4
	}
	rep := AuditReport{Items: len(items)}
	if j != nil {
		rep.Min, rep.Max = scale(j, o.Min, o.Max)
	}

	type result struct {
		judged, padded *alignment.Judgment
		ab, ba         *alignment.Comparison // with the next response, both orders
		padAB, padBA   *alignment.Comparison // padded copy first, then second
		length         int
		self           bool
		paddedResponse alignment.Response
	}
	res := make([][]result, len(items))
	var (
		mu       sync.Mutex
		failures []Failure
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	call := func(k, l int, what string, f func(context.Context) error) {
		g.Go(func() error {
			cctx := alignment.WithSeed(gctx, seeds.Derive(o.Seed, "audit", strconv.Itoa(k), strconv.Itoa(l), what))
			if err := f(cctx); err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				mu.Lock()
				failures = append(failures, Failure{Item: k, Response: l, Call: what, Err: err})
				mu.Unlock()
			}
			return nil
		})
	}
	for k, it := range items {
		if len(it.Responses) == 0 {
			return AuditReport{}, fmt.Errorf("judge: audit: item %d (prompt %q) has no responses: %w", k, it.Prompt.ID, ErrInvalid)
		}
		res[k] = make([]result, len(it.Responses))
		rep.Responses += len(it.Responses)
		for l, r := range it.Responses {
			x := &res[k][l]
			x.length = r.Length()
			x.self = o.Self != "" && r.Source == o.Self
			x.paddedResponse = padded(r, pad)
		}
	}
	for k, it := range items {
		p := it.Prompt
		for l, r := range it.Responses {
			x := &res[k][l]
			pr := x.paddedResponse
			if j != nil {
				call(k, l, "judge", func(ctx context.Context) error {
					v, err := j.Judge(ctx, p, r)
					if err == nil {
						err = checkScore(v.Score, rep.Min, rep.Max)
					}
					if err == nil {
						x.judged = &v
					}
					return err
				})
				call(k, l, "judge padded", func(ctx context.Context) error {
					v, err := j.Judge(ctx, p, pr)
					if err == nil {
						err = checkScore(v.Score, rep.Min, rep.Max)
					}
					if err == nil {
						x.padded = &v
					}
					return err
				})
			}
			if c == nil {
				continue
			}
			if l+1 < len(it.Responses) {
				next := it.Responses[l+1]
				call(k, l, "compare", compareInto(c, p, r, next, &x.ab))
				call(k, l, "compare swapped", compareInto(c, p, next, r, &x.ba))
			}
			call(k, l, "compare padded", compareInto(c, p, pr, r, &x.padAB))
			call(k, l, "compare padded swapped", compareInto(c, p, r, pr, &x.padBA))
		}
	}
	if err := g.Wait(); err != nil {
		return AuditReport{}, fmt.Errorf("judge: audit: %w", err)
	}
	slices.SortFunc(failures, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(a.Response, b.Response), strings.Compare(a.Call, b.Call))
	})
	rep.Failures = failures

	var scores, lengths, variances, gains, selfScores, otherScores []float64
	var padWins, first, consistent, flagged, padCompare float64
	for k := range res {
		for l := range res[k] {
			x := &res[k][l]
			if v := x.judged; v != nil {
				scores = append(scores, v.Score)
				lengths = append(lengths, float64(x.length))
				if len(v.Samples) >= 2 {
					variances = append(variances, variance(v.Samples))
				}
				if x.self {
					selfScores = append(selfScores, v.Score)
				} else {
					otherScores = append(otherScores, v.Score)
				}
				if v.Score >= rep.Max {
					rep.Saturation++
				}
				if v.Score <= rep.Min {
					rep.Floor++
				}
				if pv := x.padded; pv != nil {
					gains = append(gains, pv.Score-v.Score)
					switch {
					case pv.Score > v.Score:
						padWins++
					case pv.Score == v.Score:
						padWins += 0.5
					}
				}
			}
			for _, cp := range []*alignment.Comparison{x.ab, x.ba} {
				if cp != nil {
					rep.Comparisons++
					first += cp.ProbA
					if cp.Inconsistent {
						flagged++
					}
				}
			}
			if x.ab != nil && x.ba != nil {
				rep.Pairs++
				if sign(x.ab.ProbA-0.5) == -sign(x.ba.ProbA-0.5) {
					consistent++
				}
			}
			if x.padAB != nil && x.padBA != nil {
				rep.PaddedCompared++
				padCompare += (x.padAB.ProbA + 1 - x.padBA.ProbA) / 2
			}
		}
	}
	if rep.Scored = len(scores); rep.Scored > 0 {
		rep.LengthSpearman = spearman(lengths, scores)
		rep.LengthKendall = kendall(lengths, scores)
		rep.Saturation /= float64(rep.Scored)
		rep.Floor /= float64(rep.Scored)
	}
	if rep.PaddedScored = len(gains); rep.PaddedScored > 0 {
		rep.PaddedScoreWinRate = padWins / float64(rep.PaddedScored)
		rep.PaddedGain = mean(gains)
	}
	rep.SelfN, rep.OtherN = len(selfScores), len(otherScores)
	if rep.SelfN > 0 && rep.OtherN > 0 {
		rep.SelfMean, rep.OtherMean = mean(selfScores), mean(otherScores)
		rep.SelfPreference = rep.SelfMean - rep.OtherMean
	}
	if rep.Sampled = len(variances); rep.Sampled > 0 {
		rep.SampleVariance = mean(variances)
	}
	if rep.Comparisons > 0 {
		rep.FirstPosition = first / float64(rep.Comparisons)
		rep.PositionBias = 2*rep.FirstPosition - 1
		rep.Flagged = flagged / float64(rep.Comparisons)
	}
	if rep.Pairs > 0 {
		rep.SwapConsistency = consistent / float64(rep.Pairs)
	}
	if rep.PaddedCompared > 0 {
		rep.PaddedCompareWinRate = padCompare / float64(rep.PaddedCompared)
	}
	return rep, nil
}

// String returns the report as a table, one figure a line, with the count
// each rests on; unmeasured figures read "n/a" over "-".
func (r AuditReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "judge audit: %d responses to %d prompts, %d failed calls\n", r.Responses, r.Items, len(r.Failures))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tvalue\tover")
	row := func(name string, n int, unit string, v float64) {
		if n == 0 {
			fmt.Fprintf(w, "%s\tn/a\t-\n", name)
			return
		}
		fmt.Fprintf(w, "%s\t%.3f\t%d %s\n", name, v, n, unit)
	}
	row("position: first-position win rate", r.Comparisons, "comparisons", r.FirstPosition)
	row("position: bias (2*rate-1)", r.Comparisons, "comparisons", r.PositionBias)
	row("position: swap consistency", r.Pairs, "pairs", r.SwapConsistency)
	row("position: flagged inconsistent", r.Comparisons, "comparisons", r.Flagged)
	row("length: Spearman(score, length)", r.Scored, "responses", r.LengthSpearman)
	row("length: Kendall tau-b(score, length)", r.Scored, "responses", r.LengthKendall)
	row("length: padded copy score win rate", r.PaddedScored, "responses", r.PaddedScoreWinRate)
	row("length: padded copy score gain", r.PaddedScored, "responses", r.PaddedGain)
	row("length: padded copy compare win rate", r.PaddedCompared, "responses", r.PaddedCompareWinRate)
	selfN := r.SelfN
	if r.OtherN == 0 {
		selfN = 0
	}
	row("self-preference: own minus others' mean", selfN, "own responses", r.SelfPreference)
	row(fmt.Sprintf("saturation: share at max (%g)", r.Max), r.Scored, "responses", r.Saturation)
	row(fmt.Sprintf("saturation: share at min (%g)", r.Min), r.Scored, "responses", r.Floor)
	row("samples: mean variance across k", r.Sampled, "judgments", r.SampleVariance)
	w.Flush()
	return b.String()
}

// padded returns a copy of r with its text padded and every field that
// described the old text cleared, so that its length is counted afresh.
func padded(r alignment.Response, pad func(string) string) alignment.Response {
	return alignment.Response{Text: pad(r.Text), Source: r.Source, FinishReason: r.FinishReason}
}

func compareInto(c alignment.Comparer, p alignment.Prompt, a, b alignment.Response, dst **alignment.Comparison) func(context.Context) error {
	return func(ctx context.Context) error {
		v, err := c.Compare(ctx, p, a, b)
		if err != nil {
			return err
		}
		if !(v.ProbA >= 0 && v.ProbA <= 1) {
			return fmt.Errorf("judge: comparer returned ProbA %v, want within [0, 1]: %w", v.ProbA, ErrInvalid)
		}
		*dst = &v
		return nil
	}
}

func checkScore(s, lo, hi float64) error {
	if !finite(s) || s < lo || s > hi {
		return fmt.Errorf("judge: score %v outside the scale [%v, %v]: %w", s, lo, hi, ErrInvalid)
	}
	return nil
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
