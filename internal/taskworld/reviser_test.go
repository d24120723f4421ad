package taskworld

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

func TestReviserConforms(t *testing.T) {
	rules, err := Constitution()
	require.NoError(t, err)
	world, err := New(1, &Options{Train: 32, HeldOut: 12, Examples: 200})
	require.NoError(t, err)
	model, _, err := FineTune(t.Context(), world, tinylm.Config{Embed: 8, Hidden: 16, Seed: 1}, 1, 1)
	require.NoError(t, err)
	rev, err := NewReviser(model, rules, 2, alignment.SampleOptions{Temperature: 1, MaxTokens: 8})
	require.NoError(t, err)
	if err := alignmenttest.TestRefiner(t.Context(), rev); err != nil {
		t.Error(err)
	}
}

// TestReviserRevisesFailingAnswers: an answer that fails a rule is
// replaced by the best sample when that one scores higher, with the failed
// rules recorded; an answer that passes every rule is kept.
func TestReviserRevisesFailingAnswers(t *testing.T) {
	rules, err := Constitution()
	require.NoError(t, err)
	p := alignment.NewPrompt("a1", "What is 2 plus 3?")
	good := "2 plus 3 is 5."
	pol := &alignmenttest.Script{ByID: map[string][]string{"a1": {good}}}
	rev, err := NewReviser(pol, rules, 2, alignment.SampleOptions{})
	require.NoError(t, err)
	require.Equal(t, float64(MaxScore), Score(p, alignment.Response{Text: good}), "the script's answer passes every rule")

	bad := alignment.Response{Text: "you idiot"}
	out, err := rev.Refine(t.Context(), p, bad)
	require.NoError(t, err)
	assert.Equal(t, good, out.Text)
	assert.Equal(t, "reviser", out.Source)
	require.Len(t, out.Revisions, 1)
	assert.NotEmpty(t, out.Revisions[0].Principle, "the failed rules")

	kept, err := rev.Refine(t.Context(), p, alignment.Response{Text: good})
	require.NoError(t, err)
	assert.Equal(t, good, kept.Text)
	assert.Empty(t, kept.Revisions)
}
