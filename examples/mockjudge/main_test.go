package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

var prompts = []alignment.Prompt{
	alignment.NewPrompt("q1", "What is the capital of France?"),
	alignment.NewPrompt("q2", "Is it raining?"),
}

// The selector picks the best cited answer, not the best answer.
func TestPipelinePairs(t *testing.T) {
	pol, scores := scripted()
	rec := &alignmenttest.Recorder{}
	rep, err := pipeline(pol, scores, prompts, rec)
	require.NoError(t, err)
	pairs := rec.Pairs(alignmenttest.PromptID("q1"))
	require.Len(t, pairs, 1)
	assert.Equal(t, "Paris [1].", pairs[0].Chosen.Text, "the cited answer wins over the higher-scored uncited one")
	assert.Equal(t, "Lyon.", pairs[0].Rejected.Text)
	assert.Empty(t, rec.Pairs(alignmenttest.PromptID("q2")), "no cited answer, no pair")
	assert.Equal(t, 1, rep.Ties)
}

// Transient judge failures are retried: the pairs do not change.
func TestPipelineSurvivesFlakyJudge(t *testing.T) {
	pol, scores := scripted()
	faults := &alignmenttest.Faults{TransientRate: 0.5, Seed: 1}
	rec := &alignmenttest.Recorder{}
	rep, err := pipeline(pol, faults.Judge(scores), prompts, rec)
	require.NoError(t, err)
	transient, _ := faults.Injected()
	assert.Positive(t, transient)
	assert.Equal(t, transient, rep.Retries)
	require.Len(t, rec.Pairs(), 1)
	assert.Equal(t, "Paris [1].", rec.Pairs()[0].Chosen.Text)
}

// A prompt whose judge calls always fail is reported, not silently dropped.
func TestPipelineReportsPermanentFailure(t *testing.T) {
	pol, scores := scripted()
	faults := &alignmenttest.Faults{PermanentIDs: []string{"q2"}}
	rep, err := pipeline(pol, faults.Judge(scores), append(prompts, alignment.NewPrompt("q3", "x")), &alignmenttest.Recorder{})
	// One failure in three prompts is over the default 10% budget.
	require.ErrorIs(t, err, alignment.ErrBudget)
	assert.Zero(t, rep.Pairs)
}

func TestSelectorTable(t *testing.T) {
	s := func(text string, score float64) alignment.Scored {
		return alignment.Scored{Response: alignment.Response{Text: text}, Score: score}
	}
	tests := []struct {
		name string
		rs   []alignment.Scored
		c, r int
		ok   bool
	}{
		{"cited best", []alignment.Scored{s("a [1]", 5), s("b", 1)}, 0, 1, true},
		{"none cited", []alignment.Scored{s("a", 5), s("b", 1)}, 0, 0, false},
		{"cited is worst", []alignment.Scored{s("a", 5), s("b [1]", 1)}, 0, 0, false},
		{"tie", []alignment.Scored{s("a [1]", 2), s("b", 2)}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r, ok := preferCited{}.Select(tt.rs)
			assert.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, []int{tt.c, tt.r}, []int{c, r})
			}
		})
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(nil, &out))
	assert.Contains(t, out.String(), `q1: "Paris [1]." over "Lyon."`)
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Mockjudge runs a pipeline with a custom pair selector on scripted fakes, no model needed, and prints its pairs; its tests (go test ./examples/mockjudge) are the point."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"over", "cites a source", "ties", "no pair"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `q1: \"`, text, "nothing ran")
}
