package taskworld

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// split returns the lower-cased tokens of text by the rules of the tinylm
// tokenizer: a word is a maximal run of letters, digits and marks, which may
// hold an apostrophe between two letters or a period or comma between two
// digits; every other rune that is not white space is a token of its own.
// The rules are repeated here rather than imported so that the judge does
// not depend on the model it judges; a test keeps the two in step.
func split(text string) []string {
	var out []string
	var w []byte
	flush := func() {
		if len(w) > 0 {
			out = append(out, string(w))
			w = w[:0]
		}
	}
	prev := rune(-1) // previous rune of the current word, -1 outside words
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		r = unicode.ToLower(r)
		switch {
		case isWordRune(r):
			w = utf8.AppendRune(w, r)
			prev = r
		case prev >= 0 && joins(prev, r, text[i:]):
			w = utf8.AppendRune(w, r)
			prev = -2 // a joiner needs a word rune on both sides
		case unicode.IsSpace(r):
			flush()
			prev = -1
		default:
			flush()
			w = utf8.AppendRune(w, r)
			flush()
			prev = -1
		}
	}
	flush()
	return out
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// joins reports whether r continues a word after prev because of what
// follows it in rest: an apostrophe between letters or a period or comma
// between digits.
func joins(prev, r rune, rest string) bool {
	next, _ := utf8.DecodeRuneInString(rest)
	next = unicode.ToLower(next)
	switch r {
	case '\'', '’':
		return unicode.IsLetter(prev) && unicode.IsLetter(next)
	case '.', ',':
		return unicode.IsDigit(prev) && unicode.IsDigit(next)
	}
	return false
}

// render joins tokens as the tinylm decoder writes them: single spaces, none
// before closing punctuation, so that the corpus reads like the model's own
// output and split(render(ts)) gives ts back.
func render(tokens []string) string {
	var b strings.Builder
	for i, t := range tokens {
		if i > 0 && !isPunct(t) {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// isPunct reports whether t is one of the punctuation tokens the world uses.
func isPunct(t string) bool {
	switch t {
	case ".", ",", "!", "?":
		return true
	}
	return false
}

// isWord reports whether t starts with a letter or digit.
func isWord(t string) bool {
	r, _ := utf8.DecodeRuneInString(t)
	return isWordRune(r)
}
