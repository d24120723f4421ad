package alignment

import (
	"fmt"
	"math"
	"time"
)

// Report sums up one iteration of a Loop. It is plain data, encodable as
// JSON; a resumed run carries the counts of the part done before the
// interruption, so its reports equal those of an uninterrupted run except
// for timings.
type Report struct {
	// Iteration is the iteration reported, from 0.
	Iteration int `json:"iteration"`
	// Prompts counts the prompts handled. Each is counted in exactly one
	// of Yielded, Ties, Unjudged and Failed, so that
	// Prompts = Yielded + Ties + Unjudged + Failed.
	Prompts int `json:"prompts"`
	// Failed counts prompts that failed permanently, retried in vain (see
	// Loop.FailureBudget); Failures names them, in prompt order.
	Failed   int       `json:"failed"`
	Failures []Failure `json:"failures,omitempty"`
	// Responses counts responses sampled; Judgments counts judge or comparer
	// calls that returned a verdict.
	Responses int `json:"responses"`
	Judgments int `json:"judgments"`
	// Retries counts the transient failures that were retried, in every
	// backend call the Loop made for the iteration: sampling, refining,
	// judging and comparing, Loop.Extra's calls through Item.Call, and the
	// judge drift probes (the opening evaluation's are in Eval.Retries).
	// RetriesExhausted counts the calls of the iteration's prompts that
	// still failed transiently when their Retry.Attempts ran out; each
	// failed its prompt. The transient faults the iteration met are
	// Retries + RetriesExhausted.
	Retries          int `json:"retries"`
	RetriesExhausted int `json:"retries_exhausted"`
	// Pairs counts pairs written, and ExtraPairs those of them that came
	// from Loop.Extra; ExtraPrompts counts the prompts on which Extra ran
	// and returned pairs or none. Yielded counts prompts that yielded at
	// least one pair, selected or extra; Ties counts the judged prompts
	// that yielded none (their responses all scored the same, or the
	// selector declined, and Extra made no pair); Unjudged counts the
	// prompts that yielded none and whose responses went unjudged (a Loop
	// without a judge, whose pairs all come from Extra, when Extra made
	// none for the prompt).
	Pairs        int `json:"pairs"`
	ExtraPairs   int `json:"extra_pairs,omitempty"`
	ExtraPrompts int `json:"extra_prompts,omitempty"`
	Yielded      int `json:"yielded"`
	Ties         int `json:"ties"`
	Unjudged     int `json:"unjudged"`
	// Score summarises the aggregate score of every judged response, and
	// Histogram counts them in HistogramBins equal bins over
	// [ScoreLo, ScoreHi]; scores outside the range count in the edge bins.
	Score     Summary `json:"score"`
	ScoreLo   float64 `json:"score_lo"`
	ScoreHi   float64 `json:"score_hi"`
	Histogram []int   `json:"histogram"`
	// Length summarises the length (Response.Length) of every judged
	// response; ChosenLength and RejectedLength those of the pairs written.
	Length         Summary `json:"length"`
	ChosenLength   Summary `json:"chosen_length"`
	RejectedLength Summary `json:"rejected_length"`
	// Elapsed is the iteration's wall time, each part counted once: its
	// opening evaluation and drift probes, its prompts, reading its pairs
	// back from Loop.Dir, and training; Sampling,
	// Refining and Judging are the summed durations of those calls across
	// goroutines (busy time, not wall time); Training is the wall time of the
	// Trainer.
	Elapsed  time.Duration `json:"elapsed_ns"`
	Sampling time.Duration `json:"sampling_ns"`
	Refining time.Duration `json:"refining_ns"`
	Judging  time.Duration `json:"judging_ns"`
	Training time.Duration `json:"training_ns"`
	// Resumed is true when part of the iteration was done by an earlier,
	// interrupted run.
	Resumed bool `json:"resumed,omitempty"`
	// Eval is the held-out evaluation of the policy this iteration used,
	// made before its prompts; nil without Loop.Eval.
	Eval *EvalReport `json:"eval,omitempty"`
	// Signals holds the iteration's safeguard figures, and Alarms the
	// safeguard checks they failed (see Safeguards); the alarms of the
	// opening evaluation are in Eval.Alarms.
	Signals Signals `json:"signals"`
	Alarms  []Alarm `json:"alarms,omitempty"`
}

// HistogramBins is the number of bins of Report.Histogram.
const HistogramBins = 10

// Failure names a prompt that failed permanently and why.
type Failure struct {
	PromptID string `json:"prompt_id"`
	Err      string `json:"error"`
}

// Summary holds running statistics of a sample: count, mean, extremes and
// the sum of squared deviations from the mean (Welford's algorithm), which
// keeps it exact to merge and cheap to update.
//
// Every field stays finite for any finite values, so that a Summary always
// encodes as JSON: once a value reaches 2^480 in magnitude, where squared
// deviations could overflow, SSD is kept scaled down by 4^Exp (Exp grows
// with the largest magnitude seen); Exp is 0, and SSD the plain sum,
// otherwise.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	SSD  float64 `json:"ssd"`
	Exp  int     `json:"exp,omitempty"`
}

// summaryExp is the binary exponent of the largest magnitude a Summary
// squares unscaled: (2^481)² times any realistic count is far below the
// float64 limit of 2^1024.
const summaryExp = 480

// Add records x, which must be finite.
func (s *Summary) Add(x float64) {
	s.N++
	if s.N == 1 {
		s.Min, s.Max = x, x
	} else {
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	// Work in units of 2^Exp, which power-of-two scaling keeps exact.
	if _, e := math.Frexp(x); e-s.Exp > summaryExp {
		exp := e - summaryExp
		s.SSD = math.Ldexp(s.SSD, 2*(s.Exp-exp))
		s.Exp = exp
	}
	xs, mean := math.Ldexp(x, -s.Exp), math.Ldexp(s.Mean, -s.Exp)
	d := xs - mean
	mean += d / float64(s.N)
	s.SSD += d * (xs - mean)
	s.Mean = math.Ldexp(mean, s.Exp)
}

// Stdev returns the sample standard deviation, or 0 below two values. It
// is +Inf only when the values spread beyond the float64 range (a sample
// holding both ±1.7e308).
func (s Summary) Stdev() float64 {
	if s.N < 2 {
		return 0
	}
	return math.Ldexp(math.Sqrt(s.SSD/float64(s.N-1)), s.Exp)
}

// String formats the summary for logs.
func (s Summary) String() string {
	if s.N == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d mean=%.3g sd=%.3g min=%.3g max=%.3g", s.N, s.Mean, s.Stdev(), s.Min, s.Max)
}

// addScore records one aggregate score in Score and Histogram.
func (r *Report) addScore(x float64) {
	r.Score.Add(x)
	if len(r.Histogram) != HistogramBins {
		r.Histogram = make([]int, HistogramBins)
	}
	r.Histogram[scoreBin(x, r.ScoreLo, r.ScoreHi)]++
}

// scoreBin returns the histogram bin of score x on the scale [lo, hi];
// scores outside the scale fall in the edge bins.
func scoreBin(x, lo, hi float64) int {
	w := hi - lo
	if !(w > 0) {
		return 0
	}
	// Clamp before converting: a float beyond the int range converts to an
	// undefined value.
	f := math.Floor((x - lo) / w * HistogramBins)
	if !(f > 0) {
		return 0
	}
	return int(min(f, HistogramBins-1))
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds. An iteration emits IterationStarted, then, with Loop.Eval,
// EvaluationStarted and EvaluationDone (and AlarmRaised for the
// evaluation's alarms), then ItemDone, ItemFailed and CallRetried as its
// prompts are handled, AlarmRaised for the iteration's alarms,
// TrainingStarted and TrainingDone, and IterationDone. After the last
// iteration come the final policy's EvaluationStarted and EvaluationDone,
// and RunStopped last when a safeguard ended the run early.
const (
	// IterationStarted opens an iteration; Total is set when known.
	IterationStarted EventKind = iota
	// ItemDone reports a prompt handled; Done, Failed and Total are the
	// iteration's progress so far.
	ItemDone
	// ItemFailed reports a prompt that failed permanently, with Err. A
	// failed prompt is retried once at the end of its iteration (and when
	// a run resumes the iteration): it then sends ItemDone if it succeeds,
	// and nothing more if it fails again.
	ItemFailed
	// CallRetried reports a transient failure about to be retried, with Err.
	CallRetried
	// TrainingStarted and TrainingDone bracket the Trainer's call.
	TrainingStarted
	TrainingDone
	// IterationDone closes an iteration, with its Report.
	IterationDone
	// EvaluationStarted opens a held-out evaluation; Total is the number
	// of held-out prompts.
	EvaluationStarted
	// EvaluationDone reports a held-out evaluation, with Eval; it is also
	// sent for an evaluation restored from the output directory, which
	// has no EvaluationStarted.
	EvaluationDone
	// AlarmRaised reports a failed safeguard check, with Alarm.
	AlarmRaised
	// RunStopped reports that a safeguard ended the run before its last
	// iteration, with the Alarm that did (Result.Stopped).
	RunStopped
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case IterationStarted:
		return "iteration-started"
	case ItemDone:
		return "item-done"
	case ItemFailed:
		return "item-failed"
	case CallRetried:
		return "call-retried"
	case TrainingStarted:
		return "training-started"
	case TrainingDone:
		return "training-done"
	case IterationDone:
		return "iteration-done"
	case EvaluationStarted:
		return "evaluation-started"
	case EvaluationDone:
		return "evaluation-done"
	case AlarmRaised:
		return "alarm-raised"
	case RunStopped:
		return "run-stopped"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what a Loop tells its Observer.
type Event struct {
	// Kind says what happened; Iteration is when, from 0.
	Kind      EventKind
	Iteration int
	// PromptID names the prompt of item and call events.
	PromptID string
	// Done, Failed and Total give the iteration's progress; Total is 0 when
	// the prompt source does not know its size.
	Done, Failed, Total int
	// Err is the failure of ItemFailed and CallRetried events.
	Err error
	// Report is set on IterationDone.
	Report *Report
	// Eval is set on EvaluationDone.
	Eval *EvalReport
	// Alarm is set on AlarmRaised and RunStopped.
	Alarm *Alarm
}

// Observer receives a Loop's events, for progress display and logging.
// The Loop calls Observe from one goroutine at a time, synchronously: a slow
// observer slows the run. The Event and what it points to must not be
// changed, nor kept beyond the call unless copied.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
