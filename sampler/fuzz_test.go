package sampler

import "testing"

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
