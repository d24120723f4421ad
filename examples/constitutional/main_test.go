package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func TestShortRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-dir", dir}, &out))
	text := out.String()
	assert.Regexp(t, `SL stage: 32 prompts, 64 answers, [1-9]\d* revision pairs`, text)
	assert.Regexp(t, `RL iteration 0: 32 prompts, \d+ pairs, \d+ ties, held-out rule score \d\.\d\d before training\n`, text)
	assert.Regexp(t, `RL iteration 1: 32 prompts, \d+ pairs`, text)
	assert.Regexp(t, `final policy: held-out rule score \d\.\d\d, mean length \d+\.\d tokens\n  correctness \d\.\d\d \(baseline \d\.\d\d at the RL stage's start\)\n`, text)
	assert.FileExists(t, filepath.Join(dir, "sl", alignment.PairsFile))
	assert.FileExists(t, filepath.Join(dir, "rl", alignment.PairsFile))

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-dir", dir}, &again))
	assert.Equal(t, text, again.String(), "a finished directory gives the same report")

	var other bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-seed", "2"}, &other))
	assert.NotEqual(t, scores(text), scores(other.String()), "another seed, another run")
}

// TestCompareSLForms: -sl compare runs SL-CAI by fine-tuning on the
// revisions and by DPO on revision pairs from the same start, and their
// supervised stages end with different policies.
func TestCompareSLForms(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-sl", "compare", "-iterations", "1"}, &out))
	text := out.String()
	re := regexp.MustCompile(`SL form (sft|pairs)\nSL stage: 32 prompts, 64 answers, (\d+) revision pairs\n  held-out rule score (\d\.\d\d) → (\d\.\d\d) after (fine-tuning on the revisions|DPO on the revision pairs); correctness \d\.\d\d → \d\.\d\d\n`)
	m := re.FindAllStringSubmatch(text, -1)
	require.Len(t, m, 2, text)
	assert.Equal(t, []string{"sft", "fine-tuning on the revisions"}, []string{m[0][1], m[0][5]})
	assert.Equal(t, []string{"pairs", "DPO on the revision pairs"}, []string{m[1][1], m[1][5]})
	assert.Equal(t, m[0][2:4], m[1][2:4], "both forms start from the same model and revise the same answers")
	assert.NotEqual(t, m[0][4], m[1][4], "the two forms train differently")

	var sft bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-iterations", "1"}, &sft))
	_, after, _ := strings.Cut(text, "SL form sft\n")
	after, _, _ = strings.Cut(after, "SL form pairs\n")
	assert.True(t, strings.HasSuffix(sft.String(), after), "the default is the sft form:\n%s\n%s", sft.String(), after)
}

func scores(report string) []string {
	return regexp.MustCompile(`\d+\.\d\d`).FindAllString(report, -1)
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-iterations 0": "-iterations is 0",
		"extra":         `unexpected argument "extra"`,
		"-nope":         "flag provided but not defined",
		"-sl rl":        `-sl is "rl"`,
	} {
		var out bytes.Buffer
		err := run(t.Context(), strings.Fields(args), &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error()+out.String(), want)
	}
}

func TestRuleComparerConforms(t *testing.T) {
	rules, err := taskworld.Constitution()
	require.NoError(t, err)
	if err := alignmenttest.TestComparer(t.Context(), judge.Pointwise{Judge: rules}); err != nil {
		t.Error(err)
	}
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Constitutional runs Constitutional AI on the embedded tiny model: fine-tuning on revised answers (SL stage; -sl pairs: DPO on revised-over-draft pairs), then DPO on a feedback model's preferences between two answers (RL stage)."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-seed", "-dir", "-sl", "compare", "revision pairs", "ties", "before iteration N trained it"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}
