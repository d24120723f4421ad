package main

import (
	"bytes"
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
	require.NoError(t, run(t.Context(), &out))
	assert.Contains(t, out.String(), "3 prompts")
	assert.Contains(t, out.String(), "chosen:")
}
