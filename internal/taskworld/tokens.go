package taskworld

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/dpo/tinylm"
)

// split returns the tokens of text as the tinylm tokenizer cuts them, so
// that the rules count and read tokens exactly as the model writes them.
func split(text string) []string { return tinylm.Split(text) }

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
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}
