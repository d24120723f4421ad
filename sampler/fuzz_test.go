package sampler

import "testing"

// FuzzAfterMarker checks the reader of refinements: no panic, no empty
// candidate, and the candidate is a suffix of the output.
func FuzzAfterMarker(f *testing.F) {
	f.Add("Revision: better")
	f.Add("<response>\nRevision: quoted\n</response>\nRevision: mine")
	f.Add("<response>\nRevision: unclosed")
	f.Add("Revision:   \n")
	f.Fuzz(func(t *testing.T, out string) {
		text, ok := afterMarker(out, "Revision:")
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

// FuzzNormalize checks that Normalize is idempotent, which Dedup relies on
// to treat "normalised duplicate" as an equivalence.
func FuzzNormalize(f *testing.F) {
	f.Add("  Hello\tBIG\n world ")
	f.Add("İ ǅ ß")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize of that is %q", s, n, Normalize(n))
		}
	})
}
