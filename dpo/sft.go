package dpo

import (
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

var _ alignment.SFTTrainer = (*Trainer)(nil)

// TrainSFT implements alignment.SFTTrainer: it fine-tunes pol, which must
// be a Model, in place on examples by maximum likelihood, and returns pol
// itself. The loss of a batch is the cross-entropy of its completions'
// tokens given their prompts (the prompts are not scored), averaged over
// the batch's completion tokens, as TRL's SFTTrainer with a completion-only
// collator computes it. It uses the Trainer's optimisation options —
// Epochs, BatchSize (examples per step), LearningRate, Adam, ClipNorm and
// Seed — with a fresh Adam per call; Loss and Reference play no part.
// LastReport afterwards reports the call, with Pairs counting the examples
// and each Epoch's Metrics holding only Loss (mean cross-entropy per
// token).
//
// No examples is no training. The error wraps ErrUnsupported when pol is
// not a Model, ErrDiverged for a non-finite gradient, ErrInvalid for a
// completion of no tokens or a log-probability that is not finite, and
// ctx.Err() when ctx is done between steps; on error pol may have been
// changed by the steps completed before it.
func (t *Trainer) TrainSFT(ctx context.Context, pol alignment.Policy, examples []alignment.Example) (alignment.Policy, error) {
	m, ok := pol.(Model)
	if !ok {
		return nil, fmt.Errorf("%w: supervised fine-tuning: policy of type %T is not a dpo.Model", ErrUnsupported, pol)
	}
	rep := Report{Pairs: len(examples)}
	err := t.sft(ctx, m, examples, &rep)
	t.mu.Lock()
	t.last = rep
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (t *Trainer) sft(ctx context.Context, m Model, examples []alignment.Example, rep *Report) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dpo: supervised fine-tuning: %w", err)
	}
	n := len(examples)
	if n == 0 {
		return nil
	}
	params := m.Params()
	opt, err := newAdam(params, t.o)
	if err != nil {
		return err
	}
	seqs := make([]Sequence, n)
	for i, e := range examples {
		seqs[i] = Sequence{Prompt: e.Prompt, Completion: e.Completion}
	}
	bs := min(t.o.BatchSize, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := seeds.Rand(seeds.Derive(t.o.Seed, "sft"))
	batch := make([]Sequence, 0, bs)
	for e := range t.o.Epochs {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var ep Epoch
		var nll float64
		var tokens int
		for s := 0; s < n; s += bs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("dpo: supervised fine-tuning: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			idx := order[s:min(s+bs, n)]
			batch = batch[:0]
			for _, i := range idx {
				batch = append(batch, seqs[i])
			}
			// The derivative of −Σ log π / Σ tokens with respect to each
			// sequence's log-probability is −1 / Σ tokens.
			scales := func(logps []float64, lens []int) ([]float64, error) {
				if len(logps) != len(idx) || len(lens) != len(idx) {
					return nil, fmt.Errorf("%w: model returned %d log-probabilities and %d lengths for %d sequences", ErrInvalid, len(logps), len(lens), len(idx))
				}
				k := 0
				for j, l := range lens {
					if l < 1 || !finite(logps[j]) || logps[j] > 0 {
						return nil, fmt.Errorf("%w: example %d has log-probability %v over %d tokens", ErrInvalid, idx[j], logps[j], l)
					}
					k += l
					nll -= logps[j]
				}
				tokens += k
				sc := make([]float64, len(idx))
				for j := range sc {
					sc[j] = -1 / float64(k)
				}
				return sc, nil
			}
			m.ZeroGrad()
			if err := accumulate(ctx, m, batch, scales); err != nil {
				return fmt.Errorf("dpo: supervised fine-tuning: epoch %d, step %d: %w", e, ep.Steps, err)
			}
			norm, clipped, err := opt.step(params)
			if err != nil {
				return fmt.Errorf("%w: supervised fine-tuning: epoch %d, step %d: %w", ErrDiverged, e, ep.Steps, err)
			}
			ep.Steps++
			ep.GradNorm += norm
			if clipped {
				ep.Clipped++
			}
			rep.Steps++
		}
		ep.GradNorm /= float64(ep.Steps)
		ep.Pairs, ep.Loss = n, nll/float64(tokens)
		rep.Epochs = append(rep.Epochs, ep)
	}
	return nil
}
