package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/internal/taskworld"
)

func readReport(t *testing.T, dir string) Report {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var r Report
	require.NoError(t, json.Unmarshal(data, &r))
	return r
}

func TestShortRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-out", dir, "-iterations", "2"}, &out))
	text := out.String()
	assert.Regexp(t, `task world: 32 prompts, 12 held out`, text)
	assert.Regexp(t, `feedback: [1-9]\d* labelled pairs from 32 prompts, [1-9]\d* with soft labels`, text)
	assert.Regexp(t, `reward model: held-out gold accuracy \d\.\d{3}, margin -?\d+\.\d\d \([1-9]\d* pairs\); \d\.\d{3} on best-and-worst pairs \([1-9]\d*\); train accuracy \d\.\d{3}`, text)
	for _, arm := range []string{"rl-cai", "rlvr"} {
		assert.Regexp(t, arm+` iteration 0: held-out rule score \d\.\d\d before training\n`, text)
		assert.Regexp(t, arm+` iteration 1: held-out rule score \d\.\d\d before training\n`, text)
		assert.Regexp(t, arm+` final: held-out rule score \d\.\d\d, mean length \d+\.\d tokens`, text)
	}

	r := readReport(t, dir)
	assert.Equal(t, uint64(1), r.Seed)
	assert.Positive(t, r.FeedbackPairs)
	assert.Positive(t, r.SoftLabels, "the comparer's probabilities reach the pairs")
	assert.Equal(t, r.RM.Accuracy, r.RMAccuracy)
	assert.Positive(t, r.RMMaxMin.Pairs)
	assert.GreaterOrEqual(t, r.RM.Pairs, r.RMMaxMin.Pairs, "the best-and-worst pairs are among all pairs")
	assert.InDelta(t, 0.5, r.RMAccuracy, 0.5)
	require.Len(t, r.MeanScore, 3, "two iterations and the final policy")
	require.Len(t, r.RLVR.MeanScore, 3)
	assert.Len(t, r.MeanLength, 3)
	assert.Len(t, r.RLVR.MeanLength, 3)
	assert.Equal(t, r.MeanScore[0], r.RLVR.MeanScore[0], "both arms start from the same policy")
	for _, s := range append(r.MeanScore, r.RLVR.MeanScore...) {
		assert.InDelta(t, taskworld.MaxScore/2.0, s, taskworld.MaxScore/2.0)
	}

	again := t.TempDir()
	require.NoError(t, run(t.Context(), []string{"-short", "-out", again, "-iterations", "2"}, &bytes.Buffer{}))
	r2 := readReport(t, again)
	r.Seconds, r2.Seconds = 0, 0
	assert.Equal(t, r, r2, "the same seed gives the same run")
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-iterations 0": "-iterations is 0",
		"-out=":         "-out is empty",
		"extra":         `unexpected argument "extra"`,
		"-nope":         "flag provided but not defined",
	} {
		var out bytes.Buffer
		err := run(t.Context(), strings.Fields(args), &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error()+out.String(), want)
	}
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, about+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-seed", "-out", "-iterations", "labelled pairs", "held-out gold accuracy", "rlvr"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}

// At full size the reward model, trained on one round of the feedback
// model's pairs, orders held-out answers as the rules do (issue 12's target
// is a mean of 0.85 over 8 seeds; this holds seed 1 to it).
func TestRewardModelAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("a full-size run")
	}
	dir := t.TempDir()
	require.NoError(t, run(t.Context(), []string{"-iterations", "1", "-out", dir}, &bytes.Buffer{}))
	r := readReport(t, dir)
	assert.GreaterOrEqual(t, r.RMAccuracy, 0.85)
	assert.Greater(t, r.RMMaxMin.Accuracy, r.RMAccuracy-0.05, "best-and-worst pairs are no harder")
	assert.Greater(t, r.MeanScore[1], r.MeanScore[0], "GRPO against the reward model raises the held-out rule score")
}
