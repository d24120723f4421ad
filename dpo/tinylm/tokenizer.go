package tinylm

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/alignment"
)

// IDs of the special tokens, the same in every vocabulary. Words follow them,
// from FirstWord on.
const (
	// TokenBOS starts every sequence and pads the context window on the left.
	TokenBOS = iota
	// TokenEOS ends every completion; sampling stops when it is drawn.
	TokenEOS
	// TokenUnknown stands for every word that is not in the vocabulary.
	TokenUnknown
	// TokenSep separates a prompt from its completion.
	TokenSep
	// TokenSystem precedes the content of a system message in a prompt.
	TokenSystem
	// TokenAssistant precedes the content of an assistant message in a prompt.
	TokenAssistant
	// FirstWord is the ID of the first ordinary word of a vocabulary.
	FirstWord
)

// specials are the names of the special tokens, indexed by ID. They cannot
// come out of Split, whose "<" and ">" are tokens of their own, so text can
// never forge a special token.
var specials = [FirstWord]string{"<bos>", "<eos>", "<unk>", "<sep>", "<system>", "<assistant>"}

// Tokenizer maps text to token IDs and back with a fixed vocabulary of
// lower-cased words and punctuation marks, built from a corpus by
// NewTokenizer.
//
// # Splitting
//
// Text is lower-cased (unicode.ToLower, rune by rune) and split by Split: a
// word is a maximal run of letters, digits and combining marks, which may
// also hold an apostrophe (' or ’) between two letters ("don't") and a
// period or comma between two digits ("3.5", "1,000"). Every other rune that
// is not white space (punctuation, symbols, control characters) is a token of
// its own. White space only separates tokens.
//
// # Unknown words
//
// A token missing from the vocabulary is encoded as TokenUnknown, so a
// completion with unknown words is scored as the model's probability of
// <unk> at those positions. Decode writes special tokens by their names
// ("<unk>") and IDs outside the vocabulary as "<unk>" too.
//
// # Prompts
//
// A prompt is encoded as its messages in order, each as its content's tokens;
// system and assistant messages are preceded by TokenSystem and
// TokenAssistant, messages of other non-user roles by TokenUnknown, user
// messages by nothing, so that a single-turn prompt spends no context on
// markup. A scored or sampled sequence is
//
//	<bos> prompt <sep> completion <eos>
//
// and the model reads it through a window of the previous Context tokens,
// padded on the left with <bos>.
//
// A Tokenizer is immutable and safe for concurrent use.
type Tokenizer struct {
	words []string       // by ID, specials first
	ids   map[string]int // word → ID, specials excluded
}

// TokenizerOptions say which words of a corpus enter a vocabulary. The zero
// value keeps every word.
type TokenizerOptions struct {
	// MinCount drops words seen fewer times; values below 1 mean 1.
	MinCount int
	// MaxWords caps the number of ordinary words, keeping the most frequent
	// (ties broken by byte order); 0 means no cap.
	MaxWords int
}

// NewTokenizer builds a tokenizer whose vocabulary is the special tokens
// followed by the words of texts, most frequent first, ties in byte order.
// An empty corpus, or one whose words all fall below MinCount, is an error
// wrapping alignment.ErrInvalid.
func NewTokenizer(texts []string, o TokenizerOptions) (*Tokenizer, error) {
	if o.MaxWords < 0 {
		return nil, fmt.Errorf("tinylm: tokenizer options: MaxWords %d is negative: %w", o.MaxWords, alignment.ErrInvalid)
	}
	counts := make(map[string]int)
	for _, t := range texts {
		split(t, func(w []byte) { counts[string(w)]++ })
	}
	minCount := max(o.MinCount, 1)
	words := make([]string, 0, len(counts))
	for w, n := range counts {
		if n >= minCount {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("tinylm: corpus of %d texts has no word seen at least %d times: %w", len(texts), minCount, alignment.ErrInvalid)
	}
	slices.SortFunc(words, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if o.MaxWords > 0 && len(words) > o.MaxWords {
		words = words[:o.MaxWords]
	}
	return newTokenizerWords(words)
}

// newTokenizerWords returns a tokenizer with the given ordinary words, which
// must be distinct single tokens under Split.
func newTokenizerWords(words []string) (*Tokenizer, error) {
	t := &Tokenizer{
		words: make([]string, 0, FirstWord+len(words)),
		ids:   make(map[string]int, len(words)),
	}
	t.words = append(t.words, specials[:]...)
	for i, w := range words {
		if parts := Split(w); len(parts) != 1 || parts[0] != w {
			return nil, fmt.Errorf("tinylm: vocabulary word %d %q is not a single lower-case token: %w", i, w, alignment.ErrInvalid)
		}
		if len(w) > maxString {
			return nil, fmt.Errorf("tinylm: vocabulary word %d is %d bytes long, more than %d: %w", i, len(w), maxString, alignment.ErrInvalid)
		}
		if _, dup := t.ids[w]; dup {
			return nil, fmt.Errorf("tinylm: vocabulary word %d %q appears twice: %w", i, w, alignment.ErrInvalid)
		}
		t.ids[w] = len(t.words)
		t.words = append(t.words, w)
	}
	return t, nil
}

// Len returns the size of the vocabulary, special tokens included.
func (t *Tokenizer) Len() int { return len(t.words) }

// Words returns the vocabulary indexed by ID, special tokens included, as a
// new slice.
func (t *Tokenizer) Words() []string { return slices.Clone(t.words) }

// Token returns the text of token id: the word, the name of a special token,
// or "<unk>" for an ID outside the vocabulary.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.words) {
		return specials[TokenUnknown]
	}
	return t.words[id]
}

// ID returns the ID of word, which must be a single token as Split makes
// them (lower case), and whether the vocabulary has it. Special tokens are
// not found by name.
func (t *Tokenizer) ID(word string) (int, bool) {
	id, ok := t.ids[word]
	return id, ok
}

// Encode returns the token IDs of text, with TokenUnknown for words missing
// from the vocabulary.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	t.appendText(nil, text, func(id int32) { ids = append(ids, int(id)) })
	return ids
}

// Decode returns the text of ids: tokens separated by single spaces, except
// that closing punctuation (. , ! ? ; : ) ] } % …) follows the previous token
// directly and opening brackets ( [ { are followed directly by the next
// token. Encode(Decode(ids)) gives ids back when they are all ordinary words.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	prev := ""
	for i, id := range ids {
		w := t.Token(id)
		if i > 0 && !closing(w) && !opening(prev) {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		prev = w
	}
	return b.String()
}

// EncodePrompt returns the token IDs of p's messages, as the Tokenizer
// documentation describes, without the final TokenSep.
func (t *Tokenizer) EncodePrompt(p alignment.Prompt) []int {
	var ids []int
	t.appendPrompt(nil, p, func(id int32) { ids = append(ids, int(id)) })
	return ids
}

// appendPrompt emits the IDs of p's messages; buf is scratch space for
// lower-casing, returned for reuse.
func (t *Tokenizer) appendPrompt(buf []byte, p alignment.Prompt, emit func(int32)) []byte {
	for _, m := range p.Messages {
		switch m.Role {
		case alignment.RoleUser:
		case alignment.RoleSystem:
			emit(TokenSystem)
		case alignment.RoleAssistant:
			emit(TokenAssistant)
		default:
			emit(TokenUnknown)
		}
		buf = t.appendText(buf, m.Content, emit)
	}
	return buf
}

// appendText emits the IDs of text without allocating for words in the
// vocabulary.
func (t *Tokenizer) appendText(buf []byte, text string, emit func(int32)) []byte {
	return splitBuf(buf, text, func(w []byte) {
		if id, ok := t.ids[string(w)]; ok {
			emit(int32(id))
		} else {
			emit(TokenUnknown)
		}
	})
}

// Split returns the lower-cased tokens of text, as the Tokenizer
// documentation describes.
func Split(text string) []string {
	var out []string
	split(text, func(w []byte) { out = append(out, string(w)) })
	return out
}

func split(text string, emit func(w []byte)) {
	var scratch [64]byte
	splitBuf(scratch[:0], text, emit)
}

// splitBuf calls emit with each lower-cased token of text, built in buf
// (grown as needed and returned); emit must not keep its argument.
func splitBuf(buf []byte, text string, emit func(w []byte)) []byte {
	w := buf[:0]
	flush := func() {
		if len(w) > 0 {
			emit(w)
			w = w[:0]
		}
	}
	prev := rune(-1) // previous rune of the current word, -1 outside words
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		r = unicode.ToLower(r)
		switch {
		case isWordRune(r):
			w = utf8.AppendRune(w, r)
			prev = r
		case prev >= 0 && joins(prev, r, text[i:]):
			w = utf8.AppendRune(w, r)
			prev = -2 // a joiner needs a word rune on both sides
		case unicode.IsSpace(r):
			flush()
			prev = -1
		default:
			flush()
			w = utf8.AppendRune(w, r)
			flush()
			prev = -1
		}
	}
	flush()
	return w
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// joins reports whether r continues a word after prev because of what
// follows it in rest: an apostrophe between letters or a period or comma
// between digits.
func joins(prev, r rune, rest string) bool {
	next, _ := utf8.DecodeRuneInString(rest)
	next = unicode.ToLower(next)
	switch r {
	case '\'', '’':
		return unicode.IsLetter(prev) && unicode.IsLetter(next)
	case '.', ',':
		return unicode.IsDigit(prev) && unicode.IsDigit(next)
	}
	return false
}

func closing(w string) bool {
	switch w {
	case ".", ",", "!", "?", ";", ":", ")", "]", "}", "%", "…":
		return true
	}
	return false
}

func opening(w string) bool {
	switch w {
	case "(", "[", "{":
		return true
	}
	return false
}
