package constitution

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/verdict"
)

// The loaders must never panic, must fail only with positioned *Error values
// wrapping ErrInvalid, and whatever they accept must survive a round trip
// through the writer of its format.

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/small.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	def, err := json.Marshal(Default())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(def))
	f.Add(`{"principles": [{"id": "a", "critique": "c", "revision": "r", "comparison": "q"}]}`)
	f.Add(`{"principles": [{"id": "a", "id": "a"}]}`)
	f.Add(`{"principles": [{"id": "\u12"}]}`)
	f.Add("\ufeff{\"principles\": []}")
	f.Add(`{"principles": [{"id": 1e999}]} x`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Load(strings.NewReader(in))
		if err != nil {
			checkLoadError(t, err, in)
			return
		}
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := Load(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("reloading %s: %v", data, err)
		}
		if !samePrinciples(c.Principles(), back.Principles()) {
			t.Fatalf("round trip changed the constitution:\n%+v\n%+v", c.Principles(), back.Principles())
		}
	})
}

func FuzzLoadMarkdown(f *testing.F) {
	data, err := os.ReadFile("testdata/small.md")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(data))
	f.Add(Default().Markdown())
	f.Add("## a\nCritique: c\n  more\n\n\tmore\nRevision: r\nComparison: q\n### Example\nPrompt: p\nResponse: r\nCritique: c\nRevision: v\n")
	f.Add("# t\n## a b\nCritique:\n")
	f.Add("## a\r\nCritique: c\r\r\nRevision: r \u0085\nComparison: q\n")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := LoadMarkdown(strings.NewReader(in))
		if err != nil {
			checkLoadError(t, err, in)
			return
		}
		back, err := LoadMarkdown(strings.NewReader(c.Markdown()))
		if err != nil {
			t.Fatalf("reloading %q: %v", c.Markdown(), err)
		}
		if !samePrinciples(c.Principles(), back.Principles()) {
			t.Fatalf("round trip changed the constitution:\n%q\n%q", in, c.Markdown())
		}
	})
}

// checkLoadError checks that err is made of positioned *Error values that
// wrap ErrInvalid and point inside the input.
func checkLoadError(t *testing.T, err error, in string) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error does not wrap ErrInvalid: %v", err)
	}
	lines := strings.Count(in, "\n") + 1
	for _, e := range unjoin(err) {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error is not an *Error: %v", e)
		}
		if ce.Msg == "" {
			t.Fatalf("error without a message: %#v", ce)
		}
		if ce.Line > lines || ce.Line < 0 || ce.Column < 0 {
			t.Fatalf("error position %d:%d outside the input of %d lines: %v", ce.Line, ce.Column, lines, ce)
		}
		if ce.Line == 0 && ce.Field != "principles" && len(in) <= maxInput {
			t.Fatalf("error without a line: %v", ce)
		}
	}
}

func samePrinciples(a, b []Principle) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Critique != y.Critique || x.Revision != y.Revision || x.Comparison != y.Comparison || len(x.Examples) != len(y.Examples) {
			return false
		}
		for j := range x.Examples {
			if x.Examples[j] != y.Examples[j] {
				return false
			}
		}
	}
	return true
}

// FuzzReadOutput feeds arbitrary model outputs, split into arbitrary tokens,
// to the readers of critiques, revisions and comparison answers: they must
// not panic, a revision is never empty, and a soft label is a probability.
func FuzzReadOutput(f *testing.F) {
	f.Add("Critique: fine.\nRevision: better", 3, -0.5)
	f.Add("<reply>\nRevision: quoted\n</reply>\nAnswer: (B)", 7, -1.0)
	f.Add("Answer: (A)", 9, 0.0)
	f.Add("Verdict: A\n(B)", 1, -2.0)
	f.Add("Revision:", 0, -0.1)
	f.Fuzz(func(t *testing.T, out string, cut int, lp float64) {
		_ = readCritique(out)
		// Split the output into two tokens at cut, the first with
		// alternatives for both letters.
		cut = min(max(cut, 0), len(out))
		r := alignment.Response{Text: out, TokenLogProbs: []alignment.TokenLogProb{
			{Token: out[:cut], LogProb: lp, Top: []alignment.TokenLogProb{{Token: "A", LogProb: lp}, {Token: " B", LogProb: 2 * lp}}},
			{Token: out[cut:], LogProb: lp, Top: []alignment.TokenLogProb{{Token: "(A", LogProb: lp}}},
		}}
		m, err := verdict.Find(out, "A", "B")
		if err != nil {
			return
		}
		if pa, ok := softLabel(r, m); ok && !(pa >= 0 && pa <= 1) {
			t.Fatalf("soft label %v outside [0, 1]", pa)
		}
		_ = reasoning(out, m)
	})
}
