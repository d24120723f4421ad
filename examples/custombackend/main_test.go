package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// TestModelConforms is the test every backend should have: the
// conformance suite checks the Policy contract (counts, cancellation,
// inputs left alone, determinism per seed, safety under concurrent calls).
func TestModelConforms(t *testing.T) {
	if err := alignmenttest.TestPolicy(t.Context(), newModel()); err != nil {
		t.Error(err)
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), nil, &out))
	assert.Contains(t, out.String(), "3 prompts")
	assert.Contains(t, out.String(), "chosen:")
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Custombackend plugs a toy model of your own into selfalign as an alignment.Policy and prints the preference pairs one iteration makes from its answers."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"chosen:", "scored highest", "ties", "make no pair"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `\d+ prompts, \d+ pairs`, text, "nothing ran")
}
