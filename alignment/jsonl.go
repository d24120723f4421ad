package alignment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// JSON Lines plumbing shared by the prompt source, the preference sink and
// the pair reader.

// ErrTorn says a JSON Lines file ends in a line without its newline, as a
// write interrupted by a crash leaves it. A resuming run truncates the file
// to the LineError's Offset.
var ErrTorn = errors.New("torn last line")

// LineError reports a malformed line of a JSON Lines file. It wraps
// ErrInvalid, or ErrTorn for an unterminated last line of a preference file.
type LineError struct {
	// File is the path of the file, or empty when reading from a reader.
	File string
	// Line is the line number, from 1.
	Line int
	// Offset is the byte offset of the start of the line.
	Offset int64
	// Err says what is wrong.
	Err error
}

// Error implements error.
func (e *LineError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("alignment: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("alignment: %s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// maxLine bounds a JSON line, so that a file without newlines cannot make a
// reader take all memory.
const maxLine = 64 << 20

// lineReader reads a stream line by line, keeping the line numbers and byte
// offsets that errors report.
type lineReader struct {
	r      *bufio.Reader
	buf    []byte
	line   int   // number of the line last returned
	start  int64 // offset of the line last returned
	offset int64 // offset of the next line
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its "\n" and whether it had one; the
// slice is valid until the following call. It returns io.EOF after the
// last line.
func (l *lineReader) next() (line []byte, terminated bool, err error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.buf = append(l.buf, chunk...)
		if len(l.buf) > maxLine {
			l.line++
			l.start = l.offset
			return nil, false, fmt.Errorf("line longer than %d bytes: %w", maxLine, ErrInvalid)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(l.buf) == 0:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		}
		l.line++
		l.start = l.offset
		l.offset += int64(len(l.buf))
		line = l.buf
		if l.line == 1 {
			// Editors on Windows start UTF-8 files with a byte order
			// mark, which is no JSON.
			line = bytes.TrimPrefix(line, bom)
		}
		if err == io.EOF {
			return line, false, nil
		}
		return line[:len(line)-1], true, nil
	}
}

// bom is the UTF-8 byte order mark.
var bom = []byte("\ufeff")

// lineErr wraps err with the position of the line last returned.
func (l *lineReader) lineErr(file string, err error) *LineError {
	return &LineError{File: file, Line: l.line, Offset: l.start, Err: err}
}

// isBlank reports whether a line holds only JSON whitespace.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// isNull reports whether a raw field is absent or null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonMsg describes a decoding error in the words of JSON rather than of
// the Go types it was decoded into.
func jsonMsg(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	want := "another type"
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		want = "an integer"
	case reflect.Float64, reflect.Float32:
		want = "a number"
	case reflect.Slice, reflect.Array:
		want = "a list"
	case reflect.Struct, reflect.Map:
		want = "an object"
	case reflect.Pointer:
		if te.Type.Elem().Kind() == reflect.Float64 {
			want = "a number"
		}
	}
	if te.Field == "" {
		return fmt.Sprintf("the line holds a JSON %s, want an object", te.Value)
	}
	return fmt.Sprintf("%q is %s, want %s", te.Field, te.Value, want)
}

// plain marks the bytes appendString copies as they are: printable ASCII
// other than '"' and '\\'. A table lookup per byte is about 1.5 times as
// fast as three comparisons per byte, and about as fast as scanning eight
// bytes at a time, which needs package unsafe to be quick.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, as encoding/json writes it with
// HTML escaping off: control characters, quotes and backslashes escaped,
// U+2028 and U+2029 escaped, and each byte of invalid UTF-8 replaced by
// U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends a finite v as encoding/json writes a float64: the
// shortest representation that reads back exactly, with an exponent only
// for very small or very large magnitudes.
func appendFloat(b []byte, v float64) []byte {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
