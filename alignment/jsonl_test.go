package alignment

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonRef encodes v with encoding/json, HTML escaping off and without the
// trailing newline: the reference our hand-written encoder must match byte
// for byte.
func jsonRef(t testing.TB, v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	require.NoError(t, e.Encode(v))
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f",
		"<html> & 'apos'", "naïve café 日本語 🙂", "\u2028\u2029", "bad \xff utf8 \xe2\x82", "\xed\xa0\x80 surrogate",
	} {
		assert.Equal(t, jsonRef(t, s), string(appendString(nil, s)), "%q", s)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.0 / 3, 4.5, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, -2.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789.125} {
		assert.Equal(t, jsonRef(t, v), string(appendFloat(nil, v)), "%v", v)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\u2028", "\xff", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), jsonRef(t, s); got != want {
			t.Fatalf("appendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1e-7, 1e21, -3.25} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if got, want := string(appendFloat(nil, v)), jsonRef(t, v); got != want {
			t.Fatalf("appendFloat(%v) = %s, encoding/json gives %s", v, got, want)
		}
	})
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the bufio buffer
	in := "a\n\n" + long + "\nlast"
	lr := newLineReader(strings.NewReader(in))
	type line struct {
		text       string
		terminated bool
		n          int
		start      int64
	}
	var got []line
	for {
		b, term, err := lr.next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, line{string(b), term, lr.line, lr.start})
	}
	assert.Equal(t, []line{
		{"a", true, 1, 0},
		{"", true, 2, 2},
		{long, true, 3, 3},
		{"last", false, 4, int64(4 + len(long))},
	}, got)
}
