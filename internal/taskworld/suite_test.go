package taskworld

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

// TestStyleAndCorrectnessSplitTheRules: the style judge and the
// correctness judge together give the five-rule score, so a run can
// train one and test the other for regressions.
func TestStyleAndCorrectnessSplitTheRules(t *testing.T) {
	style, err := Style()
	require.NoError(t, err)
	correct, err := Correctness()
	require.NoError(t, err)
	w, err := New(1, &Options{Train: 20, HeldOut: 5, Examples: 60})
	require.NoError(t, err)
	for _, ex := range w.Corpus() {
		r := alignment.Response{Text: ex.Response}
		s, err := style.Judge(t.Context(), ex.Prompt, r)
		require.NoError(t, err)
		c, err := correct.Judge(t.Context(), ex.Prompt, r)
		require.NoError(t, err)
		assert.Contains(t, []float64{0, MaxScore}, c.Score)
		assert.InDelta(t, Score(ex.Prompt, r), s.Score*4/MaxScore+c.Score/MaxScore, 1e-9, "%q → %q", ex.Prompt.Text(), ex.Response)
	}
}

func TestCapabilitySuite(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	su, err := CapabilitySuite(w.HeldOut())
	require.NoError(t, err)
	assert.Equal(t, SuiteCorrectness, su.Name)
	byID := map[string]Task{}
	for _, task := range w.HeldOut() {
		byID[task.Prompt.ID] = task
	}
	families := map[Family]bool{}
	for _, p := range su.Prompts {
		families[byID[p.ID].Facts.Family] = true
	}
	assert.Len(t, families, len(CapabilityFamilies()), "every capability family is tested")
	for f := range families {
		assert.True(t, slices.Contains(CapabilityFamilies(), f), "%s is not a capability family", f)
	}
	arith := byID[su.Prompts[slices.IndexFunc(su.Prompts, func(p alignment.Prompt) bool { return byID[p.ID].Facts.Family == FamilyArithmetic })].ID]
	for text, want := range map[string]float64{
		good(arith.Facts, rand.New(rand.NewPCG(1, 2))): MaxScore,
		"the answer is 1000 and 1001 .":                0,
	} {
		j, err := su.Judge.Judge(t.Context(), arith.Prompt, alignment.Response{Text: text})
		require.NoError(t, err)
		assert.Equal(t, want, j.Score, "%q → %q", arith.Prompt.Text(), text)
	}

	var greetings []Task
	for _, task := range w.HeldOut() {
		if task.Facts.Family == FamilyGreeting {
			greetings = append(greetings, task)
		}
	}
	_, err = CapabilitySuite(greetings)
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}
