package constitution

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LoadMarkdown reads a constitution in a small Markdown format from r:
//
//	# Optional title
//
//	## honest-limits
//	Critique: Point out claims the reply makes with more confidence
//	  than its evidence supports.
//	Revision: Rewrite the reply so that it states its uncertainty.
//	Comparison: more candid about the limits of what it knows?
//
//	### Example
//	Prompt: …
//	Response: …
//	Critique: …
//	Revision: …
//
// Each "## id" heading starts a principle; its fields are lines beginning
// with "Critique:", "Revision:" and "Comparison:" (any letter case). A line
// indented by two spaces or a tab continues the field above it, with the
// indentation removed and the line break kept; blank lines between
// continuation lines are kept too. Each "### Example" heading starts a
// few-shot example whose fields are "Prompt:", "Response:", "Critique:" and
// "Revision:"; a principle's own fields come before its examples. Before
// the first principle only "# " title lines and blank lines may appear.
// Anything else is an error naming the line; every error is an [*Error]
// wrapping [ErrInvalid], and validation problems (see [New]) name the line
// of the field or heading concerned.
func LoadMarkdown(r io.Reader) (*Constitution, error) {
	return loadMarkdown(r, "")
}

// Markdown returns the constitution in the format [LoadMarkdown] reads.
// Principles that have a Check are left out, as in [Constitution.MarshalJSON].
func (c *Constitution) Markdown() string {
	var b strings.Builder
	field := func(key, v string) {
		for i, line := range strings.Split(v, "\n") {
			switch {
			case i == 0:
				b.WriteString(key + ": " + line + "\n")
			case line == "":
				b.WriteString("\n")
			default:
				b.WriteString("  " + line + "\n")
			}
		}
	}
	first := true
	for _, p := range c.principles {
		if p.Check != nil {
			continue
		}
		if !first {
			b.WriteString("\n")
		}
		first = false
		b.WriteString("## " + p.ID + "\n")
		field("Critique", p.Critique)
		field("Revision", p.Revision)
		field("Comparison", p.Comparison)
		for _, ex := range p.Examples {
			b.WriteString("\n### Example\n")
			field("Prompt", ex.Prompt)
			field("Response", ex.Response)
			field("Critique", ex.Critique)
			field("Revision", ex.Revision)
		}
	}
	return b.String()
}

func loadMarkdown(r io.Reader, file string) (*Constitution, error) {
	data, err := readAll(r, file)
	if err != nil {
		return nil, err
	}
	m := &mdReader{file: file, at: map[string]int{}}
	ps, err := m.parse(string(data))
	if err != nil {
		return nil, err
	}
	pos := func(field string) (int, int) {
		for {
			if line, ok := m.at[field]; ok {
				return line, 0
			}
			i := strings.LastIndexAny(field, ".[")
			if i < 0 {
				return 0, 0
			}
			field = field[:i]
		}
	}
	if errs := validate(ps, pos); len(errs) > 0 {
		for _, e := range errs {
			e.(*Error).File = file
		}
		return nil, errors.Join(errs...)
	}
	return build(ps), nil
}

// mdReader parses the Markdown format line by line.
type mdReader struct {
	file string
	at   map[string]int // field path -> line number
}

// mdField is a field being read: where its value goes, its lines so far,
// and the blank lines seen since its last line, kept only if a continuation
// line follows. Lines are joined once, when the field ends, so that a long
// field costs linear time.
type mdField struct {
	dst     *string
	lines   []string
	pending int
}

// end stores the field's value; it is safe on a nil field.
func (f *mdField) end() {
	if f != nil {
		*f.dst = strings.Join(f.lines, "\n")
	}
}

func (m *mdReader) parse(text string) ([]Principle, error) {
	var (
		ps  []Principle
		cur *mdField
		// seen holds the keys already set in the current principle or example.
		seen map[string]bool
	)
	text = strings.TrimPrefix(text, "\ufeff")
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		if !utf8.ValidString(raw) {
			return nil, m.errAt(n, "", "invalid UTF-8")
		}
		line := strings.TrimRight(raw, " \t\r")
		pi := len(ps) - 1
		path := "principles[" + strconv.Itoa(pi) + "]"
		switch {
		case line == "":
			if cur != nil {
				cur.pending++
			}
		case strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "\t"):
			if cur == nil {
				return nil, m.errAt(n, "", "indented line continues no field")
			}
			for ; cur.pending > 0; cur.pending-- {
				cur.lines = append(cur.lines, "")
			}
			cur.lines = append(cur.lines, strings.TrimPrefix(strings.TrimPrefix(line, "\t"), "  "))
		case strings.HasPrefix(line, "### "):
			if pi < 0 {
				return nil, m.errAt(n, "", "example before the first \"## id\" heading")
			}
			if name := strings.TrimSpace(line[4:]); !strings.EqualFold(name, "example") {
				return nil, m.errAt(n, "", fmt.Sprintf("unknown heading %q (want \"### Example\")", name))
			}
			cur.end()
			p := &ps[pi]
			p.Examples = append(p.Examples, Example{})
			m.at[path+".examples["+strconv.Itoa(len(p.Examples)-1)+"]"] = n
			cur, seen = nil, map[string]bool{}
		case strings.HasPrefix(line, "## "):
			cur.end()
			ps = append(ps, Principle{ID: strings.TrimSpace(line[3:])})
			path = "principles[" + strconv.Itoa(len(ps)-1) + "]"
			m.at[path] = n
			m.at[path+".id"] = n
			cur, seen = nil, map[string]bool{}
		case strings.HasPrefix(line, "# ") || line == "#":
			if pi >= 0 {
				return nil, m.errAt(n, "", "title heading after the first principle (use \"## id\" or \"### Example\")")
			}
		default:
			if pi < 0 {
				return nil, m.errAt(n, "", "text before the first \"## id\" heading")
			}
			key, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, m.errAt(n, "", "expected a field like \"Critique: …\" or an indented continuation line")
			}
			key = strings.ToLower(strings.TrimSpace(key))
			p := &ps[pi]
			var dst *string
			field := path + "." + key
			if k := len(p.Examples); k > 0 {
				ex := &p.Examples[k-1]
				field = path + ".examples[" + strconv.Itoa(k-1) + "]." + key
				dst = map[string]*string{"prompt": &ex.Prompt, "response": &ex.Response, "critique": &ex.Critique, "revision": &ex.Revision}[key]
				if dst == nil {
					return nil, m.errAt(n, field, "unknown example field (want Prompt, Response, Critique or Revision)")
				}
			} else {
				dst = map[string]*string{"critique": &p.Critique, "revision": &p.Revision, "comparison": &p.Comparison}[key]
				if dst == nil {
					return nil, m.errAt(n, field, "unknown field (want Critique, Revision or Comparison)")
				}
			}
			if seen[key] {
				return nil, m.errAt(n, field, "repeated field")
			}
			seen[key] = true
			m.at[field] = n
			cur.end()
			cur = &mdField{dst: dst, lines: []string{strings.TrimLeft(value, " \t")}}
		}
	}
	cur.end()
	for i := range ps {
		p := &ps[i]
		p.Critique, p.Revision, p.Comparison = strings.TrimSpace(p.Critique), strings.TrimSpace(p.Revision), strings.TrimSpace(p.Comparison)
		for j := range p.Examples {
			ex := &p.Examples[j]
			ex.Prompt, ex.Response = strings.TrimSpace(ex.Prompt), strings.TrimSpace(ex.Response)
			ex.Critique, ex.Revision = strings.TrimSpace(ex.Critique), strings.TrimSpace(ex.Revision)
		}
	}
	return ps, nil
}

func (m *mdReader) errAt(line int, field, msg string) error {
	return &Error{File: m.file, Line: line, Field: field, Msg: msg}
}
