package judge

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// byContent is a fake judge model that prefers the response with more
// words, whichever position it is in.
func byContent() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		text := p.Text()
		a := between(text, "<response_a>\n", "\n</response_a>")
		b := between(text, "<response_b>\n", "\n</response_b>")
		if alignment.WordCount(a) >= alignment.WordCount(b) {
			return alignment.Response{Text: "Verdict: A"}
		}
		return alignment.Response{Text: "Verdict: B"}
	}}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

// softModel writes "Verdict: X" with log-probabilities for the letter
// token: P(A) = pFirst at that token, when the alternatives include both.
func softModel(pFirst float64, both bool) *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		la, lb := math.Log(pFirst), math.Log(1-pFirst)
		letter, lp := " A", la
		if pFirst < 0.5 {
			letter, lp = " B", lb
		}
		top := []alignment.TokenLogProb{{Token: " A", LogProb: la}, {Token: " B", LogProb: lb}}
		if !both {
			top = []alignment.TokenLogProb{{Token: letter, LogProb: lp}, {Token: " C", LogProb: -9}}
		}
		return alignment.Response{
			Text: "Verdict:" + letter,
			TokenLogProbs: []alignment.TokenLogProb{
				{Token: "Verdict", LogProb: -0.01},
				{Token: ":", LogProb: -0.01},
				{Token: letter, LogProb: lp, Top: top},
			},
		}
	}}
}

func TestPairwiseConforms(t *testing.T) {
	for _, o := range []*PairwiseOptions{nil, {Hard: true}} {
		c, err := NewPairwise(byContent(), o)
		require.NoError(t, err)
		assert.NoError(t, alignmenttest.TestComparer(context.Background(), c))
	}
	c, err := NewPairwise(softModel(0.7, true), nil)
	require.NoError(t, err)
	assert.NoError(t, alignmenttest.TestComparer(context.Background(), c))
}

func TestPairwiseOrders(t *testing.T) {
	ctx := context.Background()
	p := alignment.NewPrompt("p", "Explain tides.")
	long := alignment.Response{Text: "The Moon's gravity pulls the oceans."}
	short := alignment.Response{Text: "Gravity."}
	tests := []struct {
		name   string
		policy alignment.Policy
		a, b   alignment.Response
		want   alignment.Comparison
	}{
		{"agreement for a", byContent(), long, short, alignment.Comparison{ProbA: 1}},
		{"agreement for b", byContent(), short, long, alignment.Comparison{ProbA: 0}},
		{"always first: inconsistent", fixed("Verdict: A"), long, short, alignment.Comparison{ProbA: 0.5, Inconsistent: true}},
		{"always second: inconsistent", fixed("Verdict: B"), long, short, alignment.Comparison{ProbA: 0.5, Inconsistent: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewPairwise(tt.policy, nil)
			require.NoError(t, err)
			got, err := c.Compare(ctx, p, tt.a, tt.b)
			require.NoError(t, err)
			assert.Contains(t, got.Rationale, "Swapped order:")
			assert.Equal(t, tt.want, withoutRationale(got))
		})
	}
}

func TestPairwiseSoft(t *testing.T) {
	ctx := context.Background()
	p := alignment.NewPrompt("p", "Q")
	a, b := alignment.Response{Text: "x"}, alignment.Response{Text: "y"}

	// A model 80% sure of the first position in both orders is
	// position-inconsistent: a tie.
	c, err := NewPairwise(softModel(0.8, true), nil)
	require.NoError(t, err)
	got, err := c.Compare(ctx, p, a, b)
	require.NoError(t, err)
	assert.Equal(t, alignment.Comparison{ProbA: 0.5, Inconsistent: true}, withoutRationale(got))

	// A content-aware soft model: P(first better) is 0.9 when a is first and
	// 0.3 when b is first, so P(a better) is 0.9 and 0.7: mean 0.8.
	model := &alignmenttest.Script{Func: func(q alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		pFirst := 0.9
		if strings.Index(q.Text(), "<response_a>\ny") >= 0 {
			pFirst = 0.3
		}
		return softModel(pFirst, true).Func(q, o, k)
	}}
	c, err = NewPairwise(model, nil)
	require.NoError(t, err)
	got, err = c.Compare(ctx, p, a, b)
	require.NoError(t, err)
	assert.InDelta(t, 0.8, got.ProbA, 1e-12)
	assert.False(t, got.Inconsistent)

	// Hard mode, or alternatives lacking the other letter, read the text.
	for _, o := range []struct {
		pol  alignment.Policy
		hard bool
	}{{model, true}, {&alignmenttest.Script{Func: func(q alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		if strings.Index(q.Text(), "<response_a>\ny") >= 0 {
			return softModel(0.3, false).Func(q, o, k)
		}
		return softModel(0.9, false).Func(q, o, k)
	}}, false}} {
		c, err = NewPairwise(o.pol, &PairwiseOptions{Hard: o.hard})
		require.NoError(t, err)
		got, err = c.Compare(ctx, p, a, b)
		require.NoError(t, err)
		assert.Equal(t, 1.0, got.ProbA)
	}
}

func TestSoftProb(t *testing.T) {
	r := alignment.Response{
		Text: "I pick [[B]]",
		TokenLogProbs: []alignment.TokenLogProb{
			{Token: "I pick", LogProb: -0.1},
			{Token: " [[B", LogProb: math.Log(0.6), Top: []alignment.TokenLogProb{
				{Token: " [[B", LogProb: math.Log(0.6)}, {Token: " [[A", LogProb: math.Log(0.2)}, {Token: "A", LogProb: math.Log(0.1)},
			}},
			{Token: "]]", LogProb: -0.01},
		},
	}
	m, err := findVerdict(r.Text, nil)
	require.NoError(t, err)
	pa, ok := softProb(r, m, "A", "B")
	require.True(t, ok)
	assert.InDelta(t, 0.3/0.9, pa, 1e-12, "the two spellings of A add up")

	bad := r.Clone()
	bad.TokenLogProbs[0].Token = "I chose"
	_, ok = softProb(bad, m, "A", "B")
	assert.False(t, ok, "tokens that do not spell the text are not trusted")
}

func TestPairwiseErrors(t *testing.T) {
	_, err := NewPairwise(nil, nil)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = NewPairwise(fixed(""), &PairwiseOptions{Template: "{{a}} only"})
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "lacks the placeholder {{b}}")

	c, err := NewPairwise(fixed("I like both."), nil)
	require.NoError(t, err)
	_, err = c.Compare(context.Background(), alignment.NewPrompt("p9", "Q"), alignment.Response{Text: "x"}, alignment.Response{Text: "y"})
	assert.ErrorIs(t, err, ErrUnparsable)
	assert.Contains(t, err.Error(), `prompt "p9"`)
}
