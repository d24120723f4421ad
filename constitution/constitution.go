package constitution

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

// Errors of the constitution package. ErrInvalid and ErrUnparsable are the
// alignment package's sentinels under the names this package's docs use, so
// that errors.Is(err, alignment.ErrInvalid) holds for every invalid input
// of every package.
var (
	// ErrInvalid says a constitution, a principle or an option is malformed.
	// Every [*Error] wraps it. It is alignment.ErrInvalid.
	ErrInvalid = alignment.ErrInvalid
	// ErrNoCheck says a constitution was asked to judge without a model but
	// some of its principles have no Check function.
	ErrNoCheck = errors.New("principle has no check")
	// ErrUnparsable says a model's answer could not be read. It is
	// alignment.ErrUnparsable.
	ErrUnparsable = alignment.ErrUnparsable
)

// Principle is one rule of a constitution: what to criticise in a response,
// how to revise it, and which of two responses to prefer.
//
// A model principle has all three texts. A rule principle has a Check and
// may leave the texts empty, in which case only judging without a model uses
// it; the Reviser and the Comparer sample among principles that have texts.
type Principle struct {
	// ID names the principle in metadata and errors: letters, digits, '.',
	// '_' and '-', at most 64 bytes, unique within a constitution.
	ID string `json:"id"`
	// Critique asks the model to find what the response does wrong under
	// this principle.
	Critique string `json:"critique"`
	// Revision asks the model to rewrite the response to answer the critique.
	Revision string `json:"revision"`
	// Comparison is the question of the multiple-choice comparison, asked
	// about two responses labelled (A) and (B): for instance "Which response
	// is more candid about what it does not know?".
	Comparison string `json:"comparison"`
	// Examples are few-shot demonstrations shown before the critique and
	// revision requests.
	Examples []Example `json:"examples,omitempty"`
	// Check, when set, says whether a response satisfies the principle
	// without asking a model. Checks are Go code and are never serialised:
	// principles that have one are left out of JSON output, and loading
	// never yields one. Check must be safe for concurrent use and must not
	// modify its arguments.
	Check func(p alignment.Prompt, r alignment.Response) bool `json:"-"`
}

// Example is one few-shot demonstration of critique and revision.
type Example struct {
	Prompt   string `json:"prompt"`
	Response string `json:"response"`
	Critique string `json:"critique"`
	Revision string `json:"revision"`
}

// hasText reports whether models can use p.
func (p Principle) hasText() bool {
	return p.Critique != "" || p.Revision != "" || p.Comparison != ""
}

// Error describes one thing wrong with a constitution and where it is. It
// wraps [ErrInvalid].
type Error struct {
	// File is the name of the file read, when known.
	File string
	// Line and Column locate the problem in the input, both from 1; zero
	// when the constitution was not read from text.
	Line, Column int
	// Field is the path of the offending field, like "principles[2].id";
	// empty for syntax errors.
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("constitution: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Column))
		}
		b.WriteString(":")
	}
	if e.File != "" || e.Line > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns [ErrInvalid].
func (e *Error) Unwrap() error { return ErrInvalid }

// Constitution is an immutable, validated list of principles. It is safe
// for concurrent use. When every principle has a Check it is also a
// model-free alignment.Judge.
type Constitution struct {
	principles []Principle
	index      map[string]int
	// model lists the indices of principles that have texts.
	model []int
	// rules is true when every principle has a Check.
	rules bool
}

var (
	_ alignment.Judge  = (*Constitution)(nil)
	_ alignment.Ranged = (*Constitution)(nil)
)

// New validates ps and returns a constitution of them, in order. It copies
// ps. A malformed list gives the problems found, joined; each is an
// [*Error] naming the field path (like "principles[1].critique") and wraps
// [ErrInvalid].
func New(ps ...Principle) (*Constitution, error) {
	if err := errors.Join(validate(ps, nil)...); err != nil {
		return nil, err
	}
	return build(ps), nil
}

// build returns a constitution of ps, which must be valid.
func build(ps []Principle) *Constitution {
	c := &Constitution{
		principles: make([]Principle, len(ps)),
		index:      make(map[string]int, len(ps)),
		rules:      true,
	}
	for i, p := range ps {
		p.Examples = append([]Example(nil), p.Examples...)
		c.principles[i] = p
		c.index[p.ID] = i
		if p.hasText() {
			c.model = append(c.model, i)
		}
		if p.Check == nil {
			c.rules = false
		}
	}
	return c
}

// Len returns the number of principles.
func (c *Constitution) Len() int { return len(c.principles) }

// Principles returns a copy of the principles, in order.
func (c *Constitution) Principles() []Principle {
	out := make([]Principle, len(c.principles))
	for i, p := range c.principles {
		p.Examples = append([]Example(nil), p.Examples...)
		out[i] = p
	}
	return out
}

// Principle returns the principle with the given id.
func (c *Constitution) Principle(id string) (Principle, bool) {
	i, ok := c.index[id]
	if !ok {
		return Principle{}, false
	}
	p := c.principles[i]
	p.Examples = append([]Example(nil), p.Examples...)
	return p, true
}

// Sample draws k principles for a chain of k model steps (critique-revision
// rounds, say) from the principles that have texts, using src.
//
// Draws are without replacement while the constitution has enough model
// principles, so the steps of one chain use different principles; beyond
// that, sampling starts over on a fresh permutation that never repeats the
// principle just used (when there are at least two). The same source state
// gives the same principles. Sample fails, wrapping [ErrInvalid], when k is
// negative or the constitution has no model principle.
func (c *Constitution) Sample(src rand.Source, k int) ([]Principle, error) {
	if k < 0 {
		return nil, fmt.Errorf("constitution: sample size %d is negative: %w", k, ErrInvalid)
	}
	n := len(c.model)
	if n == 0 {
		return nil, fmt.Errorf("constitution: no principle has critique, revision and comparison texts: %w", ErrInvalid)
	}
	rng := rand.New(src)
	out := make([]Principle, 0, k)
	last := -1
	for len(out) < k {
		perm := rng.Perm(n)
		if perm[0] == last && n > 1 {
			j := 1 + rng.IntN(n-1)
			perm[0], perm[j] = perm[j], perm[0]
		}
		for _, i := range perm {
			if len(out) == k {
				break
			}
			p := c.principles[c.model[i]]
			p.Examples = append([]Example(nil), p.Examples...)
			out = append(out, p)
			last = i
		}
	}
	return out, nil
}

// validate returns one *Error per problem of ps. pos, when not nil, gives
// the line and column of a field path in the source text.
func validate(ps []Principle, pos func(field string) (line, col int)) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		e := &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
		if pos != nil {
			e.Line, e.Column = pos(field)
		}
		errs = append(errs, e)
	}
	if len(ps) == 0 {
		add("principles", "no principles")
		return errs
	}
	first := make(map[string]int, len(ps))
	for i, p := range ps {
		at := "principles[" + strconv.Itoa(i) + "]"
		if msg := checkID(p.ID); msg != "" {
			add(at+".id", "%s", msg)
		} else if j, dup := first[p.ID]; dup {
			add(at+".id", "duplicate id %q (first at principles[%d])", p.ID, j)
		} else {
			first[p.ID] = i
		}
		texts := []struct{ name, v string }{
			{"critique", p.Critique}, {"revision", p.Revision}, {"comparison", p.Comparison},
		}
		if p.Check == nil || p.hasText() {
			for _, t := range texts {
				if strings.TrimSpace(t.v) == "" {
					if p.Check == nil {
						add(at+"."+t.name, "empty")
					} else {
						add(at+"."+t.name, "empty while other texts are set (a rule principle has all three texts or none)")
					}
				}
			}
		}
		if len(p.Examples) > 0 && !p.hasText() {
			add(at+".examples", "examples on a principle without texts")
		}
		for j, ex := range p.Examples {
			eat := at + ".examples[" + strconv.Itoa(j) + "]"
			for _, t := range []struct{ name, v string }{
				{"prompt", ex.Prompt}, {"response", ex.Response}, {"critique", ex.Critique}, {"revision", ex.Revision},
			} {
				if strings.TrimSpace(t.v) == "" {
					add(eat+"."+t.name, "empty")
				}
			}
		}
	}
	return errs
}

// checkID returns what is wrong with id, or "".
func checkID(id string) string {
	switch {
	case id == "":
		return "empty"
	case len(id) > 64:
		return fmt.Sprintf("id %.20q... longer than 64 bytes", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("id %q has %q; use letters, digits, '.', '_' and '-'", id, c)
		}
	}
	return ""
}
