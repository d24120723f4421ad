// Package verdict reads a final multiple-choice verdict ("A" or "B", or any
// set of two or more options) from a judge model's output.
//
// The output may echo the judge's prompt, including text quoted from the
// responses under judgment, so two rules keep quoted text from steering the
// result: regions fenced by internal/fence are masked before anything is
// read, and the LAST verdict declaration wins, since a model states its own
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
	"sync"
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
// output, outside fenced regions. Choices default to "A" and "B". Errors
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
	if len(choices) == 0 {
		choices = defaultChoices
	}
	set, err := compile(choices)
	if err != nil {
		return Match{}, err
	}
	if strings.TrimSpace(output) == "" {
		return Match{}, fmt.Errorf("verdict: empty output: %w", ErrUnparsable)
	}
	text := fence.Mask(output)
	decls := set.declarations(text)
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

// choiceSet holds the compiled patterns for one list of choices.
type choiceSet struct {
	choices  []string
	patterns []*regexp.Regexp
}

var cache sync.Map // key: choices joined by NUL; value: *choiceSet

const (
	keyword = `(?i:\b(?:(?:final|overall)\s+)?(?:verdict|answer|decision|choice|winner|preference|judge?ment|(?:better|preferred)\s+(?:response|answer|one)))`
	sep     = `[\s*_]*(?::|=|(?i:\bis\b))`
	wrapL   = `[\s*_"'\[\(]*`
	wrapR   = `[\s*_"'\]\)]*`
	noun    = `(?i:\b(?:response|assistant|answer|output|option|candidate|model))`
	better  = `(?i:(?:is|was)\s+(?:(?:clearly|slightly|much|significantly|somewhat|overall|definitely)\s+)?(?:the\s+)?(?:better|superior|preferred|stronger|winner)\b)`
)

func compile(choices []string) (*choiceSet, error) {
	key := strings.Join(choices, "\x00")
	if s, ok := cache.Load(key); ok {
		return s.(*choiceSet), nil
	}
	if len(choices) < 2 {
		return nil, fmt.Errorf("verdict: %d choices given, need at least 2: %w", len(choices), ErrChoices)
	}
	for i, c := range choices {
		switch {
		case c == "":
			return nil, fmt.Errorf("verdict: choice %d is empty: %w", i, ErrChoices)
		case strings.IndexFunc(c, unicode.IsSpace) >= 0:
			return nil, fmt.Errorf("verdict: choice %d (%q) contains a space: %w", i, c, ErrChoices)
		case slices.Index(choices[:i], c) >= 0:
			return nil, fmt.Errorf("verdict: choice %d (%q) is repeated: %w", i, c, ErrChoices)
		}
	}
	// Longer choices first, so that "AB" is tried before "A".
	alt := slices.Clone(choices)
	slices.SortStableFunc(alt, func(a, b string) int { return len(b) - len(a) })
	for i, c := range alt {
		alt[i] = regexp.QuoteMeta(c)
	}
	c := "(" + strings.Join(alt, "|") + ")"
	s := &choiceSet{choices: slices.Clone(choices)}
	for _, p := range []string{
		keyword + sep + wrapL + `(?:` + noun + wrapL + `)?` + c,
		`\[\[\s*` + c + `\s*\]\]`,
		noun + wrapL + c + wrapR + better,
	} {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("verdict: choices %q: %v: %w", choices, err, ErrChoices)
		}
		s.patterns = append(s.patterns, re)
	}
	actual, _ := cache.LoadOrStore(key, s)
	return actual.(*choiceSet), nil
}

// declarations returns every declaration in text, in no particular order.
func (s *choiceSet) declarations(text string) []Match {
	var out []Match
	for _, re := range s.patterns {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			if start, end := m[2], m[3]; boundary(text, start, end) {
				out = append(out, Match{Choice: text[start:end], Start: start, End: end})
			}
		}
	}
	for start := 0; start < len(text); {
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		if m, ok := s.bareLine(text[start:end]); ok {
			m.Start += start
			m.End += start
			out = append(out, m)
		}
		start = end + 1
	}
	return out
}

// bareLine reads a line that holds nothing but a choice, possibly wrapped in
// markdown emphasis, brackets, quotes or a heading mark, with a final full
// stop.
func (s *choiceSet) bareLine(line string) (Match, bool) {
	inner := strings.TrimLeft(strings.TrimSpace(line), "#>*_\"'`([ \t")
	inner = strings.TrimRight(inner, "*_\"'`)]. \t")
	if inner == "" {
		return Match{}, false
	}
	for _, c := range s.choices {
		if inner == c {
			start := strings.Index(line, inner)
			return Match{Choice: c, Start: start, End: start + len(c)}, true
		}
	}
	return Match{}, false
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
