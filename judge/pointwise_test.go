package judge

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func TestPointwise(t *testing.T) {
	c := Pointwise{Judge: alignmenttest.Scores{"good": 5, "bad": 1, "also bad": 1}}
	p := alignment.NewPrompt("p", "q")
	r := func(s string) alignment.Response { return alignment.Response{Text: s} }
	for _, tt := range []struct {
		a, b string
		want float64
	}{{"good", "bad", 1}, {"bad", "good", 0}, {"bad", "also bad", 0.5}} {
		got, err := c.Compare(t.Context(), p, r(tt.a), r(tt.b))
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.ProbA, "%s vs %s", tt.a, tt.b)
	}
	_, err := c.Compare(t.Context(), p, r("good"), r("unscripted"))
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)
	_, err = Pointwise{}.Compare(t.Context(), p, r("a"), r("b"))
	assert.ErrorIs(t, err, ErrInvalid)
	if err := alignmenttest.TestComparer(t.Context(), Pointwise{Judge: Func(lengthScore)}); err != nil {
		t.Error(err)
	}
}

// lengthScore scores a response by its length in words, capped at 5.
func lengthScore(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: float64(min(alignment.WordCount(r.Text), 5))}, nil
}
