package main

import (
	"bytes"
	"regexp"
	"strconv"
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
	args := []string{"-short", "-dir", dir, "-epochs", "1"}
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), args, &out))
	text := out.String()
	batches := regexp.MustCompile(`(?m)^batch (\d+): 8 prompts, (\d+) pairs, (\d+) ties, held-out rule score before the step \d\.\d\d$`).FindAllStringSubmatch(text, -1)
	require.Len(t, batches, 4, "32 prompts in batches of 8, one epoch:\n%s", text)
	for i, b := range batches {
		assert.Equal(t, strconv.Itoa(i), b[1])
	}
	assert.Regexp(t, `final policy: held-out rule score \d\.\d\d`, text)

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), args, &again))
	assert.Equal(t, text, again.String(), "a finished directory gives the same report")
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-epochs 0": "-epochs is 0",
		"-batch -1": "-batch is -1",
		"extra":     `unexpected argument "extra"`,
		"-nope":     "flag provided but not defined",
	} {
		var out bytes.Buffer
		err := run(t.Context(), append(strings.Fields(args), "-short"), &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error()+out.String(), want)
	}
}

func TestRuleComparerConforms(t *testing.T) {
	rules, err := taskworld.Constitution()
	require.NoError(t, err)
	c := judge.Pointwise{Judge: rules}
	if err := alignmenttest.TestComparer(t.Context(), c); err != nil {
		t.Error(err)
	}
	p := alignment.NewPrompt("q", "what is 2 plus 3?")
	got, err := c.Compare(t.Context(), p, alignment.Response{Text: "2 plus 3 is 5."}, alignment.Response{Text: "ugh, no."})
	require.NoError(t, err)
	assert.Equal(t, 1.0, got.ProbA)
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Onlinedpo runs online DPO from AI feedback on the embedded tiny model: each batch of prompts is answered twice, an annotator picks the better answer, and DPO steps on the batch at once."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-batch", "-epochs", "ties", "before the DPO step"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}
