package dpo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// GroupTrainerOptions configure a GroupTrainer. The zero value (or nil)
// trains with GRPO{} (TRL's defaults) for 1 epoch of batches of 16 groups
// with Adam at learning rate 1e-3, gradients clipped to global norm 1, each
// completion's reward its Scored.Score, and the policy at the start of each
// call as both the sampling policy and the reference.
type GroupTrainerOptions struct {
	// Loss is the group loss; nil means GRPO{}.
	Loss GroupLoss
	// Epochs is the number of passes over the groups of each call, TRL's
	// num_iterations (μ in the GRPO paper); 0 means 1.
	Epochs int
	// BatchSize is the number of groups per optimiser step; 0 means
	// DefaultBatchSize. The last batch of an epoch may be smaller. Every
	// step after a call's first is off-policy, weighted by the importance
	// ratio and held in the clip range; a BatchSize of at least the number
	// of groups takes one step per epoch, as TRL by default takes one step
	// per generation batch.
	BatchSize int
	// LearningRate is Adam's step size; 0 means DefaultLearningRate.
	LearningRate float64
	// Adam holds the optimiser's other settings.
	Adam Adam
	// ClipNorm caps the global L2 norm of each step's gradient; 0 means
	// DefaultClipNorm and math.Inf(1) disables clipping.
	ClipNorm float64
	// Seed drives the order of the groups.
	Seed uint64
	// Reference is a fixed reference policy for the KL term. Nil means the
	// policy as it is at the start of each call, which is then also the
	// sampling policy, so that the KL term starts at zero in every call.
	Reference Model
	// AspectWeights, when not empty, makes a completion's reward the
	// weighted sum Σ weight·aspect of its judgments' Aspects, averaged over
	// its judgments, instead of its Score: multi-objective reward shaping,
	// as TRL's reward_weights sum several reward functions. Every judgment
	// of every completion must then have every weighted aspect. Weights must
	// be finite; the map is copied.
	AspectWeights map[string]float64
}

// GroupTrainer fits a Model to scored groups of completions with a group
// policy-gradient loss (GRPO, RLOO). It implements alignment.GroupTrainer,
// so a Loop trains its policy on every judged prompt's scored responses,
// alignment.Trainer, for pairs (see Train), and alignment.Checkpointer, so a
// run can resume after training.
//
// Each call computes every completion's reward, skips the groups that carry
// no signal, and computes the advantages of each group; it then runs the
// configured epochs of shuffled batches of groups: the policy's
// log-probabilities, the loss and its derivatives,
// Model.AccumulateGrad with them as scales (fused for a FusedAccumulator),
// global-norm clipping and an Adam step, as Trainer does. Every call starts
// a fresh optimiser.
//
// The importance ratio needs each completion's log-probability under the
// policy as it was at the start of the call (the sampling policy), and
// the KL term its log-probability under the reference. Like TRL's
// GRPOTrainer, the trainer makes only the forward passes whose results it
// uses: the completions of the first step take their sampling
// log-probabilities from that step's own forward pass (the policy has not
// changed yet), so that with one step per call (BatchSize at least the
// number of groups, one epoch) no extra pass is made; those of later steps
// are computed before the first. A fixed Reference is run only when the
// loss reads its log-probabilities: not for GRPO with β = 0 (TRL's default,
// for which TRL loads no reference model) nor RLOO without KL. A loss other
// than GRPO and RLOO, and RLOO with a fixed Reference (whose advantages
// read both), get every log-probability before the first step. The
// numbers are the same either way.
//
// A group of fewer than two completions, or whose rewards are all equal,
// has advantage zero for every completion under GRPO and under RLOO without
// KL: it is skipped whatever the loss, counted in GroupReport.Skipped, and
// takes no part in the loss's averages.
//
// A GroupTrainer is safe for use by one TrainGroups, FitGroups or Train call
// at a time; LastReport may be called concurrently with them.
type GroupTrainer struct {
	o       GroupTrainerOptions
	aspects []string // the keys of o.AspectWeights, sorted, for a fixed summation order
	load    func(io.Reader) (Model, error)

	mu   sync.Mutex
	last GroupReport
}

var (
	_ alignment.GroupTrainer  = (*GroupTrainer)(nil)
	_ alignment.Trainer       = (*GroupTrainer)(nil)
	_ alignment.Checkpointer  = (*GroupTrainer)(nil)
	_ alignment.Fingerprinter = (*GroupTrainer)(nil)
)

// NewGroupTrainer returns a GroupTrainer with the options o (nil means all
// defaults) and the function LoadCheckpoint uses to read a saved model (nil
// makes LoadCheckpoint report ErrUnsupported). The error wraps ErrInvalid
// and names the offending option.
func NewGroupTrainer(o *GroupTrainerOptions, load func(io.Reader) (Model, error)) (*GroupTrainer, error) {
	var r GroupTrainerOptions
	if o != nil {
		r = *o
	}
	if r.Loss == nil {
		r.Loss = GRPO{}
	}
	if v, ok := r.Loss.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("dpo: GroupTrainerOptions.Loss: %w", err)
		}
	}
	if err := fillOptim("GroupTrainerOptions", &r.Epochs, &r.BatchSize, &r.LearningRate, &r.Adam, &r.ClipNorm); err != nil {
		return nil, err
	}
	var aspects []string
	if len(r.AspectWeights) > 0 {
		w := make(map[string]float64, len(r.AspectWeights))
		for k, v := range r.AspectWeights {
			if !finite(v) {
				return nil, fmt.Errorf("%w: GroupTrainerOptions.AspectWeights[%q] = %v, want a finite number", ErrInvalid, k, v)
			}
			w[k] = v
			aspects = append(aspects, k)
		}
		slices.Sort(aspects)
		r.AspectWeights = w
	}
	return &GroupTrainer{o: r, aspects: aspects, load: load}, nil
}

// Options returns the trainer's options with every default filled in. The
// AspectWeights map is the trainer's own: it must not be modified.
func (t *GroupTrainer) Options() GroupTrainerOptions { return t.o }

// GroupReport describes one TrainGroups, FitGroups or Train call.
type GroupReport struct {
	// Groups is the number of groups given.
	Groups int
	// Skipped counts the groups left out because their advantages are
	// zero: fewer than two completions, or all rewards equal.
	Skipped int
	// Completions is the number of completions trained on.
	Completions int
	// Steps is the number of optimiser steps taken.
	Steps int
	// RewardMean is the mean reward of the completions trained on, and
	// RewardStd the mean over their groups of the groups' standard
	// deviations (Bessel-corrected), as TRL logs "reward" and "reward_std".
	RewardMean, RewardStd float64
	// Epochs holds one entry per completed epoch.
	Epochs []GroupEpoch
	// Elapsed is the wall-clock time of the call.
	Elapsed time.Duration
}

// GroupEpoch is the training record of one pass over the groups.
type GroupEpoch struct {
	// Loss is the mean of the steps' losses, each weighted by its number of
	// completions and measured before that step's update.
	Loss float64
	// Steps is the number of optimiser steps in the epoch.
	Steps int
	// GradNorm is the mean global gradient norm of the steps, before
	// clipping.
	GradNorm float64
	// Clipped counts the steps whose gradient was clipped.
	Clipped int
}

// GroupError reports invalid input for one completion of a group: which,
// which quantity and why. It wraps ErrInvalid.
type GroupError struct {
	// Group is the index of the group in the slice given to the call, and
	// Prompt its prompt's ID.
	Group  int
	Prompt string
	// Response is the index of the completion in the group's Responses.
	Response int
	// Field names the offending quantity: "reward", "advantage", "LogP",
	// "RefLogP", "Len" or "loss".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *GroupError) Error() string {
	return fmt.Sprintf("dpo: invalid input: group %d (prompt %q), response %d: %s %s", e.Group, e.Prompt, e.Response, e.Field, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *GroupError) Unwrap() error { return ErrInvalid }

// LastReport returns the report of the most recent TrainGroups, FitGroups
// or Train call, including a partial one that ended in an error; the zero report
// before the first call.
func (t *GroupTrainer) LastReport() GroupReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.last
	r.Epochs = append([]GroupEpoch(nil), r.Epochs...)
	return r
}

// TrainGroups implements alignment.GroupTrainer: pol must be a Model, which
// FitGroups trains in place on groups; TrainGroups returns pol itself. The
// error wraps ErrUnsupported when pol is not a Model; see FitGroups for the
// others. On error pol may have been changed by the steps completed before
// it.
func (t *GroupTrainer) TrainGroups(ctx context.Context, pol alignment.Policy, groups []alignment.Group) (alignment.Policy, error) {
	m, ok := pol.(Model)
	if !ok {
		return nil, fmt.Errorf("%w: train: policy of type %T is not a dpo.Model", ErrUnsupported, pol)
	}
	if _, err := t.FitGroups(ctx, m, groups); err != nil {
		return nil, err
	}
	return m, nil
}

// FitGroups trains m in place on groups and returns the report, which
// LastReport also returns afterwards. No group with a signal (see
// GroupTrainer) is no training: a report with only Groups and Skipped and
// no error. The error is a *GroupError naming the group, its prompt and the
// response when a reward is NaN or infinite (or a weighted aspect is
// missing), an advantage overflows, a log-probability is invalid or the
// loss leaves float64; it wraps ErrDiverged for a non-finite gradient,
// wraps ctx.Err() when ctx is done between steps, and otherwise comes from
// the model. FitGroups does not modify groups and does not keep them.
func (t *GroupTrainer) FitGroups(ctx context.Context, m Model, groups []alignment.Group) (GroupReport, error) {
	return t.fitReport(ctx, m, groups, t.reward)
}

// Train implements alignment.Trainer, so that a GroupTrainer is a Trainer
// that is also an alignment.GroupTrainer, and trains on pairs where groups
// are not given: pair i becomes group i of its two responses, with reward 1
// for Chosen and 0 for Rejected. The reward is the pair's label rather than
// its scores, whose scale differs between judges; AspectWeights do not
// apply. Otherwise it is TrainGroups, and errors name pair i as group i.
func (t *GroupTrainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	m, ok := pol.(Model)
	if !ok {
		return nil, fmt.Errorf("%w: train: policy of type %T is not a dpo.Model", ErrUnsupported, pol)
	}
	groups := make([]alignment.Group, len(pairs))
	for i, p := range pairs {
		groups[i] = alignment.Group{Prompt: p.Prompt, Iteration: p.Iteration, Responses: []alignment.Scored{
			{Response: p.Chosen, Score: 1, Unrefined: p.Chosen},
			{Response: p.Rejected, Score: 0, Unrefined: p.Rejected},
		}}
	}
	if _, err := t.fitReport(ctx, m, groups, scoreReward); err != nil {
		return nil, err
	}
	return m, nil
}

// fitReport runs fit with the given reward and records the report.
func (t *GroupTrainer) fitReport(ctx context.Context, m Model, groups []alignment.Group, reward func(*alignment.Scored) (float64, error)) (GroupReport, error) {
	start := time.Now()
	rep := GroupReport{Groups: len(groups)}
	err := t.fit(ctx, m, groups, reward, &rep)
	rep.Elapsed = time.Since(start)
	t.mu.Lock()
	t.last = rep
	t.mu.Unlock()
	return rep, err
}

// SaveCheckpoint implements alignment.Checkpointer as Trainer.SaveCheckpoint
// does.
func (t *GroupTrainer) SaveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	return saveCheckpoint(ctx, pol, dir)
}

// LoadCheckpoint implements alignment.Checkpointer as Trainer.LoadCheckpoint
// does, with the load function given to NewGroupTrainer.
func (t *GroupTrainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	return loadCheckpoint(ctx, t.load, dir)
}

// Fingerprint implements alignment.Fingerprinter, so that a Loop run
// resumed with another loss, schedule, optimiser, seed, reference or
// reward weighting is refused rather than continued with different
// training: the options with defaults applied, the Reference by its own
// fingerprint (or its type), the aspect weights in key order.
func (t *GroupTrainer) Fingerprint() string {
	o := t.o
	ref := alignment.FingerprintOf(o.Reference)
	o.Reference, o.AspectWeights = nil, nil
	w := make([]string, len(t.aspects))
	for i, a := range t.aspects {
		w[i] = fmt.Sprintf("%q:%v", a, t.o.AspectWeights[a])
	}
	return fmt.Sprintf("dpo.GroupTrainer %T%+v epochs=%d batch=%d lr=%v adam=%+v clip=%v seed=%d reference=%s aspects={%s}",
		o.Loss, o.Loss, o.Epochs, o.BatchSize, o.LearningRate, o.Adam, o.ClipNorm, o.Seed, ref, strings.Join(w, ","))
}

// groupSpan locates one trained group in the flat list of completions.
type groupSpan struct {
	index      int // in the caller's groups
	start, end int // in the flat completions
}

func (t *GroupTrainer) fit(ctx context.Context, m Model, groups []alignment.Group, reward func(*alignment.Scored) (float64, error), rep *GroupReport) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dpo: train: %w", err)
	}
	var (
		spans   []groupSpan
		seqs    []Sequence
		rewards []float64
	)
	for gi := range groups {
		g := &groups[gi]
		start := len(rewards)
		for ri := range g.Responses {
			r, err := reward(&g.Responses[ri])
			if err != nil {
				return &GroupError{Group: gi, Prompt: g.Prompt.ID, Response: ri, Field: "reward", Reason: err.Error()}
			}
			rewards = append(rewards, r)
		}
		rs := rewards[start:]
		if len(rs) < 2 || allEqual(rs) {
			rewards = rewards[:start]
			rep.Skipped++
			continue
		}
		for ri := range g.Responses {
			seqs = append(seqs, Sequence{Prompt: g.Prompt, Completion: g.Responses[ri].Response.Text})
		}
		spans = append(spans, groupSpan{index: gi, start: start, end: len(rewards)})
	}
	if len(spans) == 0 {
		return nil
	}
	rep.Completions = len(seqs)
	n := len(spans)
	bs := min(t.o.BatchSize, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := seeds.Rand(t.o.Seed)
	// The first epoch's order is drawn now: its first batch is trained on
	// before any update, so its sampling log-probabilities are those of
	// the step's own forward pass, and prepare leaves them out.
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	first := make([]bool, n)
	if t.lazyFirst() {
		for _, k := range order[:bs] {
			first[k] = true
		}
	}
	gs, err := t.prepare(ctx, m, groups, spans, seqs, rewards, first)
	if err != nil {
		return err
	}
	// The advantages are finite, so each group's rewards are within
	// float64's range of each other; the means over groups may still
	// overflow.
	var stdSum float64
	for _, sp := range spans {
		mean, std := meanStd(rewards[sp.start:sp.end])
		rep.RewardMean += mean * float64(sp.end-sp.start) / float64(len(seqs))
		stdSum += std
	}
	rep.RewardStd = stdSum / float64(len(spans))
	if !finite(rep.RewardMean) || !finite(rep.RewardStd) {
		return fmt.Errorf("%w: the rewards' mean or spread over the groups overflows float64 (mean %v, std %v)", ErrInvalid, rep.RewardMean, rep.RewardStd)
	}
	params := m.Params()
	opt, err := newAdam(params, TrainerOptions{LearningRate: t.o.LearningRate, Adam: t.o.Adam, ClipNorm: t.o.ClipNorm})
	if err != nil {
		return err
	}

	var (
		bseqs []Sequence
		bgs   []GroupSeq
		bidx  []int // flat completion index of each batch completion
		dLogP []float64
	)
	for e := range t.o.Epochs {
		if e > 0 {
			rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		var ep GroupEpoch
		done := 0
		for s := 0; s < n; s += bs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("dpo: train: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			bseqs, bgs, bidx = bseqs[:0], bgs[:0], bidx[:0]
			for _, k := range order[s:min(s+bs, n)] {
				for i := spans[k].start; i < spans[k].end; i++ {
					bseqs = append(bseqs, seqs[i])
					bgs = append(bgs, gs[i])
					bidx = append(bidx, i)
				}
			}
			k := len(bseqs)
			dLogP = slices.Grow(dLogP[:0], k)[:k]
			var loss float64
			scales := func(logps []float64, lens []int) ([]float64, error) {
				if len(logps) != k || len(lens) != k {
					return nil, fmt.Errorf("%w: model returned %d log-probabilities and %d lengths for %d sequences", ErrInvalid, len(logps), len(lens), k)
				}
				for j := range bgs {
					if err := checkLogP(logps[j], lens[j]); err != nil {
						return nil, t.seqError(groups, spans, bidx[j], err)
					}
					bgs[j].LogP, bgs[j].Len = logps[j], lens[j]
				}
				if rep.Steps == 0 && first[order[0]] {
					t.onPolicy(spans, order[:bs], gs, bgs)
				}
				loss = t.o.Loss.Eval(bgs, dLogP)
				if !finite(loss) {
					return nil, fmt.Errorf("%w: the batch's loss is %v: the inputs are beyond float64 for this loss", ErrInvalid, loss)
				}
				for j, d := range dLogP {
					if !finite(d) {
						err := fmt.Errorf("has derivative %v: the inputs are beyond float64 for this loss", d)
						ge := t.seqError(groups, spans, bidx[j], err).(*GroupError)
						ge.Field = "loss"
						return nil, ge
					}
				}
				return dLogP, nil
			}
			m.ZeroGrad()
			if err := accumulate(ctx, m, bseqs, scales); err != nil {
				var ge *GroupError
				if errors.As(err, &ge) {
					return ge
				}
				return fmt.Errorf("dpo: train: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			norm, clipped, err := opt.step(params)
			if err != nil {
				return fmt.Errorf("%w: epoch %d, step %d: %w", ErrDiverged, e, ep.Steps, err)
			}
			ep.Loss += loss * float64(k)
			done += k
			ep.Steps++
			ep.GradNorm += norm
			if clipped {
				ep.Clipped++
			}
			rep.Steps++
		}
		ep.Loss /= float64(done)
		ep.GradNorm /= float64(ep.Steps)
		rep.Epochs = append(rep.Epochs, ep)
	}
	return nil
}

// prepare returns the trained completions as the loss sees them, with
// their advantages. It computes the sampling policy's log-probabilities
// of the completions of the groups not in first (the first step's groups
// when lazyFirst holds, which onPolicy completes) and, when the loss
// reads them, the fixed reference's of every completion, and checks them.
//
// Without a fixed Reference, the reference is the policy at the start of
// the call, whose log-probabilities are the sampling ones. A loss that
// does not read RefLogP (GRPO with β = 0, TRL's default, RLOO without KL)
// gets the sampling log-probabilities there too, and no reference forward
// pass is made, as TRL loads no reference model when β = 0.
func (t *GroupTrainer) prepare(ctx context.Context, m Model, groups []alignment.Group, spans []groupSpan, seqs []Sequence, rewards []float64, first []bool) ([]GroupSeq, error) {
	chunk := 4 * t.o.BatchSize
	var later []int // the completions not in the first step
	for k, sp := range spans {
		if !first[k] {
			for i := sp.start; i < sp.end; i++ {
				later = append(later, i)
			}
		}
	}
	sub := make([]Sequence, len(later))
	for j, i := range later {
		sub[j] = seqs[i]
	}
	old, lens, err := logProbs(ctx, m, sub, chunk, "policy")
	if err != nil {
		return nil, err
	}
	gs := make([]GroupSeq, len(seqs))
	for j, i := range later {
		if err := checkLogP(old[j], lens[j]); err != nil {
			return nil, t.seqError(groups, spans, i, err)
		}
		gs[i] = GroupSeq{LogP: old[j], OldLogP: old[j], RefLogP: old[j], Len: lens[j]}
	}
	if t.o.Reference != nil && readsRef(t.o.Loss) {
		ref, _, err := logProbs(ctx, t.o.Reference, seqs, chunk, "reference")
		if err != nil {
			return nil, err
		}
		for i := range gs {
			if err := checkLogP(ref[i], 1); err != nil {
				ge := t.seqError(groups, spans, i, err).(*GroupError)
				ge.Field = "RefLogP"
				return nil, ge
			}
			gs[i].RefLogP = ref[i]
		}
	}
	adv := make([]float64, len(seqs))
	for _, sp := range spans {
		t.o.Loss.Advantages(adv[sp.start:sp.end], rewards[sp.start:sp.end], gs[sp.start:sp.end])
		for i := sp.start; i < sp.end; i++ {
			if !finite(adv[i]) {
				return nil, &GroupError{Group: sp.index, Prompt: groups[sp.index].Prompt.ID, Response: i - sp.start, Field: "advantage",
					Reason: fmt.Sprintf("is %v: the group's rewards are beyond float64 for this loss", adv[i])}
			}
			gs[i].Advantage = adv[i]
		}
	}
	return gs, nil
}

// lazyFirst reports whether the first step's completions may take their
// sampling log-probabilities from that step's forward pass: when the
// advantages do not depend on them. GRPO's advantages depend on the
// rewards alone; RLOO's on the KL shaping term OldLogP − RefLogP too,
// which is 0 without a fixed Reference (the reference is then the
// sampling policy). Another loss may read anything, so it gets them all
// beforehand.
func (t *GroupTrainer) lazyFirst() bool {
	switch l := t.o.Loss.(type) {
	case GRPO:
		return true
	case RLOO:
		return l.beta() == 0 || t.o.Reference == nil
	}
	return false
}

// onPolicy completes the completions of the first step's groups, the
// spans indexed by ks, in the step's batch bgs, which holds their
// log-probabilities from the step's forward pass, and in gs, for the
// later epochs: the policy has not changed since the groups were sampled,
// so these are also the sampling log-probabilities (and, without a fixed
// reference the loss reads, the reference's), as TRL takes the detached
// current log-probabilities when generation and optimisation steps align.
func (t *GroupTrainer) onPolicy(spans []groupSpan, ks []int, gs, bgs []GroupSeq) {
	fixedRef := t.o.Reference != nil && readsRef(t.o.Loss)
	j := 0
	for _, k := range ks {
		sp := spans[k]
		for i := sp.start; i < sp.end; i++ {
			b := &bgs[j]
			b.OldLogP = b.LogP
			if !fixedRef {
				b.RefLogP = b.LogP
			}
			gs[i].LogP, gs[i].OldLogP, gs[i].RefLogP, gs[i].Len = b.LogP, b.OldLogP, b.RefLogP, b.Len
			j++
		}
	}
}

// readsRef reports whether loss reads GroupSeq.RefLogP: GRPO and RLOO
// only with a KL coefficient, any other loss always.
func readsRef(loss GroupLoss) bool {
	switch l := loss.(type) {
	case GRPO:
		return l.Beta != 0
	case RLOO:
		return l.beta() != 0
	}
	return true
}

// seqError returns a *GroupError for flat completion i, with the field
// named by a logPError or "LogP".
func (t *GroupTrainer) seqError(groups []alignment.Group, spans []groupSpan, i int, err error) error {
	k, _ := slices.BinarySearchFunc(spans, i, func(s groupSpan, i int) int {
		switch {
		case s.end <= i:
			return -1
		case s.start > i:
			return 1
		}
		return 0
	})
	sp := spans[k]
	field := "LogP"
	var le *logPError
	if errors.As(err, &le) {
		field = le.field
	}
	return &GroupError{Group: sp.index, Prompt: groups[sp.index].Prompt.ID, Response: i - sp.start, Field: field, Reason: err.Error()}
}

// logPError is a completion's invalid log-probability or length.
type logPError struct{ field, reason string }

func (e *logPError) Error() string { return e.reason }

// checkLogP checks a completion's log-probability and token count.
func checkLogP(lp float64, n int) error {
	switch {
	case !finite(lp):
		return &logPError{"LogP", fmt.Sprintf("= %v, want a finite log-probability", lp)}
	case lp > 0:
		return &logPError{"LogP", fmt.Sprintf("= %v, want a log-probability ≤ 0", lp)}
	case n < 1:
		return &logPError{"Len", fmt.Sprintf("= %d, want ≥ 1 completion token", n)}
	}
	return nil
}

// reward returns s's reward: its Score, or the weighted aspects of its
// judgments when AspectWeights is set.
func (t *GroupTrainer) reward(s *alignment.Scored) (float64, error) {
	if len(t.aspects) == 0 {
		return scoreReward(s)
	}
	if len(s.Judgments) == 0 {
		return 0, errors.New("has no judgments to take the weighted aspects from")
	}
	var sum float64
	for k, j := range s.Judgments {
		for _, a := range t.aspects {
			v, ok := j.Aspects[a]
			if !ok {
				return 0, fmt.Errorf("needs aspect %q, which judgment %d lacks", a, k)
			}
			if !finite(v) {
				return 0, fmt.Errorf("needs aspect %q, which is %v in judgment %d", a, v, k)
			}
			sum += t.o.AspectWeights[a] * v
		}
	}
	r := sum / float64(len(s.Judgments))
	if !finite(r) {
		return 0, fmt.Errorf("= %v: the weighted aspects overflow float64", r)
	}
	return r, nil
}

// scoreReward returns s's Score as its reward.
func scoreReward(s *alignment.Scored) (float64, error) {
	if !finite(s.Score) {
		return 0, fmt.Errorf("(Score) = %v, want a finite number", s.Score)
	}
	return s.Score, nil
}

func allEqual(xs []float64) bool {
	for _, x := range xs[1:] {
		if x != xs[0] {
			return false
		}
	}
	return true
}
