package reward

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reference values: testdata/reference.json, written by
// testdata/reference.py, an independent implementation of TRL's
// RewardTrainer loss (−log σ(r_chosen − r_rejected)) extended to soft
// labels as binary cross-entropy, with the L2 penalty, evaluated in mpmath
// at 60 significant digits (its analytic gradient cross-checked there
// against mpmath's numerical differentiation).
//
// Tolerance: refTol relative, |got − want| ≤ 1e-12·max(1, |want|).
const refTol = 1e-12

type refCase struct {
	Name    string    `json:"name"`
	Weights []float64 `json:"weights"`
	L2      float64   `json:"l2"`
	Pairs   []struct {
		Chosen   [][2]float64 `json:"chosen"`
		Rejected [][2]float64 `json:"rejected"`
		Q        float64      `json:"q"`
	} `json:"pairs"`
	Value    string   `json:"value"`
	Gradient []string `json:"gradient"`
}

func (c refCase) batch() []encoded {
	fs := func(xs [][2]float64) []Feature {
		var out []Feature
		for _, x := range xs {
			out = append(out, Feature{Index: int(x[0]), Value: x[1]})
		}
		return out
	}
	var b []encoded
	for _, p := range c.Pairs {
		b = append(b, encoded{chosen: fs(p.Chosen), rejected: fs(p.Rejected), q: p.Q})
	}
	return b
}

func loadReference(t *testing.T) []refCase {
	data, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var f struct {
		Cases []refCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &f))
	require.NotEmpty(t, f.Cases)
	return f.Cases
}

func near(t *testing.T, want string, got float64, msg string) {
	t.Helper()
	w, err := strconv.ParseFloat(want, 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, math.Abs(got-w), refTol*math.Max(1, math.Abs(w)), "%s: got %v, want %v", msg, got, w)
}

func TestObjectiveMatchesReference(t *testing.T) {
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) {
			grad := make([]float64, len(c.Weights))
			got := objective(c.Weights, c.batch(), c.L2, grad)
			near(t, c.Value, got, "objective")
			for i, g := range c.Gradient {
				near(t, g, grad[i], "gradient "+strconv.Itoa(i))
			}
		})
	}
}

// The gradient matches central finite differences of the objective, on the
// reference cases and on a model's own features.
func TestObjectiveFiniteDifferences(t *testing.T) {
	const h, tol = 1e-6, 1e-6
	check := func(t *testing.T, w []float64, b []encoded, l2 float64) {
		grad := make([]float64, len(w))
		objective(w, b, l2, grad)
		scratch := make([]float64, len(w))
		for i := range w {
			x := w[i]
			w[i] = x + h
			up := objective(w, b, l2, scratch)
			w[i] = x - h
			down := objective(w, b, l2, scratch)
			w[i] = x
			assert.InDelta(t, (up-down)/(2*h), grad[i], tol*math.Max(1, math.Abs(grad[i])), "component %d", i)
		}
	}
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) { check(t, c.Weights, c.batch(), c.L2) })
	}
	t.Run("features", func(t *testing.T) {
		m, err := New(&Options{Dim: 64})
		require.NoError(t, err)
		enc, err := m.encode(toyPairs()[:4])
		require.NoError(t, err)
		enc[1].q = 0.7
		w := make([]float64, 64)
		for i := range w {
			w[i] = math.Sin(float64(i)) / 2
		}
		check(t, w, enc, 0.02)
	})
}
