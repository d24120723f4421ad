package constitution

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func TestJudgeScoresAdditively(t *testing.T) {
	long := func(_ alignment.Prompt, r alignment.Response) bool { return len(r.Text) > 10 }
	polite := func(_ alignment.Prompt, r alignment.Response) bool { return strings.Contains(r.Text, "please") }
	c, err := New(
		Principle{ID: "pass", Check: alwaysPass},
		Principle{ID: "long", Check: long},
		Principle{ID: "polite", Check: polite},
		Principle{ID: "never", Check: func(alignment.Prompt, alignment.Response) bool { return false }},
	)
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "ask")
	tests := []struct {
		text   string
		score  float64
		why    string
		passed []string
	}{
		{"short", 1.25, "passed 1 of 4 checks; failed: long, polite, never", []string{"pass"}},
		{"a longer answer", 2.5, "passed 2 of 4 checks; failed: polite, never", []string{"pass", "long"}},
		{"a longer answer, please", 3.75, "passed 3 of 4 checks; failed: never", []string{"pass", "long", "polite"}},
	}
	for _, tt := range tests {
		j, err := c.Judge(context.Background(), p, alignment.Response{Text: tt.text})
		require.NoError(t, err)
		assert.Equal(t, tt.score, j.Score, tt.text)
		assert.Equal(t, tt.why, j.Rationale)
		for _, id := range []string{"pass", "long", "polite", "never"} {
			want := 0.0
			for _, ok := range tt.passed {
				if ok == id {
					want = 1
				}
			}
			assert.Equal(t, want, j.Aspects[id], "%s on %q", id, tt.text)
		}
	}
	lo, hi := c.ScoreRange()
	assert.Equal(t, [2]float64{0, 5}, [2]float64{lo, hi})

	all, err := New(Principle{ID: "only", Check: alwaysPass})
	require.NoError(t, err)
	j, err := all.Judge(context.Background(), p, alignment.Response{})
	require.NoError(t, err)
	assert.Equal(t, 5.0, j.Score)
	assert.Equal(t, "passed 1 of 1 checks", j.Rationale)
}

func TestJudgeNeedsChecks(t *testing.T) {
	c, err := New(Principle{ID: "rule", Check: alwaysPass}, model("text"))
	require.NoError(t, err)
	_, err = c.Judge(context.Background(), alignment.NewPrompt("p", "x"), alignment.Response{Text: "y"})
	assert.ErrorIs(t, err, ErrNoCheck)
	assert.ErrorContains(t, err, `"text" has none`)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Rules().Judge(ctx, alignment.NewPrompt("p", "x"), alignment.Response{Text: "y"})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestJudgeProtectsInputs(t *testing.T) {
	c, err := New(Principle{ID: "vandal", Check: func(p alignment.Prompt, r alignment.Response) bool {
		p.Messages[0].Content = "changed"
		r.Revisions[0].Text = "changed"
		return true
	}})
	require.NoError(t, err)
	p := alignment.NewPrompt("p", "original")
	r := alignment.Response{Text: "t", Revisions: []alignment.Revision{{Text: "original"}}}
	_, err = c.Judge(context.Background(), p, r)
	require.NoError(t, err)
	assert.Equal(t, "original", p.Messages[0].Content)
	assert.Equal(t, "original", r.Revisions[0].Text)
}

func TestRules(t *testing.T) {
	ask := alignment.NewPrompt("q", "How do volcanoes form mountains?")
	tests := []struct {
		name   string
		r      alignment.Response
		failed []string
	}{
		{"good", alignment.Response{Text: "Volcanoes build mountains as lava cools in layers."}, nil},
		{"empty", alignment.Response{Text: "  "}, []string{"nonempty", "complete", "on-topic"}},
		{"cut off", alignment.Response{Text: "Volcanoes build mountains as lava", FinishReason: "length"}, []string{"complete"}},
		{"no final stop", alignment.Response{Text: "Volcanoes build mountains"}, []string{"complete"}},
		{"quoted stop", alignment.Response{Text: `They said "volcanoes grow."`}, nil},
		{"off topic", alignment.Response{Text: "I like bread."}, []string{"on-topic"}},
		{"stutter", alignment.Response{Text: "Volcanoes volcanoes volcanoes grow."}, []string{"no-repetition"}},
		{"loop", alignment.Response{Text: "Lava cools and lava cools and hardens into mountains."}, []string{"no-repetition"}},
		{"too long", alignment.Response{Text: strings.Repeat("volcanoes grow ", 60) + "end."}, []string{"no-repetition", "concise"}},
		{"echo", alignment.Response{Text: "How do volcanoes form mountains?"}, []string{"no-echo"}},
		{"echo prefix", alignment.Response{Text: "how do volcanoes form MOUNTAINS? They erupt."}, []string{"no-echo"}},
	}
	rules := Rules()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := rules.Judge(context.Background(), ask, tt.r)
			require.NoError(t, err)
			var failed []string
			for _, p := range rules.Principles() {
				if j.Aspects[p.ID] == 0 {
					failed = append(failed, p.ID)
				}
			}
			assert.Equal(t, tt.failed, failed)
			assert.InDelta(t, 5*float64(6-len(tt.failed))/6, j.Score, 1e-12)
		})
	}
}

func TestRulesConformance(t *testing.T) {
	if err := alignmenttest.TestJudge(t.Context(), Rules()); err != nil {
		t.Error(err)
	}
}

func TestJudgeZeroConstitution(t *testing.T) {
	var c Constitution
	_, err := c.Judge(context.Background(), alignment.NewPrompt("p", "x"), alignment.Response{})
	assert.ErrorIs(t, err, ErrInvalid)
}
