package dpo

import (
	"fmt"
	"math"
)

// GroupSeq is one sampled completion as a group policy-gradient loss sees
// it: its summed log-probabilities under the policy being trained, under the
// policy that sampled it and under the reference policy, its length, and
// its advantage.
type GroupSeq struct {
	// LogP is log πθ(y|x) summed over the completion's tokens, the variable
	// the loss's gradient is taken with respect to.
	LogP float64
	// OldLogP is log πθ_old(y|x), the policy that sampled y; it is held
	// fixed during training and defines the importance ratio.
	OldLogP float64
	// RefLogP is log πref(y|x), the reference policy of the KL term.
	RefLogP float64
	// Len is the number of completion tokens, at least 1.
	Len int
	// Advantage is the completion's advantage, as the loss's Advantages
	// computes it from its group's rewards.
	Advantage float64
}

// GroupLoss is a policy-gradient loss on groups of completions sampled for
// the same prompt, such as GRPO and RLOO.
//
// Advantages turns the rewards of one group's completions into their
// advantages, written to adv; seqs holds the group's completions (only
// OldLogP, RefLogP and Len are read), rewards and adv are as long as seqs.
// Eval returns the loss of a batch of completions, from one or more groups
// and with their advantages set, and writes to dLogP[i] the derivative of
// that loss with respect to seqs[i].LogP. Both assume valid input and valid
// parameters, as Loss.Eval does; the GroupTrainer checks its input first,
// and the losses of this package implement Validator.
type GroupLoss interface {
	Advantages(adv, rewards []float64, seqs []GroupSeq)
	Eval(seqs []GroupSeq, dLogP []float64) (loss float64)
}

// Defaults of GRPO and RLOO, used for zero fields; TRL's.
const (
	// DefaultClipEpsilon is ε of the clipped importance ratio, TRL's
	// epsilon for both GRPOTrainer and RLOOTrainer.
	DefaultClipEpsilon = 0.2
	// DefaultRLOOBeta is the KL coefficient of RLOO, TRL's RLOOConfig.beta.
	DefaultRLOOBeta = 0.05
	// advantageEps keeps the group-normalised advantage finite when the
	// rewards barely differ; TRL's GRPOTrainer adds the same 1e-4 to the
	// standard deviation.
	advantageEps = 1e-4
)

// Aggregation says how GRPO averages its per-token losses over a batch,
// which sets how much each completion weighs.
type Aggregation int

const (
	// TokenMean divides the sum of all per-token losses by the number of
	// tokens in the batch, so that every token weighs the same: TRL's
	// loss_type "dapo" (its default) and "bnpo" over one optimiser step's
	// batch.
	TokenMean Aggregation = iota
	// SequenceMean averages each completion's per-token losses, then
	// averages over completions: TRL's loss_type "grpo", the formula of the
	// DeepSeekMath paper, which favours short completions with positive
	// advantages.
	SequenceMean
)

// GRPO is the group relative policy optimisation loss of Shao et al.
// (2024, DeepSeekMath) as TRL's GRPOTrainer computes it, on summed
// completion log-probabilities.
//
// Advantages are group-normalised: Âᵢ = (rᵢ − mean r)/(std r + 1e-4), with
// the standard deviation of the group's rewards taken with Bessel's
// correction (TRL's scale_rewards "group"; NoScale gives Dr. GRPO's
// rᵢ − mean r). A group of one has advantage 0, as TRL's nan_to_num makes
// it. Each completion's per-token loss is
//
//	−min(wᵢ·Âᵢ, clip(wᵢ, 1−ε, 1+εₕ)·Âᵢ) + β·(e^dᵢ − dᵢ − 1)
//
// with the importance weight wᵢ = exp((LogP − OldLogP)/Len) and
// dᵢ = (RefLogP − LogP)/Len, and the per-token losses are averaged as
// Aggregation says.
//
// Relation to TRL: only summed log-probabilities reach the loss (a Model
// gives no per-token ones), so the weight is the sequence-level one of TRL's
// importance_sampling_level "sequence" (GSPO), and the KL term is TRL's k3
// estimator e^d − d − 1 applied to the mean per-token log-ratio d. Both are
// exactly TRL's per-token formulas for a completion whose tokens all have the
// same log-ratio. While the policy is still the one that sampled (w = 1,
// TRL's default num_iterations 1) the surrogate's value and gradient equal
// those of TRL's default token-level weights; with β = 0, TRL's default, the
// whole loss does.
//
// Beta must be finite and ≥ 0; Epsilon and EpsilonHigh finite and ≥ 0, with
// Epsilon < 1.
type GRPO struct {
	// Beta is the KL coefficient β; 0, TRL's default, drops the KL term.
	Beta float64
	// Epsilon is the lower clipping bound ε; 0 means DefaultClipEpsilon.
	Epsilon float64
	// EpsilonHigh is the upper bound εₕ; 0 means Epsilon (DAPO recommends
	// 0.28).
	EpsilonHigh float64
	// Aggregation is how per-token losses are averaged; the zero value is
	// TokenMean, TRL's default.
	Aggregation Aggregation
	// NoScale leaves advantages unscaled, rᵢ − mean r, as Dr. GRPO
	// recommends (TRL's scale_rewards "none").
	NoScale bool
}

// Advantages implements GroupLoss.
func (g GRPO) Advantages(adv, rewards []float64, _ []GroupSeq) {
	n := len(rewards)
	if n < 2 {
		clear(adv[:n])
		return
	}
	mean, std := meanStd(rewards)
	for i, r := range rewards {
		a := (r - rewards[0]) - (mean - rewards[0])
		if !g.NoScale {
			a /= std + advantageEps
		}
		adv[i] = a
	}
}

// Eval implements GroupLoss.
func (g GRPO) Eval(seqs []GroupSeq, dLogP []float64) float64 {
	lo, hi := g.clip()
	norm := 0.0 // the divisor of the whole batch's per-token losses
	if g.Aggregation == TokenMean {
		for _, s := range seqs {
			norm += float64(s.Len)
		}
	}
	var loss float64
	for i, s := range seqs {
		l := float64(s.Len)
		w := math.Exp((s.LogP - s.OldLogP) / l)
		surr, dw := clipped(w, s.Advantage, lo, hi)
		// dloss/dLogP of one token's loss: the surrogate through w, whose
		// derivative is w/Len, and the KL through d, whose is −1/Len.
		tok := surr
		dtok := dw * w / l
		if g.Beta != 0 {
			d := (s.RefLogP - s.LogP) / l
			ed := math.Exp(d)
			tok += g.Beta * (ed - d - 1)
			dtok += g.Beta * (1 - ed) / l
		}
		// Every one of the Len tokens carries the same loss.
		if g.Aggregation == TokenMean {
			loss += l * tok / norm
			dLogP[i] = l * dtok / norm
		} else {
			n := float64(len(seqs))
			loss += tok / n
			dLogP[i] = dtok / n
		}
	}
	return loss
}

// Validate implements Validator.
func (g GRPO) Validate() error {
	if !(g.Beta >= 0) || math.IsInf(g.Beta, 1) {
		return fmt.Errorf("%w: GRPO.Beta = %v, want a finite number ≥ 0", ErrInvalid, g.Beta)
	}
	if err := checkEpsilons("GRPO", g.Epsilon, g.EpsilonHigh); err != nil {
		return err
	}
	if g.Aggregation != TokenMean && g.Aggregation != SequenceMean {
		return fmt.Errorf("%w: GRPO.Aggregation = %d, want TokenMean or SequenceMean", ErrInvalid, g.Aggregation)
	}
	return nil
}

func (g GRPO) clip() (lo, hi float64) { return clipBounds(g.Epsilon, g.EpsilonHigh) }

// RLOO is the REINFORCE leave-one-out loss of Ahmadian et al. (2024) as
// TRL's RLOOTrainer computes it. The KL penalty is part of the reward: with
// r̃ᵢ = rᵢ − β·(OldLogP − RefLogP), the sampled completion's summed
// log-ratio, the advantage is r̃ᵢ minus the mean of its siblings' r̃ⱼ (0 in a
// group of one). The loss is the mean over the batch's completions of
//
//	−min(ρᵢ·Aᵢ, clip(ρᵢ, 1−ε, 1+εₕ)·Aᵢ),  ρᵢ = exp(LogP − OldLogP)
//
// on whole-sequence log-probabilities, as TRL computes it (TRL's
// normalize_advantages, off by default, is not offered). Beta, Epsilon and
// EpsilonHigh are as for GRPO.
type RLOO struct {
	// Beta is the KL coefficient β; 0 means DefaultRLOOBeta, TRL's
	// default. NoKL drops the penalty instead.
	Beta float64
	// NoKL drops the KL penalty from the reward (TRL's beta = 0).
	NoKL bool
	// Epsilon is the lower clipping bound ε; 0 means DefaultClipEpsilon.
	Epsilon float64
	// EpsilonHigh is the upper bound εₕ; 0 means Epsilon.
	EpsilonHigh float64
}

// Advantages implements GroupLoss.
func (r RLOO) Advantages(adv, rewards []float64, seqs []GroupSeq) {
	n := len(rewards)
	if n < 2 {
		clear(adv[:n])
		return
	}
	beta := r.beta()
	for i, x := range rewards {
		if beta != 0 {
			x -= beta * (seqs[i].OldLogP - seqs[i].RefLogP)
		}
		adv[i] = x
	}
	// rᵢ − (Σ − rᵢ)/(n−1) = (n·rᵢ − Σ)/(n−1), on the rewards less the first
	// one: one division, no overflow from large equal rewards, and exactly
	// 0 when the shaped rewards are all equal.
	x0 := adv[0]
	var sum float64
	for i := range adv[:n] {
		adv[i] -= x0
		sum += adv[i]
	}
	k := float64(n)
	for i, x := range adv[:n] {
		adv[i] = (k*x - sum) / (k - 1)
	}
}

// Eval implements GroupLoss.
func (r RLOO) Eval(seqs []GroupSeq, dLogP []float64) float64 {
	lo, hi := r.clip()
	n := float64(len(seqs))
	var loss float64
	for i, s := range seqs {
		rho := math.Exp(s.LogP - s.OldLogP)
		surr, drho := clipped(rho, s.Advantage, lo, hi)
		loss += surr / n
		dLogP[i] = drho * rho / n
	}
	return loss
}

// Validate implements Validator.
func (r RLOO) Validate() error {
	if !(r.Beta >= 0) || math.IsInf(r.Beta, 1) {
		return fmt.Errorf("%w: RLOO.Beta = %v, want a finite number ≥ 0 (0 means the default)", ErrInvalid, r.Beta)
	}
	return checkEpsilons("RLOO", r.Epsilon, r.EpsilonHigh)
}

func (r RLOO) beta() float64 {
	switch {
	case r.NoKL:
		return 0
	case r.Beta == 0:
		return DefaultRLOOBeta
	}
	return r.Beta
}

func (r RLOO) clip() (lo, hi float64) { return clipBounds(r.Epsilon, r.EpsilonHigh) }

var (
	_ GroupLoss = GRPO{}
	_ GroupLoss = RLOO{}
	_ Validator = GRPO{}
	_ Validator = RLOO{}
)

// clipped returns PPO's clipped surrogate −min(w·a, clip(w, lo, hi)·a) and
// its derivative with respect to w: −a where the unclipped term is the
// minimum, 0 where the clipped one is (the ratio has left the trust region
// in the direction the advantage pushes it). On the boundary both terms are
// equal and PyTorch's clamp passes the gradient, so it is −a there too.
func clipped(w, a, lo, hi float64) (loss, dw float64) {
	c := min(max(w, lo), hi)
	if u, v := w*a, c*a; v < u {
		return -v, 0
	}
	return -w * a, -a
}

// clipBounds returns 1 − ε and 1 + εₕ with the defaults filled in.
func clipBounds(eps, epsHigh float64) (lo, hi float64) {
	if eps == 0 {
		eps = DefaultClipEpsilon
	}
	if epsHigh == 0 {
		epsHigh = eps
	}
	return 1 - eps, 1 + epsHigh
}

func checkEpsilons(loss string, eps, epsHigh float64) error {
	if !(eps >= 0 && eps < 1) {
		return fmt.Errorf("%w: %s.Epsilon = %v, want a number in [0, 1) (0 means the default)", ErrInvalid, loss, eps)
	}
	if !(epsHigh >= 0) || math.IsInf(epsHigh, 1) {
		return fmt.Errorf("%w: %s.EpsilonHigh = %v, want a finite number ≥ 0 (0 means Epsilon)", ErrInvalid, loss, epsHigh)
	}
	return nil
}

// meanStd returns the mean of xs and their standard deviation with Bessel's
// correction (torch.std's default); len(xs) must be at least 2. The sums
// are of differences from xs[0], so that equal values give exactly that
// value and 0, however large they are.
func meanStd(xs []float64) (mean, std float64) {
	n := float64(len(xs))
	x0 := xs[0]
	var d float64
	for _, x := range xs {
		d += x - x0
	}
	d /= n
	var ss float64
	for _, x := range xs {
		e := (x - x0) - d
		ss += e * e
	}
	return x0 + d, math.Sqrt(ss / (n - 1))
}
