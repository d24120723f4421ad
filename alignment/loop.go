package alignment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/internal/typednil"
)

// Loop runs iterations of synthetic preference generation and training:
// prompts → sample N responses → refine (optional) → judge each response k
// times and aggregate → select a pair → sink → train → next policy.
//
// Parts are wired by the caller; Run refuses, with an error wrapping
// ErrInvalid that names the field, a part that is a nil pointer, map or
// func inside a non-nil interface. The zero value of every other field
// means the default its doc gives. A Loop must not be changed while Run is
// running; it may be run again afterwards.
type Loop struct {
	// Policy writes the responses of the first iteration. Required.
	Policy Policy
	// Prompts yields each iteration's prompts. Required. An iteration with
	// no prompts stops the run with an error wrapping ErrInvalid.
	Prompts PromptSource
	// Judge scores each response (pointwise). One of Judge, SelfJudge and
	// Comparer is required, unless Extra makes the pairs: then responses
	// may go unjudged (scores 0, no judgments) and the Selector is not
	// asked, as in SL-CAI, where a revision is preferred to its original.
	// A Judge that is Ranged must score inside its range: a score outside
	// it fails the prompt with an error wrapping ErrInvalid.
	Judge Judge
	// SelfJudge, if set, makes the judge of each iteration from that
	// iteration's policy, as Self-Rewarding does; it takes precedence over
	// Judge. It is called once at the start of every iteration, from the
	// goroutine that called Run, and, with Dir, once more on Policy before
	// the first, to record the judge's fingerprint. An error, or a nil Judge (a nil pointer
	// inside the interface included), stops the run at once with an error
	// wrapping ErrInvalid that names the iteration. A judge it makes that
	// is Ranged is held to its range as Judge is.
	SelfJudge func(Policy) (Judge, error)
	// Comparer, if set, replaces pointwise judging: every two responses to a
	// prompt are compared, and a response's score is its mean probability
	// of beating the others, in [0, 1].
	Comparer Comparer
	// Refiner, if set, rewrites each sampled response before judging.
	Refiner Refiner
	// Selector picks each prompt's pair; default MaxMin.
	Selector Selector
	// Extra, if set, is called for every prompt whose responses were judged,
	// with the prompt's Item and its scored responses, and returns further
	// pairs to write after the selected one: Meta-Rewarding's
	// judge-training pairs, or SL-CAI's revision-over-original pairs. The
	// backend calls it makes go through Item.Call. It may be called from
	// many goroutines at once and must not modify rs; an error fails the
	// prompt. When Extra runs on judged prompts and makes no pair in a
	// whole iteration, the iteration raises an AlarmExtraPairs (see
	// Safeguards.MinExtraPairs).
	Extra func(ctx context.Context, x *Item, rs []Scored) ([]Pair, error)
	// ExtraIterations is the number of iterations, from the first, in
	// which Extra is called; 0 means every iteration. Meta-Rewarding stops
	// its judge pairs this way once the judge's gains fade.
	ExtraIterations int
	// Trainer, if set, turns each iteration's pairs into the next policy.
	// Lacking it, every iteration uses Policy. A Trainer that is also a
	// GroupTrainer (GRPO, RLOO: dpo.GroupTrainer) gets every judged
	// prompt's scored responses instead of the pairs. With a Comparer, the
	// selected pairs carry its probability as a soft label (Pair.Prob).
	Trainer Trainer
	// Sink receives the pairs, in prompt order, as they are made. Optional.
	Sink PreferenceSink
	// Observer receives progress events. Optional.
	Observer Observer

	// Iterations is the number of iterations; default 1.
	Iterations int
	// Samples is N, the responses drawn per prompt; default 4, at least 2
	// unless Extra makes the pairs (SL-CAI revises a single sample).
	Samples int
	// JudgeSamples is k, the judge calls per response whose scores are
	// averaged; default 1.
	JudgeSamples int
	// Sampling holds the sampling options; the Loop sets N and Seed.
	Sampling SampleOptions
	// Concurrency bounds the backend calls in flight (policy, refiner, judge
	// and comparer calls together); default 8. Calls waiting for a slot
	// are served sampling calls first, as each opens its prompt's other
	// calls, then the calls of the earliest prompt.
	Concurrency int
	// Seed is the run's seed. The randomness of each prompt derives from
	// (Seed, iteration, prompt ID) alone, so a run's pairs do not depend on
	// Concurrency or scheduling.
	Seed uint64
	// FailureBudget is the share of an iteration's prompts allowed to fail
	// permanently before the run stops with ErrBudget; default 0.1. A
	// negative value allows no failure. A prompt that fails permanently
	// (a transient failure that outlasts Retry included) is tried once
	// more at the end of its iteration, after the other prompts, and
	// again at the end of it when a run resumes the iteration (the
	// failures of the interrupted run count against the budget only once
	// retried); only the failures that remain count in Report.Failed.
	FailureBudget float64
	// Retry says how transient failures are retried.
	Retry Retry
	// Dir, if set, is the run's output directory: pairs go to
	// Dir/pairs.jsonl, progress to Dir/progress.jsonl and trained policies to
	// Dir/policy-<iteration>/ (through the Trainer, which must then be a
	// Checkpointer); with a GroupTrainer, the scored groups go to
	// Dir/groups.jsonl (see ReadGroups), and each iteration trains on the
	// pairs or groups read back from the directory. A run started on a
	// directory that holds an interrupted run with the same parts resumes
	// it, and one that holds a finished run reads its reports back
	// (Result.Restored); raising Iterations continues a finished run. The directory is refused, with
	// ErrNotResumable naming what differs, when a part's fingerprint
	// (see Fingerprinter) is not the one recorded there, when Iterations
	// is below the iterations it holds, and when pairs.jsonl or
	// groups.jsonl was changed after the run wrote it.
	Dir string
	// Source labels the pairs (Pair.Source); default "loop".
	Source string

	// Eval, if set, evaluates the policy on held-out prompts with a frozen
	// judge at the start of every iteration (Report.Eval) and after the
	// last (Result.Final).
	Eval *Evaluation
	// Safeguards holds the thresholds of the checks for plateau, judge
	// drift, reward hacking and collapse; the zero value means the
	// defaults its fields give.
	Safeguards Safeguards
}

// Result is what a run leaves: one Report per iteration, in order, and the
// policy it ended with.
type Result struct {
	// Reports holds one Report per finished iteration, in order.
	Reports []Report
	// Policy is the policy the run ended with: the last trained one, or
	// Loop.Policy without a Trainer; with Evaluation.KeepBest, the policy
	// of Best.
	Policy Policy
	// Final is the held-out evaluation of the run's last policy (Policy,
	// unless Evaluation.KeepBest kept an earlier one); nil without
	// Loop.Eval or when the run failed. Its Iteration is len(Reports).
	// Running a finished output directory again returns the same Final.
	Final *EvalReport
	// Best is, with Evaluation.KeepBest, the evaluation of the policy the
	// run kept (one of the Reports' Eval, or Final); nil otherwise or when
	// the run failed.
	Best *EvalReport
	// Restored is the number of Reports, from the first, that were read
	// back from Loop.Dir: iterations an earlier run of the directory
	// finished. Restored == len(Reports) says this run had no iteration
	// left to do (its Final may still be new, if the earlier run stopped
	// before evaluating the final policy). Restored reports keep the
	// earlier run's timings.
	Restored int
	// Stopped is the plateau alarm (or, with
	// Evaluation.StopOnRegression, the regression alarm) that ended the
	// run before its last iteration, or nil. A planned stop is not a failure: Run returns a
	// nil error with it, and running the directory again stops at the
	// same point (unless the check that raised the alarm is now off, in
	// which case the run goes on).
	Stopped *Alarm
}

// Run runs the Loop's iterations. It returns when all are done, when a
// plateau alarm stops the run (Result.Stopped), when ctx is done, or when
// the failure budget is spent; in every case the pairs of the prompts
// finished so far are flushed to the sinks first, and Result holds the
// reports of the finished iterations. A Loop with Dir set can be run again
// to continue where it stopped.
func (l *Loop) Run(ctx context.Context) (Result, error) {
	r, err := l.newRun()
	if err != nil {
		return Result{}, err
	}
	defer r.slots.start(r, r.concurrency)()
	res := Result{Policy: l.Policy}
	st, err := openState(ctx, r)
	if err != nil {
		return res, err
	}
	defer st.close()
	defer r.removeKept()
	res.Reports, res.Restored = st.reports, len(st.reports)
	for _, rep := range res.Reports {
		if err := r.keep(ctx, rep.Eval, nil, false, st); err != nil {
			return res, err
		}
	}
	if st.policyDir != "" {
		res.Policy, err = r.trainer.(Checkpointer).LoadCheckpoint(ctx, st.policyDir)
		if err != nil {
			return res, fmt.Errorf("alignment: loading the policy of %s: %w", st.policyDir, err)
		}
	}
	for it := st.iteration; it < r.iterations; it++ {
		if n := len(res.Reports); n > 0 {
			if a := r.plateau(res.Reports[n-1].Alarms); a != nil {
				res.Stopped = a
				break
			}
		}
		start := time.Now()
		rs, next := st.resumePoint(it, r.lo, r.hi)
		total := 0
		if s, ok := r.Prompts.(Sized); ok {
			total = s.Len(it)
		}
		r.emit(Event{Kind: IterationStarted, Iteration: it, Done: rs.Prompts - rs.Failed, Failed: rs.Failed, Total: total})
		judge, err := r.judgeOf(it, res.Policy)
		if err != nil {
			return res, err
		}
		if err := r.open(ctx, it, res.Policy, judge.j, st, &rs.Report, lastEval(res.Reports)); err != nil {
			return res, err
		}
		if err := r.keep(ctx, rs.Eval, res.Policy, true, st); err != nil {
			return res, err
		}
		if rs.Eval != nil {
			if a := r.plateau(rs.Eval.Alarms); a != nil {
				res.Final, res.Stopped = rs.Eval, a
				break
			}
		}
		rep, data, err := r.generate(ctx, it, res.Policy, judge, st, rs, next, total, start)
		if err != nil {
			return res, err
		}
		r.assess(&rep, res.Reports)
		for i := range rep.Alarms {
			r.emit(Event{Kind: AlarmRaised, Iteration: it, Alarm: &rep.Alarms[i]})
		}
		if r.trainer != nil {
			if res.Policy, err = r.train(ctx, it, res.Policy, data, st, &rep); err != nil {
				return res, err
			}
		}
		if err := st.iterationDone(&rep); err != nil {
			return res, err
		}
		r.emit(Event{Kind: IterationDone, Iteration: it, Done: rep.Prompts - rep.Failed, Failed: rep.Failed, Report: &rep})
		res.Reports = append(res.Reports, rep)
	}
	if r.eval != nil && res.Final == nil {
		if res.Final, err = r.finalEval(ctx, len(res.Reports), res.Policy, st, lastEval(res.Reports)); err != nil {
			return res, err
		}
	}
	if err := r.keepBest(ctx, &res, st); err != nil {
		return res, err
	}
	if res.Stopped != nil {
		r.emit(Event{Kind: RunStopped, Iteration: len(res.Reports), Alarm: res.Stopped})
	}
	return res, nil
}

// open makes the measures that precede an iteration's prompts — the
// held-out evaluation of its policy and the drift of its judge — unless a
// resumed run restored them, and records them in the output directory.
func (r *run) open(ctx context.Context, it int, pol Policy, judge Judge, st *state, rep *Report, prev *EvalReport) error {
	fresh := false
	if r.eval != nil && rep.Eval == nil {
		ev, err := r.evaluate(ctx, it, pol, prev)
		if err != nil {
			return err
		}
		rep.Eval, fresh = ev, true
	}
	if r.Safeguards.Reference != nil && rep.Signals.Drift == nil {
		d, retries, err := r.judgeDrift(ctx, it, judge)
		rep.Retries += retries
		if err != nil {
			return err
		}
		rep.Signals.Drift, fresh = d, true
	}
	if fresh {
		if err := st.opening(it, rep.Eval, rep.Signals.Drift); err != nil {
			return err
		}
	}
	r.evaluated(rep.Eval)
	return nil
}

// finalEval evaluates the policy a run ended with, or restores the
// evaluation a previous run of the directory made of it.
func (r *run) finalEval(ctx context.Context, it int, pol Policy, st *state, prev *EvalReport) (*EvalReport, error) {
	ev := st.finalEval(it)
	if ev == nil {
		var err error
		if ev, err = r.evaluate(ctx, it, pol, prev); err != nil {
			return nil, err
		}
		if err := st.opening(it, ev, nil); err != nil {
			return nil, err
		}
	}
	r.evaluated(ev)
	return ev, nil
}

// evaluated reports an evaluation and its alarms to the Observer.
func (r *run) evaluated(ev *EvalReport) {
	if ev == nil {
		return
	}
	r.emit(Event{Kind: EvaluationDone, Iteration: ev.Iteration, Total: ev.Prompts, Eval: ev})
	for i := range ev.Alarms {
		r.emit(Event{Kind: AlarmRaised, Iteration: ev.Iteration, Alarm: &ev.Alarms[i]})
	}
}

// lastEval returns the evaluation of the last finished iteration, the one
// the next evaluation's win rate is measured against.
func lastEval(reports []Report) *EvalReport {
	if n := len(reports); n > 0 {
		return reports[n-1].Eval
	}
	return nil
}

// judging is an iteration's pointwise judge and the score range it is
// held to, when it states one.
type judging struct {
	j      Judge // nil when a Comparer judges, or nothing does
	lo, hi float64
	ranged bool
}

// newJudging reads j's range, when it is Ranged, and checks it; what
// names j in errors.
func newJudging(j Judge, what string) (judging, error) {
	out := judging{j: j}
	if rg, ok := j.(Ranged); ok {
		lo, hi := rg.ScoreRange()
		if !(lo <= hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return judging{}, fmt.Errorf("alignment: %s (%T) states the score range [%v, %v], want finite bounds, the first at most the second: %w", what, j, lo, hi, ErrInvalid)
		}
		out.lo, out.hi, out.ranged = lo, hi, true
	}
	return out, nil
}

// check returns an error wrapping ErrInvalid when score is not a finite
// number or falls outside the judge's stated range.
func (g judging) check(score float64) error {
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("judge %T returned score %v: %w", g.j, score, ErrInvalid)
	}
	if g.ranged && !(score >= g.lo && score <= g.hi) {
		return fmt.Errorf("judge %T returned score %v, outside the range [%v, %v] it states: %w", g.j, score, g.lo, g.hi, ErrInvalid)
	}
	return nil
}

// judgeOf returns the judge of iteration it, whose policy is pol: the one
// SelfJudge builds, or Loop.Judge.
func (r *run) judgeOf(it int, pol Policy) (judging, error) {
	if r.SelfJudge == nil {
		return r.judge, nil
	}
	j, err := r.SelfJudge(pol)
	switch {
	case err != nil:
		if !errors.Is(err, ErrInvalid) {
			err = fmt.Errorf("%w: %w", err, ErrInvalid)
		}
		return judging{}, fmt.Errorf("alignment: Loop.SelfJudge failed for iteration %d: %w", it, err)
	case j == nil:
		return judging{}, fmt.Errorf("alignment: Loop.SelfJudge returned a nil Judge for iteration %d: %w", it, ErrInvalid)
	case typednil.Is(j):
		return judging{}, fmt.Errorf("alignment: Loop.SelfJudge returned a nil %T as the Judge of iteration %d: %w", j, it, ErrInvalid)
	}
	return newJudging(j, fmt.Sprintf("the judge Loop.SelfJudge made for iteration %d", it))
}

// run is one Run's configuration with defaults applied.
type run struct {
	*Loop
	iterations, samples, k, concurrency int
	selector                            Selector
	trainer                             Trainer
	retry                               Retry
	source                              string
	judge                               judging // Loop.Judge's, when there is no SelfJudge
	groups                              bool    // the Trainer is a GroupTrainer: keep each prompt's scored responses
	lo, hi                              float64
	slots                               *slots
	observe                             sync.Mutex
	eval                                *evalRun
	limits                              thresholds
	reference                           []float64 // the reference judge's probe scores, once computed
	kept                                keeper    // the best policy so far, with Evaluation.KeepBest
}

func (l *Loop) newRun() (*run, error) {
	bad := func(field, why string) error {
		return fmt.Errorf("alignment: Loop.%s %s: %w", field, why, ErrInvalid)
	}
	switch {
	case l.Policy == nil:
		return nil, bad("Policy", "is nil")
	case l.Prompts == nil:
		return nil, bad("Prompts", "is nil")
	case l.Judge == nil && l.SelfJudge == nil && l.Comparer == nil && l.Extra == nil:
		return nil, bad("Judge", "is nil and so are SelfJudge, Comparer and Extra")
	case l.Iterations < 0 || l.Samples < 0 || l.JudgeSamples < 0 || l.Concurrency < 0:
		return nil, bad("Iterations, Samples, JudgeSamples and Concurrency", "must not be negative")
	case l.Samples == 1 && l.Extra == nil:
		return nil, bad("Samples", "is 1: a pair needs at least 2 responses, unless Extra makes the pairs")
	case math.IsNaN(l.FailureBudget) || l.FailureBudget > 1:
		return nil, bad("FailureBudget", fmt.Sprintf("is %v, want a share at most 1", l.FailureBudget))
	case l.ExtraIterations < 0:
		return nil, bad("ExtraIterations", fmt.Sprintf("is %d, want 0 (every iteration) or more", l.ExtraIterations))
	}
	// A nil pointer, map or func inside a non-nil interface passes every
	// nil check above and panics at its first call, deep inside a run.
	type part struct {
		name string
		v    any
	}
	parts := []part{
		{"Policy", l.Policy}, {"Prompts", l.Prompts}, {"Judge", l.Judge}, {"Comparer", l.Comparer},
		{"Refiner", l.Refiner}, {"Selector", l.Selector}, {"Trainer", l.Trainer}, {"Sink", l.Sink},
		{"Observer", l.Observer}, {"Safeguards.Reference", l.Safeguards.Reference},
	}
	if l.Eval != nil {
		parts = append(parts, part{"Eval.Judge", l.Eval.Judge}, part{"Eval.Comparer", l.Eval.Comparer})
	}
	for _, f := range parts {
		if typednil.Is(f.v) {
			return nil, bad(f.name, fmt.Sprintf("is a nil %T inside a non-nil interface", f.v))
		}
	}
	r := &run{Loop: l, iterations: 1, samples: 4, k: 1, concurrency: 8,
		selector: l.Selector, trainer: l.Trainer, retry: l.Retry.withDefaults(), source: l.Source, lo: 0, hi: 5}
	if l.Iterations > 0 {
		r.iterations = l.Iterations
	}
	if l.Samples > 0 {
		r.samples = l.Samples
	}
	if l.JudgeSamples > 0 {
		r.k = l.JudgeSamples
	}
	if l.Concurrency > 0 {
		r.concurrency = l.Concurrency
	}
	if r.selector == nil {
		r.selector = MaxMin{}
	}
	if r.source == "" {
		r.source = "loop"
	}
	if l.Judge != nil && l.SelfJudge == nil {
		var err error
		if r.judge, err = newJudging(l.Judge, "Loop.Judge"); err != nil {
			return nil, err
		}
	}
	if l.Comparer != nil {
		r.lo, r.hi = 0, 1
	} else if r.judge.ranged {
		r.lo, r.hi = r.judge.lo, r.judge.hi
	}
	_, r.groups = r.trainer.(GroupTrainer)
	if l.Dir != "" && r.trainer != nil {
		if _, ok := r.trainer.(Checkpointer); !ok {
			return nil, bad("Trainer", "is not a Checkpointer, which a run with Dir needs to save each iteration's policy")
		}
	}
	if l.Eval != nil {
		var err error
		if r.eval, err = newEvalRun(l); err != nil {
			return nil, err
		}
	}
	if err := l.Safeguards.check(l); err != nil {
		return nil, err
	}
	r.limits = l.Safeguards.resolve(r.lo, r.hi)
	r.slots = newSlots()
	return r, nil
}

func (r *run) emit(e Event) {
	if r.Observer == nil {
		return
	}
	r.observe.Lock()
	defer r.observe.Unlock()
	r.Observer.Observe(e)
}

// item is the outcome of one prompt. Its counts are int32 to keep it in
// the 208-byte size class: one is allocated per prompt.
type item struct {
	index     int
	prompt    Prompt
	pairs     []Pair // the selected pair first, when there is one, then Extra's
	scores    []float64
	lengths   []int
	sampling  time.Duration
	refining  time.Duration
	judging   time.Duration
	diversity divFigures
	err       error
	iteration int32
	responses int32
	judgments int32
	retries   int32
	exhausted int32 // calls that failed transiently on their last attempt
	selected  bool
	judged    bool     // false when the Loop has no judge: Extra makes the pairs
	group     []Scored // the scored responses, for a GroupTrainer
	extra     bool     // Loop.Extra ran and returned
}

// generate runs the data part of iteration it: every prompt from next on
// (where an interrupted run stopped), with pairs written in prompt order.
// It returns the report and, when there is a Trainer, the iteration's
// pairs.
//
// Prompts that failed permanently are tried once more, in a retry pass
// after the iteration's other prompts, their pairs written after those of
// the others (in prompt order among themselves); a prompt that fails
// again stays failed. A run resuming an interrupted iteration retries the
// failures recorded before the interruption in that pass too, as they
// were not answered; until then they do not count against the failure
// budget, so that a run stopped by an outage can go on once the backend
// is back. Once an iteration's prompts are all handled, its failures are
// final.
func (r *run) generate(ctx context.Context, it int, pol Policy, judge judging, st *state, rep resumed, next, total int, start time.Time) (Report, trainData, error) {
	if rep.Generated {
		rep.Elapsed += time.Since(start)
		return r.finishGenerated(ctx, it, st, rep.Report)
	}
	w := writer{r: r, st: st, it: it, rep: &rep.Report, total: total, next: next, lastID: rep.lastID,
		carried: len(rep.Failures), failed: map[string]Prompt{}}
	w.collect = r.trainer != nil && r.Dir == ""
	// The prompts of the failures carried over, found among those skipped.
	carried, found := map[string]bool{}, map[string]Prompt{}
	for _, f := range rep.Failures {
		carried[f.PromptID] = true
	}
	stop := r.pass(ctx, &w, pol, judge, next, func(ctx context.Context, send func(Prompt) bool) error {
		i := -1
		for p, err := range r.Prompts.Prompts(ctx, it) {
			i++
			if err != nil {
				return fmt.Errorf("alignment: reading prompt %d of iteration %d: %w", i, it, err)
			}
			if i < next {
				if i == next-1 && p.ID != rep.lastID {
					return fmt.Errorf("alignment: prompt %d of iteration %d is %q, but the interrupted run in %s had %q there (did the prompts change?): %w", i, it, p.ID, r.Dir, rep.lastID, ErrNotResumable)
				}
				if carried[p.ID] {
					found[p.ID] = p
				}
				continue
			}
			if !send(p) {
				return nil
			}
		}
		return nil
	})
	maps.Copy(w.failed, found) // the producer is done: pass waited for it
	if stop == nil && len(rep.Failures) > 0 {
		stop = w.retry(ctx, pol, judge)
	}
	if stop == nil {
		// Every failure left counts now, the carried ones included.
		w.carried = 0
		n := max(total, 0)
		if n == 0 {
			n = rep.Prompts
		}
		stop = w.checkBudget(n)
	}
	if stop == nil && rep.Prompts == 0 {
		// Nothing to learn from is a wiring mistake (an empty file, a
		// generator that gave up), not a run that found nothing to improve.
		stop = fmt.Errorf("alignment: iteration %d has no prompts: Loop.Prompts (%T) yielded none: %w", it, r.Prompts, ErrInvalid)
	}
	// Whatever happened, what was finished is made durable before returning.
	if err := w.checkpoint(context.WithoutCancel(ctx), stop == nil); err != nil && stop == nil {
		stop = err
	}
	rep.Elapsed += time.Since(start)
	if stop != nil {
		return rep.Report, trainData{}, stop
	}
	if r.trainer != nil && r.Dir != "" {
		return r.finishGenerated(ctx, it, st, rep.Report)
	}
	return rep.Report, trainData{w.pairs, w.groups}, nil
}

// retry runs the retry pass over the iteration's failures, in the order
// of Report.Failures (prompt order), handling them as w's retries.
func (w *writer) retry(ctx context.Context, pol Policy, judge judging) error {
	r, it := w.r, w.it
	prompts := make([]Prompt, len(w.rep.Failures))
	for i, f := range w.rep.Failures {
		p, ok := w.failed[f.PromptID]
		if !ok {
			return fmt.Errorf("alignment: prompt %q of iteration %d failed before the interruption, but the prompt source no longer yields it before prompt %d, to retry it: %w", f.PromptID, it, w.next, ErrNotResumable)
		}
		prompts[i] = p
	}
	w.retrying, w.retried = true, 0
	defer func() { w.retrying = false }()
	return r.pass(ctx, w, pol, judge, 0, func(ctx context.Context, send func(Prompt) bool) error {
		for _, p := range prompts {
			if !send(p) {
				return nil
			}
		}
		return nil
	})
}

// pass runs prompts through process with up to four times the call
// limit in flight, and hands the results to w in the order feed sends
// them, their indices counted from first. The window is that wide so that
// one prompt whose calls are slow holds up neither the slots nor the
// prompts after it: with twice the limit, long-tailed latencies filled
// the window behind such a prompt and left slots idle (BenchmarkLoopLatency,
// log-normal at 64 in flight). feed sends the prompts in order and stops
// when send returns false (the pass is stopping); its error stops the
// pass. pass returns the reason the pass stopped early, or nil.
func (r *run) pass(ctx context.Context, w *writer, pol Policy, judge judging, first int, feed func(ctx context.Context, send func(Prompt) bool) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	window := make(chan struct{}, 4*r.concurrency+16)
	results := make(chan item, cap(window))
	var produceErr error
	go func() {
		defer close(results)
		// The prompts go to as many goroutines as the calls can keep busy,
		// started as the first prompts need them and kept to the end of
		// the pass: a goroutine per prompt would grow a new stack for each.
		type job struct {
			index int
			p     Prompt
		}
		jobs := make(chan job)
		var workers sync.WaitGroup
		defer workers.Wait()
		defer close(jobs)
		started, index := 0, first
		err := feed(ctx, func(p Prompt) bool {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			j := job{index, p}
			index++
			select {
			case jobs <- j: // an idle goroutine takes it
			default:
				if started == 4*r.concurrency {
					jobs <- j
					break
				}
				started++
				workers.Go(func() {
					for ok := true; ok; j, ok = <-jobs {
						results <- r.process(ctx, w.it, j.index, j.p, pol, judge)
					}
				})
			}
			return true
		})
		if err != nil {
			produceErr = err
			cancel(err)
		}
	}()

	pending, seq := map[int]item{}, first
	var stop error
	for res := range results {
		if stop != nil {
			continue
		}
		pending[res.index] = res
		for {
			res, ok := pending[seq]
			if !ok {
				break
			}
			delete(pending, seq)
			seq++
			if stop = w.handle(ctx, res); stop != nil {
				cancel(stop)
				break
			}
			<-window
		}
	}
	if stop == nil {
		stop = produceErr
	}
	if stop == nil && ctx.Err() != nil {
		stop = context.Cause(ctx)
	}
	return stop
}

// finishGenerated reads back an iteration's pairs (or, for a GroupTrainer,
// its groups) from the output directory for training, adding the time it
// takes to rep.Elapsed. A run with Dir always trains on what it wrote, so
// a resumed run trains on exactly the pairs or groups an uninterrupted
// one would.
func (r *run) finishGenerated(ctx context.Context, it int, st *state, rep Report) (Report, trainData, error) {
	if r.trainer == nil {
		return rep, trainData{}, nil
	}
	t0 := time.Now()
	var data trainData
	var err error
	if r.groups {
		data.groups, err = st.readGroups(ctx, it)
	} else {
		data.pairs, err = st.readPairs(ctx, it)
	}
	rep.Elapsed += time.Since(t0)
	return rep, data, err
}

// trainData is what an iteration gives its Trainer: its pairs, and for a
// GroupTrainer the scored responses of each judged prompt, in prompt
// order.
type trainData struct {
	pairs  []Pair
	groups []Group
}

// train calls the Trainer and, with Dir, saves the new policy.
func (r *run) train(ctx context.Context, it int, pol Policy, data trainData, st *state, rep *Report) (Policy, error) {
	r.emit(Event{Kind: TrainingStarted, Iteration: it})
	t0 := time.Now()
	var (
		next Policy
		err  error
	)
	if r.groups {
		next, err = r.trainer.(GroupTrainer).TrainGroups(ctx, pol, data.groups)
	} else {
		next, err = r.trainer.Train(ctx, pol, data.pairs)
	}
	if err != nil {
		return pol, fmt.Errorf("alignment: training after iteration %d: %w", it, err)
	}
	if next == nil {
		return pol, fmt.Errorf("alignment: training after iteration %d returned a nil policy: %w", it, ErrInvalid)
	}
	if err := st.savePolicy(ctx, it, next); err != nil {
		return pol, err
	}
	rep.Training = time.Since(t0)
	rep.Elapsed += rep.Training
	r.emit(Event{Kind: TrainingDone, Iteration: it})
	return next, nil
}

// process handles one prompt: sample, refine, judge, select.
func (r *run) process(ctx context.Context, it, index int, p Prompt, pol Policy, judge judging) (res item) {
	res.index, res.iteration, res.prompt = index, int32(it), p
	seed := seeds.Derive(r.Seed, "item", strconv.Itoa(it), p.ID)
	o := r.Sampling
	o.N, o.Seed = r.samples, seed
	var rs []Response
	t0 := time.Now()
	var retries int
	retries, res.err = r.callIn(ctx, laneFirst, index, it, p.ID, func(ctx context.Context) (err error) {
		rs, err = SampleN(ctx, pol, p, o)
		return err
	})
	res.retries = int32(retries)
	if gaveUp(ctx, res.err) {
		res.exhausted++
	}
	res.sampling = time.Since(t0)
	res.responses = int32(len(rs))
	if res.err != nil {
		res.err = fmt.Errorf("sampling: %w", res.err)
		return res
	}
	res.diversity = measureDiversity(len(rs), func(i int) string { return rs[i].Text })
	unrefined := rs
	if r.Refiner != nil {
		unrefined = append([]Response(nil), rs...)
		t0 = time.Now()
		var refined int32
		res.err = r.fanOut(ctx, &res, len(rs), &refined, seed, "refine", func(ctx context.Context, i int) error {
			refined, err := r.Refiner.Refine(ctx, p, rs[i])
			if err == nil {
				rs[i] = refined
			}
			return err
		})
		res.refining = time.Since(t0)
		if res.err != nil {
			res.err = fmt.Errorf("refining: %w", res.err)
			return res
		}
	}
	var (
		judgments [][]Judgment
		probs     []float64
	)
	if res.judged = judge.j != nil || r.Comparer != nil; res.judged {
		t0 = time.Now()
		res.scores, judgments, probs, res.err = r.judgeAll(ctx, &res, seed, p, rs, judge)
		res.judging = time.Since(t0)
		if res.err != nil {
			return res
		}
	} else {
		res.scores = make([]float64, len(rs))
	}
	res.lengths = make([]int, len(rs))
	scored := make([]Scored, len(rs))
	for i := range rs {
		res.lengths[i] = rs[i].Length()
		scored[i] = Scored{Response: rs[i], Score: res.scores[i], Unrefined: unrefined[i]}
		if judgments != nil {
			scored[i].Judgments = judgments[i]
		}
	}
	c, j, ok := 0, 0, false
	if res.judged {
		c, j, ok = r.selector.Select(scored)
	}
	if ok {
		if c < 0 || c >= len(rs) || j < 0 || j >= len(rs) || c == j {
			res.err = fmt.Errorf("selector returned indices %d and %d for %d responses: %w", c, j, len(rs), ErrInvalid)
			return res
		}
		res.selected = true
		res.pairs = append(res.pairs, Pair{Prompt: p, Chosen: rs[c], Rejected: rs[j],
			ScoreChosen: res.scores[c], ScoreRejected: res.scores[j], Scored: true, Iteration: it, Source: r.source,
			Prob: r.pairProb(probs, len(rs), c, j)})
	}
	if r.groups && res.judged {
		res.group = scored
	}
	if r.Extra != nil && (r.ExtraIterations == 0 || it < r.ExtraIterations) {
		x := &Item{Iteration: it, Prompt: p, Policy: pol, Judge: judge.j, run: r, res: &res, seed: seed}
		extra, err := r.Extra(ctx, x, scored)
		if err != nil {
			res.err = fmt.Errorf("extra pairs: %w", err)
			return res
		}
		res.pairs = append(res.pairs, extra...)
		res.extra = true
	}
	return res
}

// pairProb is the soft label of the pair (c over j) that a Comparer's
// probabilities give: the mean over its rounds of the probability that c
// beats j. It is 0 (unset) for a pointwise judge, and when the Comparer
// was sure that j beats c although c scored higher over all the
// responses, which a soft label in (0, 1] cannot say.
func (r *run) pairProb(probs []float64, n, c, j int) float64 {
	if probs == nil {
		return 0
	}
	var sum float64
	for s := range r.k {
		sum += probs[(c*n+j)*r.k+s]
	}
	return sum / float64(r.k)
}

// Item is one prompt's work in an iteration, as Loop.Extra sees it.
type Item struct {
	// Iteration is the iteration, from 0; Prompt the prompt.
	Iteration int
	Prompt    Prompt
	// Policy and Judge are the iteration's: Judge is SelfJudge(Policy)
	// when the Loop has SelfJudge, and nil when a Comparer judges.
	Policy Policy
	Judge  Judge

	run  *run
	res  *item
	seed uint64
}

// Call runs f as one backend call of the item, as the Loop runs its own:
// under the Loop's limit on calls in flight, with transient failures
// retried (and reported to the Observer), and with ctx carrying a seed
// (see SeedFrom) derived from the item's and labels, so that the call is
// repeatable whatever the scheduling. Give each call of an item its own
// labels. Call may be used from several goroutines at once. An Item made
// outside a Loop, as a test of a hook makes one, calls f once, directly.
func (x *Item) Call(ctx context.Context, f func(ctx context.Context) error, labels ...string) error {
	seed := x.Seed(labels...)
	if x.run == nil {
		return f(WithSeed(ctx, seed))
	}
	retries, err := x.run.callIn(ctx, laneRest, x.res.index, x.Iteration, x.Prompt.ID, func(ctx context.Context) error {
		return f(WithSeed(ctx, seed))
	})
	atomic.AddInt32(&x.res.retries, int32(retries))
	if gaveUp(ctx, err) {
		atomic.AddInt32(&x.res.exhausted, 1)
	}
	return err
}

// Seed returns the seed that Call gives a call with these labels, for
// calls that take a seed in SampleOptions rather than from the context.
func (x *Item) Seed(labels ...string) uint64 {
	return seeds.Derive(x.seed, append([]string{"extra"}, labels...)...)
}

// judgeAll returns each response's aggregate score — the mean of k judge
// calls, or with a Comparer, the mean over k rounds of its probability of
// beating each other response — and, for a Judge, each response's k
// judgments, or, for a Comparer, the probabilities of every round:
// probs[(a·n+b)·k+s] is round s's probability that response a beats b.
func (r *run) judgeAll(ctx context.Context, res *item, seed uint64, p Prompt, rs []Response, judge judging) ([]float64, [][]Judgment, []float64, error) {
	n := len(rs)
	scores := make([]float64, n)
	if r.Comparer != nil {
		probs := make([]float64, n*n*r.k)
		err := r.fanOut(ctx, res, n*(n-1)/2*r.k, &res.judgments, seed, "compare", func(ctx context.Context, c int) error {
			a, b := pairIndex(c/r.k, n)
			cmp, err := r.Comparer.Compare(ctx, p, rs[a], rs[b])
			if err != nil {
				return err
			}
			if !(cmp.ProbA >= 0 && cmp.ProbA <= 1) {
				return fmt.Errorf("comparer returned P(A better) = %v for responses %d and %d, want a probability: %w", cmp.ProbA, a, b, ErrInvalid)
			}
			probs[(a*n+b)*r.k+c%r.k] = cmp.ProbA
			probs[(b*n+a)*r.k+c%r.k] = 1 - cmp.ProbA
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("comparing: %w", err)
		}
		for a := range n {
			for b := range n {
				if a != b {
					for s := range r.k {
						scores[a] += probs[(a*n+b)*r.k+s]
					}
				}
			}
			scores[a] /= float64((n - 1) * r.k)
		}
		return scores, nil, probs, nil
	}
	raw := make([]Judgment, n*r.k)
	err := r.fanOut(ctx, res, n*r.k, &res.judgments, seed, "judge", func(ctx context.Context, c int) error {
		j, err := judge.j.Judge(ctx, p, rs[c/r.k])
		if err != nil {
			return err
		}
		if err := judge.check(j.Score); err != nil {
			return fmt.Errorf("response %d: %w", c/r.k, err)
		}
		raw[c] = j
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("judging: %w", err)
	}
	judgments := make([][]Judgment, n)
	for i := range n {
		judgments[i] = raw[i*r.k : (i+1)*r.k : (i+1)*r.k]
		for _, j := range judgments[i] {
			scores[i] += j.Score / float64(r.k)
		}
	}
	return scores, judgments, nil, nil
}

// pairIndex maps c in [0, n(n−1)/2) to the c-th pair (a, b), a < b, in
// the order (0,1), (0,2), …, (1,2), ….
func pairIndex(c, n int) (a, b int) {
	for a = 0; c >= n-1-a; a++ {
		c -= n - 1 - a
	}
	return a, a + 1 + c
}

// fanOut runs f(0..n−1), each as one retried call, concurrently up to the
// run's call limit, adds the number that succeeded to *done, and returns the
// first permanent error, which cancels the calls not yet run. It returns
// once every call has settled. Call i's context carries (see SeedFrom)
// the seed derived from (seed, label, i).
func (r *run) fanOut(ctx context.Context, res *item, n int, done *int32, seed uint64, label string, f func(ctx context.Context, i int) error) error {
	if n == 0 {
		return context.Cause(ctx) // nil unless ctx ended
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fo := &fan{r: r, res: res, ctx: cctx, cancel: cancel, f: f, done: done, finished: make(chan struct{})}
	fo.left.Store(int32(n))
	calls := make([]attempt, n)
	for i := range calls {
		a := &calls[i]
		// The seeded context lives in the attempt, already allocated,
		// rather than in one more allocation per call by WithSeed.
		a.seeded = seedCtx{cctx, seeds.Derive(seed, label, strconv.Itoa(i))}
		a.ctx, a.f, a.i, a.fan, a.key = &a.seeded, f, i, fo, res.index
	}
	r.slots.submitAll(calls)
	<-fo.finished
	if fo.err == nil && ctx.Err() != nil {
		// The calls stopped before all ran: what they return is partial
		// and must not pass for the item's result.
		return context.Cause(ctx)
	}
	return fo.err
}

// gaveUp reports whether err, the outcome of a call made under ctx, is a
// transient failure that ran out of attempts (rather than a permanent one,
// or the end of ctx).
func gaveUp(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && IsTransient(ctx, err)
}

// call runs one backend call under the run's concurrency limit, retrying
// transient failures, and returns the number of retries.
func (r *run) call(ctx context.Context, it int, promptID string, f func(ctx context.Context) error) (retries int, err error) {
	return r.callIn(ctx, laneRest, 0, it, promptID, f)
}

// callIn is call with the call queued in lane, as a call of the prompt
// with index key in its pass.
func (r *run) callIn(ctx context.Context, lane, key, it int, promptID string, f func(ctx context.Context) error) (retries int, err error) {
	g := func(ctx context.Context, _ int) error { return f(ctx) }
	for a := 0; ; a++ {
		err = r.slots.do(ctx, lane, key, g)
		if !r.retry.again(ctx, a, err) {
			return retries, err
		}
		retries++
		r.emit(Event{Kind: CallRetried, Iteration: it, PromptID: promptID, Err: err})
		if err := r.retry.backoff(ctx, a); err != nil {
			return retries, err
		}
	}
}

// writer consumes items in prompt order: it writes their pairs, keeps the
// report, and checkpoints progress.
type writer struct {
	r       *run
	st      *state
	it      int
	rep     *Report
	total   int
	next    int // prompts of the iteration handled in prompt order
	lastID  string
	collect bool
	groups  []Group // for a GroupTrainer, in the order the prompts were handled
	// failed holds the prompts of the failures, to retry them; carried is
	// the number of failures that an interrupted run recorded and this
	// one has not retried yet, which the budget leaves out.
	failed  map[string]Prompt
	carried int
	// In a retry pass, retried is the index in Report.Failures of the
	// failure being retried; those before it were retried and failed
	// again (or are older than the pass).
	retrying bool
	retried  int
	pairs    []Pair
	torn     bool
	since    int
	last     time.Time
}

// handle records one item. It returns a non-nil error when the run must
// stop: the context ended, a sink failed or the failure budget is spent.
func (w *writer) handle(ctx context.Context, res item) error {
	r, rep := w.r, w.rep
	if res.err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if w.retrying && (w.retried >= len(rep.Failures) || rep.Failures[w.retried].PromptID != res.prompt.ID) {
		return fmt.Errorf("alignment: iteration %d: retried prompt %q out of the order of its failures: %w", w.it, res.prompt.ID, ErrNotResumable)
	}
	if res.err == nil && res.group != nil {
		g := Group{Prompt: res.prompt, Responses: res.group, Iteration: w.it}
		if w.collect {
			w.groups = append(w.groups, g)
		} else if err := w.st.writeGroup(&g); err != nil {
			return err
		}
	}
	if res.err == nil && len(res.pairs) > 0 {
		if err := w.write(ctx, res.pairs); err != nil {
			return err
		}
	}
	if !w.retrying {
		rep.Prompts++
	}
	rep.Retries += int(res.retries)
	rep.RetriesExhausted += int(res.exhausted)
	rep.Sampling += res.sampling
	rep.Refining += res.refining
	rep.Judging += res.judging
	rep.Judgments += int(res.judgments)
	rep.Responses += int(res.responses)
	switch {
	case w.retrying && res.err != nil:
		// Failed again: the failure stands, with its latest cause; its
		// ItemFailed was sent when it first failed.
		rep.Failures[w.retried].Err = res.err.Error()
		w.retried++
	case w.retrying:
		rep.Failures = slices.Delete(rep.Failures, w.retried, w.retried+1)
		rep.Failed--
	}
	if res.err != nil && !w.retrying {
		rep.Failed++
		rep.Failures = append(rep.Failures, Failure{PromptID: res.prompt.ID, Err: res.err.Error()})
		w.failed[res.prompt.ID] = res.prompt
		r.emit(Event{Kind: ItemFailed, Iteration: w.it, PromptID: res.prompt.ID, Err: res.err,
			Done: rep.Prompts - rep.Failed, Failed: rep.Failed, Total: w.total})
	} else if res.err == nil {
		for i, s := range res.scores {
			if res.judged {
				rep.addScore(s)
			}
			rep.Length.Add(float64(res.lengths[i]))
		}
		rep.Pairs += len(res.pairs)
		switch {
		case len(res.pairs) > 0:
			rep.Yielded++
		case res.judged:
			rep.Ties++
		default:
			rep.Unjudged++
		}
		if res.extra {
			rep.ExtraPrompts++
		}
		rep.Signals.Diversity.add(res.diversity)
		if !res.selected {
			rep.ExtraPairs += len(res.pairs)
		} else {
			rep.ExtraPairs += len(res.pairs) - 1
			rep.ChosenLength.Add(float64(res.pairs[0].Chosen.Length()))
			rep.RejectedLength.Add(float64(res.pairs[0].Rejected.Length()))
		}
		r.emit(Event{Kind: ItemDone, Iteration: w.it, PromptID: res.prompt.ID,
			Done: rep.Prompts - rep.Failed, Failed: rep.Failed, Total: w.total})
	}
	if !w.retrying {
		w.next++
		w.lastID = res.prompt.ID
		if err := w.checkBudget(max(w.total, 0)); err != nil {
			return err
		}
	}
	w.since++
	if w.since >= 256 || time.Since(w.last) > time.Second {
		return w.checkpoint(ctx, false)
	}
	return nil
}

// write sends one item's pairs to the run's file and the Sink. When the
// file took them but the Sink failed, the writer is marked torn so that no
// later checkpoint records the file's offset, which now holds pairs of a
// prompt not counted as handled.
func (w *writer) write(ctx context.Context, pairs []Pair) error {
	if err := w.st.write(ctx, pairs); err != nil {
		w.torn = true
		return err
	}
	if w.r.Sink != nil {
		if err := w.r.Sink.Write(ctx, pairs); err != nil {
			w.torn = true
			return fmt.Errorf("alignment: writing the pairs of prompt %q to the sink: %w", pairs[0].Prompt.ID, err)
		}
	}
	if w.collect {
		w.pairs = append(w.pairs, pairs...)
	}
	return nil
}

// checkBudget reports ErrBudget when more prompts failed than the budget
// allows out of n, or, when n is 0 (size unknown), out of the prompts seen
// so far once there are ten. Failures carried over from an interrupted run
// and not yet retried are left out.
func (w *writer) checkBudget(n int) error {
	rep := w.rep
	if n == 0 {
		if rep.Prompts < 10 {
			return nil
		}
		n = rep.Prompts
	}
	budget := w.r.FailureBudget
	if budget == 0 {
		budget = 0.1
	}
	allowed := int(math.Floor(max(budget, 0)*float64(n) + 1e-9))
	failed := rep.Failed - w.carried
	if failed <= allowed {
		return nil
	}
	return fmt.Errorf("alignment: iteration %d: %d of %d prompts failed, over the failure budget of %d (%.3g of %d); last failure, prompt %q: %s: %w",
		w.it, failed, rep.Prompts, allowed, budget, n, rep.Failures[len(rep.Failures)-1].PromptID, rep.Failures[len(rep.Failures)-1].Err, ErrBudget)
}

// checkpoint flushes the sinks and records progress; complete says the
// iteration's prompts are all handled.
func (w *writer) checkpoint(ctx context.Context, complete bool) error {
	w.since, w.last = 0, time.Now()
	var errs []error
	if err := w.st.flush(ctx); err != nil {
		errs = append(errs, err)
	}
	if f, ok := w.r.Sink.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("alignment: flushing the sink: %w", err))
		}
	}
	if len(errs) == 0 && !w.torn {
		errs = append(errs, w.st.progress(w.it, w.next, w.lastID, w.rep, complete))
	}
	return errors.Join(errs...)
}
