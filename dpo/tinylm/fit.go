package tinylm

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/internal/seeds"
)

// FitOptions set supervised fine-tuning. Zero fields take the defaults.
type FitOptions struct {
	// Epochs is the number of passes over the examples (default 10).
	Epochs int
	// BatchSize is the number of examples per Adam step (default 16).
	BatchSize int
	// LR is Adam's learning rate (default 0.01).
	LR float64
	// Seed shuffles the examples, differently each epoch.
	Seed uint64
}

// Defaults of FitOptions.
const (
	DefaultEpochs    = 10
	DefaultBatchSize = 16
	DefaultLR        = 0.01
)

// Fit trains the model in place by supervised fine-tuning: it minimises the
// cross-entropy of each completion's tokens and <eos> given the prompt (the
// prompt itself is not scored), averaged over the tokens of a batch, with
// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8, fresh moments on every call). It returns
// the mean cross-entropy per token (nats) of each epoch, as measured on the
// batches while training. Gradients are zero when Fit returns.
//
// No examples, or options out of range, is an error wrapping
// alignment.ErrInvalid; a done ctx stops training between batches with an
// error wrapping ctx.Err(), leaving the weights of the last completed step.
func (m *Model) Fit(ctx context.Context, examples []dpo.Sequence, o FitOptions) ([]float64, error) {
	if len(examples) == 0 {
		return nil, fmt.Errorf("tinylm: fit: no examples: %w", alignment.ErrInvalid)
	}
	if o.Epochs == 0 {
		o.Epochs = DefaultEpochs
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LR == 0 {
		o.LR = DefaultLR
	}
	switch {
	case o.Epochs < 0:
		return nil, fmt.Errorf("tinylm: fit options: Epochs %d is negative: %w", o.Epochs, alignment.ErrInvalid)
	case o.BatchSize < 0:
		return nil, fmt.Errorf("tinylm: fit options: BatchSize %d is negative: %w", o.BatchSize, alignment.ErrInvalid)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return nil, fmt.Errorf("tinylm: fit options: LR %v must be a finite number > 0: %w", o.LR, alignment.ErrInvalid)
	}
	defer m.ZeroGrad()
	opt := newAdam(m.Params(), o.LR)
	losses := make([]float64, 0, o.Epochs)
	batch := make([]dpo.Sequence, 0, o.BatchSize)
	for epoch := range o.Epochs {
		order := seeds.Rand(seeds.Derive(o.Seed, "tinylm", "fit", strconv.Itoa(epoch))).Perm(len(examples))
		var nll float64
		var tokens int
		for start := 0; start < len(order); start += o.BatchSize {
			batch = batch[:0]
			for _, i := range order[start:min(start+o.BatchSize, len(order))] {
				batch = append(batch, examples[i])
			}
			m.ZeroGrad()
			var n int
			logps, err := m.AccumulateGradFunc(ctx, batch, func(logps []float64, lens []int) ([]float64, error) {
				for _, l := range lens {
					n += l
				}
				s := make([]float64, len(logps))
				for i := range s {
					s[i] = -1 / float64(n)
				}
				return s, nil
			})
			if err != nil {
				return losses, fmt.Errorf("tinylm: fit: epoch %d: %w", epoch, err)
			}
			for _, lp := range logps {
				nll -= lp
			}
			tokens += n
			// AccumulateGrad added the gradient of the mean log-likelihood
			// scaled by −1: the gradient of the loss Adam descends.
			opt.step()
		}
		losses = append(losses, nll/float64(tokens))
	}
	return losses, nil
}

// Perplexity returns exp of the mean cross-entropy per completion token
// (with <eos>) of the examples: the held-out measure that SFT lowers.
func (m *Model) Perplexity(ctx context.Context, examples []dpo.Sequence) (float64, error) {
	if len(examples) == 0 {
		return 0, fmt.Errorf("tinylm: perplexity: no examples: %w", alignment.ErrInvalid)
	}
	logps, lens, err := m.LogProbs(ctx, examples)
	if err != nil {
		return 0, err
	}
	var nll float64
	var n int
	for i, lp := range logps {
		nll -= lp
		n += lens[i]
	}
	return math.Exp(nll / float64(n)), nil
}

// adam is Adam (Kingma and Ba, 2015) over a model's parameters, descending
// their gradients, with the moments in float32 like the parameters.
type adam struct {
	params         []dpo.Param
	lr, b1, b2, ep float64
	t              int
	m, v           [][]float32
}

func newAdam(params []dpo.Param, lr float64) *adam {
	a := &adam{params: params, lr: lr, b1: 0.9, b2: 0.999, ep: 1e-8}
	for _, p := range params {
		a.m = append(a.m, make([]float32, len(p.Value)))
		a.v = append(a.v, make([]float32, len(p.Value)))
	}
	return a
}

// step moves every parameter against its gradient.
func (a *adam) step() {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	// θ ← θ − lr·m̂/(√v̂ + ε) with m̂ = m/c1, v̂ = v/c2, rearranged so that
	// the bias corrections are two scalars: lr/c1 · m / (√v/√c2 + ε).
	c := [8]float32{float32(a.b1), float32(1 - a.b1), float32(a.b2), float32(1 - a.b2),
		float32(a.lr / c1), float32(1 / math.Sqrt(c2)), float32(a.ep)}
	// Split the flattened parameters into chunks over the cores.
	const chunk = 1 << 14
	type span struct{ i, lo, hi int }
	var spans []span
	for i, p := range a.params {
		for lo := 0; lo < len(p.Value); lo += chunk {
			spans = append(spans, span{i, lo, min(lo+chunk, len(p.Value))})
		}
	}
	parallelRows(len(spans), len(spans)*chunk, func(lo, hi int) {
		for _, s := range spans[lo:hi] {
			p := a.params[s.i]
			adamUpdate(p.Value[s.lo:s.hi], p.Grad[s.lo:s.hi], a.m[s.i][s.lo:s.hi], a.v[s.i][s.lo:s.hi], &c)
		}
	})
}
