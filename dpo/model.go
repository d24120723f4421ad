package dpo

import (
	"context"

	"github.com/selfalign/selfalign/alignment"
)

// Sequence is one completion of a prompt whose log-probability a Model
// computes.
type Sequence struct {
	Prompt     alignment.Prompt
	Completion string
}

// Param is one named parameter tensor of a Model, flattened, with the
// gradient accumulated for it. Value and Grad have the same length and alias
// the model's own storage: optimizers update Value in place.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
}

// Model is a differentiable policy: a Policy whose completion
// log-probabilities have exact gradients, so that the Trainer can fit it to
// preference pairs.
//
// Concurrency: LogProbs and Generate may run concurrently with each other;
// AccumulateGrad, ZeroGrad and any change of Params must not run concurrently
// with anything else on the same model. Ownership: methods must not keep or
// modify their slice arguments.
type Model interface {
	alignment.Policy
	// LogProbs returns, for each sequence, log π(completion | prompt) summed
	// over the completion's tokens, and the number of those tokens.
	LogProbs(ctx context.Context, seqs []Sequence) (logps []float64, lens []int, err error)
	// AccumulateGrad adds Σᵢ scales[i]·∇θ log π(seqs[i]) to the gradients
	// of Params.
	AccumulateGrad(ctx context.Context, seqs []Sequence, scales []float64) error
	// Params returns the model's parameters with their gradient buffers.
	Params() []Param
	// ZeroGrad sets every gradient to zero.
	ZeroGrad()
	// Snapshot returns an independent copy of the model, for use as a frozen
	// reference policy: later updates of either do not affect the other.
	Snapshot() (Model, error)
}
