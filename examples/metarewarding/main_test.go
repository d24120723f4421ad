package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/taskworld"
)

func TestShortRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-dir", dir, "-iterations", "2", "-judge-iterations", "1"}, &out))
	text := out.String()
	assert.Regexp(t, `iteration 0: 32 prompts, [1-9]\d* actor pairs \(chosen \d+\.\d tokens, rejected \d+\.\d\), [1-9]\d* judge pairs, held-out rule score \d\.\d\d before training\n`, text)
	assert.Regexp(t, `iteration 1: 32 prompts, [1-9]\d* actor pairs .*, 0 judge pairs`, text, "judge training stops after -judge-iterations")
	assert.Regexp(t, `final policy: held-out rule score \d\.\d\d`, text)

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-dir", dir, "-iterations", "2", "-judge-iterations", "1"}, &again))
	assert.Equal(t, text, again.String(), "a finished directory gives the same report")
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-iterations 0": "-iterations is 0",
		"-rho 0.5":      "Rho is 0.5",
		"extra":         `unexpected argument "extra"`,
		"-nope":         "flag provided but not defined",
	} {
		var out bytes.Buffer
		err := run(t.Context(), append(strings.Fields(args), "-short"), &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error()+out.String(), want)
	}
}

func TestRuleJudgesConform(t *testing.T) {
	rules, err := taskworld.Constitution()
	require.NoError(t, err)
	if err := alignmenttest.TestJudge(t.Context(), sampledRules{rules: taskworld.Rules()}); err != nil {
		t.Error(err)
	}
	p := alignment.NewPrompt("q", "what is 2 plus 3?")
	r := alignment.Response{Text: "2 plus 3 is 5."}
	truth, err := rules.Judge(t.Context(), p, r)
	require.NoError(t, err)
	near := "on-topic: yes. Score: " + strconv.FormatFloat(truth.Score, 'f', 2, 64)
	c, err := ruleMeta{rules: rules}.CompareJudgments(t.Context(), p, r, near, "correct: no. Score: 0")
	require.NoError(t, err)
	assert.Equal(t, 1.0, c.ProbA, "the judgment nearer the rule score wins")
	_, err = ruleMeta{rules: rules}.CompareJudgments(context.Background(), p, r, "no score here", near)
	assert.Error(t, err)
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Metarewarding runs Meta-Rewarding on the embedded tiny model: each iteration, DPO on actor pairs (answers, length-controlled) and judge pairs (judgments, ranked by a meta-judge)."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-rho", "-judge-iterations", "actor pairs", "judge pairs", "before iteration N trained it"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}
