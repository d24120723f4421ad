package dpo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Defaults of TrainerOptions, used for zero fields.
const (
	// DefaultBeta is the β of the default loss, Sigmoid{Beta: 0.1}, TRL's
	// default.
	DefaultBeta = 0.1
	// DefaultBatchSize is the number of pairs per optimiser step.
	DefaultBatchSize = 16
	// DefaultLearningRate is torch.optim.Adam's default. It suits small
	// in-process models trained for a few hundred steps; TRL's 1e-6 is meant
	// for fine-tuning models with billions of parameters.
	DefaultLearningRate = 1e-3
	// DefaultClipNorm is TRL's (and transformers') max_grad_norm.
	DefaultClipNorm = 1.0
)

// FusedAccumulator is a Model that computes the log-probabilities of a batch
// and accumulates their gradient, scaled by factors that depend on those
// log-probabilities, in one forward pass. The Trainer uses it for every step
// of a model that has it (dpo/tinylm does); lacking it, a step calls LogProbs
// and then AccumulateGrad, which costs a second forward pass.
//
// AccumulateGradFunc runs the forward pass over seqs, calls scales with the
// log-probabilities and lengths LogProbs would return, adds
// Σᵢ scales[i]·∇θ log π(seqs[i]) to the gradients and returns the
// log-probabilities. An error from scales must be returned as is, with the
// gradients unchanged.
type FusedAccumulator interface {
	AccumulateGradFunc(ctx context.Context, seqs []Sequence, scales func(logps []float64, lens []int) ([]float64, error)) ([]float64, error)
}

// Adam holds the settings of the Adam optimiser (Kingma & Ba, 2015). Zero
// fields take PyTorch's defaults: Beta1 0.9, Beta2 0.999, Eps 1e-8.
type Adam struct {
	Beta1, Beta2, Eps float64
}

// TrainerOptions configure a Trainer. The zero value (or nil) trains with
// Sigmoid{Beta: 0.1} for 1 epoch of batches of 16 pairs with Adam at
// learning rate 1e-3, gradients clipped to global norm 1, and the policy at
// the start of each Train call as the reference.
type TrainerOptions struct {
	// Loss is the preference loss; nil means Sigmoid{Beta: DefaultBeta}.
	Loss Loss
	// Epochs is the number of passes over the pairs of each Train call;
	// 0 means 1.
	Epochs int
	// BatchSize is the number of pairs per optimiser step; 0 means
	// DefaultBatchSize. The last batch of an epoch may be smaller.
	BatchSize int
	// LearningRate is Adam's step size; 0 means DefaultLearningRate. It is
	// constant: there is no warm-up or decay.
	LearningRate float64
	// Adam holds the optimiser's other settings.
	Adam Adam
	// ClipNorm caps the global L2 norm of the gradient of each step, as
	// torch.nn.utils.clip_grad_norm_ does; 0 means DefaultClipNorm and
	// math.Inf(1) disables clipping.
	ClipNorm float64
	// Seed drives the order of the pairs: the same seed, pairs and model
	// give the same training run.
	Seed uint64
	// Reference is a fixed reference policy. Nil means the policy itself as
	// it is at the start of each Train call, as in iterative DPO, where each
	// iteration's reference is the previous iteration's result. Since the
	// reference log-probabilities are computed once, before the first
	// update, the policy gives them itself: no Snapshot is taken. A fixed
	// Reference must not be the model being trained (Train changes that in
	// place and refuses it): for OAIF's initial-model reference, pass a
	// Snapshot of the initial model (see ReferenceFixed).
	Reference Model
}

// Trainer fits a Model to preference pairs with a DPO-family loss. It
// implements alignment.Trainer, so a Loop can train its policy after every
// iteration, and alignment.Checkpointer, so a run can resume after training.
//
// Each Train call computes the reference log-probabilities of all its pairs
// once, then runs the configured epochs of shuffled minibatches: the
// policy's log-probabilities of the batch's completions, the loss and the
// derivatives of its batch mean, Model.AccumulateGrad with those
// derivatives as scales (fused with the forward pass for a
// FusedAccumulator), global-norm clipping and an Adam step over
// Model.Params. Every Train call starts a fresh optimiser, as each iteration
// of TRL's iterative DPO does; the Adam state is therefore not part of a
// checkpoint.
//
// A Trainer is safe for use by one Train or Fit call at a time; LastReport
// may be called concurrently with them.
type Trainer struct {
	o    TrainerOptions
	load func(io.Reader) (Model, error)

	mu   sync.Mutex
	last Report
}

var (
	_ alignment.Trainer      = (*Trainer)(nil)
	_ alignment.Checkpointer = (*Trainer)(nil)
)

// NewTrainer returns a Trainer with the options o (nil means all defaults)
// and the function that LoadCheckpoint uses to read a saved model (nil
// makes LoadCheckpoint report ErrUnsupported). The error wraps ErrInvalid
// and names the offending option.
func NewTrainer(o *TrainerOptions, load func(io.Reader) (Model, error)) (*Trainer, error) {
	var r TrainerOptions
	if o != nil {
		r = *o
	}
	if r.Loss == nil {
		r.Loss = Sigmoid{Beta: DefaultBeta}
	}
	if v, ok := r.Loss.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("dpo: TrainerOptions.Loss: %w", err)
		}
	}
	if err := fillOptim("TrainerOptions", &r.Epochs, &r.BatchSize, &r.LearningRate, &r.Adam, &r.ClipNorm); err != nil {
		return nil, err
	}
	return &Trainer{o: r, load: load}, nil
}

// fillOptim checks the optimisation options that Trainer and GroupTrainer
// share and fills in their defaults. typ names the options struct in errors,
// which wrap ErrInvalid.
func fillOptim(typ string, epochs, batchSize *int, lr *float64, a *Adam, clip *float64) error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s.%s = %v, want %s", ErrInvalid, typ, field, v, want)
	}
	switch {
	case *epochs < 0:
		return bad("Epochs", *epochs, "≥ 0 (0 means 1)")
	case *batchSize < 0:
		return bad("BatchSize", *batchSize, "≥ 0 (0 means the default)")
	case !(*lr >= 0) || math.IsInf(*lr, 1):
		return bad("LearningRate", *lr, "a finite number ≥ 0 (0 means the default)")
	case !(a.Beta1 >= 0 && a.Beta1 < 1):
		return bad("Adam.Beta1", a.Beta1, "a number in [0, 1) (0 means 0.9)")
	case !(a.Beta2 >= 0 && a.Beta2 < 1):
		return bad("Adam.Beta2", a.Beta2, "a number in [0, 1) (0 means 0.999)")
	case !(a.Eps >= 0) || math.IsInf(a.Eps, 1):
		return bad("Adam.Eps", a.Eps, "a finite number ≥ 0 (0 means 1e-8)")
	case !(*clip >= 0):
		return bad("ClipNorm", *clip, "a number ≥ 0 (0 means the default, +Inf no clipping)")
	}
	if *epochs == 0 {
		*epochs = 1
	}
	if *batchSize == 0 {
		*batchSize = DefaultBatchSize
	}
	if *lr == 0 {
		*lr = DefaultLearningRate
	}
	if a.Beta1 == 0 {
		a.Beta1 = 0.9
	}
	if a.Beta2 == 0 {
		a.Beta2 = 0.999
	}
	if a.Eps == 0 {
		a.Eps = 1e-8
	}
	if *clip == 0 {
		*clip = DefaultClipNorm
	}
	return nil
}

// Options returns the trainer's options with every default filled in.
func (t *Trainer) Options() TrainerOptions { return t.o }

// Report describes one Train or Fit call.
type Report struct {
	// Pairs is the number of pairs trained on.
	Pairs int
	// Steps is the number of optimiser steps taken.
	Steps int
	// Epochs holds one entry per completed epoch.
	Epochs []Epoch
	// Elapsed is the wall-clock time of the call.
	Elapsed time.Duration
}

// Epoch is the training record of one pass over the pairs.
type Epoch struct {
	// Metrics are means over the epoch's pairs, each pair measured by the
	// forward pass of its own step, before that step's update, as TRL logs
	// training metrics.
	Metrics
	// Steps is the number of optimiser steps in the epoch.
	Steps int
	// GradNorm is the mean global gradient norm of the steps, before
	// clipping.
	GradNorm float64
	// Clipped counts the steps whose gradient was clipped.
	Clipped int
}

// LastReport returns the report of the most recent Train or Fit call,
// including a partial one that ended in an error; the zero Report before
// the first call.
func (t *Trainer) LastReport() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.last
	r.Epochs = append([]Epoch(nil), r.Epochs...)
	return r
}

// Train implements alignment.Trainer: pol must be a Model, which Fit trains
// in place on pairs; Train returns pol itself. The error wraps ErrUnsupported
// when pol is not a Model; see Fit for the others. On error pol may have
// been changed by the steps completed before it.
func (t *Trainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	m, ok := pol.(Model)
	if !ok {
		return nil, fmt.Errorf("%w: train: policy of type %T is not a dpo.Model", ErrUnsupported, pol)
	}
	if _, err := t.Fit(ctx, m, pairs); err != nil {
		return nil, err
	}
	return m, nil
}

// Fit trains m in place on pairs and returns the report, which LastReport
// also returns afterwards. No pairs is no training: an empty report and no
// error. The error is a *PairError naming the index in pairs and the field
// when a log-probability is invalid for the loss (NaN, infinite or positive,
// or a length below 1 for IPO or SimPO), wraps ErrDiverged for a non-finite
// gradient, wraps ctx.Err() when ctx is done between steps, and otherwise
// comes from the model. Fit checks ctx before every step; the model sees it
// in every call. It does not modify pairs and does not keep them.
func (t *Trainer) Fit(ctx context.Context, m Model, pairs []alignment.Pair) (Report, error) {
	start := time.Now()
	rep := Report{Pairs: len(pairs)}
	err := t.fit(ctx, m, pairs, &rep)
	rep.Elapsed = time.Since(start)
	t.mu.Lock()
	t.last = rep
	t.mu.Unlock()
	return rep, err
}

func (t *Trainer) fit(ctx context.Context, m Model, pairs []alignment.Pair, rep *Report) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dpo: train: %w", err)
	}
	n := len(pairs)
	if n == 0 {
		return nil
	}
	if err := checkReference(t.o.Reference, m); err != nil {
		return err
	}
	params := m.Params()
	opt, err := newAdam(params, t.o)
	if err != nil {
		return err
	}
	// Sequence i is pair i's chosen completion, n+i its rejected one.
	seqs := make([]Sequence, 2*n)
	for i := range pairs {
		seqs[i] = Sequence{Prompt: pairs[i].Prompt, Completion: pairs[i].Chosen.Text}
		seqs[n+i] = Sequence{Prompt: pairs[i].Prompt, Completion: pairs[i].Rejected.Text}
	}
	refLogps, err := t.reference(ctx, m, seqs)
	if err != nil {
		return err
	}

	bs := min(t.o.BatchSize, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := seeds.Rand(t.o.Seed)
	batchSeqs := make([]Sequence, 2*bs)
	batchPairs := make([]Pair, bs)
	var res BatchResult
	for e := range t.o.Epochs {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var ep Epoch
		for s := 0; s < n; s += bs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("dpo: train: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			idx := order[s:min(s+bs, n)]
			k := len(idx)
			bseqs := batchSeqs[:2*k]
			for j, i := range idx {
				bseqs[j], bseqs[k+j] = seqs[i], seqs[n+i]
			}
			// scales turns the policy's log-probabilities of the batch into
			// the derivatives of the mean loss, laid out as the sequences
			// are: chosen first, then rejected.
			scales := func(logps []float64, lens []int) ([]float64, error) {
				if len(logps) != 2*k || len(lens) != 2*k {
					return nil, fmt.Errorf("%w: model returned %d log-probabilities and %d lengths for %d sequences", ErrInvalid, len(logps), len(lens), 2*k)
				}
				for j, i := range idx {
					batchPairs[j] = lossPair(&pairs[i], logps[j], logps[k+j], refLogps[i], refLogps[n+i], lens[j], lens[k+j])
				}
				if err := res.Eval(t.o.Loss, batchPairs[:k]); err != nil {
					return nil, reindex(err, func(j int) int { return idx[j] })
				}
				return res.grad[:2*k], nil
			}
			m.ZeroGrad()
			if err := accumulate(ctx, m, bseqs, scales); err != nil {
				var pe *PairError
				if errors.As(err, &pe) {
					return pe
				}
				return fmt.Errorf("dpo: train: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			norm, clipped, err := opt.step(params)
			if err != nil {
				return fmt.Errorf("%w: epoch %d, step %d: %w", ErrDiverged, e, ep.Steps, err)
			}
			ep.Metrics = ep.Metrics.Merge(res.Metrics)
			ep.Steps++
			ep.GradNorm += norm
			if clipped {
				ep.Clipped++
			}
			rep.Steps++
		}
		ep.GradNorm /= float64(ep.Steps)
		rep.Epochs = append(rep.Epochs, ep)
	}
	return nil
}

// lossPair is how the Trainer presents p to its loss: the policy's and the
// reference's log-probabilities of the chosen and rejected completions, the
// policy's token counts, and whatever else of p the losses read. It is the
// one place that maps an alignment.Pair to a Pair.
func lossPair(p *alignment.Pair, chosen, rejected, refChosen, refRejected float64, chosenLen, rejectedLen int) Pair {
	return Pair{
		Chosen: chosen, Rejected: rejected,
		RefChosen: refChosen, RefRejected: refRejected,
		ChosenLen: chosenLen, RejectedLen: rejectedLen,
		Prob: p.Prob, HasProb: p.Prob != 0,
	}
}

// accumulate adds the gradient of the batch's mean loss to m's gradients:
// in one pass when m is a FusedAccumulator, else by LogProbs and then
// AccumulateGrad.
func accumulate(ctx context.Context, m Model, seqs []Sequence, scales func([]float64, []int) ([]float64, error)) error {
	if f, ok := m.(FusedAccumulator); ok {
		_, err := f.AccumulateGradFunc(ctx, seqs, scales)
		return err
	}
	logps, lens, err := m.LogProbs(ctx, seqs)
	if err != nil {
		return fmt.Errorf("policy log-probabilities: %w", err)
	}
	sc, err := scales(logps, lens)
	if err != nil {
		return err
	}
	if err := m.AccumulateGrad(ctx, seqs, sc); err != nil {
		return fmt.Errorf("gradient: %w", err)
	}
	return nil
}

// reference returns the reference log-probabilities of seqs, computed once
// per Train call in chunks so that ctx is honoured between them. Without a
// fixed Reference they are the policy's own, before any update, which is
// what a snapshot taken now would give, without the copy. They are checked
// here, so that a bad reference fails the call before any step.
func (t *Trainer) reference(ctx context.Context, m Model, seqs []Sequence) ([]float64, error) {
	ref := t.o.Reference
	if ref == nil {
		ref = m
	}
	n := len(seqs) / 2
	out, lens, err := logProbs(ctx, ref, seqs, 2*t.o.BatchSize, "reference")
	if err != nil {
		return nil, err
	}
	// The reference's lengths are only checked, not used: a pair's lengths
	// are the policy's, since IPO and SimPO average the policy's tokens.
	ln, ok := t.o.Loss.(LengthNormalized)
	perToken := ok && ln.UsesLengths()
	for i := range n {
		p := Pair{RefChosen: out[i], RefRejected: out[n+i], ChosenLen: lens[i], RejectedLen: lens[n+i]}
		if err := checkPair(i, &p, perToken); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// logProbs returns m's log-probabilities and lengths of seqs, computed in
// chunks of the given size so that ctx is honoured between them; role
// ("reference", "policy") names m in errors.
func logProbs(ctx context.Context, m Model, seqs []Sequence, chunk int, role string) ([]float64, []int, error) {
	out := make([]float64, 0, len(seqs))
	lens := make([]int, 0, len(seqs))
	for s := 0; s < len(seqs); s += chunk {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("dpo: train: %s log-probabilities: %w", role, err)
		}
		part := seqs[s:min(s+chunk, len(seqs))]
		lp, ln, err := m.LogProbs(ctx, part)
		if err != nil {
			return nil, nil, fmt.Errorf("dpo: train: %s log-probabilities: %w", role, err)
		}
		if len(lp) != len(part) || len(ln) != len(part) {
			return nil, nil, fmt.Errorf("%w: %s model returned %d log-probabilities and %d lengths for %d sequences", ErrInvalid, role, len(lp), len(ln), len(part))
		}
		out = append(out, lp...)
		lens = append(lens, ln...)
	}
	return out, lens, nil
}

// adam is the optimiser state of one Train call. The moments are float32,
// as PyTorch keeps them for float32 parameters; the update is computed in
// float64 and follows torch.optim.Adam (without weight decay or amsgrad).
type adam struct {
	lr, b1, b2, eps, clip float64
	t                     int
	m, v                  [][]float32
}

func newAdam(params []Param, o TrainerOptions) (*adam, error) {
	if len(params) == 0 {
		return nil, fmt.Errorf("%w: model has no parameters to train", ErrInvalid)
	}
	a := &adam{lr: o.LearningRate, b1: o.Adam.Beta1, b2: o.Adam.Beta2, eps: o.Adam.Eps, clip: o.ClipNorm}
	a.m = make([][]float32, len(params))
	a.v = make([][]float32, len(params))
	for i, p := range params {
		if len(p.Value) != len(p.Grad) {
			return nil, fmt.Errorf("%w: model parameter %d (%q) has %d values but %d gradients", ErrInvalid, i, p.Name, len(p.Value), len(p.Grad))
		}
		a.m[i] = make([]float32, len(p.Value))
		a.v[i] = make([]float32, len(p.Value))
	}
	return a, nil
}

// step clips the accumulated gradients to the global norm a.clip and
// applies one Adam update. It returns the norm before clipping and whether
// it clipped; a non-finite norm is an error and leaves params unchanged.
func (a *adam) step(params []Param) (norm float64, clipped bool, err error) {
	var ss float64
	for _, p := range params {
		for _, g := range p.Grad {
			ss += float64(g) * float64(g)
		}
	}
	norm = math.Sqrt(ss)
	if !finite(norm) {
		return norm, false, fmt.Errorf("gradient norm is %v", norm)
	}
	scale := 1.0
	// torch.nn.utils.clip_grad_norm_: coefficient max_norm/(norm+1e-6),
	// applied only when below 1.
	if c := a.clip / (norm + 1e-6); c < 1 {
		scale, clipped = c, true
	}
	a.t++
	bc1 := 1 - math.Pow(a.b1, float64(a.t))
	bc2 := math.Sqrt(1 - math.Pow(a.b2, float64(a.t)))
	stepSize := a.lr / bc1
	for i, p := range params {
		m, v := a.m[i], a.v[i]
		for j, g32 := range p.Grad {
			g := float64(g32) * scale
			mj := a.b1*float64(m[j]) + (1-a.b1)*g
			vj := a.b2*float64(v[j]) + (1-a.b2)*g*g
			m[j], v[j] = float32(mj), float32(vj)
			p.Value[j] -= float32(stepSize * mj / (math.Sqrt(vj)/bc2 + a.eps))
		}
	}
	return norm, clipped, nil
}

// Fingerprint implements alignment.Fingerprinter, so that a run resumed
// with another loss, schedule, optimiser or seed is refused rather than
// continued with different training: the Trainer's options with defaults
// applied, the Reference by its own fingerprint (or its type).
func (t *Trainer) Fingerprint() string {
	o := t.o
	ref := alignment.FingerprintOf(o.Reference)
	o.Reference = nil
	return fmt.Sprintf("dpo.Trainer %T%+v epochs=%d batch=%d lr=%v adam=%+v clip=%v seed=%d reference=%s",
		o.Loss, o.Loss, o.Epochs, o.BatchSize, o.LearningRate, o.Adam, o.ClipNorm, o.Seed, ref)
}
