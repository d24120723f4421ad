package sampler

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/seeds"
)

func member(name string, w float64) Member {
	return Member{Name: name, Weight: w, Policy: &alignmenttest.Script{
		Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
			return alignment.Response{Text: name + "/" + p.ID + "/" + string(rune('0'+k)), Source: "backend"}
		},
	}}
}

func TestNewEnsembleErrors(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
	}{
		{"empty", nil},
		{"empty name", []Member{member("", 1)}},
		{"repeated name", []Member{member("a", 1), member("a", 1)}},
		{"nil policy", []Member{{Name: "a", Weight: 1}}},
		{"negative weight", []Member{member("a", 1), member("b", -1)}},
		{"NaN weight", []Member{member("a", math.NaN())}},
		{"infinite weight", []Member{member("a", math.Inf(1))}},
		{"all zero", []Member{member("a", 0), member("b", 0)}},
		{"total overflows", []Member{member("a", math.MaxFloat64), member("b", math.MaxFloat64)}},
	}
	for _, tt := range tests {
		e, err := NewEnsemble(tt.members...)
		assert.Nil(t, e, tt.name)
		assert.ErrorIs(t, err, ErrInvalid, tt.name)
	}
}

func TestEnsembleSplit(t *testing.T) {
	e, err := NewEnsemble(member("a", 3), member("b", 1), member("c", 0))
	require.NoError(t, err)
	assert.Equal(t, []int{6, 2, 0}, e.split(8, func() float64 { return 0 }), "whole shares need no draw")
	assert.Equal(t, []int{0, 0, 0}, e.split(0, func() float64 { return 0 }))

	// n = 3: shares 2.25 and 0.75, so the leftover draw goes to b with
	// probability 0.75 / (0.25 + 0.75).
	const trials = 4000
	rng := seeds.Rand(1)
	toB := 0
	for range trials {
		c := e.split(3, rng.Float64)
		require.Equal(t, 3, c[0]+c[1]+c[2])
		assert.Zero(t, c[2], "a zero-weight member never draws")
		if c[1] == 1 {
			toB++
		}
	}
	// Binomial(4000, 0.75): standard deviation 27.4; allow 5 of them.
	assert.InDelta(t, 0.75*trials, toB, 5*27.4)

	thirds, err := NewEnsemble(member("a", 1), member("b", 1), member("c", 1))
	require.NoError(t, err)
	for n := range 50 {
		c := thirds.split(n, rng.Float64)
		for _, k := range c {
			assert.LessOrEqual(t, math.Abs(float64(k)-float64(n)/3), 1.0, "n=%d %v", n, c)
		}
		assert.Equal(t, n, c[0]+c[1]+c[2])
	}
}

func TestEnsembleGenerate(t *testing.T) {
	e, err := NewEnsemble(member("big", 3), member("small", 1))
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "q")
	o := alignment.SampleOptions{N: 8, Seed: 4}
	rs, err := e.Generate(context.Background(), p, o)
	require.NoError(t, err)
	require.Len(t, rs, 8)
	count := map[string]int{}
	for _, r := range rs {
		count[r.Source]++
		assert.Contains(t, r.Text, r.Source+"/", "Source names the member that wrote the response")
	}
	assert.Equal(t, map[string]int{"big": 6, "small": 2}, count)

	again, err := e.Generate(context.Background(), p, o)
	require.NoError(t, err)
	assert.Equal(t, rs, again, "same seed, same draws in the same order")

	orders := map[string]bool{}
	for seed := range uint64(20) {
		rs, err := e.Generate(context.Background(), p, alignment.SampleOptions{N: 8, Seed: seed})
		require.NoError(t, err)
		orders[rs[0].Source] = true
	}
	assert.Len(t, orders, 2, "the order is shuffled, so neither member always comes first")

	failing := Member{Name: "bad", Weight: 1, Policy: &alignmenttest.Script{}}
	e, err = NewEnsemble(member("good", 1), failing)
	require.NoError(t, err)
	_, err = e.Generate(context.Background(), p, alignment.SampleOptions{N: 4})
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)
	assert.ErrorContains(t, err, `member "bad"`)
}

func TestEnsembleConformance(t *testing.T) {
	e, err := NewEnsemble(member("a", 2), member("b", 1))
	require.NoError(t, err)
	if err := alignmenttest.TestPolicy(t.Context(), e); err != nil {
		t.Error(err)
	}
}
