package judge

import (
	"fmt"

	"github.com/selfalign/selfalign/internal/rank"
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
	s, err := rank.BradleyTerry(wins, prior)
	if err != nil {
		return nil, fmt.Errorf("judge: %v: %w", err, ErrInvalid)
	}
	return s, nil
}

// Elo is the ranking of Meta-Rewarding (Wu et al., 2024, §2.2): Elo
// ratings fitted to a battle matrix (wins[i][j]: how much i beat j, as
// PositionWeighted builds it) by maximum likelihood, the Bradley–Terry fit
// with prior pseudo-wins (see BradleyTerry), put on the Elo scale:
// 1500 + 400·log10 of each player's strength over the mean player's, so
// that a 400-point gap is 10-to-1 odds. It is deterministic. The paper
// fits without pseudo-wins (prior 0), which leaves a judgment that won
// every comparison without a finite rating; a small prior keeps it finite
// and, in a complete round robin with the same number of comparisons per
// pair, does not change the order. Errors are BradleyTerry's.
func Elo(wins [][]float64, prior float64) ([]float64, error) {
	s, err := BradleyTerry(wins, prior)
	if err != nil {
		return nil, err
	}
	return rank.Elo(s), nil
}

// Battle is one pair of players (judgments, responses) compared in both
// presentation orders, the input of PositionWeighted: First is P(I beats J)
// when I was shown first, Second P(I beats J) when J was shown first.
type Battle struct {
	I, J          int
	First, Second float64
}

// PositionWeighted builds the battle matrix of Meta-Rewarding (Wu et al.,
// 2024, §2.2) over n players: each verdict counts with the weight of the
// position it favoured, w1 = win2/(win1+win2) for a win of the player
// shown first and w2 = win1/(win1+win2) for a win of the player shown
// second, win1 and win2 being the expected wins of each position over all
// the battles given. A judge that favours one position has that
// position's wins discounted until both positions weigh the same, so its
// preference between the players survives where the tie rule (every
// disagreement of the two orders a tie, as Pairwise and
// Meta.CompareJudgments do) keeps nothing. Each battle adds 1 in all to
// wins[I][J] + wins[J][I]; a judge without position bias (firstRate 0.5)
// adds the mean of its two orders. firstRate is win1/(win1+win2). The
// paper counts hard verdicts; probabilities (soft verdicts) count as
// expected wins. Errors wrap ErrInvalid and name the bad battle.
func PositionWeighted(n int, battles []Battle) (wins [][]float64, firstRate float64, err error) {
	bs := make([]rank.Battle, len(battles))
	for i, b := range battles {
		bs[i] = rank.Battle(b)
	}
	wins, firstRate, err = rank.PositionWeighted(n, bs)
	if err != nil {
		return nil, 0, fmt.Errorf("judge: %v: %w", err, ErrInvalid)
	}
	return wins, firstRate, nil
}
