package openai

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReportScanner(t *testing.T) {
	tests := []struct {
		out, want string
	}{
		{"", ""},
		{"training...\nSELFALIGN_MODEL=a\n", "a"},
		{"SELFALIGN_MODEL=a\nSELFALIGN_MODEL=b\ndone\n", "b"},
		{"SELFALIGN_MODEL=a\r\nSELFALIGN_MODEL=  \n", "a"},
		{"  SELFALIGN_MODEL= q/x:1 ", "q/x:1"},
		{"log: SELFALIGN_MODEL=not-at-start\n", ""},
		{"SELFALIGN_MODEL=a\nSELFALIGN_MODEL=two words\nSELFALIGN_MODEL=x\ry\n", "a"},
	}
	for _, tt := range tests {
		var r reportScanner
		r.Write([]byte(tt.out))
		assert.Equal(t, tt.want, r.model(), "%q", tt.out)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 16}
	b.Write([]byte("first line\nsecond\nthird line\n"))
	assert.Equal(t, "third line\n", b.String(), "a cut tail starts at a whole line")
	short := &tailBuffer{max: 64}
	short.Write([]byte("a\nb\n"))
	assert.Equal(t, "a\nb\n", short.String())
}

// The name a command reports does not depend on how its output was cut
// into writes, holds no line break, and is what a line of it said.
func FuzzReportScanner(f *testing.F) {
	f.Add([]byte("x\nSELFALIGN_MODEL=m\n"), uint8(3))
	f.Add([]byte("SELFALIGN_MODEL=a\nSELFALIGN_MODEL=b"), uint8(1))
	f.Add([]byte("SELFALIGN_MODEL=\xff\n"), uint8(0))
	f.Fuzz(func(t *testing.T, out []byte, step uint8) {
		var whole reportScanner
		whole.Write(out)
		want := whole.model()
		var parts reportScanner
		n := int(step) + 1
		for i := 0; i < len(out); i += n {
			parts.Write(out[i:min(i+n, len(out))])
		}
		got := parts.model()
		if len(out) <= 4096 && got != want {
			t.Fatalf("chunks of %d give %q, whole %q", n, got, want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Fatalf("name %q holds a line break", got)
		}
		if got != "" && !strings.Contains(string(out), reportPrefix) {
			t.Fatalf("name %q from output without %s", got, reportPrefix)
		}
	})
}
