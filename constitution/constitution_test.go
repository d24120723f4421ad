package constitution

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func alwaysPass(alignment.Prompt, alignment.Response) bool { return true }

// model returns a principle with texts.
func model(id string) Principle {
	return Principle{ID: id, Critique: "Critique under " + id + ".", Revision: "Revise under " + id + ".", Comparison: "Which response is better under " + id + "?"}
}

func TestNewValidation(t *testing.T) {
	withExample := model("ex")
	withExample.Examples = []Example{{Prompt: "p", Response: "r", Critique: "", Revision: "v"}}
	tests := []struct {
		name string
		ps   []Principle
		want []string
	}{
		{"none", nil, []string{"constitution: principles: no principles"}},
		{"empty id", []Principle{{Critique: "c", Revision: "r", Comparison: "q"}}, []string{"constitution: principles[0].id: empty"}},
		{"long id", []Principle{model(strings.Repeat("x", 65))}, []string{`constitution: principles[0].id: id "xxxxxxxxxxxxxxxxxxxx"... longer than 64 bytes`}},
		{"duplicate", []Principle{model("a"), model("b"), model("a")}, []string{`constitution: principles[2].id: duplicate id "a" (first at principles[0])`}},
		{"missing texts", []Principle{{ID: "a", Critique: "c"}}, []string{
			"constitution: principles[0].revision: empty", "constitution: principles[0].comparison: empty"}},
		{"partial rule texts", []Principle{{ID: "a", Critique: "c", Check: alwaysPass}}, []string{
			"constitution: principles[0].revision: empty while other texts are set (a rule principle has all three texts or none)",
			"constitution: principles[0].comparison: empty while other texts are set (a rule principle has all three texts or none)"}},
		{"examples on a rule", []Principle{{ID: "a", Check: alwaysPass, Examples: []Example{{"p", "r", "c", "v"}}}}, []string{
			"constitution: principles[0].examples: examples on a principle without texts"}},
		{"example field", []Principle{withExample}, []string{"constitution: principles[0].examples[0].critique: empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.ps...)
			assert.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalid)
			var got []string
			for _, e := range unjoin(err) {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNewCopies(t *testing.T) {
	p := model("a")
	p.Examples = []Example{{"p", "r", "c", "v"}}
	ps := []Principle{p}
	c, err := New(ps...)
	require.NoError(t, err)
	ps[0].ID = "changed"
	p.Examples[0].Prompt = "changed"
	got, ok := c.Principle("a")
	require.True(t, ok)
	assert.Equal(t, "p", got.Examples[0].Prompt)
	got.Examples[0].Prompt = "changed again"
	c.Principles()[0].Examples[0].Prompt = "and again"
	again, _ := c.Principle("a")
	assert.Equal(t, "p", again.Examples[0].Prompt)
	_, ok = c.Principle("missing")
	assert.False(t, ok)
}

func TestSample(t *testing.T) {
	c, err := New(model("a"), model("b"), model("c"), Principle{ID: "rule", Check: alwaysPass}, model("d"))
	require.NoError(t, err)
	ids := func(ps []Principle) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for seed := range uint64(50) {
		ps, err := c.Sample(rand.NewPCG(seed, 1), 4)
		require.NoError(t, err)
		got := ids(ps)
		assert.ElementsMatch(t, []string{"a", "b", "c", "d"}, got, "four draws from four model principles use each once")

		again, err := c.Sample(rand.NewPCG(seed, 1), 4)
		require.NoError(t, err)
		assert.Equal(t, got, ids(again), "same source, same principles")

		long, err := c.Sample(rand.NewPCG(seed, 2), 11)
		require.NoError(t, err)
		lg := ids(long)
		require.Len(t, lg, 11)
		for i := 1; i < len(lg); i++ {
			assert.NotEqual(t, lg[i-1], lg[i], "no principle twice in a row, seed %d: %v", seed, lg)
		}
		assert.ElementsMatch(t, []string{"a", "b", "c", "d"}, lg[4:8], "each block of four is a permutation")
	}

	first := map[string]int{}
	for seed := range uint64(400) {
		ps, err := c.Sample(rand.NewPCG(seed, 3), 1)
		require.NoError(t, err)
		first[ps[0].ID]++
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		assert.InDelta(t, 100, first[id], 35, "principle %s is drawn about a quarter of the time: %v", id, first)
	}

	none, err := c.Sample(rand.NewPCG(1, 1), 0)
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = c.Sample(rand.NewPCG(1, 1), -1)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Rules().Sample(rand.NewPCG(1, 1), 1)
	assert.ErrorIs(t, err, ErrInvalid)

	one, err := New(model("solo"))
	require.NoError(t, err)
	ps, err := one.Sample(rand.NewPCG(1, 1), 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"solo", "solo", "solo"}, ids(ps), "a one-principle constitution repeats it")
}

func TestDefault(t *testing.T) {
	c := Default()
	require.Equal(t, 12, c.Len())
	_, err := New(c.Principles()...)
	require.NoError(t, err)
	groups := map[string]int{}
	for _, p := range c.Principles() {
		prefix, _, ok := strings.Cut(p.ID, "-")
		require.True(t, ok, p.ID)
		groups[prefix]++
		assert.Nil(t, p.Check)
		assert.True(t, strings.HasSuffix(p.Comparison, "?"), "comparison of %s is a question", p.ID)
	}
	assert.Equal(t, map[string]int{"helpful": 4, "harmless": 4, "honest": 4}, groups)
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Msg: "m"}, "constitution: m"},
		{Error{Field: "f", Msg: "m"}, "constitution: f: m"},
		{Error{File: "x.json", Line: 3, Column: 4, Field: "f", Msg: "m"}, "constitution: x.json:3:4: f: m"},
		{Error{File: "x.md", Line: 3, Msg: "m"}, "constitution: x.md:3: m"},
		{Error{File: "x.md", Msg: "m"}, "constitution: x.md: m"},
		{Error{Line: 7, Msg: "m"}, "constitution: 7: m"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.e.Error())
		assert.ErrorIs(t, &tt.e, ErrInvalid)
	}
}
