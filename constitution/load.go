package constitution

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxInput caps the size of a constitution file: a constitution is a few
// kilobytes, and an unbounded read of a wrong file would exhaust memory.
const maxInput = 8 << 20

// Load reads a constitution in JSON from r:
//
//	{"principles": [
//	  {"id": "honest-limits",
//	   "critique": "…", "revision": "…", "comparison": "…",
//	   "examples": [{"prompt": "…", "response": "…", "critique": "…", "revision": "…"}]}
//	]}
//
// Unknown and repeated keys are errors, as are the problems [New] reports.
// Every error is an [*Error] (several are joined when validation finds more
// than one) with the line and column and the field path, and wraps
// [ErrInvalid]. Loading never yields Check functions.
func Load(r io.Reader) (*Constitution, error) {
	return loadJSON(r, "")
}

// LoadFile reads a constitution from the file at path: Markdown (see
// [LoadMarkdown]) when the name ends in ".md" or ".markdown", JSON (see
// [Load]) otherwise. Errors name the file.
func LoadFile(path string) (*Constitution, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("constitution: %w", err)
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return loadMarkdown(f, path)
	}
	return loadJSON(f, path)
}

// MarshalJSON writes the constitution in the format [Load] reads. Principles
// that have a Check are left out, since Go code cannot be serialised; a
// constitution of rule principles only therefore writes an empty list, which
// Load rejects.
func (c *Constitution) MarshalJSON() ([]byte, error) {
	type file struct {
		Principles []Principle `json:"principles"`
	}
	f := file{Principles: []Principle{}}
	for _, p := range c.principles {
		if p.Check == nil {
			f.Principles = append(f.Principles, p)
		}
	}
	return json.Marshal(f)
}

// readAll reads at most maxInput bytes of r.
func readAll(r io.Reader, file string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("constitution: reading %s: %w", orInput(file), err)
	}
	if len(data) > maxInput {
		return nil, &Error{File: file, Msg: fmt.Sprintf("input larger than %d bytes", maxInput)}
	}
	return data, nil
}

func orInput(file string) string {
	if file == "" {
		return "input"
	}
	return file
}

func loadJSON(r io.Reader, file string) (*Constitution, error) {
	data, err := readAll(r, file)
	if err != nil {
		return nil, err
	}
	// A byte-order mark is harmless but trips encoding/json; positions are
	// counted after it, as editors show them.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	jr := &jsonReader{data: data, file: file, at: map[string]int{}}
	jr.dec = json.NewDecoder(bytes.NewReader(data))
	jr.dec.UseNumber()
	ps, err := jr.top()
	if err != nil {
		return nil, err
	}
	if errs := validate(ps, jr.position); len(errs) > 0 {
		for _, e := range errs {
			e.(*Error).File = file
		}
		return nil, errors.Join(errs...)
	}
	return build(ps), nil
}

// jsonReader walks the JSON tokens of a constitution, remembering where each
// field's value starts so that validation errors can point at it.
type jsonReader struct {
	data []byte
	file string
	dec  *json.Decoder
	at   map[string]int // field path -> byte offset of its value
}

// top reads the top-level object.
func (r *jsonReader) top() ([]Principle, error) {
	if len(bytes.TrimSpace(r.data)) == 0 {
		return nil, r.errAt(0, "", "empty input")
	}
	tok, off, err := r.next("")
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, r.errAt(off, "", "expected a JSON object with a \"principles\" list, found "+describe(tok))
	}
	r.at[""] = off
	var ps []Principle
	seen := map[string]bool{}
	for r.dec.More() {
		key, koff, err := r.key("", seen)
		if err != nil {
			return nil, err
		}
		switch key {
		case "principles":
			if ps, err = r.principles(); err != nil {
				return nil, err
			}
		default:
			return nil, r.errAt(koff, key, "unknown field (want \"principles\")")
		}
	}
	if _, _, err := r.next(""); err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if !seen["principles"] {
		return nil, r.errAt(r.at[""], "principles", "missing")
	}
	return ps, nil
}

func (r *jsonReader) principles() ([]Principle, error) {
	const path = "principles"
	tok, off, err := r.next(path)
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, r.errAt(off, path, "expected a list of principles, found "+describe(tok))
	}
	r.at[path] = off
	ps := []Principle{}
	for r.dec.More() {
		p, err := r.principle(path + "[" + strconv.Itoa(len(ps)) + "]")
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	_, _, err = r.next(path)
	return ps, err
}

func (r *jsonReader) principle(path string) (Principle, error) {
	var p Principle
	tok, off, err := r.next(path)
	if err != nil {
		return p, err
	}
	if tok != json.Delim('{') {
		return p, r.errAt(off, path, "expected a principle object, found "+describe(tok))
	}
	r.at[path] = off
	seen := map[string]bool{}
	for r.dec.More() {
		key, koff, err := r.key(path, seen)
		if err != nil {
			return p, err
		}
		field := path + "." + key
		switch key {
		case "id":
			p.ID, err = r.str(field)
		case "critique":
			p.Critique, err = r.str(field)
		case "revision":
			p.Revision, err = r.str(field)
		case "comparison":
			p.Comparison, err = r.str(field)
		case "examples":
			p.Examples, err = r.examples(field)
		default:
			err = r.errAt(koff, field, "unknown field (want id, critique, revision, comparison or examples)")
		}
		if err != nil {
			return p, err
		}
	}
	_, _, err = r.next(path)
	return p, err
}

func (r *jsonReader) examples(path string) ([]Example, error) {
	tok, off, err := r.next(path)
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, r.errAt(off, path, "expected a list of examples, found "+describe(tok))
	}
	var exs []Example
	for r.dec.More() {
		at := path + "[" + strconv.Itoa(len(exs)) + "]"
		tok, off, err := r.next(at)
		if err != nil {
			return nil, err
		}
		if tok != json.Delim('{') {
			return nil, r.errAt(off, at, "expected an example object, found "+describe(tok))
		}
		r.at[at] = off
		var ex Example
		seen := map[string]bool{}
		for r.dec.More() {
			key, koff, err := r.key(at, seen)
			if err != nil {
				return nil, err
			}
			field := at + "." + key
			switch key {
			case "prompt":
				ex.Prompt, err = r.str(field)
			case "response":
				ex.Response, err = r.str(field)
			case "critique":
				ex.Critique, err = r.str(field)
			case "revision":
				ex.Revision, err = r.str(field)
			default:
				err = r.errAt(koff, field, "unknown field (want prompt, response, critique or revision)")
			}
			if err != nil {
				return nil, err
			}
		}
		if _, _, err := r.next(at); err != nil {
			return nil, err
		}
		exs = append(exs, ex)
	}
	_, _, err = r.next(path)
	return exs, err
}

// key reads an object key and rejects repeats, which encoding/json would
// silently resolve to the last value.
func (r *jsonReader) key(path string, seen map[string]bool) (string, int, error) {
	tok, off, err := r.next(path)
	if err != nil {
		return "", off, err
	}
	key, _ := tok.(string) // inside an object, encoding/json only yields string keys
	field := key
	if path != "" {
		field = path + "." + key
	}
	if seen[key] {
		return "", off, r.errAt(off, field, "repeated key")
	}
	seen[key] = true
	return key, off, nil
}

// str reads a string value and records where it starts.
func (r *jsonReader) str(field string) (string, error) {
	tok, off, err := r.next(field)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", r.errAt(off, field, "expected a string, found "+describe(tok))
	}
	r.at[field] = off
	return s, nil
}

// next returns the next token and the offset where it starts.
func (r *jsonReader) next(path string) (json.Token, int, error) {
	off := int(r.dec.InputOffset())
	for off < len(r.data) && strings.IndexByte(" \t\r\n,:", r.data[off]) >= 0 {
		off++
	}
	tok, err := r.dec.Token()
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, off, r.errAt(len(r.data), path, "unexpected end of input")
	case err != nil:
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// For an error inside a value, encoding/json's Decoder reports
			// an offset that can fall before the value; the value's start
			// is then the best position known.
			return nil, off, r.errAt(max(int(se.Offset), off), "", strings.TrimPrefix(se.Error(), "json: "))
		}
		return nil, off, r.errAt(off, path, err.Error())
	}
	return tok, off, nil
}

// end checks that nothing but white space follows the top-level object.
func (r *jsonReader) end() error {
	off := int(r.dec.InputOffset())
	rest := r.data[off:]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		return r.errAt(off+len(rest)-len(trimmed), "", "unexpected text after the constitution")
	}
	return nil
}

// position returns the line and column of a field's value, falling back to
// the nearest enclosing value that was seen (a missing field points at its
// object).
func (r *jsonReader) position(field string) (int, int) {
	for {
		if off, ok := r.at[field]; ok {
			return lineCol(r.data, off)
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			if off, ok := r.at[""]; ok {
				return lineCol(r.data, off)
			}
			return 0, 0
		}
		field = field[:i]
	}
}

func (r *jsonReader) errAt(off int, field, msg string) error {
	line, col := lineCol(r.data, off)
	return &Error{File: r.file, Line: line, Column: col, Field: field, Msg: msg}
}

// lineCol converts a byte offset into a line and a column counted in
// characters, both from 1.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return 1 + bytes.Count(data[:off], []byte{'\n'}), 1 + utf8.RuneCount(data[start:off])
}

// describe names a JSON token for an error message.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{', '}':
			return "an object"
		default:
			return "a list"
		}
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
