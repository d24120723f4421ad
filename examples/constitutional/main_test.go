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
	"github.com/selfalign/selfalign/dpo/tinylm"
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
	assert.Regexp(t, `final policy: held-out rule score \d\.\d\d, mean length \d+\.\d tokens`, text)
	assert.FileExists(t, filepath.Join(dir, "sl", alignment.PairsFile))
	assert.FileExists(t, filepath.Join(dir, "rl", alignment.PairsFile))

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-dir", dir}, &again))
	assert.Equal(t, text, again.String(), "a finished directory gives the same report")

	var other bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-seed", "2"}, &other))
	assert.NotEqual(t, scores(text), scores(other.String()), "another seed, another run")
}

func scores(report string) []string {
	return regexp.MustCompile(`\d+\.\d\d`).FindAllString(report, -1)
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-iterations 0": "-iterations is 0",
		"extra":         `unexpected argument "extra"`,
		"-nope":         "flag provided but not defined",
	} {
		var out bytes.Buffer
		err := run(t.Context(), strings.Fields(args), &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error()+out.String(), want)
	}
}

func TestRuleRolesConform(t *testing.T) {
	rules, err := taskworld.Constitution()
	require.NoError(t, err)
	world, err := taskworld.New(1, &short.world)
	require.NoError(t, err)
	model, _, err := taskworld.FineTune(t.Context(), world, tinylm.Config{Embed: 8, Hidden: 16, Seed: 1}, 1, 1)
	require.NoError(t, err)
	rev, err := newReviser(model, rules, 2, alignment.SampleOptions{Temperature: 1, MaxTokens: 8})
	require.NoError(t, err)
	if err := alignmenttest.TestRefiner(t.Context(), rev); err != nil {
		t.Error(err)
	}
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
	assert.True(t, strings.HasPrefix(text, "Constitutional runs Constitutional AI on the embedded tiny model: DPO on revised-over-draft pairs (SL stage), then on a feedback model's preferences between two answers (RL stage)."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-seed", "-dir", "revision pairs", "ties", "before iteration N trained it"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}
