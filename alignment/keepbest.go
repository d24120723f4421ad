package alignment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// keeper holds the best policy a run with Evaluation.KeepBest has
// evaluated so far (see Evaluation.KeepBest for the rule).
type keeper struct {
	best *EvalReport // the best evaluation so far; nil before the first
	pol  Policy      // its policy, when it is held as it is
	dir  string      // or the directory of its checkpoint
	tmp  string      // the run's temporary directory of snapshots, or ""
}

// eligible reports whether ev may be kept: it raised no regression alarm.
func eligible(ev *EvalReport) bool {
	return !slices.ContainsFunc(ev.Alarms, func(a Alarm) bool { return a.Kind == AlarmRegression })
}

// keep considers ev, the evaluation of pol, for the best policy. pol is
// nil for an evaluation restored from the output directory, whose policy
// is then Loop.Policy (iteration 0) or the directory's checkpoint;
// changes says the run may still train pol, in place, so that a best pol
// must be saved first: with Dir, the policy of iteration i > 0 is already
// there, as policy-<i−1>/; any other is saved in a temporary directory.
func (r *run) keep(ctx context.Context, ev *EvalReport, pol Policy, changes bool, st *state) error {
	k := &r.kept
	if r.eval == nil || !r.eval.KeepBest || ev == nil || ev == k.best || !eligible(ev) ||
		k.best != nil && ev.MeanScore <= k.best.MeanScore {
		return nil
	}
	k.best, k.pol, k.dir = ev, nil, ""
	switch {
	case r.trainer == nil || ev.Iteration == 0 && pol == nil:
		// Without a Trainer every iteration's policy is Loop.Policy; a
		// restored iteration 0's policy is Loop.Policy, which a resumed
		// run does not train.
		k.pol = r.Policy
	case r.Dir != "" && ev.Iteration > 0:
		k.dir = st.policyPath(ev.Iteration - 1)
	case !changes:
		k.pol = pol
	default:
		if k.tmp == "" {
			tmp, err := os.MkdirTemp("", "selfalign-best-")
			if err != nil {
				return fmt.Errorf("alignment: keeping the best policy: %w", err)
			}
			k.tmp = tmp
		}
		dir := filepath.Join(k.tmp, "policy-"+strconv.Itoa(ev.Iteration))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("alignment: keeping the best policy: %w", err)
		}
		if err := r.trainer.(Checkpointer).SaveCheckpoint(ctx, pol, dir); err != nil {
			return fmt.Errorf("alignment: keeping the policy of iteration %d, the best so far: %w", ev.Iteration, err)
		}
		k.dir = dir
	}
	return nil
}

// keepBest ends a run with Evaluation.KeepBest: it considers the final
// evaluation and sets Result.Best and Result.Policy to the best
// evaluation and its policy. When no evaluation is eligible, the run
// keeps its last policy and Best is Final.
func (r *run) keepBest(ctx context.Context, res *Result, st *state) error {
	if r.eval == nil || !r.eval.KeepBest || res.Final == nil {
		return nil
	}
	if err := r.keep(ctx, res.Final, res.Policy, false, st); err != nil {
		return err
	}
	k := &r.kept
	switch {
	case k.best == nil:
		res.Best = res.Final
	case k.pol != nil:
		res.Best, res.Policy = k.best, k.pol
	default:
		pol, err := r.trainer.(Checkpointer).LoadCheckpoint(ctx, k.dir)
		if err != nil {
			return fmt.Errorf("alignment: loading the policy of iteration %d, the best evaluated, from %s: %w", k.best.Iteration, k.dir, err)
		}
		res.Best, res.Policy = k.best, pol
	}
	return nil
}

// removeKept removes the temporary directory of the kept snapshots.
func (r *run) removeKept() {
	if r.kept.tmp != "" {
		os.RemoveAll(r.kept.tmp)
		r.kept.tmp = ""
	}
}
