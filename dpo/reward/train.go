package reward

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// ErrDiverged says training produced a non-finite loss or gradient; the
// weights are then left as they were before the failing step.
var ErrDiverged = errors.New("reward: training diverged")

// Adam's constants, PyTorch's defaults.
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// Report describes one Fit call.
type Report struct {
	// Pairs is the number of pairs trained on, and Steps the number of Adam
	// steps taken.
	Pairs, Steps int
	// Loss holds the mean objective of each epoch (Bradley–Terry loss plus
	// the L2 penalty), each step's measured before its update and weighted
	// by its number of pairs.
	Loss []float64
	// Train holds the model's Metrics on the training pairs after training.
	Train Metrics
	// Elapsed is the wall-clock time of the call.
	Elapsed time.Duration
}

// Fit trains the model in place on pairs, continuing from its current
// weights with a fresh optimiser: Epochs passes over the pairs in a seeded
// order, in mini-batches of BatchSize, each an Adam step on the objective
// of the package documentation. No pairs is no training and no error. An
// invalid pair (Prob NaN or outside [0, 1], Chosen and Rejected of the
// same text) is a *PairError and leaves the model unchanged; a done ctx
// stops training between steps with an error wrapping ctx.Err(), keeping
// the steps taken. Fit does not modify pairs nor keep them.
func (m *Model) Fit(ctx context.Context, pairs []alignment.Pair) (Report, error) {
	start := time.Now()
	rep := Report{Pairs: len(pairs)}
	enc, err := m.encode(pairs)
	if err != nil {
		return rep, err
	}
	if len(enc) == 0 {
		return rep, nil
	}
	m.mu.Lock()
	err = m.fit(ctx, enc, &rep)
	m.mu.Unlock()
	if err != nil {
		return rep, err
	}
	if rep.Train, err = m.Evaluate(pairs); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// fit runs the epochs; the caller holds m.mu.
func (m *Model) fit(ctx context.Context, enc []encoded, rep *Report) error {
	n := len(enc)
	grad := make([]float64, len(m.w))
	mom := make([]float64, len(m.w))
	vel := make([]float64, len(m.w))
	next := make([]float64, len(m.w))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := seeds.Rand(m.o.Seed)
	batch := make([]encoded, 0, m.o.BatchSize)
	var t int
	for e := range m.o.Epochs {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		for s := 0; s < n; s += m.o.BatchSize {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("reward: fit: epoch %d: %w", e, err)
			}
			batch = batch[:0]
			for _, k := range order[s:min(s+m.o.BatchSize, n)] {
				batch = append(batch, enc[k])
			}
			loss := objective(m.w, batch, m.o.L2, grad)
			if !finite(loss) {
				return fmt.Errorf("%w: epoch %d, step %d: loss %v", ErrDiverged, e, rep.Steps, loss)
			}
			t++
			b1, b2 := 1-math.Pow(adamBeta1, float64(t)), 1-math.Pow(adamBeta2, float64(t))
			for i, g := range grad {
				if !finite(g) {
					return fmt.Errorf("%w: epoch %d, step %d: gradient %v at feature %d", ErrDiverged, e, rep.Steps, g, i)
				}
				mom[i] = adamBeta1*mom[i] + (1-adamBeta1)*g
				vel[i] = adamBeta2*vel[i] + (1-adamBeta2)*g*g
				next[i] = m.w[i] - m.o.LearningRate*(mom[i]/b1)/(math.Sqrt(vel[i]/b2)+adamEps)
			}
			copy(m.w, next)
			sum += loss * float64(len(batch))
			rep.Steps++
		}
		rep.Loss = append(rep.Loss, sum/float64(n))
	}
	return nil
}

// objective returns the mean Bradley–Terry loss of batch under weights w
// plus (l2/2)·‖w‖², and writes its gradient with respect to w to grad
// (as long as w).
func objective(w []float64, batch []encoded, l2 float64, grad []float64) float64 {
	var reg float64
	for i, v := range w {
		reg += v * v
		grad[i] = l2 * v
	}
	var loss float64
	inv := 1 / float64(len(batch))
	for _, e := range batch {
		d := dot(w, e.chosen) - dot(w, e.rejected)
		loss += -e.q*logSigmoid(d) - (1-e.q)*logSigmoid(-d)
		g := (sigmoid(d) - e.q) * inv
		for _, f := range e.chosen {
			grad[f.Index] += g * f.Value
		}
		for _, f := range e.rejected {
			grad[f.Index] -= g * f.Value
		}
	}
	return loss*inv + l2/2*reg
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
