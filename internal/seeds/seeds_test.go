package seeds

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDerive(t *testing.T) {
	assert.Equal(t, Derive(1, "a", "b"), Derive(1, "a", "b"), "same input, same seed")
	assert.NotEqual(t, Derive(1, "a", "b"), Derive(2, "a", "b"), "seed matters")
	assert.NotEqual(t, Derive(1, "ab"), Derive(1, "a", "b"), "label boundaries matter")
	assert.NotEqual(t, Derive(1, "a", "b"), Derive(1, "b", "a"), "order matters")
	assert.Equal(t, Rand(7).Uint64(), Rand(7).Uint64())
}
