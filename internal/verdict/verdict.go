// Package verdict reads a final multiple-choice verdict ("A" or "B", or any
// set of two or more options) from a judge model's output.
//
// The output may echo the judge's prompt, including text quoted from the
// responses under judgment, so two rules keep quoted text from steering the
// result: regions fenced by internal/fence, and with FindQuoted the echoes
// of the texts the model was shown, are masked before anything is read, and
// the LAST verdict declaration wins, since a model states its own
// verdict after whatever it repeats. Declarations of different choices on the
// line of the last declaration make the output ambiguous, which is an error
// rather than a guess.
//
// # Declarations
//
// A declaration names one choice, matched exactly (case-sensitive, so that
// the article "a" is never read as choice "A"), in one of these forms:
//
//	Verdict: A          Final verdict: [[B]]     Answer: (B)
//	The better response is A                     Winner = "Response B"
//	[[A]]                                        Response A is better
//	Assistant B is clearly superior              A line holding only A, (A), **A** or [B].
//
// The keywords before a colon, "=" or "is" are verdict, answer, decision,
// choice, winner, preference, judgment, judgement, better response/answer/one
// and preferred response/answer/one, optionally after "final" or "overall",
// in any letter case.
package verdict

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/internal/fence"
)

// Errors of Parse and Find.
var (
	// ErrUnparsable says the output holds no readable verdict, or an
	// ambiguous one.
	ErrUnparsable = errors.New("unparsable verdict")
	// ErrChoices says the choices given are unusable: fewer than two, empty,
	// repeated, or containing spaces.
	ErrChoices = errors.New("bad verdict choices")
)

// Match is a verdict declaration found in an output.
type Match struct {
	// Choice is the choice declared, as given to Find.
	Choice string
	// Start and End are the byte offsets of the choice in the output.
	Start, End int
	// Line is the 1-based line number of the choice.
	Line int
}

// Parse returns the choice declared by the last verdict declaration in
// output, outside fenced regions (see fence.Mask). Choices default to "A" and "B". Errors
// wrap ErrUnparsable or ErrChoices and say why.
func Parse(output string, choices ...string) (string, error) {
	m, err := Find(output, choices...)
	if err != nil {
		return "", err
	}
	return m.Choice, nil
}

// Find is Parse that also reports where the verdict stands, which lets a
// caller find the token that carries it (for log-probabilities, say).
func Find(output string, choices ...string) (Match, error) {
	return FindQuoted(output, nil, choices...)
}

// FindQuoted is Find that also ignores every echo in output of the texts
// the model was shown (quoted; see fence.Mask), so that a text under
// judgment repeated by the model cannot supply or hide the verdict.
func FindQuoted(output string, quoted []string, choices ...string) (Match, error) {
	if len(choices) == 0 {
		choices = defaultChoices
	}
	if err := checkChoices(choices); err != nil {
		return Match{}, err
	}
	if strings.TrimSpace(output) == "" {
		return Match{}, fmt.Errorf("verdict: empty output: %w", ErrUnparsable)
	}
	text := fence.Mask(output, quoted...)
	decls := declarations(text, choices)
	if len(decls) == 0 {
		if strings.TrimSpace(text) == "" {
			return Match{}, fmt.Errorf("verdict: output holds only fenced (quoted) text: %w", ErrUnparsable)
		}
		return Match{}, fmt.Errorf("verdict: no verdict declaration naming one of %s outside quoted text: %w", strings.Join(choices, ", "), ErrUnparsable)
	}
	last := decls[0]
	for _, d := range decls[1:] {
		if d.Start > last.Start {
			last = d
		}
	}
	last.Line = 1 + strings.Count(text[:last.Start], "\n")
	lineStart := strings.LastIndexByte(text[:last.Start], '\n') + 1
	lineEnd := len(text)
	if i := strings.IndexByte(text[last.Start:], '\n'); i >= 0 {
		lineEnd = last.Start + i
	}
	for _, d := range decls {
		if d.Start >= lineStart && d.Start < lineEnd && d.Choice != last.Choice {
			return Match{}, fmt.Errorf("verdict: conflicting verdicts %s and %s on line %d: %w", d.Choice, last.Choice, last.Line, ErrUnparsable)
		}
	}
	return last, nil
}

var defaultChoices = []string{"A", "B"}

const (
	keyword = `(?i:\b(?:(?:final|overall)\s+)?(?:verdict|answer|decision|choice|winner|preference|judge?ment|(?:better|preferred)\s+(?:response|answer|one)))`
	sep     = `[\s*_]*(?::|=|(?i:\bis\b))`
	wrapL   = `[\s*_"'\[\(]*`
	wrapR   = `[\s*_"'\]\)]*`
	noun    = `(?i:\b(?:response|assistant|answer|output|option|candidate|model))`
	better  = `(?i:(?:is|was)\s+(?:(?:clearly|slightly|much|significantly|somewhat|overall|definitely)\s+)?(?:the\s+)?(?:better|superior|preferred|stronger|winner)\b)`
)

// The patterns look at the text around a candidate choice: what comes
// before it and what comes after it. Matching short windows around the few
// candidates, rather than the whole output, keeps parsing fast on long
// outputs; the patterns before a candidate are tried anchored at the word
// starts that can begin them (see endsWith), which avoids the regexp
// package's slow unanchored search.
var (
	keywordBefore = regexp.MustCompile(`^` + keyword + sep + wrapL + `(?:` + noun + wrapL + `)?$`)
	nounBefore    = regexp.MustCompile(`^` + noun + wrapL + `$`)
	betterAfter   = regexp.MustCompile(`^` + wrapR + better)
)

// First letters of the keywords and of the nouns, lower-case.
const (
	keywordStarts = "abcdfjopvw"
	nounStarts    = "acmor"
)

// window bounds the text examined before and after a candidate.
const window = 120

func checkChoices(choices []string) error {
	if len(choices) < 2 {
		return fmt.Errorf("verdict: %d choices given, need at least 2: %w", len(choices), ErrChoices)
	}
	for i, c := range choices {
		switch {
		case c == "":
			return fmt.Errorf("verdict: choice %d is empty: %w", i, ErrChoices)
		case strings.IndexFunc(c, unicode.IsSpace) >= 0:
			return fmt.Errorf("verdict: choice %d (%q) contains a space: %w", i, c, ErrChoices)
		case slices.Index(choices[:i], c) >= 0:
			return fmt.Errorf("verdict: choice %d (%q) is repeated: %w", i, c, ErrChoices)
		}
	}
	return nil
}

// declarations returns every declaration in text, in no particular order.
func declarations(text string, choices []string) []Match {
	var out []Match
	for _, c := range choices {
		for at := 0; ; {
			i := strings.Index(text[at:], c)
			if i < 0 {
				break
			}
			start, end := at+i, at+i+len(c)
			at = start + 1
			if !boundary(text, start, end) {
				continue
			}
			if declares(text, start, end) {
				out = append(out, Match{Choice: c, Start: start, End: end})
			}
		}
	}
	return out
}

// declares reports whether the choice at text[start:end] is declared as the
// verdict by its context.
func declares(text string, start, end int) bool {
	lo := start - window
	if lo <= 0 {
		lo = 0
	} else {
		// Start the window on a word boundary, so that \b cannot match in
		// the middle of a word cut by the window.
		for lo > 0 && isWordByte(text[lo-1]) {
			lo--
		}
	}
	before := text[lo:start]
	after := text[end:min(len(text), end+window)]
	if strings.HasSuffix(strings.TrimRight(before, " \t"), "[[") && strings.HasPrefix(strings.TrimLeft(after, " \t"), "]]") {
		return true
	}
	if endsWith(keywordBefore, before, keywordStarts) {
		return true
	}
	if betterAfter.MatchString(after) && endsWith(nounBefore, before, nounStarts) {
		return true
	}
	return bareLine(text, start, end)
}

// bareLine reports whether the line of the choice holds nothing else but
// markdown emphasis, brackets, quotes, a heading mark or a final full stop.
func bareLine(text string, start, end int) bool {
	ls := strings.LastIndexByte(text[:start], '\n') + 1
	le := len(text)
	if i := strings.IndexByte(text[end:], '\n'); i >= 0 {
		le = end + i
	}
	return strings.Trim(text[ls:start], "#>*_\"'`([ \t\r") == "" && strings.Trim(text[end:le], "*_\"'`)]. \t\r") == ""
}

// endsWith reports whether re, anchored at both ends, matches a suffix of s
// that starts a word with one of the letters in starts.
func endsWith(re *regexp.Regexp, s, starts string) bool {
	for k := 0; k < len(s); k++ {
		if k > 0 && isWordByte(s[k-1]) || strings.IndexByte(starts, s[k]|0x20) < 0 {
			continue
		}
		if re.MatchString(s[k:]) {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// boundary reports whether text[start:end] stands as a word of its own: not
// preceded or followed by a letter or digit.
func boundary(text string, start, end int) bool {
	if r, _ := utf8.DecodeLastRuneInString(text[:start]); start > 0 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(text[end:]); end < len(text) && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
		return false
	}
	return true
}
