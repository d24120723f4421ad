package judge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/internal/fence"
	"github.com/selfalign/selfalign/internal/verdict"
)

// maxNumberLen bounds the digits of a score, so that a hostile output of a
// million digits costs nothing to reject.
const maxNumberLen = 40

// ParseScore extracts a judge's final score from its output.
//
// It reads the LAST "Score:" declaration outside fenced regions (see
// internal/fence) and outside the echoes in output of the quoted texts:
// the texts the judge model was shown (its prompt, the judged response,
// the user's request), which the model may repeat before its verdict,
// verbatim, escaped or cut off. A fence is an opening tag line and the
// next closing tag line of the same name; a tag without its closing line
// hides nothing. The declaration is the word "score" in any letter case,
// not part of a longer word ("Final score:" counts, "Subscores:" does
// not), optionally followed by a short parenthetical ("Score (0-5): 4") and markdown emphasis or code
// marks around either side ("**Score:** 4", "**Score: 4**", "`Score: 4`").
// The value is an integer or decimal, optionally written as n/hi ("4/5" on
// a 0–5 scale). Errors wrap ErrUnparsable and say why: empty output, no
// declaration, a declaration without a number, NaN or an infinity, a value
// outside [lo, hi], a denominator other than hi, a range such as "3-4", or
// several different scores on the line of the last declaration. A scale
// with lo > hi or a non-finite bound wraps ErrInvalid.
func ParseScore(output string, lo, hi float64, quoted ...string) (float64, error) {
	if !finite(lo) || !finite(hi) || lo > hi {
		return 0, fmt.Errorf("judge: score scale [%v, %v] is not a finite range: %w", lo, hi, ErrInvalid)
	}
	if strings.TrimSpace(output) == "" {
		return 0, fmt.Errorf("judge: empty judge output: %w", ErrUnparsable)
	}
	text := fence.Mask(output, quoted...)
	last := -1
	for at := 0; ; {
		d := nextDeclaration(text, at)
		if d < 0 {
			break
		}
		last, at = d, d
	}
	if last < 0 {
		if strings.TrimSpace(text) == "" {
			return 0, fmt.Errorf("judge: judge output holds only fenced (quoted) text: %w", ErrUnparsable)
		}
		return 0, fmt.Errorf("judge: no \"Score:\" declaration outside quoted text: %w", ErrUnparsable)
	}
	lineNo := 1 + strings.Count(text[:last], "\n")
	start := strings.LastIndexByte(text[:last], '\n') + 1
	line := text[start:]
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	var score float64
	n := 0
	for at := 0; ; n++ {
		d := nextDeclaration(line, at)
		if d < 0 {
			break
		}
		v, err := scoreValue(line[d:], lo, hi)
		if err != nil {
			return 0, fmt.Errorf("judge: line %d: %w", lineNo, err)
		}
		if n > 0 && v != score {
			return 0, fmt.Errorf("judge: line %d: conflicting scores %s and %s: %w", lineNo, formatNumber(score), formatNumber(v), ErrUnparsable)
		}
		score, at = v, d
	}
	return score, nil
}

// ParseVerdict extracts a judge's final multiple-choice verdict from its
// output: the choice named by the LAST verdict declaration outside fenced
// regions ("Verdict: A", "[[B]]", "Answer: (B)", "Response A is better", a
// line holding only the choice; see internal/verdict for the full list).
// Choices are matched exactly and default to "A" and "B". Errors wrap
// ErrUnparsable (no verdict, only quoted text, conflicting verdicts on the
// last verdict's line) or ErrInvalid (fewer than two choices, an empty,
// repeated or spaced choice).
//
// ParseVerdict does not know the texts the judge was shown; Pairwise and
// Meta also ignore their echoes, as ParseScore does with quoted.
func ParseVerdict(output string, choices ...string) (string, error) {
	m, err := findVerdict(output, nil, choices...)
	if err != nil {
		return "", err
	}
	return m.Choice, nil
}

// findVerdict is ParseVerdict that ignores the echoes of quoted.
func findVerdict(output string, quoted []string, choices ...string) (verdict.Match, error) {
	m, err := verdict.FindQuoted(output, quoted, choices...)
	if err == nil {
		return m, nil
	}
	msg := strings.TrimPrefix(err.Error(), "verdict: ")
	if errors.Is(err, verdict.ErrChoices) {
		return m, fmt.Errorf("judge: %s: %w", strings.TrimSuffix(msg, ": "+verdict.ErrChoices.Error()), ErrInvalid)
	}
	return m, fmt.Errorf("judge: %s: %w", strings.TrimSuffix(msg, ": "+verdict.ErrUnparsable.Error()), ErrUnparsable)
}

// nextDeclaration returns the offset just past the colon of the first
// "score" declaration in s whose colon is at or after from, or -1. It looks
// for colons, which are rare, and checks the word before each.
func nextDeclaration(s string, from int) int {
	for from < len(s) {
		c := strings.IndexByte(s[from:], ':')
		if c < 0 {
			return -1
		}
		c += from
		from = c + 1
		j := skipBack(s, c, " \t*_`")
		if j > 0 && s[j-1] == ')' {
			open := strings.LastIndexByte(s[max(0, j-31):j-1], '(')
			if open < 0 {
				continue
			}
			open += max(0, j-31)
			if strings.IndexByte(s[open:j], '\n') >= 0 {
				continue
			}
			j = skipBack(s, open, " \t*_`")
		}
		if j < 5 || !strings.EqualFold(s[j-5:j], "score") {
			continue
		}
		if r, _ := utf8.DecodeLastRuneInString(s[:j-5]); j > 5 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			continue
		}
		return c + 1
	}
	return -1
}

// scoreValue reads the value of a declaration from s, which starts just
// past its colon.
func scoreValue(s string, lo, hi float64) (float64, error) {
	s = s[skip(s, 0, " \t*_`\"'[("):]
	if word := leadingWord(s); isNonFinite(word) {
		return 0, fmt.Errorf("score %q is not a finite number: %w", word, ErrUnparsable)
	}
	num, rest := number(s)
	if num == "" {
		return 0, fmt.Errorf("\"Score:\" declaration has no number (%q): %w", clip(s), ErrUnparsable)
	}
	if len(num) > maxNumberLen {
		return 0, fmt.Errorf("score has %d characters, more than %d: %w", len(num), maxNumberLen, ErrUnparsable)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !finite(v) {
		return 0, fmt.Errorf("score %q is not a finite number: %w", num, ErrUnparsable)
	}
	if t := rest[skip(rest, 0, " \t"):]; strings.HasPrefix(t, "/") {
		den, after := number(t[skip(t, 1, " \t"):])
		if den == "" || len(den) > maxNumberLen {
			return 0, fmt.Errorf("score %s/ has no readable denominator: %w", num, ErrUnparsable)
		}
		d, err := strconv.ParseFloat(den, 64)
		if err != nil || d != hi {
			return 0, fmt.Errorf("score %s/%s is out of %s, the scale is [%s, %s]: %w", num, den, den, formatNumber(lo), formatNumber(hi), ErrUnparsable)
		}
		rest = after
	}
	if r, _ := utf8.DecodeRuneInString(rest); unicode.IsLetter(r) || unicode.IsDigit(r) {
		return 0, fmt.Errorf("score %q runs into %q: %w", num, clip(rest), ErrUnparsable)
	}
	if isRange(rest) {
		return 0, fmt.Errorf("score %s%s is a range, not one score: %w", num, clip(rest), ErrUnparsable)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("score %s is outside the scale [%s, %s]: %w", num, formatNumber(lo), formatNumber(hi), ErrUnparsable)
	}
	return v, nil
}

// number splits a leading decimal number ([+-]digits[.digits] or
// [+-].digits) from s.
func number(s string) (num, rest string) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if digits > 0 || j > i+1 {
			digits += j - i - 1
			i = j
		}
	}
	if digits == 0 {
		return "", s
	}
	return s[:i], s[i:]
}

// isRange reports whether rest, the text after a score, continues it into
// a range or an alternative: "-4", "–4", " to 4", " or 4".
func isRange(rest string) bool {
	t := rest[skip(rest, 0, " \t*_"):]
	for _, sep := range []string{"-", "–", "—", "to ", "or ", "TO ", "OR ", "To ", "Or "} {
		if strings.HasPrefix(t, sep) {
			u := t[len(sep):]
			u = u[skip(u, 0, " \t"):]
			n, _ := number(u)
			return n != ""
		}
	}
	return false
}

func leadingWord(s string) string {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	for i < len(s) && (s[i]|0x20 >= 'a' && s[i]|0x20 <= 'z') {
		i++
	}
	return s[:i]
}

func isNonFinite(word string) bool {
	w := strings.ToLower(strings.TrimLeft(word, "+-"))
	return w == "nan" || w == "inf" || w == "infinity"
}

// skip returns the first index at or after i of a byte of s not in set.
func skip(s string, i int, set string) int {
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

// skipBack returns the smallest index j <= i such that s[j:i] holds only
// bytes of set.
func skipBack(s string, i int, set string) int {
	for i > 0 && strings.IndexByte(set, s[i-1]) >= 0 {
		i--
	}
	return i
}

// clip shortens s for an error message.
func clip(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}
