package fence

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAfter(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"Revision: new text", "new text", true},
		{"Revision: one\nRevision: two", "two", true},
		{"<reply>\nRevision: quoted\n</reply>\nno marker here", "", false},
		{"Revision: mine\n<reply>\nRevision: quoted\n</reply>", "mine\n<reply>\nRevision: quoted\n</reply>", true},
		{"Revision:   ", "", false},
		{"revision: lower case", "", false},
	}
	for _, tt := range tests {
		got, ok := After(tt.out, "Revision:")
		assert.Equal(t, tt.want, got, tt.out)
		assert.Equal(t, tt.ok, ok, tt.out)
	}
}

// FuzzAfter checks After: no panic, no empty
// candidate, and the candidate is a suffix of the output.
func FuzzAfter(f *testing.F) {
	f.Add("Revision: better")
	f.Add("<response>\nRevision: quoted\n</response>\nRevision: mine")
	f.Add("<response>\nRevision: unclosed")
	f.Add("Revision:   \n")
	f.Fuzz(func(t *testing.T, out string) {
		text, ok := After(out, "Revision:")
		if !ok {
			return
		}
		if text == "" {
			t.Fatal("empty candidate accepted")
		}
		if len(text) > len(out) {
			t.Fatalf("candidate %q longer than output %q", text, out)
		}
	})
}
