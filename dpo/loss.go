package dpo

import (
	"fmt"
	"math"
)

// Pair is one preference pair as a loss sees it: the summed completion
// log-probabilities of the chosen and the rejected response under the policy
// being trained and under the reference policy, with the completions'
// lengths in tokens, and optionally the pair's own soft label.
type Pair struct {
	Chosen, Rejected       float64 // log πθ(y|x), summed over completion tokens
	RefChosen, RefRejected float64 // log πref(y|x)
	ChosenLen, RejectedLen int     // completion tokens
	// Prob is the probability that Chosen is the preferred response, a soft
	// label such as a pairwise judge's, used only when HasProb is set. A
	// SoftLabeler loss (Sigmoid, Robust) then uses the label smoothing
	// ε = 1 − Prob for this pair instead of its own LabelSmoothing; every
	// other loss accepts only Prob = 1, a hard label. Validate requires a
	// Prob in [0, 1] (narrower for Robust, see SoftLabeler).
	Prob    float64
	HasProb bool
}

// margin is h = (Chosen − RefChosen) − (Rejected − RefRejected), the
// difference of the two implicit rewards that every DPO-style loss works on.
func (p Pair) margin() float64 {
	return (p.Chosen - p.RefChosen) - (p.Rejected - p.RefRejected)
}

// Loss is a preference loss on one pair.
//
// Eval returns the loss of p and its derivatives with respect to p.Chosen
// and p.Rejected. It assumes a valid p and valid parameters: it does not
// check them, and invalid input gives meaningless numbers. EvalBatch and
// Validate check first, which is why the Trainer and most callers should go
// through them.
type Loss interface {
	Eval(p Pair) (loss, dChosen, dRejected float64)
}

// Validator is a Loss that can tell whether its parameters are usable.
// Validate and EvalBatch call it before evaluating anything; a Loss without
// it is trusted to accept any parameters. Every loss of this package
// implements it.
type Validator interface {
	// Validate returns an error wrapping ErrInvalid that names the offending
	// parameter, or nil.
	Validate() error
}

// LengthNormalized is a Loss that divides by completion lengths, so that
// Validate and EvalBatch require ChosenLen and RejectedLen to be at least 1.
// For a Loss without it, lengths need only be non-negative (zero meaning
// "not known").
type LengthNormalized interface {
	UsesLengths() bool
}

// Rewarder is a Loss that says what the rewards/* and logps/* metrics of a
// batch are for it, as TRL's trainer for that loss logs them: the implicit
// rewards of the chosen and rejected completions and the log-probabilities
// the loss works on (summed, or averaged per token). For a Loss without it,
// the rewards are the plain log-ratios Chosen − RefChosen and
// Rejected − RefRejected (β = 1) and the log-probabilities are the summed
// ones.
type Rewarder interface {
	Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64)
}

// SoftLabeler is a Loss that takes a per-pair soft label: for a pair with
// HasProb set it uses ε = 1 − Prob in place of its own LabelSmoothing, as
// cDPO does with a label's estimated noise. Validate and EvalBatch refuse a
// pair with a soft label other than 1 when the loss is not a SoftLabeler,
// so that a label is never silently ignored.
type SoftLabeler interface {
	// ProbRange returns the interval of usable Prob values, [lo, 1], or
	// (lo, 1] when loOpen is set.
	ProbRange() (lo float64, loOpen bool)
}

// Sigmoid is the DPO loss of Rafailov et al. (2023), with the conservative
// label smoothing of cDPO (Mitchell, 2023): with h the pair's margin,
//
//	−(1−ε)·logσ(βh) − ε·logσ(−βh)
//
// as TRL's DPOTrainer computes it for loss_type "sigmoid". Beta must be
// positive and finite, LabelSmoothing ε in [0, 0.5]; ε = 0 is plain DPO and
// ε = 0.5 no longer prefers either response. A pair's own soft label
// (Pair.Prob, any probability in [0, 1]) replaces ε by 1 − Prob for that
// pair: the loss is then the cross-entropy of σ(βh) against the label.
type Sigmoid struct {
	Beta           float64
	LabelSmoothing float64
}

// Eval implements Loss.
func (s Sigmoid) Eval(p Pair) (loss, dChosen, dRejected float64) {
	z := s.Beta * p.margin()
	// q = 1 − ε is kept as given (Prob, or 1 − LabelSmoothing), so that a
	// tiny soft label keeps its precision.
	e, q := s.LabelSmoothing, 1-s.LabelSmoothing
	if p.HasProb {
		e, q = 1-p.Prob, p.Prob
	}
	ls, lsn, sg, sgn := sigmoids(z)
	loss = -q*ls - e*lsn
	// dloss/dz = ε·σ(z) − (1−ε)·σ(−z). For ε near ½ the two terms cancel
	// near z = 0, where the derivative is small but well defined; written
	// as (tanh(z/2) − (1−2ε))/2 it keeps full precision there. For ε near 0
	// or 1 the direct form is the precise one: it keeps the exponential
	// tails that the tanh form would round away.
	var g float64
	if e > 0.25 && e < 0.75 {
		g = s.Beta * (math.Tanh(z/2) - (q - e)) / 2
	} else {
		g = s.Beta * (e*sg - q*sgn)
	}
	return loss, g, -g
}

// ProbRange implements SoftLabeler: any probability in [0, 1].
func (Sigmoid) ProbRange() (lo float64, loOpen bool) { return 0, false }

// Validate implements Validator.
func (s Sigmoid) Validate() error {
	if err := checkBeta("Sigmoid", s.Beta); err != nil {
		return err
	}
	return checkSmoothing("Sigmoid", s.LabelSmoothing, 0.5, true)
}

// Rewards implements Rewarder with DPO's implicit rewards β·(logπθ − logπref).
func (s Sigmoid) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	return dpoRewards(s.Beta, p)
}

// Robust is the robust DPO loss of Chowdhury et al. (2024), an unbiased
// estimate of the DPO loss when a fraction ε of the preference labels are
// flipped:
//
//	(−(1−ε)·logσ(βh) + ε·logσ(−βh)) / (1−2ε)
//
// as TRL's DPOTrainer computes it for loss_type "robust". Beta must be
// positive and finite, LabelSmoothing ε in [0, 0.5). The loss can be
// negative when ε > 0. A pair's own soft label (Pair.Prob, in (0.5, 1])
// replaces ε by 1 − Prob for that pair.
type Robust struct {
	Beta           float64
	LabelSmoothing float64
}

// Eval implements Loss.
func (r Robust) Eval(p Pair) (loss, dChosen, dRejected float64) {
	z := r.Beta * p.margin()
	e, q := r.LabelSmoothing, 1-r.LabelSmoothing
	if p.HasProb {
		e, q = 1-p.Prob, p.Prob
	}
	d := q - e
	ls, lsn, sg, sgn := sigmoids(z)
	loss = (-q*ls + e*lsn) / d
	g := -r.Beta * (q*sgn + e*sg) / d
	return loss, g, -g
}

// ProbRange implements SoftLabeler: (0.5, 1], since the loss divides by
// 1 − 2ε = 2·Prob − 1.
func (Robust) ProbRange() (lo float64, loOpen bool) { return 0.5, true }

// Validate implements Validator.
func (r Robust) Validate() error {
	if err := checkBeta("Robust", r.Beta); err != nil {
		return err
	}
	return checkSmoothing("Robust", r.LabelSmoothing, 0.5, false)
}

// Rewards implements Rewarder with DPO's implicit rewards.
func (r Robust) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	return dpoRewards(r.Beta, p)
}

// Hinge is the hinge loss on the normalized likelihood of RSO (Liu et al.,
// 2024), max(0, 1 − βh), as TRL's DPOTrainer computes it for loss_type
// "hinge". At the kink βh = 1 its derivative is taken as 0, as PyTorch's relu
// does. Beta must be positive and finite.
type Hinge struct {
	Beta float64
}

// Eval implements Loss.
func (h Hinge) Eval(p Pair) (loss, dChosen, dRejected float64) {
	m := 1 - h.Beta*p.margin()
	if m <= 0 {
		return 0, 0, 0
	}
	return m, -h.Beta, h.Beta
}

// Validate implements Validator.
func (h Hinge) Validate() error { return checkBeta("Hinge", h.Beta) }

// Rewards implements Rewarder with DPO's implicit rewards.
func (h Hinge) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	return dpoRewards(h.Beta, p)
}

// IPO is the identity preference optimisation loss of Azar et al. (2023),
// eq. 17, on per-token average log-probabilities as TRL's DPOTrainer computes
// it for loss_type "ipo":
//
//	(h̄ − 1/(2β))²,  h̄ = (Chosen − RefChosen)/ChosenLen − (Rejected − RefRejected)/RejectedLen
//
// Beta (the paper's τ) must be positive and finite; pairs need lengths ≥ 1.
type IPO struct {
	Beta float64
}

// Eval implements Loss.
func (l IPO) Eval(p Pair) (loss, dChosen, dRejected float64) {
	lc, lr := float64(p.ChosenLen), float64(p.RejectedLen)
	d := ((p.Chosen-p.RefChosen)/lc - (p.Rejected-p.RefRejected)/lr) - 1/(2*l.Beta)
	return d * d, 2 * d / lc, -2 * d / lr
}

// Validate implements Validator.
func (l IPO) Validate() error { return checkBeta("IPO", l.Beta) }

// UsesLengths implements LengthNormalized.
func (IPO) UsesLengths() bool { return true }

// Rewards implements Rewarder. As TRL's DPOTrainer does for IPO, rewards and
// log-probabilities are per-token averages: β·(Chosen − RefChosen)/ChosenLen
// and Chosen/ChosenLen, and likewise for the rejected completion.
func (l IPO) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	lc, lr := float64(p.ChosenLen), float64(p.RejectedLen)
	return l.Beta * (p.Chosen - p.RefChosen) / lc, l.Beta * (p.Rejected - p.RefRejected) / lr,
		p.Chosen / lc, p.Rejected / lr
}

// SimPO is the reference-free loss of Meng et al. (2024) on per-token average
// log-probabilities with a target margin γ:
//
//	−logσ(β·(Chosen/ChosenLen − Rejected/RejectedLen) − γ)
//
// as TRL's CPOTrainer computes it for loss_type "simpo" without label
// smoothing. RefChosen and RefRejected are ignored (but must still be valid
// log-probabilities; zero is fine). Beta must be positive and finite, Gamma
// finite; pairs need lengths ≥ 1.
type SimPO struct {
	Beta  float64
	Gamma float64
}

// Eval implements Loss.
func (s SimPO) Eval(p Pair) (loss, dChosen, dRejected float64) {
	lc, lr := float64(p.ChosenLen), float64(p.RejectedLen)
	z := s.Beta*(p.Chosen/lc-p.Rejected/lr) - s.Gamma
	g := -s.Beta * sigmoid(-z)
	return -logSigmoid(z), g / lc, -g / lr
}

// Validate implements Validator.
func (s SimPO) Validate() error {
	if err := checkBeta("SimPO", s.Beta); err != nil {
		return err
	}
	if math.IsNaN(s.Gamma) || math.IsInf(s.Gamma, 0) {
		return fmt.Errorf("%w: SimPO.Gamma = %v, want a finite number", ErrInvalid, s.Gamma)
	}
	return nil
}

// UsesLengths implements LengthNormalized.
func (SimPO) UsesLengths() bool { return true }

// Rewards implements Rewarder with the convention of TRL's CPOTrainer for
// SimPO, which has no reference model: the rewards are β times the per-token
// average log-probabilities, β·Chosen/ChosenLen and β·Rejected/RejectedLen,
// and the log-probabilities are those averages.
func (s SimPO) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	lc, lr := p.Chosen/float64(p.ChosenLen), p.Rejected/float64(p.RejectedLen)
	return s.Beta * lc, s.Beta * lr, lc, lr
}

// NCA is the pairwise noise-contrastive alignment loss of Chen et al. (2024)
// as TRL's DPOTrainer computes it for loss_type "nca_pair": with rewards
// rc = β·(Chosen − RefChosen) and rr = β·(Rejected − RefRejected),
//
//	−logσ(rc) − ½·logσ(−rc) − ½·logσ(−rr)
//
// Unlike DPO it acts on each reward on its own, so it keeps the chosen
// likelihood from falling. Beta must be positive and finite.
type NCA struct {
	Beta float64
}

// Eval implements Loss.
func (n NCA) Eval(p Pair) (loss, dChosen, dRejected float64) {
	rc := n.Beta * (p.Chosen - p.RefChosen)
	rr := n.Beta * (p.Rejected - p.RefRejected)
	lc, lcn, sc, scn := sigmoids(rc)
	_, lrn, sr, _ := sigmoids(rr)
	loss = -lc - 0.5*lcn - 0.5*lrn
	return loss, n.Beta * (0.5*sc - scn), n.Beta * 0.5 * sr
}

// Validate implements Validator.
func (n NCA) Validate() error { return checkBeta("NCA", n.Beta) }

// Rewards implements Rewarder with DPO's implicit rewards.
func (n NCA) Rewards(p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	return dpoRewards(n.Beta, p)
}

var (
	_ Loss             = Sigmoid{}
	_ Loss             = Robust{}
	_ Loss             = Hinge{}
	_ Loss             = IPO{}
	_ Loss             = SimPO{}
	_ Loss             = NCA{}
	_ Validator        = Sigmoid{}
	_ SoftLabeler      = Sigmoid{}
	_ SoftLabeler      = Robust{}
	_ LengthNormalized = IPO{}
	_ LengthNormalized = SimPO{}
	_ Rewarder         = SimPO{}
)

// dpoRewards returns DPO's implicit rewards and the summed log-probabilities.
func dpoRewards(beta float64, p Pair) (chosen, rejected, logpChosen, logpRejected float64) {
	return beta * (p.Chosen - p.RefChosen), beta * (p.Rejected - p.RefRejected), p.Chosen, p.Rejected
}

// sigmoids returns log σ(x), log σ(−x), σ(x) and σ(−x) from one exponential
// and one log1p, each with the precision of logSigmoid and sigmoid: the
// exponential is of −|x|, so it never overflows, and the tails keep their
// full relative precision.
func sigmoids(x float64) (logSig, logSigNeg, sig, sigNeg float64) {
	if x >= 0 {
		e := math.Exp(-x)
		l := math.Log1p(e)
		return -l, -x - l, 1 / (1 + e), e / (1 + e)
	}
	e := math.Exp(x)
	l := math.Log1p(e)
	return x - l, -l, e / (1 + e), 1 / (1 + e)
}

// logSigmoid returns log σ(x) without overflow: the exponential is only ever
// taken of a non-positive number, and log1p keeps the tail exact.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// sigmoid returns σ(x) = 1/(1+e^(−x)) without overflow and with full
// relative precision in the lower tail.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func checkBeta(loss string, beta float64) error {
	if !(beta > 0) || math.IsInf(beta, 1) {
		return fmt.Errorf("%w: %s.Beta = %v, want a finite number > 0", ErrInvalid, loss, beta)
	}
	return nil
}

// checkSmoothing checks that ε lies in [0, hi], or [0, hi) when !closed.
func checkSmoothing(loss string, e, hi float64, closed bool) error {
	if e >= 0 && (e < hi || closed && e == hi) {
		return nil
	}
	bracket := ")"
	if closed {
		bracket = "]"
	}
	return fmt.Errorf("%w: %s.LabelSmoothing = %v, want a number in [0, %v%s", ErrInvalid, loss, e, hi, bracket)
}
