package alignment

import (
	"math"
	"strconv"
)

// Scored is a response with its aggregate judge score, the input of pair
// selection.
type Scored struct {
	Response Response
	Score    float64
	// Judgments holds the k judgments that Score averages; nil when a
	// Comparer scored the responses, or nothing did (Score is then 0).
	Judgments []Judgment
	// Unrefined is the response as sampled, before the Loop's Refiner;
	// equal to Response when there is none.
	Unrefined Response
}

// Selector picks the preference pair among the scored responses to one
// prompt. It returns the indices of the chosen and rejected responses, or
// ok == false when the responses do not make a pair (all tied, say); the
// Loop counts the prompt as a tie unless Loop.Extra made a pair for it.
// Select must not modify rs.
type Selector interface {
	Select(rs []Scored) (chosen, rejected int, ok bool)
}

// MaxMin is the Self-Rewarding selector: chosen is the highest-scoring
// response, rejected the lowest; when they score the same the prompt yields
// no pair. Among equal scores the earlier response wins both roles, which
// keeps selection independent of anything but the order of sampling.
type MaxMin struct {
	// MinGap, when positive, also drops a prompt whose best and worst
	// responses score less than MinGap apart: for a soft judge (an
	// expected score, say), whose nearly equal scores are ties it cannot
	// tell apart. Zero drops exact ties only.
	MinGap float64
}

// Fingerprint implements Fingerprinter: MaxMin with its MinGap, when set.
func (m MaxMin) Fingerprint() string {
	if m.MinGap == 0 {
		return "alignment.MaxMin"
	}
	return "alignment.MaxMin min_gap=" + strconv.FormatFloat(m.MinGap, 'g', -1, 64)
}

// Select implements Selector.
func (m MaxMin) Select(rs []Scored) (chosen, rejected int, ok bool) {
	if len(rs) < 2 {
		return 0, 0, false
	}
	for i, r := range rs {
		if r.Score > rs[chosen].Score {
			chosen = i
		}
		if r.Score < rs[rejected].Score {
			rejected = i
		}
	}
	gap := rs[chosen].Score - rs[rejected].Score
	return chosen, rejected, gap > 0 && gap >= m.MinGap
}

// LengthControlled is the Meta-Rewarding selector (Wu et al., 2024): with
// top and bottom scores smax and smin and d = smax − smin, chosen is the
// shortest response scoring at least smax − Rho·d, rejected the longest
// scoring at most smin + Rho·d. It counters the drift toward long responses
// that plain max/min selection causes. Rho = 0 is MaxMin with length as the
// tie-breaker; Rho must be below 0.5 so that the two windows cannot overlap
// (larger values are treated as 0.5 minus a hair). Lengths are
// Response.Length. Equal lengths keep the earlier response.
type LengthControlled struct {
	Rho float64
}

// Fingerprint implements Fingerprinter: the selector with its Rho.
func (l LengthControlled) Fingerprint() string {
	return "alignment.LengthControlled rho=" + strconv.FormatFloat(l.Rho, 'g', -1, 64)
}

// Select implements Selector.
func (l LengthControlled) Select(rs []Scored) (chosen, rejected int, ok bool) {
	if len(rs) < 2 {
		return 0, 0, false
	}
	smin, smax := rs[0].Score, rs[0].Score
	for _, r := range rs[1:] {
		smin, smax = math.Min(smin, r.Score), math.Max(smax, r.Score)
	}
	if !(smax > smin) {
		return 0, 0, false
	}
	rho := l.Rho
	if !(rho >= 0) {
		rho = 0
	}
	if rho >= 0.5 {
		rho = math.Nextafter(0.5, 0)
	}
	d := smax - smin
	top, bottom := smax-rho*d, smin+rho*d
	chosen, rejected = -1, -1
	for i, r := range rs {
		n := r.Response.Length()
		if r.Score >= top && (chosen < 0 || n < rs[chosen].Response.Length()) {
			chosen = i
		}
		if r.Score <= bottom && (rejected < 0 || n > rs[rejected].Response.Length()) {
			rejected = i
		}
	}
	return chosen, rejected, rs[chosen].Score > rs[rejected].Score
}

var (
	_ Selector = NoPair{}
)

// NoPair is a Selector that never selects a pair, for loops whose pairs all
// come from Loop.Extra: SL-CAI's revision-over-original pairs, SynPO's
// improved-over-initial pairs, instruction inversion. The Loop counts a
// prompt of such a loop as yielded (Report.Yielded) when Extra made a pair
// for it, and otherwise as a tie (Report.Ties) when its responses were
// judged or as unjudged (Report.Unjudged) when the Loop has no judge.
type NoPair struct{}

// Select implements Selector; it always declines.
func (NoPair) Select([]Scored) (chosen, rejected int, ok bool) { return 0, 0, false }
