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
	"time"
)

var (
	_ PromptSource  = (*JSONLSource)(nil)
	_ Sized         = (*JSONLSource)(nil)
	_ Fingerprinter = (*JSONLSource)(nil)
)

// JSONLSource is a PromptSource that reads the same JSON Lines file every
// iteration, in TRL's prompt format. Each line is an object with a "prompt"
// that is either a string (one user message) or a list of
// {"role", "content"} messages, and an optional "id" that is a string or a
// number (kept as written: 12 and 12.0 differ). A line without an id, or
// with a null one, gets the id "line-N", N its line number from 1. Other
// fields are ignored. Lines holding only white space are skipped, and the
// last line may lack its newline.
//
// Every prompt must pass ValidatePrompt and ids must be unique within the
// file; OpenJSONLPrompts checks the whole file, so a malformed line stops a
// run before it starts. Iterations then stream the file: memory does not
// grow with the number of prompts. The file must not change while the source
// is in use; an iteration that finds it changed fails.
//
// A JSONLSource is safe for concurrent use.
type JSONLSource struct {
	path   string
	n      int
	size   int64
	mtime  time.Time
	digest []byte // SHA-256 of the file
}

// OpenJSONLPrompts checks the prompts file at path and returns a source
// that reads it. A malformed line is a *LineError naming the file and the
// line and wrapping ErrInvalid. While it checks the file, it keeps 8 bytes
// per prompt to find duplicate ids.
func OpenJSONLPrompts(path string) (*JSONLSource, error) {
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
		p, err := parsePromptLine(line, lr.line)
		if err != nil {
			return nil, lr.lineErr(path, err)
		}
		hashes = append(hashes, maphash.String(seed, p.ID))
	}
	n := len(hashes)
	slices.Sort(hashes)
	if hashes = duplicates(hashes); len(hashes) > 0 {
		if err := findDuplicate(f, path, seed, hashes); err != nil {
			return nil, err
		}
	}
	return &JSONLSource{path: path, n: n, size: st.Size(), mtime: st.ModTime(), digest: digest.Sum(nil)}, nil
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
			p, err := parsePromptLine(line, lr.line)
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
	return "alignment.JSONLSource sha256:" + hex.EncodeToString(s.digest)
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
func findDuplicate(f *os.File, path string, seed maphash.Seed, suspects []uint64) error {
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
		p, err := parsePromptLine(line, lr.line)
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

// promptLine is one line of a prompts file, its fields left raw so that
// their JSON types can be checked.
type promptLine struct {
	ID     json.RawMessage `json:"id"`
	Prompt json.RawMessage `json:"prompt"`
}

// parsePromptLine parses one non-blank line of a prompts file; n is its
// line number, which names prompts that have no id. Errors wrap ErrInvalid.
func parsePromptLine(data []byte, n int) (Prompt, error) {
	var pl promptLine
	if err := json.Unmarshal(data, &pl); err != nil {
		return Prompt{}, fmt.Errorf("invalid JSON object: %v: %w", err, ErrInvalid)
	}
	id, err := parseID(pl.ID, n)
	if err != nil {
		return Prompt{}, err
	}
	msgs, err := parseMessages(pl.Prompt, "prompt")
	if err != nil {
		return Prompt{}, err
	}
	p := Prompt{ID: id, Messages: msgs}
	if err := ValidatePrompt(p); err != nil {
		return Prompt{}, fmt.Errorf("prompt %q: %w", id, err)
	}
	return p, nil
}

// parseID reads an "id" field: a string, a number kept as written, or
// absent or null for "line-N".
func parseID(raw json.RawMessage, n int) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "line-" + strconv.Itoa(n), nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("id: %v: %w", err, ErrInvalid)
		}
		if s == "" {
			return "", fmt.Errorf("empty id: %w", ErrInvalid)
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("id is %s, want a string or a number: %w", raw, ErrInvalid)
}

// parseMessages reads a field that is a string (one user message) or a
// list of messages.
func parseMessages(raw json.RawMessage, field string) ([]Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("missing %q: %w", field, ErrInvalid)
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", field, err, ErrInvalid)
		}
		return []Message{{Role: RoleUser, Content: s}}, nil
	case '[':
		var ms []Message
		if err := json.Unmarshal(raw, &ms); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", field, err, ErrInvalid)
		}
		return ms, nil
	}
	return nil, fmt.Errorf("%q must be a string or a list of messages: %w", field, ErrInvalid)
}
