// Package rank computes ranks, Spearman's rank correlation and the
// Bradley–Terry fit, which the Loop's judge-drift safeguard, package judge's
// audits, juries, calibration and tournaments, and the Meta-Rewarding recipe
// need; alignment may not import gonum, so the arithmetic lives here once.
package rank

import (
	"math"
	"slices"
)

// Ranks returns the rank of each value of xs from 1, ties taking the mean
// of the ranks they span ("fractional" ranking).
func Ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(xs))
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && xs[idx[hi]] == xs[idx[lo]] {
			hi++
		}
		mean := float64(lo+hi+1) / 2 // ranks lo+1 … hi
		for _, i := range idx[lo:hi] {
			out[i] = mean
		}
		lo = hi
	}
	return out
}

// Spearman returns Spearman's rank correlation of x with the reference y:
// Pearson's correlation of their fractional ranks. It is undefined, and ok
// is false with rho 0, when the lengths differ, there are fewer than two
// values, or y is constant; when only x is constant rho is 0 and ok is
// true: a judge that gives every probe the same score does not agree with a
// reference that tells them apart.
func Spearman(x, y []float64) (rho float64, ok bool) {
	if len(x) != len(y) || len(x) < 2 {
		return 0, false
	}
	rx, ry := Ranks(x), Ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	switch {
	case syy == 0:
		return 0, false
	case sxx == 0:
		return 0, true
	}
	return max(-1, min(1, sxy/math.Sqrt(sxx*syy))), true
}
