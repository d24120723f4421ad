package taskworld

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

func TestFeedbackConforms(t *testing.T) {
	rules, err := Constitution()
	require.NoError(t, err)
	require.NoError(t, alignmenttest.TestComparer(t.Context(), Feedback{rules}))

	p := alignment.NewPrompt("p", "what is 2 plus 2?")
	good, bad := alignment.Response{Text: "2 plus 2 is 4."}, alignment.Response{Text: "ugh, 5."}
	d := Score(p, good) - Score(p, bad)
	require.Positive(t, d, "the fixture's answers differ in the rules they pass")
	c, err := Feedback{rules}.Compare(t.Context(), p, good, bad)
	require.NoError(t, err)
	assert.InDelta(t, 1/(1+math.Exp(-d)), c.ProbA, 1e-12, "a soft label: σ(difference in rules passed)")

	_, err = Feedback{}.Compare(t.Context(), p, good, bad)
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

// FeedbackPairs labels the answers a Loop with the same seed samples in
// its first iteration, and GoldPairs orders held-out answers by the rules.
func TestFeedbackAndGoldPairs(t *testing.T) {
	w, err := New(1, &Options{Train: 12, HeldOut: 6, Examples: 100})
	require.NoError(t, err)
	rules, err := Constitution()
	require.NoError(t, err)
	m, _, err := FineTune(t.Context(), w, tinylm.Config{Embed: 8, Hidden: 16, Seed: 1}, 2, 1)
	require.NoError(t, err)
	sampling := alignment.SampleOptions{Temperature: 1, MaxTokens: 12}

	pairs, err := FeedbackPairs(t.Context(), m, Prompts(w.Train()), rules, 4, sampling, 7)
	require.NoError(t, err)
	require.NotEmpty(t, pairs)
	src, err := alignment.NewSliceSource(Prompts(w.Train()))
	require.NoError(t, err)
	var sink alignment.MemorySink
	_, err = (&alignment.Loop{Policy: m, Prompts: src, Judge: rules, Sink: &sink, Iterations: 1, Samples: 4, Sampling: sampling, Seed: 7}).Run(t.Context())
	require.NoError(t, err)
	judged := map[string]bool{}
	for _, p := range sink.Pairs() {
		judged[p.Prompt.ID+"\x00"+p.Chosen.Text] = true
		judged[p.Prompt.ID+"\x00"+p.Rejected.Text] = true
	}
	for _, p := range pairs {
		assert.True(t, p.Prob > 0.5 && p.Prob < 1, "%s: soft label %v for the better answer", p.Prompt.ID, p.Prob)
		assert.Greater(t, Score(p.Prompt, p.Chosen), Score(p.Prompt, p.Rejected))
		assert.True(t, judged[p.Prompt.ID+"\x00"+p.Chosen.Text] && judged[p.Prompt.ID+"\x00"+p.Rejected.Text],
			"%s: the pair is of answers the rule-judged Loop drew", p.Prompt.ID)
	}

	all, maxMin, err := GoldPairs(t.Context(), m, w, rules, 4, sampling, 7)
	require.NoError(t, err)
	require.NotEmpty(t, maxMin)
	assert.LessOrEqual(t, len(maxMin), len(w.HeldOut()), "one best-and-worst pair per prompt at most")
	held := map[string]bool{}
	for _, task := range w.HeldOut() {
		held[task.Prompt.ID] = true
	}
	for _, p := range all {
		assert.True(t, held[p.Prompt.ID], "%s is held out", p.Prompt.ID)
		assert.Greater(t, Score(p.Prompt, p.Chosen), Score(p.Prompt, p.Rejected), "gold order is the rules'")
	}
	assert.Subset(t, all, maxMin)
}
