package dpo

import (
	"fmt"
	"math"
)

// Metrics are the training metrics TRL logs for a batch of pairs, each a mean
// over the batch's pairs. For a loss that implements Rewarder the rewards and
// log-probabilities follow its convention (per-token averages for IPO and
// SimPO, reference-free rewards for SimPO); otherwise see Rewarder.
type Metrics struct {
	// Pairs is the number of pairs the means are over.
	Pairs int
	// Loss is the mean loss ("loss").
	Loss float64
	// RewardsChosen is the mean implicit reward of the chosen completions,
	// β·(Chosen − RefChosen) for DPO ("rewards/chosen").
	RewardsChosen float64
	// RewardsRejected is that of the rejected ones ("rewards/rejected").
	RewardsRejected float64
	// RewardsAccuracy is the fraction of pairs whose chosen reward is
	// strictly above the rejected one ("rewards/accuracies"); pairs the
	// policy has not yet moved from the reference count as wrong.
	RewardsAccuracy float64
	// RewardsMargin is the mean of chosen minus rejected reward
	// ("rewards/margins").
	RewardsMargin float64
	// LogPsChosen and LogPsRejected are the mean policy log-probabilities of
	// the chosen and rejected completions ("logps/chosen", "logps/rejected").
	LogPsChosen, LogPsRejected float64
}

// Map returns the metrics under the names TRL logs them with, for writers of
// training logs that should read like TRL's.
func (m Metrics) Map() map[string]float64 {
	return map[string]float64{
		"loss":               m.Loss,
		"rewards/chosen":     m.RewardsChosen,
		"rewards/rejected":   m.RewardsRejected,
		"rewards/accuracies": m.RewardsAccuracy,
		"rewards/margins":    m.RewardsMargin,
		"logps/chosen":       m.LogPsChosen,
		"logps/rejected":     m.LogPsRejected,
	}
}

// Merge returns the metrics of the union of the batches that m and o
// describe: each mean weighted by its number of pairs. It is how per-step
// metrics become per-epoch ones.
func (m Metrics) Merge(o Metrics) Metrics {
	n := m.Pairs + o.Pairs
	if n == 0 {
		return Metrics{}
	}
	a, b := float64(m.Pairs)/float64(n), float64(o.Pairs)/float64(n)
	return Metrics{
		Pairs:           n,
		Loss:            a*m.Loss + b*o.Loss,
		RewardsChosen:   a*m.RewardsChosen + b*o.RewardsChosen,
		RewardsRejected: a*m.RewardsRejected + b*o.RewardsRejected,
		RewardsAccuracy: a*m.RewardsAccuracy + b*o.RewardsAccuracy,
		RewardsMargin:   a*m.RewardsMargin + b*o.RewardsMargin,
		LogPsChosen:     a*m.LogPsChosen + b*o.LogPsChosen,
		LogPsRejected:   a*m.LogPsRejected + b*o.LogPsRejected,
	}
}

// BatchResult is a loss evaluated on a batch of pairs: the metrics and the
// gradient of the batch's mean loss. Its zero value is ready to use, and
// reusing one across calls to Eval reuses its gradient storage, so that a
// training loop evaluates batches without allocating.
type BatchResult struct {
	Metrics
	// DChosen[i] and DRejected[i] are the derivatives of the batch's mean
	// loss (not of pair i's own loss) with respect to pairs[i].Chosen and
	// pairs[i].Rejected: pair i's derivatives divided by the batch size. They
	// are the scales Model.AccumulateGrad needs to accumulate the gradient of
	// the mean loss. They alias one buffer, DChosen first, that the next Eval
	// on the same BatchResult overwrites.
	DChosen, DRejected []float64

	grad []float64
}

// EvalBatch evaluates l on pairs and returns the mean loss, its gradient and
// TRL's metrics. It validates the loss and every pair first (see Validate),
// so that invalid input is an error, never a NaN. It allocates the gradient
// slices; use BatchResult.Eval to reuse them.
func EvalBatch(l Loss, pairs []Pair) (BatchResult, error) {
	var r BatchResult
	err := r.Eval(l, pairs)
	return r, err
}

// Eval evaluates l on pairs into r, as EvalBatch does, reusing r's gradient
// storage when it is large enough. On error r is left empty: zero metrics and
// zero-length gradients. The error is a *PairError (wrapping ErrInvalid) for
// an invalid pair, or wraps ErrInvalid for an invalid loss or an empty batch.
func (r *BatchResult) Eval(l Loss, pairs []Pair) error {
	r.Metrics = Metrics{}
	r.DChosen, r.DRejected = r.grad[:0], r.grad[:0]
	if err := Validate(l, pairs); err != nil {
		return err
	}
	n := len(pairs)
	if cap(r.grad) < 2*n {
		r.grad = make([]float64, 2*n)
	}
	g := r.grad[:2*n]
	dc, dr := g[:n:n], g[n:]

	rw, _ := l.(Rewarder)
	var sum Metrics
	inv := 1 / float64(n)
	for i, p := range pairs {
		loss, c, rej := l.Eval(p)
		if !finite(loss) || !finite(c) || !finite(rej) {
			return &PairError{Index: i, Field: "loss", Reason: fmt.Sprintf("is %v with derivatives %v, %v: the inputs are beyond float64 for this loss", loss, c, rej)}
		}
		dc[i], dr[i] = c*inv, rej*inv
		var rc, rr, lc, lr float64
		if rw != nil {
			rc, rr, lc, lr = rw.Rewards(p)
		} else {
			rc, rr, lc, lr = p.Chosen-p.RefChosen, p.Rejected-p.RefRejected, p.Chosen, p.Rejected
		}
		if !finite(rc) || !finite(rr) || !finite(rc-rr) {
			return &PairError{Index: i, Field: "rewards", Reason: fmt.Sprintf("are %v and %v: the inputs are beyond float64 for this loss", rc, rr)}
		}
		sum.Loss += loss
		sum.RewardsChosen += rc
		sum.RewardsRejected += rr
		sum.RewardsMargin += rc - rr
		if rc > rr {
			sum.RewardsAccuracy++
		}
		sum.LogPsChosen += lc
		sum.LogPsRejected += lr
	}
	m := Metrics{
		Pairs:           n,
		Loss:            sum.Loss * inv,
		RewardsChosen:   sum.RewardsChosen * inv,
		RewardsRejected: sum.RewardsRejected * inv,
		RewardsAccuracy: sum.RewardsAccuracy * inv,
		RewardsMargin:   sum.RewardsMargin * inv,
		LogPsChosen:     sum.LogPsChosen * inv,
		LogPsRejected:   sum.LogPsRejected * inv,
	}
	for _, v := range [...]float64{m.Loss, m.RewardsChosen, m.RewardsRejected, m.RewardsMargin, m.LogPsChosen, m.LogPsRejected} {
		if !finite(v) {
			return fmt.Errorf("%w: the batch's sums overflow float64 (%+v)", ErrInvalid, m)
		}
	}
	r.Metrics = m
	r.DChosen, r.DRejected = dc, dr
	return nil
}

// Validate checks that l's parameters are usable (when l is a Validator) and
// that every pair is a valid input of l: all four log-probabilities finite
// and at most 0, lengths not negative, lengths at least 1 when l is
// LengthNormalized, and a soft label (HasProb) within l's ProbRange when l is
// a SoftLabeler, or exactly 1 when it is not. It returns nil, an error wrapping ErrInvalid for the
// loss or an empty batch, or a *PairError for the first invalid pair.
func Validate(l Loss, pairs []Pair) error {
	if l == nil {
		return fmt.Errorf("%w: nil loss", ErrInvalid)
	}
	if v, ok := l.(Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if len(pairs) == 0 {
		return fmt.Errorf("%w: no pairs: the mean loss of an empty batch is undefined", ErrInvalid)
	}
	ln, ok := l.(LengthNormalized)
	lengths := ok && ln.UsesLengths()
	for i := range pairs {
		if err := checkPair(i, &pairs[i], lengths); err != nil {
			return err
		}
		if pairs[i].HasProb {
			if err := checkProb(l, i, pairs[i].Prob); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkProb returns a *PairError when prob, pair i's soft label, is not
// usable by l.
func checkProb(l Loss, i int, prob float64) error {
	sl, ok := l.(SoftLabeler)
	if !ok {
		if prob == 1 {
			return nil
		}
		return &PairError{Index: i, Field: "Prob", Reason: fmt.Sprintf("= %v, but %T has no label smoothing to take a soft label: use Sigmoid or Robust, or a hard label (1)", prob, l)}
	}
	lo, open := sl.ProbRange()
	if prob <= 1 && (prob > lo || !open && prob == lo) {
		return nil
	}
	bracket := "["
	if open {
		bracket = "("
	}
	return &PairError{Index: i, Field: "Prob", Reason: fmt.Sprintf("= %v, want a probability in %s%v, 1] for %T", prob, bracket, lo, l)}
}

// checkPair returns a *PairError for the first invalid field of p, or nil.
func checkPair(i int, p *Pair, lengths bool) error {
	// The common case, a valid pair, in a few comparisons; NaN fails them all.
	const lo = -math.MaxFloat64
	minLen := 0
	if lengths {
		minLen = 1
	}
	if p.Chosen <= 0 && p.Chosen >= lo && p.Rejected <= 0 && p.Rejected >= lo &&
		p.RefChosen <= 0 && p.RefChosen >= lo && p.RefRejected <= 0 && p.RefRejected >= lo &&
		p.ChosenLen >= minLen && p.RejectedLen >= minLen {
		return nil
	}
	for _, f := range [...]struct {
		name string
		v    float64
	}{{"Chosen", p.Chosen}, {"Rejected", p.Rejected}, {"RefChosen", p.RefChosen}, {"RefRejected", p.RefRejected}} {
		if !finite(f.v) {
			return &PairError{Index: i, Field: f.name, Reason: fmt.Sprintf("= %v, want a finite log-probability", f.v)}
		}
		if f.v > 0 {
			return &PairError{Index: i, Field: f.name, Reason: fmt.Sprintf("= %v, want a log-probability ≤ 0", f.v)}
		}
	}
	for _, f := range [...]struct {
		name string
		n    int
	}{{"ChosenLen", p.ChosenLen}, {"RejectedLen", p.RejectedLen}} {
		switch {
		case lengths && f.n < 1:
			return &PairError{Index: i, Field: f.name, Reason: fmt.Sprintf("= %d, want ≥ 1: the loss averages per token", f.n)}
		case f.n < 0:
			return &PairError{Index: i, Field: f.name, Reason: fmt.Sprintf("= %d, want a token count ≥ 0", f.n)}
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
