package reward

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Any text gives tokens without spaces and features inside the model's
// buckets, sorted, each of positive value.
func FuzzFeatures(f *testing.F) {
	f.Add("what is 3 plus 4?", "it is 7.", 64)
	f.Add("", "", 1)
	f.Add("héllo\u00a0wörld", "ugh,,, \x00\xff", 3)
	f.Fuzz(func(t *testing.T, prompt, response string, dim int) {
		if dim < 1 || dim > 1<<20 {
			return
		}
		for _, tok := range Tokens(response) {
			require.NotEmpty(t, tok)
			require.False(t, strings.ContainsFunc(tok, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' }), "%q", tok)
		}
		fs := Features(prompt, response, dim)
		require.NotEmpty(t, fs, "the length and end features are always there")
		for i, x := range fs {
			require.True(t, x.Index >= 0 && x.Index < dim, "index %d", x.Index)
			require.Positive(t, x.Value)
			if i > 0 {
				require.Less(t, fs[i-1].Index, x.Index)
			}
		}
	})
}
