package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-seeds", "1", "-held-out", "20", "-sft-epochs", "2", "-eft", "60"}, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Contains(t, lines[0], "seed 1: EFT judge accuracy")
	assert.Contains(t, lines[1], "EFT judge: gold pairwise accuracy mean")
	assert.Contains(t, lines[2], "raw likelihood: gold pairwise accuracy mean")
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{{"-seeds", "0"}, {"-eft", "0"}, {"extra"}} {
		err := run(t.Context(), args, &out)
		assert.Error(t, err, "%v", args)
	}
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	assert.Contains(t, out.String(), "Usage: go run ./examples/eft")
}
