package alignment_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/selfalign/selfalign/alignment"
)

func TestDistinct(t *testing.T) {
	tests := []struct {
		name   string
		texts  []string
		n      int
		want   float64
		wantOK bool
	}{
		{"unigrams", []string{"a b c", "a b d"}, 1, 4.0 / 6, true},
		{"bigrams within texts only", []string{"a b c", "a b d"}, 2, 3.0 / 4, true},
		{"trigrams", []string{"a b c", "a b d"}, 3, 1, true},
		{"case and white space ignored", []string{"Hello  World", "hello\tworld\n"}, 1, 2.0 / 4, true},
		{"bigrams across case", []string{"Hello  World", "hello world"}, 2, 1.0 / 2, true},
		{"unicode folding (Kelvin sign)", []string{"\u212Aelvin", "kelvin", "KELVIN"}, 1, 1.0 / 3, true},
		{"repetition inside one text", []string{"the the the the"}, 1, 1.0 / 4, true},
		{"repeated bigram", []string{"the the the the"}, 2, 1.0 / 3, true},
		{"one-word texts have no bigram", []string{"x", "y"}, 2, 0, false},
		{"one-word texts", []string{"x", "y"}, 1, 1, true},
		{"no texts", nil, 1, 0, false},
		{"blank texts", []string{"", "  "}, 1, 0, false},
		{"n below 1", []string{"a b"}, 0, 0, false},
		{"identical samples", []string{"a b c", "a b c", "a b c", "a b c"}, 2, 2.0 / 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := alignment.Distinct(tt.texts, tt.n)
			assert.Equal(t, tt.wantOK, ok)
			assert.InDelta(t, tt.want, got, 1e-15)
		})
	}
}

func TestDuplicateRate(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		want  float64
	}{
		{"all differ", []string{"a", "b", "c"}, 0},
		{"one twin pair", []string{"a", "a", "b", "c"}, 0.5},
		{"two twin pairs across case", []string{"a", "A", "b b", "B  b"}, 1},
		{"three alike", []string{"x y", "x  y", "X Y", "z"}, 0.75},
		{"blank texts are alike", []string{"", " \n", "a"}, 2.0 / 3},
		{"word boundaries matter", []string{"ab c", "a bc"}, 0},
		{"one text", []string{"a"}, 0},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, alignment.DuplicateRate(tt.texts))
		})
	}
}

// naiveDistinct is the reference for Distinct: n-grams of strings.Fields
// compared word by word with strings.EqualFold, quadratically.
func naiveDistinct(texts []string, n int) (float64, bool) {
	var grams [][]string
	for _, t := range texts {
		w := strings.Fields(t)
		for i := 0; i+n <= len(w); i++ {
			grams = append(grams, w[i:i+n])
		}
	}
	if len(grams) == 0 || n < 1 {
		return 0, false
	}
	distinct := 0
	for i, g := range grams {
		seen := false
		for _, h := range grams[:i] {
			if sameFold(g, h) {
				seen = true
				break
			}
		}
		if !seen {
			distinct++
		}
	}
	return float64(distinct) / float64(len(grams)), true
}

func naiveDuplicateRate(texts []string) float64 {
	if len(texts) < 2 {
		return 0
	}
	dup := 0
	for i, a := range texts {
		for j, b := range texts {
			if i != j && sameFold(strings.Fields(a), strings.Fields(b)) {
				dup++
				break
			}
		}
	}
	return float64(dup) / float64(len(texts))
}

func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzDiversity checks Distinct and DuplicateRate against the naive
// reference on arbitrary texts, invalid UTF-8 included; both must agree
// exactly, since they count the same things.
func FuzzDiversity(f *testing.F) {
	f.Add("a b c", "A  b d", "a b c")
	f.Add("\u212Aelvin ſ", "kelvin S", "")
	f.Add("the the the", "\xff\xfe x", "\xfd x")
	f.Add("Σίσυφος ΣΊΣΥΦΟΣ", "σίσυφος", "ß SS")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		texts := []string{a, b, c}
		for n := 1; n <= 3; n++ {
			got, ok := alignment.Distinct(texts, n)
			want, wantOK := naiveDistinct(texts, n)
			if ok != wantOK || got != want {
				t.Fatalf("Distinct(%q, %d) = %v, %v; reference %v, %v", texts, n, got, ok, want, wantOK)
			}
			if ok && !(got > 0 && got <= 1) {
				t.Fatalf("Distinct(%q, %d) = %v, outside (0, 1]", texts, n, got)
			}
		}
		if got, want := alignment.DuplicateRate(texts), naiveDuplicateRate(texts); got != want {
			t.Fatalf("DuplicateRate(%q) = %v; reference %v", texts, got, want)
		}
	})
}

func BenchmarkDiversity(b *testing.B) {
	texts := []string{"p17 answer 42 more more", "p17 answer 7", "p17 answer 42 more more", "p17 answer 91 more"}
	b.ReportAllocs()
	for b.Loop() {
		alignment.Distinct(texts, 2)
	}
}
