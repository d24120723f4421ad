package recipe

import (
	"cmp"
	"context"
	"fmt"
	"iter"

	"github.com/selfalign/selfalign/alignment"
)

// SourceOnlineDPO is the Source of the online DPO recipe's pairs.
const SourceOnlineDPO = "online-dpo"

// OnlineDPO is the recipe of online DPO from AI feedback (OAIF; Guo et
// al., 2024, "Direct Language Model Alignment from Online AI Feedback"):
// for each batch of prompts, two responses per prompt are sampled from the
// current policy, a pairwise AI judge (the Comparer) picks the better, and
// the Trainer takes one optimiser step on that batch at once, so the next
// batch is sampled from the updated policy. The DPO loss is anchored to
// the initial (SFT) model throughout, as in OAIF and TRL's OnlineDPOTrainer.
//
// The recipe cannot set the Trainer's reference or step count, so it
// checks them when the Trainer reports them: a Trainer with
// ReferenceFixed (dpo.Trainer has it) must report a fixed reference, and
// one with Steps must take one step on a batch's pairs (at most BatchSize
// of them). With dpo.Trainer:
//
//	ref, err := model.Snapshot() // the initial model, frozen
//	...
//	dpo.NewTrainer(&dpo.TrainerOptions{Reference: ref, BatchSize: batchSize, Epochs: 1}, load)
//
// MovingReference and MultiStep allow the departures instead: a
// reference that is the policy at the start of each step, several epochs
// or minibatches per batch. With both, the recipe is frequent-refresh
// iterative DPO rather than OAIF. A Trainer that reports neither is
// trusted to be configured as documented here.
//
// On the Loop an iteration is a batch: Batches yields batch i of the
// prompts as iteration i, and the Trainer runs after every iteration.
// Prompts whose two responses the Comparer finds equal (ProbA 0.5, as for
// a position-inconsistent verdict) make no pair. Base.Eval, if set, runs
// before every batch: keep its prompts few, and since one batch moves the
// policy little, consider turning the plateau rule off
// (Safeguards.PlateauWinRate below 0).
type OnlineDPO struct {
	// Base holds the run's settings: Policy, Prompts and Trainer are
	// required; Samples defaults to 2, Selector to MaxMin, Source to
	// "online-dpo", and Iterations to Epochs passes over the batches,
	// which needs Prompts to be Sized (set Iterations otherwise). An
	// iteration past the last batch of a source whose next epoch has no
	// prompts has none, and stops the run with an error wrapping
	// ErrInvalid, as every iteration without prompts does.
	// Sampling should have a temperature above 0, or the two responses of
	// a deterministic policy are equal. Judge, SelfJudge and Comparer must
	// be left zero.
	Base alignment.Loop
	// Comparer is the AI annotator. Required.
	Comparer alignment.Comparer
	// BatchSize is the number of prompts per batch, and so per training
	// step. Required.
	BatchSize int
	// Epochs is the number of passes over the prompts when
	// Base.Iterations is 0; default 1.
	Epochs int
	// MovingReference allows a Trainer whose reference is the policy at
	// the start of each Train call (dpo.Trainer without
	// TrainerOptions.Reference), a departure from OAIF, whose reference is
	// the initial model.
	MovingReference bool
	// MultiStep allows a Trainer that takes more than one optimiser step
	// on a batch (several epochs, or minibatches smaller than the batch),
	// a departure from OAIF's one step per batch.
	MultiStep bool
}

// ReferenceReporter is a Trainer that reports whether its loss is anchored
// to a fixed reference policy, as dpo.Trainer does. OnlineDPO checks it.
type ReferenceReporter interface {
	ReferenceFixed() bool
}

// StepCounter is a Trainer that reports how many optimiser steps a Train
// call on the given number of pairs takes, as dpo.Trainer does.
// OnlineDPO checks it.
type StepCounter interface {
	Steps(pairs int) int
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (o *OnlineDPO) Loop() (*alignment.Loop, error) {
	b := o.Base
	l, err := recipeBase("OnlineDPO", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil})
	bad := func(why string) error { return fmt.Errorf("recipe: OnlineDPO: %s: %w", why, alignment.ErrInvalid) }
	switch {
	case err != nil:
		return nil, err
	case o.Comparer == nil:
		return nil, bad("Comparer is nil")
	case b.Trainer == nil:
		return nil, bad("Base.Trainer is nil: online DPO trains after every batch")
	case o.BatchSize < 1:
		return nil, bad(fmt.Sprintf("BatchSize is %d, want at least 1", o.BatchSize))
	case o.Epochs < 0:
		return nil, bad(fmt.Sprintf("Epochs is %d, want 0 (default 1) or more", o.Epochs))
	}
	if r, ok := b.Trainer.(ReferenceReporter); ok && !r.ReferenceFixed() && !o.MovingReference {
		return nil, bad(fmt.Sprintf("Base.Trainer (%T) anchors its loss to the policy at the start of each step, and OAIF anchors it to the initial model: give the Trainer a fixed reference (dpo.TrainerOptions.Reference: a Snapshot of Base.Policy), or set MovingReference", b.Trainer))
	}
	if c, ok := b.Trainer.(StepCounter); ok && !o.MultiStep {
		if n := c.Steps(o.BatchSize); n != 1 {
			return nil, bad(fmt.Sprintf("Base.Trainer (%T) takes %d optimiser steps on a batch of %d pairs, and OAIF takes one: train 1 epoch with minibatches of at least BatchSize pairs, or set MultiStep", b.Trainer, n, o.BatchSize))
		}
	}
	batches, err := NewBatches(b.Prompts, o.BatchSize)
	if err != nil {
		return nil, err
	}
	if b.Iterations == 0 {
		n := batches.PerEpoch(0)
		if n < 0 {
			return nil, bad("Base.Iterations is 0 and Base.Prompts is not Sized, so the number of batches is unknown")
		}
		l.Iterations = cmp.Or(o.Epochs, 1) * n
		if l.Iterations == 0 {
			return nil, bad("Base.Prompts has no prompts")
		}
	}
	l.Prompts = batches
	l.Comparer = o.Comparer
	l.Samples = cmp.Or(b.Samples, 2)
	l.Source = cmp.Or(b.Source, SourceOnlineDPO)
	return l, nil
}

// Run runs the configured Loop.
func (o *OnlineDPO) Run(ctx context.Context) (alignment.Result, error) {
	l, err := o.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}

var (
	_ alignment.PromptSource = (*Batches)(nil)
	_ alignment.Sized        = (*Batches)(nil)
)

// Batches is a PromptSource that splits another source's prompts into
// batches of a fixed size and yields batch i as iteration i, for training
// on every batch (online DPO). Epoch e is the source's iteration e: a fixed
// source repeats its prompts every epoch, a generator gives new ones. An
// epoch's batches are its prompts in order, Size at a time; the last may
// be smaller. Batches is safe for concurrent use when its source is.
type Batches struct {
	src  alignment.PromptSource
	size int
}

// NewBatches returns the batches of size prompts of src. The error wraps
// ErrInvalid when src is nil or size is below 1.
func NewBatches(src alignment.PromptSource, size int) (*Batches, error) {
	switch {
	case src == nil:
		return nil, fmt.Errorf("recipe: batches of a nil prompt source: %w", alignment.ErrInvalid)
	case size < 1:
		return nil, fmt.Errorf("recipe: batch size %d, want at least 1: %w", size, alignment.ErrInvalid)
	}
	return &Batches{src: src, size: size}, nil
}

// PerEpoch returns the number of batches of epoch e, or −1 when the source
// is not Sized.
func (b *Batches) PerEpoch(e int) int {
	s, ok := b.src.(alignment.Sized)
	if !ok {
		return -1
	}
	return (s.Len(e) + b.size - 1) / b.size
}

// Len implements Sized: the size of batch iteration, or 0 when the source
// is not Sized (which the Loop takes as unknown) or has no such batch.
func (b *Batches) Len(iteration int) int {
	s, ok := b.src.(alignment.Sized)
	if !ok {
		return 0
	}
	e, i, ok := b.locate(iteration, s.Len)
	if !ok {
		return 0
	}
	return min(b.size, s.Len(e)-i*b.size)
}

// Prompts implements PromptSource: the prompts of batch iteration, as the
// source yields them. An iteration past the last batch of an epoch with no
// prompts has none. Errors of the source are passed on.
func (b *Batches) Prompts(ctx context.Context, iteration int) iter.Seq2[alignment.Prompt, error] {
	return func(yield func(alignment.Prompt, error) bool) {
		count := func(e int) int {
			if s, ok := b.src.(alignment.Sized); ok {
				return s.Len(e)
			}
			n := 0
			for _, err := range b.src.Prompts(ctx, e) {
				if err != nil {
					break
				}
				n++
			}
			return n
		}
		e, i, ok := b.locate(iteration, count)
		if !ok {
			if err := ctx.Err(); err != nil {
				yield(alignment.Prompt{}, fmt.Errorf("recipe: batch %d: %w", iteration, err))
			}
			return
		}
		from, to, k := i*b.size, (i+1)*b.size, 0
		for p, err := range b.src.Prompts(ctx, e) {
			if err != nil {
				yield(alignment.Prompt{}, fmt.Errorf("recipe: batch %d (epoch %d, batch %d of it): %w", iteration, e, i, err))
				return
			}
			if k >= from && !yield(p, nil) {
				return
			}
			if k++; k >= to {
				return
			}
		}
	}
}

// locate finds the epoch of batch iteration and its index in that epoch,
// given each epoch's number of prompts; false when an epoch before it has
// no prompts.
func (b *Batches) locate(iteration int, size func(epoch int) int) (epoch, index int, ok bool) {
	if iteration < 0 {
		return 0, 0, false
	}
	for e := 0; ; e++ {
		n := (size(e) + b.size - 1) / b.size
		if n == 0 {
			return 0, 0, false
		}
		if iteration < n {
			return e, iteration, true
		}
		iteration -= n
	}
}
