package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/recipe"
)

// A short run makes actor and judge pairs from the model's own judgments
// and measures each policy as a judge; a finished directory gives the same
// report, but for the accuracies of the iterations it restored. Seed 1 is
// one whose plateau safeguard lets the run finish (at seed 3 it stops
// after iteration 0, whose trained policy does not clearly beat M1), so
// that judge training is seen to stop after -judge-iterations. It keeps
// the default, the paper's rule (-min-gap 0): the short run's small
// meta-judge rarely rates its verdicts 50 Elo points apart (once in 32
// prompts at seed 1), so a gap of 100 would make no judge pair at this
// size.
func TestShortRun(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-short", "-seed", "1", "-dir", dir, "-iterations", "2", "-judge-iterations", "1"}
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), args, &out))
	text := out.String()
	assert.Regexp(t, `task world: 32 prompts, 12 held out, 60 EFT judgments; fine-tuned tinylm`, text)
	assert.Regexp(t, `iteration 0: 32 prompts, [1-9]\d* actor pairs \(chosen \d+\.\d tokens, rejected \d+\.\d\), [1-9]\d* judge pairs, held-out rule score \d\.\d\d before training, gold judge accuracy [01]\.\d{3}\n`, text)
	assert.Regexp(t, `iteration 1: 32 prompts, [1-9]\d* actor pairs .*, 0 judge pairs`, text, "judge training stops after -judge-iterations")
	assert.Regexp(t, `final policy: held-out rule score \d\.\d\d, mean length \d+\.\d tokens, gold judge accuracy [01]\.\d{3}`, text)

	// The judge pairs are the model's own verdicts on its judge prompt,
	// never the rules' scores.
	f, err := os.Open(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	defer f.Close()
	judgePairs := 0
	for p, err := range alignment.ReadPairs(f) {
		require.NoError(t, err)
		if p.Source != recipe.SourceMetaJudge {
			continue
		}
		judgePairs++
		assert.True(t, strings.HasPrefix(p.Prompt.ID, "judge:"), p.Prompt.ID)
		assert.True(t, strings.HasSuffix(p.Prompt.Text(), "Score:"))
		for _, v := range []string{p.Chosen.Text, p.Rejected.Text} {
			assert.Regexp(t, `^[0-5]$`, v)
		}
		assert.NotEqual(t, p.Chosen.Text, p.Rejected.Text)
	}
	assert.Positive(t, judgePairs)

	// A directory changes nothing of the run, its accuracies included.
	var memory bytes.Buffer
	require.NoError(t, run(t.Context(), slices.Delete(slices.Clone(args), 3, 5), &memory))
	assert.Equal(t, memory.String(), strings.TrimSuffix(text, "pairs in "+dir+"/"+alignment.PairsFile+"\n"))

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), args, &again))
	strip := regexp.MustCompile(`(?m)^(iteration .*), gold judge accuracy [01]\.\d{3}$`)
	assert.Equal(t, strip.ReplaceAllString(text, "$1"), again.String(), "a finished directory gives the same report, without the restored iterations' accuracies")
}

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-iterations 0": "-iterations is 0",
		"-rho 0.5":      "Rho is 0.5",
		"-min-gap -1":   "MinGap is -1",
		"extra":         `unexpected argument "extra"`,
		"-nope":         "flag provided but not defined",
	} {
		var out bytes.Buffer
		err := run(t.Context(), append(strings.Fields(args), "-short"), &out)
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
	assert.True(t, strings.HasPrefix(text, "Metarewarding runs Meta-Rewarding on the embedded tiny model, which judges and meta-judges itself: each iteration, DPO on actor pairs (answers, length-controlled) and judge pairs (judgments, ranked by a meta-judge)."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-short", "-rho", "-min-gap", "-judge-iterations", "actor pairs", "judge pairs", "before iteration N trained it"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
}
