package alignment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"iter"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	_ PromptSource  = (*JSONLSource)(nil)
	_ Sized         = (*JSONLSource)(nil)
	_ Fingerprinter = (*JSONLSource)(nil)
)

// JSONLSource is a PromptSource that reads the same JSON Lines file every
// iteration, in TRL's prompt format or in the form of the datasets people
// have. Each line is an object with a "prompt" that is either a string (one
// user message) or a list of {"role", "content"} messages. A line without
// "prompt" but with "chosen" and "rejected", as in raw hh-rlhf, has the
// implicit prompt ReadPairs describes; instruction sets (Alpaca,
// self-instruct) name their fields with PromptsOptions.Fields.
//
// A prompt's id is its "prompt_id" (the name UltraFeedback-style files and
// this library's pairs files use) or its "id", a string or a number (kept
// as written: 12 and 12.0 differ); a line with both must give the same
// one. A line without either, or with null, gets the id "line-N", N its
// line number from 1. Other fields are ignored. Lines holding only white
// space are skipped, a UTF-8 byte order mark at the start of the file is
// skipped, and the last line may lack its newline. A file holding one JSON
// array is refused with an error that says so.
//
// Every prompt must pass ValidatePrompt and ids must be unique within the
// file; OpenJSONLPrompts checks the whole file, so a malformed line stops a
// run before it starts, and a repeated id is named with both its lines.
// Iterations then stream the file: memory does not grow with the number of
// prompts. The file must not change while the source is in use; an
// iteration that finds it changed fails.
//
// A JSONLSource is safe for concurrent use.
type JSONLSource struct {
	path   string
	fields []string
	n      int
	size   int64
	mtime  time.Time
	digest []byte // SHA-256 of the file
}

// PromptsOptions configure how OpenJSONLPrompts reads a prompts file. A
// nil *PromptsOptions means the defaults given on each field.
type PromptsOptions struct {
	// Fields names the fields whose texts make each prompt, for
	// instruction sets that have no "prompt": the texts of the fields a
	// line has, and that are not empty, are joined in order with a blank
	// line between them into one user message, the separation Alpaca's
	// template puts between an instruction and its input (its "###"
	// headers are left out: the chat template frames the turn). The first
	// field is required. A field may be a dot-separated path through
	// objects and lists. Alpaca and its derivatives: "instruction",
	// "input"; self-instruct's seed tasks: "instruction",
	// "instances.0.input". Default: "prompt", or the implicit prompt of
	// "chosen" and "rejected".
	Fields []string
}

// OpenJSONLPrompts checks the prompts file at path and returns a source
// that reads it; o may be nil. A malformed line is a *LineError naming the
// file and the line and wrapping ErrInvalid. While it checks the file, it
// keeps 8 bytes per prompt to find duplicate ids.
func OpenJSONLPrompts(path string, o *PromptsOptions) (*JSONLSource, error) {
	var fields []string
	if o != nil && len(o.Fields) > 0 {
		fields = slices.Clone(o.Fields)
		for i, f := range fields {
			if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
				return nil, fmt.Errorf("alignment: open prompts: field %d is %q, want a name or a dot-separated path: %w", i, f, ErrInvalid)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("alignment: open prompts: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("alignment: open prompts: %w", err)
	}
	seed := maphash.MakeSeed()
	var hashes []uint64
	digest := sha256.New()
	lr := newLineReader(io.TeeReader(f, digest))
	for {
		line, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readErr(path, lr, err)
		}
		if isBlank(line) {
			continue
		}
		if len(hashes) == 0 && isArray(line) {
			return nil, lr.lineErr(path, errArray)
		}
		p, err := parsePromptLine(line, lr.line, fields)
		if err != nil {
			return nil, lr.lineErr(path, err)
		}
		hashes = append(hashes, maphash.String(seed, p.ID))
	}
	n := len(hashes)
	slices.Sort(hashes)
	if hashes = duplicates(hashes); len(hashes) > 0 {
		if err := findDuplicate(f, path, seed, hashes, fields); err != nil {
			return nil, err
		}
	}
	return &JSONLSource{path: path, fields: fields, n: n, size: st.Size(), mtime: st.ModTime(), digest: digest.Sum(nil)}, nil
}

// Prompts implements PromptSource. It yields an error, and stops, when the
// file cannot be read or has changed since it was opened, or when ctx is
// done.
func (s *JSONLSource) Prompts(ctx context.Context, iteration int) iter.Seq2[Prompt, error] {
	return func(yield func(Prompt, error) bool) {
		f, err := os.Open(s.path)
		if err != nil {
			yield(Prompt{}, fmt.Errorf("alignment: prompts of iteration %d: %w", iteration, err))
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			yield(Prompt{}, fmt.Errorf("alignment: prompts of iteration %d: %w", iteration, err))
			return
		}
		if st.Size() != s.size || !st.ModTime().Equal(s.mtime) {
			yield(Prompt{}, fmt.Errorf("alignment: prompts file %s changed since it was opened: %w", s.path, ErrInvalid))
			return
		}
		lr := newLineReader(f)
		for {
			if err := ctx.Err(); err != nil {
				yield(Prompt{}, fmt.Errorf("alignment: prompts of iteration %d: %w", iteration, err))
				return
			}
			line, _, err := lr.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Prompt{}, readErr(s.path, lr, err))
				return
			}
			if isBlank(line) {
				continue
			}
			p, err := parsePromptLine(line, lr.line, s.fields)
			if err != nil {
				yield(Prompt{}, lr.lineErr(s.path, err))
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// Len implements Sized: the number of prompts in the file.
func (s *JSONLSource) Len(iteration int) int { return s.n }

// Fingerprint implements Fingerprinter: a SHA-256 digest of the file's
// bytes, so that a run in an output directory notices a changed prompt
// set whatever the file is called.
func (s *JSONLSource) Fingerprint() string {
	fp := "alignment.JSONLSource sha256:" + hex.EncodeToString(s.digest)
	if s.fields != nil {
		fp += " fields:" + strings.Join(s.fields, ",")
	}
	return fp
}

// Path returns the path of the prompts file.
func (s *JSONLSource) Path() string { return s.path }

// readErr describes a failure of lr: a LineError for a malformed line, the
// I/O error otherwise.
func readErr(path string, lr *lineReader, err error) error {
	if errors.Is(err, ErrInvalid) {
		return lr.lineErr(path, err)
	}
	return fmt.Errorf("alignment: read %s: %w", path, err)
}

// duplicates returns the values that occur more than once in sorted hs,
// once each, reusing hs.
func duplicates(hs []uint64) []uint64 {
	out := hs[:0]
	for i := 1; i < len(hs); i++ {
		if hs[i] == hs[i-1] && (len(out) == 0 || out[len(out)-1] != hs[i]) {
			out = append(out, hs[i])
		}
	}
	return out
}

// findDuplicate reads f again and returns an error naming the first line
// whose id an earlier line has, among the ids whose hashes are in sorted
// suspects. Equal hashes of different ids are not errors.
func findDuplicate(f *os.File, path string, seed maphash.Seed, suspects []uint64, fields []string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("alignment: read %s: %w", path, err)
	}
	first := make(map[string]int)
	lr := newLineReader(f)
	for {
		line, _, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readErr(path, lr, err)
		}
		if isBlank(line) {
			continue
		}
		p, err := parsePromptLine(line, lr.line, fields)
		if err != nil {
			return lr.lineErr(path, err)
		}
		if _, ok := slices.BinarySearch(suspects, maphash.String(seed, p.ID)); !ok {
			continue
		}
		if l, ok := first[p.ID]; ok {
			return lr.lineErr(path, fmt.Errorf("id %q already used on line %d: %w", p.ID, l, ErrInvalid))
		}
		first[p.ID] = lr.line
	}
}

// parsePromptLine parses one non-blank line of a prompts file; n is its
// line number, which names prompts that have no id, and fields are
// PromptsOptions.Fields. Errors wrap ErrInvalid.
func parsePromptLine(data []byte, n int, fields []string) (Prompt, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return Prompt{}, fmt.Errorf("invalid JSON object: %v: %w", jsonMsg(err), ErrInvalid)
	}
	if obj == nil {
		return Prompt{}, fmt.Errorf("invalid JSON object: the line is null: %w", ErrInvalid)
	}
	id, err := parseID(obj["prompt_id"], obj["id"], n)
	if err != nil {
		return Prompt{}, err
	}
	var msgs []Message
	switch {
	case fields != nil:
		msgs, err = fieldsPrompt(obj, fields)
	case isNull(obj["prompt"]) && !isNull(obj["chosen"]) && !isNull(obj["rejected"]):
		msgs, _, _, _, err = implicitPrompt(obj["chosen"], obj["rejected"])
	case isNull(obj["prompt"]) && (obj["instruction"] != nil || obj["question"] != nil):
		return Prompt{}, fmt.Errorf(`missing "prompt"; for an instruction set, name the fields that hold the prompt with PromptsOptions.Fields (Alpaca: "instruction", "input"): %w`, ErrInvalid)
	default:
		msgs, err = parseMessages(obj["prompt"], "prompt")
	}
	if err != nil {
		return Prompt{}, err
	}
	p := Prompt{ID: id, Messages: msgs}
	if err := ValidatePrompt(p); err != nil {
		return Prompt{}, fmt.Errorf("prompt %q: %w", id, err)
	}
	return p, nil
}

// fieldsPrompt joins the texts of fields into one user message.
func fieldsPrompt(obj map[string]json.RawMessage, fields []string) ([]Message, error) {
	var parts []string
	for i, f := range fields {
		raw, ok := lookup(obj, f)
		if isNull(raw) || !ok {
			if i == 0 {
				return nil, fmt.Errorf("missing %q: %w", f, ErrInvalid)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%q must be a string: %w", f, ErrInvalid)
		}
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return []Message{{Role: RoleUser, Content: strings.Join(parts, "\n\n")}}, nil
}

// lookup follows a dot-separated path through objects and lists (by
// index), reporting whether every step exists.
func lookup(obj map[string]json.RawMessage, path string) (json.RawMessage, bool) {
	head, rest, nested := strings.Cut(path, ".")
	raw, ok := obj[head]
	for ok && nested {
		head, rest, nested = strings.Cut(rest, ".")
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) > 0 && raw[0] == '{':
			var o map[string]json.RawMessage
			if json.Unmarshal(raw, &o) != nil {
				return nil, false
			}
			raw, ok = o[head]
		case len(raw) > 0 && raw[0] == '[':
			var l []json.RawMessage
			i, err := strconv.Atoi(head)
			if json.Unmarshal(raw, &l) != nil || err != nil || i < 0 || i >= len(l) {
				return nil, false
			}
			raw = l[i]
		default:
			return nil, false
		}
	}
	return raw, ok
}

// parseID reads the "prompt_id" and "id" fields: a string, a number kept as
// written, or both absent or null for "line-N". When both are there they
// must agree.
func parseID(promptID, id json.RawMessage, n int) (string, error) {
	a, err := parseOneID(promptID, "prompt_id")
	if err != nil {
		return "", err
	}
	b, err := parseOneID(id, "id")
	if err != nil {
		return "", err
	}
	switch {
	case a != "" && b != "" && a != b:
		return "", fmt.Errorf("prompt_id %q and id %q differ; give one: %w", a, b, ErrInvalid)
	case a != "":
		return a, nil
	case b != "":
		return b, nil
	}
	return "line-" + strconv.Itoa(n), nil
}

// parseOneID reads one id field, returning "" when it is absent or null.
func parseOneID(raw json.RawMessage, field string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	raw = bytes.TrimSpace(raw)
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: %v: %w", field, jsonMsg(err), ErrInvalid)
		}
		if s == "" {
			return "", fmt.Errorf("empty %s: %w", field, ErrInvalid)
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("%s is %s, want a string or a number: %w", field, raw, ErrInvalid)
}

// parseMessages reads a field that is a string (one user message) or a
// list of {"role", "content"} messages whose values are strings.
func parseMessages(raw json.RawMessage, field string) ([]Message, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("missing %q: %w", field, ErrInvalid)
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", field, jsonMsg(err), ErrInvalid)
		}
		return []Message{{Role: RoleUser, Content: s}}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", field, jsonMsg(err), ErrInvalid)
		}
		ms := make([]Message, len(items))
		for i, it := range items {
			var m struct {
				Role    json.RawMessage `json:"role"`
				Content json.RawMessage `json:"content"`
			}
			if it = bytes.TrimSpace(it); it[0] != '{' || json.Unmarshal(it, &m) != nil {
				return nil, fmt.Errorf("%s: message %d is %s, want an object with \"role\" and \"content\": %w", field, i, jsonKind(it), ErrInvalid)
			}
			for _, f := range [2]struct {
				name string
				raw  json.RawMessage
				dst  *string
			}{{"role", m.Role, &ms[i].Role}, {"content", m.Content, &ms[i].Content}} {
				if f.raw == nil {
					continue // a missing role or content is reported by the caller's checks
				}
				if json.Unmarshal(f.raw, f.dst) != nil {
					return nil, fmt.Errorf("%s: message %d: %q is %s, want a string: %w", field, i, f.name, jsonKind(f.raw), ErrInvalid)
				}
			}
		}
		return ms, nil
	}
	return nil, fmt.Errorf("%q must be a string or a list of messages: %w", field, ErrInvalid)
}

// jsonKind names the JSON type of a valid raw value, for errors.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
