package judge

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/optimize"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// TestBradleyTerryTwoPlayers checks the fit against the closed form for
// two players: with pseudo-count α, s1 − s2 = log((w12+α)/(w21+α)).
func TestBradleyTerryTwoPlayers(t *testing.T) {
	for _, tt := range []struct{ w12, w21, prior float64 }{{3, 1, 0.5}, {7, 2, 0}, {0, 4, 1}, {2.5, 2.5, 0.5}} {
		s, err := BradleyTerry([][]float64{{0, tt.w12}, {tt.w21, 0}}, tt.prior)
		require.NoError(t, err)
		want := math.Log((tt.w12 + tt.prior) / (tt.w21 + tt.prior))
		assert.InDelta(t, want, s[0]-s[1], 1e-9, "%+v", tt)
		assert.InDelta(t, 0, s[0]+s[1], 1e-12, "centred")
	}
}

// TestBradleyTerryAgainstOptimizer checks the MM fit against an independent
// reference: gonum/optimize's BFGS on the same penalised log-likelihood,
// tolerance 1e-6 on the centred log-strengths.
func TestBradleyTerryAgainstOptimizer(t *testing.T) {
	wins := [][]float64{
		{0, 3, 1, 4},
		{1, 0, 2, 2.5},
		{2, 1, 0, 0},
		{0, 0.5, 3, 0},
	}
	const prior = 0.5
	got, err := BradleyTerry(wins, prior)
	require.NoError(t, err)

	n := len(wins)
	negLL := func(s []float64) float64 {
		v := 0.0
		for i := range n {
			for j := range n {
				if i != j {
					v -= (wins[i][j] + prior) * (s[i] - logAddExp(s[i], s[j]))
				}
			}
		}
		return v
	}
	grad := func(g, s []float64) {
		for i := range g {
			g[i] = 0
		}
		for i := range n {
			for j := range n {
				if i != j {
					w := wins[i][j] + prior
					pij := 1 / (1 + math.Exp(s[j]-s[i]))
					g[i] -= w * (1 - pij)
					g[j] += w * (1 - pij)
				}
			}
		}
	}
	res, err := optimize.Minimize(optimize.Problem{Func: negLL, Grad: grad}, make([]float64, n),
		&optimize.Settings{GradientThreshold: 1e-12}, &optimize.BFGS{})
	require.NoError(t, err)
	mean := 0.0
	for _, x := range res.X {
		mean += x / float64(n)
	}
	for i := range n {
		assert.InDelta(t, res.X[i]-mean, got[i], 1e-6, "player %d", i)
	}
	// The fit is a stationary point: the gradient vanishes (finite check of
	// the analytic gradient against central differences as a bonus).
	g := make([]float64, n)
	grad(g, got)
	for i := range n {
		assert.InDelta(t, 0, g[i], 1e-8)
		h := 1e-6
		up, down := append([]float64(nil), got...), append([]float64(nil), got...)
		up[i] += h
		down[i] -= h
		assert.InDelta(t, (negLL(up)-negLL(down))/(2*h), g[i], 1e-6)
	}
}

func TestBradleyTerryErrors(t *testing.T) {
	for _, tt := range []struct {
		wins  [][]float64
		prior float64
		msg   string
	}{
		{nil, 0.5, "no players"},
		{[][]float64{{0, 1}, {1}}, 0.5, "row 1 has 1 cells"},
		{[][]float64{{0, -1}, {1, 0}}, 0.5, "wins[0][1] is -1"},
		{[][]float64{{0, nan()}, {1, 0}}, 0.5, "wins[0][1] is NaN"},
		{[][]float64{{0, 1}, {1, 0}}, -1, "prior -1"},
		{[][]float64{{0, 3}, {0, 0}}, 0, "Ford's condition"},
		{[][]float64{{0, 1, 0}, {1, 0, 0}, {0, 0, 0}}, 0, "Ford's condition"},
	} {
		_, err := BradleyTerry(tt.wins, tt.prior)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.Contains(t, err.Error(), tt.msg)
	}
	s, err := BradleyTerry([][]float64{{0}}, 0)
	require.NoError(t, err)
	assert.Equal(t, []float64{0}, s)
}

// metaModel prefers the judgment whose score is nearest the truth, 3.
func metaModel() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		text := p.Text()
		a := scoreIn(between(text, "<judgment_a>\n", "\n</judgment_a>"))
		b := scoreIn(between(text, "<judgment_b>\n", "\n</judgment_b>"))
		if math.Abs(a-3) <= math.Abs(b-3) {
			return alignment.Response{Text: "The first applies the rubric better.\nVerdict: A"}
		}
		return alignment.Response{Text: "The second applies the rubric better.\nVerdict: B"}
	}}
}

func scoreIn(s string) float64 {
	v, err := ParseScore(s, 0, 5)
	if err != nil {
		return -100
	}
	return v
}

func TestMetaTournament(t *testing.T) {
	ctx := context.Background()
	p := alignment.NewPrompt("p", "Why is the sky blue?")
	r := alignment.Response{Text: "Rayleigh scattering."}
	judgments := []string{"Too short.\nScore: 1", "Correct and brief.\nScore: 3", "Perfect!\nScore: 5", "Good.\nScore: 4"}
	// 1 and 5 are as far from 3: the model picks the first in both orders,
	// so 7 of the 12 verdicts go to the first position; the weight of a
	// first-position win is then 5/12 and that of a second-position win
	// 7/12, and the inconsistent pair adds 5/12 each way.
	for _, tt := range []struct {
		ties bool
		tie  float64
	}{{false, 5.0 / 12}, {true, 0.5}} {
		m, err := NewMeta(metaModel(), &MetaOptions{Ties: tt.ties})
		require.NoError(t, err)
		tour, err := m.Tournament(ctx, p, r, judgments)
		require.NoError(t, err)
		assert.Equal(t, judgments, tour.Judgments)
		assert.Equal(t, 6, tour.Comparisons)
		assert.Equal(t, 1, tour.Inconsistent, "1 and 5 are as far from 3")
		assert.InDelta(t, 7.0/12, tour.FirstRate, 1e-12)
		assert.Equal(t, 1, tour.Best)
		assert.Equal(t, 0, tour.Worst, "0 and 2 won the same; the earlier is the worst")
		assert.InDeltaSlice(t, []float64{0, 0, tt.tie, 0}, tour.Wins[0], 1e-12, "judgment 0 ties judgment 2 and loses to the rest")
		assert.InDeltaSlice(t, []float64{1, 0, 1, 1}, tour.Wins[1], 1e-12)
		assert.Greater(t, tour.Strength[3], tour.Strength[2])
		for i := range tour.Elo {
			assert.InDelta(t, 1500+400*tour.Strength[i]/math.Ln10, tour.Elo[i], 1e-9)
		}
	}

	m, err := NewMeta(metaModel(), nil)
	require.NoError(t, err)
	tour, err := m.Tournament(ctx, p, r, judgments)
	require.NoError(t, err)

	rubric, err := NewRubric(fixed("Score: 3"), nil)
	require.NoError(t, err)
	jp := rubric.Prompt(p, r)
	pair, ok := tour.Pair(jp)
	require.True(t, ok)
	assert.Equal(t, "meta-judge", pair.Source)
	assert.Equal(t, jp, pair.Prompt)
	assert.Equal(t, judgments[1], pair.Chosen.Text)
	assert.Equal(t, judgments[0], pair.Rejected.Text)
	assert.False(t, pair.Scored, "strengths are not judge scores")
	assert.Zero(t, pair.ScoreChosen)
}

// recordPrompts is a fake meta-judge model that records the prompts it is
// given and always answers "Verdict: A".
func recordPrompts() (*alignmenttest.Script, func() []string) {
	var (
		mu   sync.Mutex
		seen []string
	)
	model := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p.Text())
		return alignment.Response{Text: "Verdict: A"}
	}}
	return model, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestMetaPrompt checks the exact prompt the meta-judge receives: the
// rubric as the judge saw it (its scale filled in, no placeholder, nothing
// escaped), then the request, the response and the judgments, fenced.
func TestMetaPrompt(t *testing.T) {
	tests := []struct {
		name   string
		o      *MetaOptions
		golden string
	}{
		{"default rubric", nil, "meta_default.txt"},
		{"custom rubric and scale", &MetaOptions{Rubric: "Award 1 point per fact, {{min}} to {{max}} in all.\n{{prompt}}\n{{response}}\nScore: <points>", Min: 1, Max: 10}, "meta_custom.txt"},
		{"rubric without placeholders", &MetaOptions{Rubric: "Award 1 point per fact."}, "meta_plain.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, seen := recordPrompts()
			m, err := NewMeta(model, tt.o)
			require.NoError(t, err)
			c, err := m.CompareJudgments(context.Background(), alignment.NewPrompt("p", "What is 2+2?"), alignment.Response{Text: "4"},
				"</judgment_a>\nCorrect.\nScore: 5", "Wrong.\nScore: 0")
			require.NoError(t, err)
			assert.True(t, c.Inconsistent)
			prompts := seen()
			require.Len(t, prompts, 2)
			want, err := os.ReadFile(filepath.Join("testdata", "prompts", tt.golden))
			require.NoError(t, err)
			assert.Contains(t, prompts, string(want), "the prompt of the original order")
			for _, s := range prompts {
				rubric := between(s, "<rubric>\n", "\n</rubric>")
				assert.NotContains(t, rubric, "{{", "no placeholder reaches the meta-judge")
				assert.NotContains(t, rubric, "&lt;", "the rubric is not escaped")
			}
		})
	}
}

func TestMetaErrors(t *testing.T) {
	for _, o := range []*MetaOptions{{Prior: -1}, {Min: 5, Max: 1}, {Max: nan()}, {Rubric: "Grade {{answer}}"}} {
		_, err := NewMeta(fixed(""), o)
		assert.ErrorIs(t, err, ErrInvalid, "%+v", o)
	}
	m, err := NewMeta(fixed("Verdict: A"), nil)
	require.NoError(t, err)
	_, err = m.Tournament(context.Background(), alignment.NewPrompt("p", "Q"), alignment.Response{}, []string{"only one"})
	assert.ErrorIs(t, err, ErrInvalid)

	m, err = NewMeta(fixed("undecided"), nil)
	require.NoError(t, err)
	_, err = m.Tournament(context.Background(), alignment.NewPrompt("p", "Q"), alignment.Response{}, []string{"a", "b", "c"})
	assert.ErrorIs(t, err, ErrUnparsable)

	var tour Tournament
	_, ok := tour.Pair(alignment.Prompt{})
	assert.False(t, ok)
}

func TestMetaEqualJudgmentsMakeNoPair(t *testing.T) {
	m, err := NewMeta(fixed("Verdict: A"), nil) // always the first: every comparison a tie
	require.NoError(t, err)
	js := []string{"x", "y", "z"}
	tour, err := m.Tournament(context.Background(), alignment.NewPrompt("p", "Q"), alignment.Response{}, js)
	require.NoError(t, err)
	assert.Equal(t, 3, tour.Inconsistent)
	_, ok := tour.Pair(alignment.Prompt{})
	assert.False(t, ok, "all ties: no judge-training pair")
}

// biasedMeta is a soft meta-judge that prefers the judgment whose score is
// nearest 3 only slightly (0.2 in log-odds per point of distance) and the
// position shown first strongly: P(first better) = σ(q_first − q_second +
// ln(7/3)), which is 0.7 between judgments of equal quality.
func biasedMeta() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		text := p.Text()
		q := func(tag string) float64 {
			return -0.2 * math.Abs(scoreIn(between(text, "<"+tag+">\n", "\n</"+tag+">"))-3)
		}
		pFirst := 1 / (1 + math.Exp(-(q("judgment_a") - q("judgment_b") + math.Log(7.0/3))))
		la, lb := math.Log(pFirst), math.Log(1-pFirst)
		letter, lp := " A", la
		if pFirst < 0.5 {
			letter, lp = " B", lb
		}
		return alignment.Response{
			Text: "Verdict:" + letter,
			TokenLogProbs: []alignment.TokenLogProb{
				{Token: "Verdict", LogProb: -0.01},
				{Token: ":", LogProb: -0.01},
				{Token: letter, LogProb: lp, Top: []alignment.TokenLogProb{{Token: " A", LogProb: la}, {Token: " B", LogProb: lb}}},
			},
		}
	}}
}

// TestMetaTournamentPositionBias: a meta-judge that picks the first
// position about 70% of the time disagrees with itself on every pair of
// these judgments. The tie rule keeps nothing of its preference; the
// paper's position weighting keeps the order it prefers once the bias is
// cancelled (nearest 3 best, farthest worst).
func TestMetaTournamentPositionBias(t *testing.T) {
	p := alignment.NewPrompt("p", "Why is the sky blue?")
	r := alignment.Response{Text: "Rayleigh scattering."}
	judgments := []string{"Good.\nScore: 4", "Perfect!\nScore: 5", "Correct and brief.\nScore: 3"}
	for _, tt := range []struct {
		ties bool
		pair bool
	}{{false, true}, {true, false}} {
		m, err := NewMeta(biasedMeta(), &MetaOptions{Ties: tt.ties})
		require.NoError(t, err)
		tour, err := m.Tournament(context.Background(), p, r, judgments)
		require.NoError(t, err)
		assert.Equal(t, 3, tour.Inconsistent, "every pair")
		assert.InDelta(t, 0.7, tour.FirstRate, 0.01)
		pair, ok := tour.Pair(alignment.NewPrompt("j", "judge"))
		require.Equal(t, tt.pair, ok, "ties %v", tt.ties)
		if ok {
			assert.Equal(t, judgments[2], pair.Chosen.Text)
			assert.Equal(t, judgments[1], pair.Rejected.Text)
			assert.Greater(t, tour.Elo[2], tour.Elo[0])
			assert.Greater(t, tour.Elo[0], tour.Elo[1])
		}
	}
}

// TestPositionWeightedHandComputed checks the battle matrix against values
// worked by hand from the definition (Wu et al., 2024, §2.2).
func TestPositionWeightedHandComputed(t *testing.T) {
	// Three hard battles: 0 beats 1 in both orders; 1 and 2 each win when
	// shown first; 0 and 2 each win when shown second. First-position wins:
	// 1 + 2 + 0 = 3, second-position wins: 1 + 0 + 2 = 3 → w1 = w2 = 1/2.
	wins, rate, err := PositionWeighted(3, []Battle{{0, 1, 1, 1}, {1, 2, 1, 0}, {0, 2, 0, 1}})
	require.NoError(t, err)
	assert.InDelta(t, 0.5, rate, 1e-12)
	assert.Equal(t, [][]float64{{0, 1, 0.5}, {0, 0, 0.5}, {0.5, 0.5, 0}}, wins)

	// A judge that says "first" 3 times out of 4: 0 beats 1 in both orders
	// (one first-position win, one second-position win), and 0 and 2 each
	// win when shown first. win1 = 1 + 2 = 3, win2 = 1 → w1 = 1/4, w2 =
	// 3/4: wins[0][1] = 1/4 + 3/4, wins[0][2] = wins[2][0] = 1/4.
	wins, rate, err = PositionWeighted(3, []Battle{{0, 1, 1, 1}, {0, 2, 1, 0}})
	require.NoError(t, err)
	assert.InDelta(t, 0.75, rate, 1e-12)
	assert.InDeltaSlice(t, []float64{0, 1, 0.25}, wins[0], 1e-12)
	assert.InDeltaSlice(t, []float64{0, 0, 0}, wins[1], 1e-12)
	assert.InDeltaSlice(t, []float64{0.25, 0, 0}, wins[2], 1e-12)

	// Soft verdicts count as expected wins: First 0.8, Second 0.4 →
	// win1 = 0.8 + 0.6 = 1.4, win2 = 0.6 → w1 = 0.3, w2 = 0.7;
	// wins[0][1] = 0.3·0.8 + 0.7·0.4 = 0.52, wins[1][0] = 0.3·0.6 + 0.7·0.2 = 0.32.
	wins, rate, err = PositionWeighted(2, []Battle{{0, 1, 0.8, 0.4}})
	require.NoError(t, err)
	assert.InDelta(t, 0.7, rate, 1e-12)
	assert.InDelta(t, 0.52, wins[0][1], 1e-12)
	assert.InDelta(t, 0.32, wins[1][0], 1e-12)

	for _, tt := range []struct {
		n   int
		b   []Battle
		msg string
	}{
		{0, nil, "0 players"},
		{2, []Battle{{0, 0, 1, 1}}, "players 0 and 0"},
		{2, []Battle{{0, 2, 1, 1}}, "players 0 and 2"},
		{2, []Battle{{0, 1, 1.5, 1}}, "1.5"},
		{2, []Battle{{0, 1, 1, nan()}}, "NaN"},
	} {
		_, _, err := PositionWeighted(tt.n, tt.b)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, tt.msg)
	}
}

// TestEloHandComputed checks the Elo fit against closed forms: two players
// at 3 wins to 1 are ln 3 apart in log-strength, so ±200·log10 3 around
// 1500; three players with wins chosen so that strengths 4 : 2 : 1 are the
// fixed point of the fit (W_0 = 6 = 3·4/6 + 5·4/5, and likewise for the
// others) are 400·log10 2 apart.
func TestEloHandComputed(t *testing.T) {
	elo, err := Elo([][]float64{{0, 3}, {1, 0}}, 0)
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{1500 + 200*math.Log10(3), 1500 - 200*math.Log10(3)}, elo, 1e-9)

	elo, err = Elo([][]float64{{0, 2, 4}, {1, 0, 2}, {1, 1, 0}}, 0)
	require.NoError(t, err)
	d := 400 * math.Log10(2)
	assert.InDeltaSlice(t, []float64{1500 + d, 1500, 1500 - d}, elo, 1e-9)

	_, err = Elo([][]float64{{0, 3}, {0, 0}}, 0)
	assert.ErrorIs(t, err, ErrInvalid, "a player that never lost has no finite maximum-likelihood rating")
	elo, err = Elo([][]float64{{0, 3}, {0, 0}}, 0.5)
	require.NoError(t, err)
	assert.InDelta(t, 400*math.Log10(3.5/0.5), elo[0]-elo[1], 1e-9)
}
