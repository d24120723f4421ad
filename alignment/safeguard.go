package alignment

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/selfalign/selfalign/internal/rank"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Safeguards holds the thresholds of the checks the Loop makes on every
// iteration for the failure modes of self-training: a plateau (training
// stopped paying), judge drift, reward hacking (length drift, score
// inflation, saturation), collapse (samples losing their diversity) and a
// dry second source of pairs (Loop.Extra making none).
// The figures behind them are in every Report (Report.Signals, EvalReport)
// whatever the thresholds; a check whose figure crosses its threshold
// raises an Alarm, recorded in Report.Alarms (or EvalReport.Alarms) and
// sent to the Observer as an AlarmRaised event.
//
// A plateau alarm stops the run (see Result.Stopped); the others only
// warn. An Observer that wants another alarm to end the run cancels the
// run's context when it sees it; a run with Loop.Dir can then be resumed.
//
// A zero threshold means its default, given on each field; a negative one
// turns its check off.
type Safeguards struct {
	// PlateauWinRate stops the run when a trained policy's held-out win
	// rate over the policy before it is not clearly above it: training no
	// longer makes the policy better. Default 0.5. The check needs
	// Loop.Eval and a Trainer (without one the policy never changes); it
	// is made on each iteration's opening evaluation, and the run stops
	// before that iteration's prompts.
	//
	// The win rate is an estimate from the evaluation's samples, so the
	// check knows its noise: it compares the lower confidence bound
	// WinRate − PlateauZ·WinRateSE (EvalReport) with PlateauWinRate, the
	// standard error taken over the held-out prompts' own win rates. A
	// policy that wins 0.52 of 1,200 comparisons on 150 prompts, with a
	// standard error of 0.02, has not shown that it is better, and stops
	// the run; a point estimate above 0.5 never would.
	PlateauWinRate float64
	// PlateauZ is the number of standard errors of that bound. Default
	// 1.645 (a one-sided 95% bound); negative compares the point estimate
	// itself, as the rule did before it knew its noise.
	PlateauZ float64
	// MinYield stops the run after an iteration in which the share of
	// prompts that yielded a pair (Signals.Yield) is below it: the judge
	// no longer separates the policy's samples, or too many prompts
	// failed. Default 0.05.
	MinYield float64

	// Reference is a frozen judge that the training judge (Loop.Judge, or
	// Loop.SelfJudge of each iteration's policy) is compared with on
	// Probes at the start of every iteration (Signals.Drift). Both or
	// neither must be set; the Loop must judge pointwise (no Comparer).
	// Both judges should score on the same scale. A probe score that is
	// not finite, or that falls outside the range a Ranged judge states,
	// stops the run with an error wrapping ErrInvalid.
	Reference Judge
	// Probes are the fixed responses both judges score; at least 2.
	Probes []Probe
	// MinAgreement raises a drift alarm when the Spearman rank correlation
	// of the two judges' probe scores is below it. Default 0.5.
	MinAgreement float64
	// MaxJudgeDiff raises a drift alarm when the mean absolute difference
	// of the two judges' probe scores is above it. Default a fifth of the
	// training judge's score range (1 on the 0–5 scale).
	MaxJudgeDiff float64

	// MaxLengthRatio raises a length alarm when the mean length of the
	// chosen responses is more than this many times iteration 0's.
	// Default 1.5.
	MaxLengthRatio float64
	// InflationRise raises a score-inflation alarm when the training
	// judge's mean score rose by more than this from the previous
	// iteration while the held-out win rate of the policy is at most 0.5:
	// the judge grows more lenient, the policy no better. Default a
	// twentieth of the training judge's score range (0.25 on 0–5). Needs
	// Loop.Eval and a Trainer (without one, score changes between
	// iterations are only the noise of different samples).
	InflationRise float64
	// MaxSaturation raises a saturation alarm when the share of training
	// scores in the top tenth of the judge's scale is above it: the judge
	// can no longer tell good from better. Default 0.9.
	MaxSaturation float64
	// MinDistinct raises a collapse alarm when the mean distinct-2 of the
	// responses sampled for a prompt is below it. Default 0.3 (four
	// identical samples score 0.25).
	MinDistinct float64
	// MaxDuplicates raises a collapse alarm when the mean duplicate rate of
	// the responses sampled for a prompt is above it. Default 0.75.
	MaxDuplicates float64

	// MinExtraPairs raises an extra-pairs alarm when Loop.Extra ran on an
	// iteration's judged prompts and made fewer pairs than this in the
	// whole iteration (Report.ExtraPairs): a recipe's second source of
	// pairs — Meta-Rewarding's judge pairs — has dried up while the
	// selected pairs still come, which the yield check cannot see.
	// Default 1: an alarm when Extra made none.
	MinExtraPairs int
}

// Probe is a fixed response on which the training judge is compared with
// the reference judge.
type Probe struct {
	// Prompt and Response are what both judges score.
	Prompt   Prompt
	Response Response
}

// AlarmKind names the failure an Alarm warns of.
type AlarmKind string

// Alarm kinds.
const (
	// AlarmPlateau: training stopped paying (win rate or yield); it stops
	// the run.
	AlarmPlateau AlarmKind = "plateau"
	// AlarmDrift: the training judge disagrees with the reference judge.
	AlarmDrift AlarmKind = "judge-drift"
	// AlarmLength: chosen responses grow longer than at the start.
	AlarmLength AlarmKind = "length-drift"
	// AlarmInflation: the training judge's scores rise while held-out
	// quality does not.
	AlarmInflation AlarmKind = "score-inflation"
	// AlarmSaturation: most training scores sit at the top of the scale.
	AlarmSaturation AlarmKind = "saturation"
	// AlarmCollapse: the policy's samples for a prompt lost their variety.
	AlarmCollapse AlarmKind = "collapse"
	// AlarmExtraPairs: Loop.Extra ran on judged prompts and made fewer
	// pairs than MinExtraPairs (by default none) in an iteration.
	AlarmExtraPairs AlarmKind = "extra-pairs"
	// AlarmRegression: a capability suite of the held-out evaluation
	// (Evaluation.Suites) fell below its baseline by more than its
	// MaxDrop; it stops the run with Evaluation.StopOnRegression, and
	// Evaluation.KeepBest never keeps the policy that raised it.
	AlarmRegression AlarmKind = "regression"
)

// Alarm is a safeguard check that failed: which, on what figure, by how
// much, and why in words.
type Alarm struct {
	// Kind is the failure warned of.
	Kind AlarmKind `json:"kind"`
	// Signal names the figure checked: "win_rate", "yield", "spearman",
	// "mean_abs_diff", "length_ratio", "score_change", "saturation",
	// "distinct_2", "duplicates", "extra_pairs" or "suite_change" (the
	// Reason names the suite).
	Signal string `json:"signal"`
	// Iteration is the iteration whose figures (or whose opening
	// evaluation) raised the alarm.
	Iteration int `json:"iteration"`
	// Value is the figure and Threshold the limit it crossed.
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// Reason says what happened in a sentence, for logs and reports.
	Reason string `json:"reason"`
}

// String formats the alarm for logs.
func (a Alarm) String() string {
	return fmt.Sprintf("iteration %d: %s: %s", a.Iteration, a.Kind, a.Reason)
}

// Signals are an iteration's safeguard figures, computed whatever the
// thresholds.
type Signals struct {
	// Yield is the share of the iteration's prompts (Prompts, failed ones
	// included: they yielded nothing) that yielded at least one pair,
	// selected or from Loop.Extra; 0 when there was none.
	Yield float64 `json:"yield"`
	// LengthRatio is ChosenLength.Mean over iteration 0's; nil in iteration
	// 0 and when either has no pair.
	LengthRatio *float64 `json:"length_ratio,omitempty"`
	// ScoreChange is Score.Mean minus the previous iteration's; nil in
	// iteration 0.
	ScoreChange *float64 `json:"score_change,omitempty"`
	// Saturation is the share of scores in the top bin of Histogram, the
	// top tenth of the judge's scale.
	Saturation float64 `json:"saturation"`
	// Diversity summarises, per prompt, the responses the policy sampled
	// (before any Refiner).
	Diversity Diversity `json:"diversity"`
	// Drift compares the training judge with Safeguards.Reference; nil
	// without probes.
	Drift *Drift `json:"drift,omitempty"`
}

// Drift is the agreement of an iteration's training judge with the
// reference judge on the probes, each probe scored as the Loop scores a
// response (the mean of JudgeSamples calls).
type Drift struct {
	// Probes is the number of probes scored.
	Probes int `json:"probes"`
	// Correlation is Spearman's rank correlation of the two judges' scores
	// (ties take their mean rank). It is 0 when the training judge gives
	// every probe the same score while the reference does not — it ranks
	// nothing — and nil when the reference gives every probe the same
	// score.
	Correlation *float64 `json:"spearman,omitempty"`
	// MeanAbsDiff is the mean absolute difference of the two judges'
	// scores; JudgeMean and ReferenceMean are their means.
	MeanAbsDiff   float64 `json:"mean_abs_diff"`
	JudgeMean     float64 `json:"judge_mean"`
	ReferenceMean float64 `json:"reference_mean"`
}

// DefaultPlateauZ is the default of Safeguards.PlateauZ: the plateau rule
// compares the win rate minus 1.645 standard errors, a one-sided 95%
// lower bound, with PlateauWinRate.
const DefaultPlateauZ = 1.645

// Default thresholds of Safeguards; the judge-relative ones are shares of
// the training judge's score range.
const (
	defaultPlateauWinRate = 0.5
	defaultMinYield       = 0.05
	defaultMinAgreement   = 0.5
	defaultJudgeDiffShare = 0.2
	defaultMaxLengthRatio = 1.5
	defaultRiseShare      = 0.05
	defaultMaxSaturation  = 0.9
	defaultMinDistinct    = 0.3
	defaultMaxDuplicates  = 0.75
	defaultMinExtraPairs  = 1
)

// thresholds are Safeguards with defaults applied; a negative value is a
// check turned off.
type thresholds struct {
	winRate, winZ, yield, agreement, judgeDiff, lengthRatio, rise, saturation, distinct, duplicates float64

	extraPairs int
}

// check validates s as the safeguards of l.
func (s Safeguards) check(l *Loop) error {
	bad := func(field, why string) error {
		return fmt.Errorf("alignment: Loop.Safeguards.%s %s: %w", field, why, ErrInvalid)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"PlateauWinRate", s.PlateauWinRate}, {"PlateauZ", s.PlateauZ}, {"MinYield", s.MinYield}, {"MinAgreement", s.MinAgreement},
		{"MaxJudgeDiff", s.MaxJudgeDiff}, {"MaxLengthRatio", s.MaxLengthRatio}, {"InflationRise", s.InflationRise},
		{"MaxSaturation", s.MaxSaturation}, {"MinDistinct", s.MinDistinct}, {"MaxDuplicates", s.MaxDuplicates},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return bad(f.name, fmt.Sprintf("is %v, want a finite number", f.v))
		}
	}
	switch {
	case s.Reference == nil && len(s.Probes) > 0:
		return bad("Reference", fmt.Sprintf("is nil, but Probes has %d probes to compare the training judge with it on", len(s.Probes)))
	case s.Reference != nil && len(s.Probes) < 2:
		return bad("Probes", fmt.Sprintf("has %d probes; judge drift needs at least 2 to rank", len(s.Probes)))
	case s.Reference != nil && l.Comparer != nil:
		return bad("Reference", "is set, but the Loop scores with Loop.Comparer: judge drift needs a pointwise training judge")
	}
	return nil
}

// resolve applies the defaults for a training judge that scores on
// [lo, hi].
func (s Safeguards) resolve(lo, hi float64) thresholds {
	pick := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	span := hi - lo
	return thresholds{
		winRate:     pick(s.PlateauWinRate, defaultPlateauWinRate),
		winZ:        pick(s.PlateauZ, DefaultPlateauZ),
		yield:       pick(s.MinYield, defaultMinYield),
		agreement:   pick(s.MinAgreement, defaultMinAgreement),
		judgeDiff:   pick(s.MaxJudgeDiff, defaultJudgeDiffShare*span),
		lengthRatio: pick(s.MaxLengthRatio, defaultMaxLengthRatio),
		rise:        pick(s.InflationRise, defaultRiseShare*span),
		saturation:  pick(s.MaxSaturation, defaultMaxSaturation),
		distinct:    pick(s.MinDistinct, defaultMinDistinct),
		duplicates:  pick(s.MaxDuplicates, defaultMaxDuplicates),
		extraPairs:  cmp.Or(s.MinExtraPairs, defaultMinExtraPairs),
	}
}

// assess computes rep's signals from its counts and the earlier reports of
// the run, and sets its alarms. It depends on nothing else, so a resumed
// run assesses an iteration exactly as an uninterrupted one.
func (r *run) assess(rep *Report, earlier []Report) {
	s := &rep.Signals
	s.Yield, s.Saturation, s.LengthRatio, s.ScoreChange = 0, 0, nil, nil
	if rep.Prompts > 0 {
		s.Yield = float64(rep.Yielded) / float64(rep.Prompts)
	}
	if rep.Score.N > 0 && len(rep.Histogram) == HistogramBins {
		s.Saturation = float64(rep.Histogram[HistogramBins-1]) / float64(rep.Score.N)
	}
	if len(earlier) > 0 {
		first, prev := earlier[0], earlier[len(earlier)-1]
		if first.Iteration == 0 && rep.ChosenLength.N > 0 && first.ChosenLength.N > 0 && first.ChosenLength.Mean > 0 {
			s.LengthRatio = ptr(rep.ChosenLength.Mean / first.ChosenLength.Mean)
		}
		if rep.Score.N > 0 && prev.Score.N > 0 {
			s.ScoreChange = ptr(rep.Score.Mean - prev.Score.Mean)
		}
	}

	t := r.limits
	var alarms []Alarm
	raise := func(kind AlarmKind, signal string, v, limit float64, format string, args ...any) {
		alarms = append(alarms, Alarm{Kind: kind, Signal: signal, Iteration: rep.Iteration, Value: v, Threshold: limit,
			Reason: fmt.Sprintf(format, args...)})
	}
	if t.yield >= 0 && rep.Prompts > 0 && s.Yield < t.yield {
		raise(AlarmPlateau, "yield", s.Yield, t.yield, "%d of %d prompts yielded a pair (%.3g), below %.3g", rep.Yielded, rep.Prompts, s.Yield, t.yield)
	}
	if d := s.Drift; d != nil {
		if t.agreement >= 0 && d.Correlation != nil && *d.Correlation < t.agreement {
			raise(AlarmDrift, "spearman", *d.Correlation, t.agreement,
				"the training judge's ranking of %d probes agrees with the reference judge's at Spearman %.3g, below %.3g", d.Probes, *d.Correlation, t.agreement)
		}
		if t.judgeDiff >= 0 && d.MeanAbsDiff > t.judgeDiff {
			raise(AlarmDrift, "mean_abs_diff", d.MeanAbsDiff, t.judgeDiff,
				"the training judge's scores of %d probes differ from the reference judge's by %.3g on average (means %.3g and %.3g), above %.3g",
				d.Probes, d.MeanAbsDiff, d.JudgeMean, d.ReferenceMean, t.judgeDiff)
		}
	}
	if v := s.LengthRatio; v != nil && t.lengthRatio >= 0 && *v > t.lengthRatio {
		raise(AlarmLength, "length_ratio", *v, t.lengthRatio, "chosen responses are %.3g times as long as in iteration 0 (%.3g against %.3g), above %.3g",
			*v, rep.ChosenLength.Mean, earlier[0].ChosenLength.Mean, t.lengthRatio)
	}
	if v := s.ScoreChange; v != nil && r.trainer != nil && t.rise >= 0 && *v > t.rise && rep.Eval != nil && rep.Eval.WinRate != nil && *rep.Eval.WinRate <= 0.5 {
		raise(AlarmInflation, "score_change", *v, t.rise,
			"the training judge's mean score rose by %.3g (above %.3g) while the policy's held-out win rate over the previous one is %.3g",
			*v, t.rise, *rep.Eval.WinRate)
	}
	if t.saturation >= 0 && rep.Score.N > 0 && s.Saturation > t.saturation {
		raise(AlarmSaturation, "saturation", s.Saturation, t.saturation, "%.3g of the scores are in the top tenth of [%.3g, %.3g], above %.3g",
			s.Saturation, rep.ScoreLo, rep.ScoreHi, t.saturation)
	}
	if d := s.Diversity.Distinct2; t.distinct >= 0 && d.N > 0 && d.Mean < t.distinct {
		raise(AlarmCollapse, "distinct_2", d.Mean, t.distinct, "the samples of a prompt have a mean distinct-2 of %.3g over %d prompts, below %.3g",
			d.Mean, d.N, t.distinct)
	}
	if d := s.Diversity.Duplicates; t.duplicates >= 0 && d.N > 0 && d.Mean > t.duplicates {
		raise(AlarmCollapse, "duplicates", d.Mean, t.duplicates, "a mean %.3g of the samples of a prompt repeat another sample, over %d prompts, above %.3g",
			d.Mean, d.N, t.duplicates)
	}
	// Score.N > 0 says the prompts were judged: without a judge, Extra
	// makes every pair, and the yield check sees it run dry.
	if t.extraPairs >= 0 && rep.ExtraPrompts > 0 && rep.Score.N > 0 && rep.ExtraPairs < t.extraPairs {
		raise(AlarmExtraPairs, "extra_pairs", float64(rep.ExtraPairs), float64(t.extraPairs),
			"Loop.Extra ran on %d judged prompts and made %d pairs, below %d", rep.ExtraPrompts, rep.ExtraPairs, t.extraPairs)
	}
	rep.Alarms = alarms
}

// evalAlarms returns the alarms of an evaluation: a plateau when a trained
// policy has not shown that it beats the one before it. The alarm's Value
// is the win rate's lower confidence bound, the figure compared with the
// threshold.
func (r *run) evalAlarms(ev *EvalReport) []Alarm {
	t, z := r.limits.winRate, r.limits.winZ
	if r.trainer == nil || t < 0 || ev.WinRate == nil {
		return nil
	}
	low, bound := *ev.WinRate, ""
	if z > 0 && ev.WinRateSE != nil {
		low -= z * *ev.WinRateSE
		bound = fmt.Sprintf(" (standard error %.2g, lower bound %.3g at %.3g standard errors)", *ev.WinRateSE, low, z)
	}
	if low > t {
		return nil
	}
	return []Alarm{{Kind: AlarmPlateau, Signal: "win_rate", Iteration: ev.Iteration, Value: low, Threshold: t,
		Reason: fmt.Sprintf("the policy of iteration %d wins %.3g of %d held-out comparisons with the policy before it%s, at or below %.3g",
			ev.Iteration, *ev.WinRate, ev.Compared, bound, t)}}
}

// plateau returns the first alarm of alarms that stops the run — a
// plateau whose check is on, or a regression with
// Evaluation.StopOnRegression — or nil. Alarms restored from the output
// directory were raised under the thresholds of an earlier run; turning a
// check off lets the run go on.
func (r *run) plateau(alarms []Alarm) *Alarm {
	for i, a := range alarms {
		if a.Kind == AlarmPlateau && (a.Signal == "yield" && r.limits.yield >= 0 || a.Signal == "win_rate" && r.limits.winRate >= 0) {
			return &alarms[i]
		}
		if a.Kind == AlarmRegression && r.eval != nil && r.eval.StopOnRegression {
			return &alarms[i]
		}
	}
	return nil
}

// judgeDrift scores the probes with the iteration's training judge and
// compares the scores with the reference judge's, which are computed once
// per Run: the reference is frozen and its seeds do not depend on the
// iteration. It returns the retries of its calls with the drift.
func (r *run) judgeDrift(ctx context.Context, it int, judge Judge) (*Drift, int, error) {
	retries := 0
	if r.reference == nil {
		ref, n, err := r.scoreProbes(ctx, it, r.Safeguards.Reference, "reference")
		retries += n
		if err != nil {
			return nil, retries, err
		}
		r.reference = ref
	}
	got, n, err := r.scoreProbes(ctx, it, judge, "training")
	retries += n
	if err != nil {
		return nil, retries, err
	}
	d := &Drift{Probes: len(got)}
	for i, g := range got {
		d.MeanAbsDiff += math.Abs(g-r.reference[i]) / float64(len(got))
		d.JudgeMean += g / float64(len(got))
		d.ReferenceMean += r.reference[i] / float64(len(got))
	}
	if rho, ok := rank.Spearman(got, r.reference); ok {
		d.Correlation = &rho
	}
	return d, retries, nil
}

// scoreProbes returns each probe's mean score over the Loop's JudgeSamples
// calls of j, and the retries of those calls. The training judge and the
// reference get the same seeds, so that two identical judges agree exactly.
func (r *run) scoreProbes(ctx context.Context, it int, j Judge, role string) ([]float64, int, error) {
	g, err := newJudging(j, "the "+role+" judge of Loop.Safeguards")
	if err != nil {
		return nil, 0, err
	}
	probes := r.Safeguards.Probes
	raw := make([]float64, len(probes)*r.k)
	retries, err := r.callAll(ctx, it, len(raw), func(c int) string { return probes[c/r.k].Prompt.ID }, func(ctx context.Context, c int) error {
		p := probes[c/r.k]
		ctx = WithSeed(ctx, seeds.Derive(r.Seed, "probe", strconv.Itoa(c/r.k), strconv.Itoa(c%r.k)))
		jd, err := j.Judge(ctx, p.Prompt, p.Response)
		if err != nil {
			return fmt.Errorf("alignment: judge drift at iteration %d: the %s judge on probe %d (prompt %q): %w", it, role, c/r.k, p.Prompt.ID, err)
		}
		if err := g.check(jd.Score); err != nil {
			return fmt.Errorf("alignment: judge drift at iteration %d: the %s judge on probe %d (prompt %q): %w", it, role, c/r.k, p.Prompt.ID, err)
		}
		raw[c] = jd.Score
		return nil
	})
	if err != nil {
		return nil, retries, err
	}
	out := make([]float64, len(probes))
	for i := range out {
		for _, v := range raw[i*r.k : (i+1)*r.k] {
			out[i] += v / float64(r.k)
		}
	}
	return out, retries, nil
}
