package judge

import (
	"math"

	"github.com/selfalign/selfalign/internal/rank"
)

// The statistics here are the package's own so that hosts and the examples
// do not compile gonum for a mean and a variance; the tests check them
// against gonum's stat package, which stays a test-only dependency.

// mean is the arithmetic mean of xs, as gonum's stat.Mean(xs, nil); it is
// 0 for no values rather than NaN.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// variance is the unbiased sample variance of xs, Σ(x − mean)²/(n − 1),
// by the corrected two-pass algorithm gonum's stat.Variance uses (Chan,
// Golub and LeVeque, 1983, eq. 1.7): the second term removes the rounding
// error of the mean. It is 0 for fewer than two values rather than NaN.
func variance(xs []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	m := mean(xs)
	var ss, comp float64
	for _, x := range xs {
		d := x - m
		ss += d * d
		comp += d
	}
	return (ss - comp*comp/n) / (n - 1)
}

// spearman is Spearman's rank correlation (internal/rank), 0 where it is
// undefined (fewer than two points, or a constant side) rather than NaN.
func spearman(x, y []float64) float64 {
	rho, _ := rank.Spearman(x, y)
	return rho
}

// kendall is Kendall's tau-b, which corrects for ties: (C − D) /
// sqrt((n0 − n1)(n0 − n2)) with n1, n2 the pairs tied in x and in y.
// gonum's stat.Kendall is tau-a and counts a pair tied in one variable as
// concordant or discordant depending on the other's sign, which skews
// correlations of integer scores; on data without ties the two agree (the
// tests check this). It returns 0 when either side is constant.
func kendall(x, y []float64) float64 {
	if len(x) < 2 || constant(x) || constant(y) {
		return 0
	}
	var c, d, tx, ty float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case (dx > 0) == (dy > 0):
				c++
			default:
				d++
			}
		}
	}
	return (c - d) / math.Sqrt((c+d+tx)*(c+d+ty))
}

func constant(xs []float64) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// cohenKappa is Cohen's kappa of two raters' category labels,
// (p_o − p_e)/(1 − p_e). When both raters use one and the same category
// throughout, p_e is 1 and kappa is 0/0; it is reported as 1, the raters
// agreeing perfectly.
func cohenKappa(a, b []float64) float64 {
	n := float64(len(a))
	ca, cb := map[float64]float64{}, map[float64]float64{}
	agree := 0.0
	for i := range a {
		ca[a[i]]++
		cb[b[i]]++
		if a[i] == b[i] {
			agree++
		}
	}
	po := agree / n
	pe := 0.0
	for k, x := range ca {
		pe += x / n * cb[k] / n
	}
	if pe >= 1 {
		return 1
	}
	return (po - pe) / (1 - pe)
}

// krippendorffInterval is Krippendorff's alpha with the interval metric for
// a complete table, ratings[rater][unit]: 1 − D_o/D_e, with D_o the mean
// squared difference within units and D_e across all pairable values. It
// returns 1 when every value is the same (no disagreement, none expected).
func krippendorffInterval(ratings [][]float64) float64 {
	m := len(ratings)
	units := len(ratings[0])
	var all []float64
	do := 0.0
	for u := range units {
		for a := range m {
			all = append(all, ratings[a][u])
			for b := range m {
				d := ratings[a][u] - ratings[b][u]
				do += d * d / float64(m-1)
			}
		}
	}
	n := float64(len(all))
	do /= n
	// Σ over ordered pairs of (x_i − x_j)² is 2n·Σ(x_i − mean)², so D_e
	// is twice the sample variance.
	de := 2 * variance(all)
	if de == 0 {
		return 1
	}
	return 1 - do/de
}
