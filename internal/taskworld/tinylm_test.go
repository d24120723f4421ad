package taskworld

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/dpo/tinylm"
)

// The rules count and read tokens as the tinylm does; these tests hold the
// judge's copy of the splitting rules to the model's.

func TestSplitMatchesTinylm(t *testing.T) {
	w, err := New(1, nil)
	require.NoError(t, err)
	texts := []string{"don't", "it’s 3.5 or 1,000.", "a <unk> b", "ÉCOLE café", "well...", "x'", "'y", "3.a", "1..2", "\t"}
	for _, x := range append(w.Train(), w.HeldOut()...) {
		texts = append(texts, x.Prompt.Text())
	}
	for _, e := range w.Corpus() {
		texts = append(texts, e.Response)
	}
	for _, s := range texts {
		assert.Equal(t, tinylm.Split(s), split(s), s)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("what is 3 plus 4?")
	f.Add("don't 3.5 1,000 x' 'y 3.a 1..2")
	f.Add("<unk> ÉCOLE\u0301 \xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := split(s), tinylm.Split(s); !slices.Equal(got, want) {
			t.Fatalf("split(%q) = %q, tinylm.Split = %q", s, got, want)
		}
	})
}
