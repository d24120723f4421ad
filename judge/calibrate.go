package judge

import (
	"context"
	"fmt"
	"math"

	"github.com/selfalign/selfalign/alignment"
)

// Gold is a response with a trusted label on the judge's scale (a human
// rating, say), for calibration.
type Gold struct {
	Prompt   alignment.Prompt
	Response alignment.Response
	Label    float64
}

// Calibration measures how well a judge's scores agree with gold labels,
// for choosing between judges.
type Calibration struct {
	// N counts the responses compared with their labels.
	N int
	// Pairs counts the pairs of responses to the same prompt whose labels
	// differ; PairwiseAccuracy is the share of them the judge orders the
	// same way, a judge tie counting half. It is 0 when Pairs is 0.
	Pairs            int
	PairwiseAccuracy float64
	// Kappa is Cohen's kappa between the scores and the labels, each
	// rounded to the nearest integer as its category (suited to integer
	// scales such as 0–5). When both sides use one and the same category
	// throughout it is 1.
	Kappa float64
	// Spearman is Spearman's rank correlation of scores and labels; 0 when
	// either side is constant.
	Spearman float64
	// Failures lists judge calls that failed (Item indexes the gold slice),
	// which the figures leave out.
	Failures []Failure
}

// Calibrate has j judge every gold response and measures the agreement of
// its scores with the labels; pairs are formed among responses with the same
// Prompt.ID. A judge call that fails is listed in Failures and left out;
// Calibrate fails when ctx is done, when a label is not finite (wrapping
// ErrInvalid), or when no call succeeds.
func Calibrate(ctx context.Context, j alignment.Judge, gold []Gold) (Calibration, error) {
	if j == nil {
		return Calibration{}, fmt.Errorf("judge: calibrate: nil judge: %w", ErrInvalid)
	}
	var groups []string
	var scores, labels []float64
	var failures []Failure
	for i, g := range gold {
		if !finite(g.Label) {
			return Calibration{}, fmt.Errorf("judge: calibrate: gold %d has label %v: %w", i, g.Label, ErrInvalid)
		}
		v, err := j.Judge(ctx, g.Prompt, g.Response)
		if err == nil && !finite(v.Score) {
			err = fmt.Errorf("judge: calibrate: score %v: %w", v.Score, ErrInvalid)
		}
		if err != nil {
			if ctx.Err() != nil {
				return Calibration{}, fmt.Errorf("judge: calibrate: %w", ctx.Err())
			}
			failures = append(failures, Failure{Item: i, Call: "judge", Err: err})
			continue
		}
		groups = append(groups, g.Prompt.ID)
		scores = append(scores, v.Score)
		labels = append(labels, g.Label)
	}
	if len(scores) == 0 {
		return Calibration{}, fmt.Errorf("judge: calibrate: no judge call of %d succeeded: %w", len(gold), errFirst(failures))
	}
	c, err := NewCalibration(groups, scores, labels)
	c.Failures = failures
	return c, err
}

// NewCalibration measures the agreement of scores with labels, which must
// have the same length (at least 1) and hold finite numbers; groups, when
// not nil, has that length too and pairs are formed only within a group
// (the prompt's ID, say), otherwise among all. Errors wrap ErrInvalid and
// name the bad index.
func NewCalibration(groups []string, scores, labels []float64) (Calibration, error) {
	n := len(scores)
	switch {
	case n == 0:
		return Calibration{}, fmt.Errorf("judge: calibration of no scores: %w", ErrInvalid)
	case len(labels) != n:
		return Calibration{}, fmt.Errorf("judge: calibration: %d scores but %d labels: %w", n, len(labels), ErrInvalid)
	case groups != nil && len(groups) != n:
		return Calibration{}, fmt.Errorf("judge: calibration: %d scores but %d groups: %w", n, len(groups), ErrInvalid)
	}
	for i := range n {
		if !finite(scores[i]) || !finite(labels[i]) {
			return Calibration{}, fmt.Errorf("judge: calibration: index %d has score %v and label %v, want finite: %w", i, scores[i], labels[i], ErrInvalid)
		}
	}
	c := Calibration{N: n, Spearman: spearman(scores, labels)}
	right := 0.0
	for i := range n {
		for k := i + 1; k < n; k++ {
			if groups != nil && groups[i] != groups[k] || labels[i] == labels[k] {
				continue
			}
			c.Pairs++
			switch gs, ss := labels[i]-labels[k], scores[i]-scores[k]; {
			case ss == 0:
				right += 0.5
			case (gs > 0) == (ss > 0):
				right++
			}
		}
	}
	if c.Pairs > 0 {
		c.PairwiseAccuracy = right / float64(c.Pairs)
	}
	a, b := make([]float64, n), make([]float64, n)
	for i := range n {
		a[i], b[i] = math.Round(scores[i]), math.Round(labels[i])
	}
	c.Kappa = cohenKappa(a, b)
	return c, nil
}

func errFirst(fs []Failure) error {
	if len(fs) == 0 {
		return ErrInvalid
	}
	return fs[0].Err
}
