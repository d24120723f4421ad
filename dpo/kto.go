package dpo

import (
	"fmt"
	"math"
)

// Unpaired is one completion with a binary label, the input of KTO: its
// summed log-probability under the policy and under the reference, and
// whether it is a desirable completion.
type Unpaired struct {
	LogP, RefLogP float64
	Desirable     bool
}

// KTO is the Kahneman–Tversky optimisation loss of Ethayarajh et al. (2024),
// eq. 7, on unpaired labelled completions, as TRL's KTOTrainer computes it
// for loss_type "kto". With r = LogP − RefLogP and the reference point z0
// (see KLEstimate), a desirable completion costs
// DesirableWeight·(1 − σ(β·(r − z0))) and an undesirable one
// UndesirableWeight·(1 − σ(β·(z0 − r))); the batch loss is the mean over all
// completions. As in TRL, z0 is a constant of the step: no gradient flows
// through it.
//
// KTO is not a Loss: its reference point couples the completions of a batch,
// so it is evaluated a batch at a time by KTOResult.Eval.
type KTO struct {
	// Beta must be positive and finite.
	Beta float64
	// DesirableWeight and UndesirableWeight weigh the two kinds of
	// completion (TRL's λ_D and λ_U); zero means 1, TRL's default, and
	// negative values are invalid.
	DesirableWeight, UndesirableWeight float64
}

// Validate reports whether k's parameters are usable; the error wraps
// ErrInvalid.
func (k KTO) Validate() error {
	if err := checkBeta("KTO", k.Beta); err != nil {
		return err
	}
	for _, w := range [...]struct {
		name string
		v    float64
	}{{"DesirableWeight", k.DesirableWeight}, {"UndesirableWeight", k.UndesirableWeight}} {
		if !(w.v >= 0) || math.IsInf(w.v, 1) {
			return fmt.Errorf("%w: KTO.%s = %v, want a finite number ≥ 0 (0 means 1)", ErrInvalid, w.name, w.v)
		}
	}
	return nil
}

// weights returns the two weights with zero meaning 1.
func (k KTO) weights() (wd, wu float64) {
	wd, wu = k.DesirableWeight, k.UndesirableWeight
	if wd == 0 {
		wd = 1
	}
	if wu == 0 {
		wu = 1
	}
	return wd, wu
}

// KLEstimate returns KTO's reference point z0: the mean of
// logps[i] − refLogps[i] clamped at 0, an estimate of KL(πθ‖πref) when the
// log-probabilities are of completions paired with unrelated prompts (TRL
// pairs each prompt of a batch with the completion of another). The error
// wraps ErrInvalid and names the index of a non-finite or positive
// log-probability, or says the slices differ in length or are empty.
func KLEstimate(logps, refLogps []float64) (float64, error) {
	if len(logps) != len(refLogps) {
		return 0, fmt.Errorf("%w: KL estimate: %d policy log-probabilities but %d reference ones", ErrInvalid, len(logps), len(refLogps))
	}
	if len(logps) == 0 {
		return 0, fmt.Errorf("%w: KL estimate: no samples", ErrInvalid)
	}
	var s float64
	for i, lp := range logps {
		ref := refLogps[i]
		if err := checkLogProb("KL sample", i, "logps", lp); err != nil {
			return 0, err
		}
		if err := checkLogProb("KL sample", i, "refLogps", ref); err != nil {
			return 0, err
		}
		s += lp - ref
	}
	return math.Max(0, s/float64(len(logps))), nil
}

// KTOResult is KTO evaluated on a batch of unpaired completions: the mean
// loss, its gradient and the metrics TRL's KTOTrainer logs. Its zero value is
// ready to use and reusing it reuses its gradient storage.
type KTOResult struct {
	// Loss is the mean loss over all completions ("loss").
	Loss float64
	// KL is the reference point z0 the batch was evaluated with ("kl").
	KL float64
	// Desirable and Undesirable count the two kinds of completion.
	Desirable, Undesirable int
	// RewardsChosen and RewardsRejected are the mean implicit rewards
	// β·(LogP − RefLogP) of the desirable and of the undesirable completions
	// ("rewards/chosen", "rewards/rejected"), and RewardsMargin their
	// difference ("rewards/margins"). A kind absent from the batch has mean
	// 0 (TRL logs NaN); its count says so.
	RewardsChosen, RewardsRejected, RewardsMargin float64
	// LogPsChosen and LogPsRejected are the mean policy log-probabilities of
	// the desirable and undesirable completions ("logps/chosen",
	// "logps/rejected"), 0 for an absent kind.
	LogPsChosen, LogPsRejected float64
	// D[i] is the derivative of the mean loss with respect to xs[i].LogP,
	// the scale Model.AccumulateGrad needs. The next Eval overwrites it.
	D []float64
}

// Eval evaluates k on the completions xs with the reference point kl (from
// KLEstimate, or 0 to use no reference point as TRL does without KL
// samples). It validates k, kl and every completion first; on error r is
// left empty and the error wraps ErrInvalid, naming the completion index and
// field for an invalid completion.
func (r *KTOResult) Eval(k KTO, xs []Unpaired, kl float64) error {
	*r = KTOResult{D: r.D[:0]}
	if err := k.Validate(); err != nil {
		return err
	}
	if !(kl >= 0) || math.IsInf(kl, 1) {
		return fmt.Errorf("%w: KTO reference point kl = %v, want a finite number ≥ 0", ErrInvalid, kl)
	}
	if len(xs) == 0 {
		return fmt.Errorf("%w: no completions: the mean loss of an empty batch is undefined", ErrInvalid)
	}
	for i, x := range xs {
		if err := checkLogProb("completion", i, "LogP", x.LogP); err != nil {
			return err
		}
		if err := checkLogProb("completion", i, "RefLogP", x.RefLogP); err != nil {
			return err
		}
	}
	n := len(xs)
	if cap(r.D) < n {
		r.D = make([]float64, n)
	}
	d := r.D[:n]
	wd, wu := k.weights()
	inv := 1 / float64(n)
	var loss float64
	var out KTOResult
	for i, x := range xs {
		lr := x.LogP - x.RefLogP
		u := k.Beta * (lr - kl)
		// σ(u)·σ(−u) is σ′(u); both factors are computed stably, so the
		// product underflows to 0 rather than becoming NaN far in the tails.
		dsig := k.Beta * sigmoid(u) * sigmoid(-u)
		var li, gi float64
		if x.Desirable {
			li, gi = wd*sigmoid(-u), -wd*dsig
			out.Desirable++
			out.RewardsChosen += k.Beta * lr
			out.LogPsChosen += x.LogP
		} else {
			li, gi = wu*sigmoid(u), wu*dsig
			out.Undesirable++
			out.RewardsRejected += k.Beta * lr
			out.LogPsRejected += x.LogP
		}
		if !finite(li) || !finite(gi) {
			return fmt.Errorf("%w: completion %d: loss %v with derivative %v: the inputs are beyond float64", ErrInvalid, i, li, gi)
		}
		loss += li
		d[i] = gi * inv
	}
	if out.Desirable > 0 {
		out.RewardsChosen /= float64(out.Desirable)
		out.LogPsChosen /= float64(out.Desirable)
	}
	if out.Undesirable > 0 {
		out.RewardsRejected /= float64(out.Undesirable)
		out.LogPsRejected /= float64(out.Undesirable)
	}
	out.RewardsMargin = out.RewardsChosen - out.RewardsRejected
	out.Loss = loss * inv
	out.KL = kl
	out.D = d
	*r = out
	return nil
}

// Map returns the metrics under the names TRL's KTOTrainer logs them with.
func (r *KTOResult) Map() map[string]float64 {
	return map[string]float64{
		"loss":             r.Loss,
		"kl":               r.KL,
		"rewards/chosen":   r.RewardsChosen,
		"rewards/rejected": r.RewardsRejected,
		"rewards/margins":  r.RewardsMargin,
		"logps/chosen":     r.LogPsChosen,
		"logps/rejected":   r.LogPsRejected,
	}
}

// checkLogProb returns an error wrapping ErrInvalid when v is not a finite
// log-probability ≤ 0, naming the item kind, its index and the field.
func checkLogProb(kind string, i int, field string, v float64) error {
	if !finite(v) {
		return fmt.Errorf("%w: %s %d: %s = %v, want a finite log-probability", ErrInvalid, kind, i, field, v)
	}
	if v > 0 {
		return fmt.Errorf("%w: %s %d: %s = %v, want a log-probability ≤ 0", ErrInvalid, kind, i, field, v)
	}
	return nil
}
