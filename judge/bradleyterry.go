package judge

import (
	"fmt"
	"math"
)

// BradleyTerry fits Bradley–Terry log-strengths to a tournament:
// wins[i][j] is how often player i beat player j (fractions allowed, for
// ties or soft verdicts), and the model is P(i beats j) = 1/(1+exp(s[j]-s[i])).
// The returned strengths are centred on 0.
//
// The fit maximises the likelihood after adding prior pseudo-wins to every
// ordered pair, which keeps strengths finite when a player won or lost
// everything and ties together players that never met; prior 0 is the plain
// maximum-likelihood estimate, which exists only when every player beat
// every other through some chain of wins (Ford's condition; an error
// otherwise). It uses the MM iteration of
// Hunter (2004), p_i ← W_i / Σ_j n_ij/(p_i+p_j), which increases the
// likelihood at every step, until no log-strength moves by more than 1e-12
// or 100,000 iterations. Errors wrap ErrInvalid and name the bad cell.
func BradleyTerry(wins [][]float64, prior float64) ([]float64, error) {
	n := len(wins)
	if n == 0 {
		return nil, fmt.Errorf("judge: Bradley–Terry fit of no players: %w", ErrInvalid)
	}
	if !(prior >= 0) || math.IsInf(prior, 0) {
		return nil, fmt.Errorf("judge: Bradley–Terry prior %v: want finite and >= 0: %w", prior, ErrInvalid)
	}
	w := make([][]float64, n)
	for i, row := range wins {
		if len(row) != n {
			return nil, fmt.Errorf("judge: Bradley–Terry wins row %d has %d cells, want %d: %w", i, len(row), n, ErrInvalid)
		}
		w[i] = make([]float64, n)
		for j, x := range row {
			if !(x >= 0) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("judge: Bradley–Terry wins[%d][%d] is %v: want finite and >= 0: %w", i, j, x, ErrInvalid)
			}
			if i != j {
				w[i][j] = x + prior
			}
		}
	}
	total := make([]float64, n) // W_i
	for i := range n {
		for j := range n {
			total[i] += w[i][j]
		}
	}
	if n > 1 && !connected(w) {
		return nil, fmt.Errorf("judge: Bradley–Terry tournament has a group of players that never lost to the rest (Ford's condition fails), so strengths are infinite; use a prior > 0: %w", ErrInvalid)
	}
	p := make([]float64, n)
	for i := range p {
		p[i] = 1
	}
	next := make([]float64, n)
	for range 100000 {
		for i := range n {
			den := 0.0
			for j := range n {
				if j != i {
					if nij := w[i][j] + w[j][i]; nij > 0 {
						den += nij / (p[i] + p[j])
					}
				}
			}
			next[i] = p[i]
			if den > 0 {
				next[i] = total[i] / den
			}
		}
		// Normalising by the geometric mean keeps the iteration away from
		// overflow; the model is invariant to a common factor.
		g := 0.0
		for _, x := range next {
			g += math.Log(x)
		}
		g /= float64(n)
		moved := 0.0
		for i := range n {
			x := math.Exp(math.Log(next[i]) - g)
			moved = math.Max(moved, math.Abs(math.Log(x)-math.Log(p[i])))
			p[i] = x
		}
		if moved < 1e-12 {
			break
		}
	}
	s := make([]float64, n)
	for i, x := range p {
		s[i] = math.Log(x)
	}
	return s, nil
}

// connected reports whether the graph with an edge i→j for every w[i][j] > 0
// is strongly connected: every player beat, through a chain of wins, every
// other. That is Ford's (1957) condition for the maximum-likelihood
// strengths to exist.
func connected(w [][]float64) bool {
	n := len(w)
	reach := func(forward bool) bool {
		seen := make([]bool, n)
		seen[0] = true
		stack := []int{0}
		count := 1
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for j := range n {
				e := w[i][j]
				if !forward {
					e = w[j][i]
				}
				if !seen[j] && e > 0 {
					seen[j] = true
					count++
					stack = append(stack, j)
				}
			}
		}
		return count == n
	}
	return reach(true) && reach(false)
}
