package rank

import (
	"errors"
	"fmt"
	"math"
)

// BradleyTerry fits Bradley–Terry log-strengths, centred on 0, to a win
// table (wins[i][j]: how often i beat j, fractions allowed) with prior
// pseudo-wins added to every ordered pair. It is the one fit behind
// judge.BradleyTerry, judge.Elo and the Meta-Rewarding recipe's ranking;
// judge.BradleyTerry documents it. Errors name the bad cell and wrap no
// sentinel: callers wrap their own.
func BradleyTerry(wins [][]float64, prior float64) ([]float64, error) {
	n := len(wins)
	if n == 0 {
		return nil, errors.New("Bradley–Terry fit of no players")
	}
	if !(prior >= 0) || math.IsInf(prior, 0) {
		return nil, fmt.Errorf("Bradley–Terry prior %v: want finite and >= 0", prior)
	}
	w := make([][]float64, n)
	for i, row := range wins {
		if len(row) != n {
			return nil, fmt.Errorf("Bradley–Terry wins row %d has %d cells, want %d", i, len(row), n)
		}
		w[i] = make([]float64, n)
		for j, x := range row {
			if !(x >= 0) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("Bradley–Terry wins[%d][%d] is %v: want finite and >= 0", i, j, x)
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
		return nil, errors.New("Bradley–Terry tournament has a group of players that never lost to the rest (Ford's condition fails), so strengths are infinite; use a prior > 0")
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

// Elo puts log-strengths on the Elo scale: 1500 + 400·log10(strength ratio
// to the mean player), so that a 400-point gap is 10-to-1 odds.
func Elo(strengths []float64) []float64 {
	out := make([]float64, len(strengths))
	for i, s := range strengths {
		out[i] = 1500 + 400*s/math.Ln10
	}
	return out
}

// Battle is one pair of players compared in both presentation orders:
// First is P(I beats J) when I was shown first, Second P(I beats J) when
// J was shown first.
type Battle struct {
	I, J          int
	First, Second float64
}

// PositionWeighted builds the battle matrix of Meta-Rewarding (Wu et al.,
// 2024, §2.2): each verdict counts with the weight of the position it
// favoured, w1 = win2/(win1+win2) for a win of the player shown first and
// w2 = win1/(win1+win2) for a win of the player shown second, win1 and
// win2 being the (expected) wins of each position over all battles. A
// judge that favours one position has that position's wins discounted
// until both positions weigh the same, so its preference between the
// players survives where a rule that turns every disagreement of the two
// orders into a tie would keep nothing. firstRate is win1/(win1+win2),
// 0.5 for a judge without position bias (then each battle adds the mean of
// its two orders). Errors name the bad battle.
func PositionWeighted(n int, battles []Battle) (wins [][]float64, firstRate float64, err error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("battle matrix of %d players", n)
	}
	var win1, win2 float64
	for k, b := range battles {
		switch {
		case b.I < 0 || b.I >= n || b.J < 0 || b.J >= n || b.I == b.J:
			return nil, 0, fmt.Errorf("battle %d is between players %d and %d, want two different players in [0, %d)", k, b.I, b.J, n)
		case !(b.First >= 0 && b.First <= 1) || !(b.Second >= 0 && b.Second <= 1):
			return nil, 0, fmt.Errorf("battle %d of players %d and %d has probabilities %v and %v, want both in [0, 1]", k, b.I, b.J, b.First, b.Second)
		}
		win1 += b.First + (1 - b.Second)
		win2 += (1 - b.First) + b.Second
	}
	wins = make([][]float64, n)
	for i := range wins {
		wins[i] = make([]float64, n)
	}
	if len(battles) == 0 {
		return wins, 0.5, nil
	}
	firstRate = win1 / (win1 + win2)
	w1, w2 := 1-firstRate, firstRate
	for _, b := range battles {
		wins[b.I][b.J] += w1*b.First + w2*b.Second
		wins[b.J][b.I] += w1*(1-b.Second) + w2*(1-b.First)
	}
	return wins, firstRate, nil
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
