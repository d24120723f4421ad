package tinylm

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" \t\n ", nil},
		{"Hello, World!", []string{"hello", ",", "world", "!"}},
		{"Don't stop", []string{"don't", "stop"}},
		{"rock'n'roll", []string{"rock'n'roll"}},
		{"it’s", []string{"it’s"}},
		{"'quoted'", []string{"'", "quoted", "'"}},
		{"a''b", []string{"a", "'", "'", "b"}},
		{"3.5 and 1,000.", []string{"3.5", "and", "1,000", "."}},
		{"x.y 3. .5", []string{"x", ".", "y", "3", ".", ".", "5"}},
		{"e-mail", []string{"e", "-", "mail"}},
		{"ÉCOLE naïve", []string{"école", "naïve"}},
		{"a<unk>b", []string{"a", "<", "unk", ">", "b"}},
		{"(see [1])", []string{"(", "see", "[", "1", "]", ")"}},
		{"50%…", []string{"50", "%", "…"}},
		{"bad\xffbyte", []string{"bad", "\uFFFD", "byte"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Split(tc.in), "Split(%q)", tc.in)
	}
}

func TestNewTokenizer(t *testing.T) {
	tok, err := NewTokenizer([]string{"b a b", "c b a, d"}, TokenizerOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"<bos>", "<eos>", "<unk>", "<sep>", "<system>", "<assistant>", "b", "a", ",", "c", "d"}, tok.Words(),
		"specials, then by count (b 3, a 2), then byte order")
	assert.Equal(t, 11, tok.Len())
	id, ok := tok.ID("a")
	assert.True(t, ok)
	assert.Equal(t, FirstWord+1, id)
	_, ok = tok.ID("<eos>")
	assert.False(t, ok, "special tokens are not found by name")
	assert.Equal(t, "<unk>", tok.Token(-1))
	assert.Equal(t, "<unk>", tok.Token(99))
	assert.Equal(t, "<eos>", tok.Token(TokenEOS))

	tok, err = NewTokenizer([]string{"b a b", "c b a, d"}, TokenizerOptions{MinCount: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "a"}, tok.Words()[FirstWord:])
	tok, err = NewTokenizer([]string{"b a b", "c b a, d"}, TokenizerOptions{MaxWords: 3})
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "a", ","}, tok.Words()[FirstWord:])

	for _, tc := range []struct {
		texts []string
		o     TokenizerOptions
		want  string
	}{
		{nil, TokenizerOptions{}, "corpus of 0 texts has no word"},
		{[]string{"  "}, TokenizerOptions{}, "corpus of 1 texts has no word"},
		{[]string{"a"}, TokenizerOptions{MinCount: 2}, "seen at least 2 times"},
		{[]string{"a"}, TokenizerOptions{MaxWords: -1}, "MaxWords -1"},
	} {
		_, err := NewTokenizer(tc.texts, tc.o)
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestEncodeDecode(t *testing.T) {
	tok, err := NewTokenizer([]string{"hello , world ! ( a ) don't 3.5 is it ' s ."}, TokenizerOptions{})
	require.NoError(t, err)
	tests := []struct{ in, out string }{
		{"Hello , world !", "hello, world!"},
		{"( a )", "(a)"},
		{"don't", "don't"},
		{"it ' s", "it ' s"},
		{"3.5 is .", "3.5 is."},
		{"hello there", "hello <unk>"},
	}
	for _, tc := range tests {
		ids := tok.Encode(tc.in)
		assert.Equal(t, tc.out, tok.Decode(ids), "Decode(Encode(%q))", tc.in)
		if !slices.Contains(ids, TokenUnknown) {
			assert.Equal(t, ids, tok.Encode(tok.Decode(ids)), "Encode(Decode(ids)) of %q", tc.in)
		}
	}
	there := tok.Encode("there")
	assert.Equal(t, []int{TokenUnknown}, there, "unknown words become <unk>")
}

func TestEncodePrompt(t *testing.T) {
	tok, err := NewTokenizer([]string{"be brief hi hello"}, TokenizerOptions{})
	require.NoError(t, err)
	id := func(w string) int { i, ok := tok.ID(w); require.True(t, ok, w); return i }
	p := alignment.Prompt{Messages: []alignment.Message{
		{Role: alignment.RoleSystem, Content: "Be brief"},
		{Role: alignment.RoleUser, Content: "hi"},
		{Role: alignment.RoleAssistant, Content: "hello"},
		{Role: "tool", Content: "hi"},
	}}
	assert.Equal(t, []int{TokenSystem, id("be"), id("brief"), id("hi"), TokenAssistant, id("hello"), TokenUnknown, id("hi")}, tok.EncodePrompt(p))
	assert.Equal(t, []int{id("hi")}, tok.EncodePrompt(alignment.NewPrompt("x", "HI")))
	assert.Empty(t, tok.EncodePrompt(alignment.Prompt{}))
}

// FuzzTokenizer checks that splitting is stable under decoding: a tokenizer
// built from any text encodes it without <unk>, decodes it to text that
// encodes to the same IDs, and never panics.
func FuzzTokenizer(f *testing.F) {
	for _, s := range []string{"Hello, World!", "don't 3.5 (x) 1,000.", "rock'n'roll ’a’", "\xff\xfe", "İstanbul ǅ", "a .5 ,6 7, 8.", "x\u0301y \u200b z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := NewTokenizer([]string{s}, TokenizerOptions{})
		if err != nil {
			if len(Split(s)) != 0 {
				t.Fatalf("NewTokenizer(%q): %v", s, err)
			}
			return
		}
		ids := tok.Encode(s)
		if slices.Contains(ids, TokenUnknown) {
			t.Fatalf("Encode(%q) = %v has <unk> with its own vocabulary", s, ids)
		}
		text := tok.Decode(ids)
		if !utf8.ValidString(text) {
			t.Fatalf("Decode gave invalid UTF-8 %q", text)
		}
		if again := tok.Encode(text); !slices.Equal(again, ids) {
			t.Fatalf("Encode(Decode(Encode(%q))) = %v, want %v (text %q)", s, again, ids, text)
		}
	})
}
