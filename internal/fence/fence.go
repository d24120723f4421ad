// Package fence quotes untrusted text (a judged response, a user prompt)
// for inclusion in a judge's prompt, and finds quoted regions again in a
// model's output so that parsers can ignore them.
//
// # Scheme
//
// Quote(tag, text) returns
//
//	<tag>
//	text, escaped
//	</tag>
//
// with each delimiter on a line of its own. Escaping replaces the "<" that
// starts anything the text could use to open or close the fence by "&lt;".
// "Anything" is deliberately broad: a "<" (or one of the look-alikes ＜ ﹤ ‹
// 〈 〈 ⟨ ˂ ᐸ) followed by optional whitespace or invisible characters, an
// optional "/" (or a look-alike ∕ ／ ⁄ ⧸), more optional whitespace and then
// the tag name in any letter case, whatever follows it. So "</tag>",
// "</TAG >", "< / Tag>", "<tag attr>" and "<tags>" are all neutralised, in
// the middle of a line as well as on a line of their own. Escaping is not
// reversible and need not be: the quoted text is read by a model, not
// decoded.
//
// Regions, Strip and Mask recognise a fence in a model's output (which may
// echo its prompt) as an opening delimiter <name> that ends a line (alone on
// it, or after a space or a colon) and the next closing delimiter </name>
// that starts a line, for any tag name, any letter case and any spaces
// inside the brackets; the region runs from the opening "<" to the closing
// ">". Because escaping removes every
// way of writing a closing delimiter for the fence's own tag, text quoted by
// Quote can never end its fence early, and whatever it says stays inside. An
// opening line without a closing one fences everything to the end of the
// text: a parser then sees nothing rather than something an attacker wrote.
//
// Recognising every tag name means that a model's own block such as
// "<think>" ... "</think>" on lines of their own is also skipped; verdict
// parsers want that (reasoning comes before the final answer). A model that
// puts its final answer alone inside such a block is not read.
package fence

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Region is the byte range [Start, End) of one fenced region of a text,
// from the "<" of its opening delimiter to the ">" of its closing one
// included, or to the end of the text when the fence is not closed.
type Region struct {
	Start, End int
	// Tag is the tag name as written in the opening delimiter, lower-cased.
	Tag string
	// Closed is false when the text ended before the closing delimiter.
	Closed bool
}

// Quote returns text fenced between <tag> and </tag> lines, with every
// occurrence of anything resembling either delimiter inside text
// neutralised (see the package doc). The delimiters of the tags in also are
// neutralised too: a prompt that fences several texts passes all its tags,
// so that no text can even appear to close or open a neighbour's fence to
// the model reading it. Tags are first normalised by Tag.
func Quote(tag, text string, also ...string) string {
	tag = Tag(tag)
	var b strings.Builder
	b.Grow(len(text) + 2*len(tag) + 8)
	b.WriteString("<")
	b.WriteString(tag)
	b.WriteString(">\n")
	tags := []string{tag}
	for _, t := range also {
		tags = append(tags, Tag(t))
	}
	writeEscaped(&b, tags, text)
	b.WriteString("\n</")
	b.WriteString(tag)
	b.WriteString(">")
	return b.String()
}

// Escape returns text with every delimiter-like sequence for tag (and the
// tags in also) neutralised, as Quote does, without adding the delimiters.
func Escape(tag, text string, also ...string) string {
	var b strings.Builder
	b.Grow(len(text))
	tags := []string{Tag(tag)}
	for _, t := range also {
		tags = append(tags, Tag(t))
	}
	writeEscaped(&b, tags, text)
	return b.String()
}

// Tag normalises a tag name to the form fences use: lower-case ASCII
// letters, digits, '_' and '-', starting with a letter. Other characters
// become '-', a name not starting with a letter gets the prefix "q", and an
// empty name becomes "quote". Quote and Escape apply it, so a caller's tag is
// never silently mismatched between quoting and escaping.
func Tag(tag string) string {
	ok := tag != "" && isLower(tag[0])
	for i := 0; ok && i < len(tag); i++ {
		ok = isTagByte(tag[i]) && !(tag[i] >= 'A' && tag[i] <= 'Z')
	}
	if ok {
		return tag
	}
	if tag == "" {
		return "quote"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(tag) {
		if r < utf8.RuneSelf && isTagByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if !isLower(s[0]) {
		s = "q" + s
	}
	return s
}

// Regions returns the fenced regions of text in order. See the package doc
// for what is recognised. It runs in time linear in len(text).
func Regions(text string) []Region {
	if strings.IndexByte(text, '<') < 0 {
		return nil
	}
	var out []Region
	var open *Region
	for start := 0; start <= len(text); {
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		line := text[start:end]
		if open == nil {
			if at, name, ok := opening(line); ok {
				open = &Region{Start: start + at, Tag: name}
			}
		} else if n, ok := closing(line, open.Tag); ok {
			open.End, open.Closed = start+n, true
			out = append(out, *open)
			open = nil
		}
		start = end + 1
	}
	if open != nil {
		open.End = len(text)
		out = append(out, *open)
	}
	return out
}

// Strip returns text without its fenced regions. Text with no fence is returned
// as is, without copying.
func Strip(text string) string {
	rs := Regions(text)
	if len(rs) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	at := 0
	for _, r := range rs {
		b.WriteString(text[at:r.Start])
		at = r.End
	}
	b.WriteString(text[at:])
	return b.String()
}

// Mask returns text with every byte of its fenced regions except line
// breaks replaced by a space. Offsets and line numbers in the result are
// those of text, which lets a parser report positions in the original. Text
// with no fence is returned as is, without copying.
func Mask(text string) string {
	rs := Regions(text)
	if len(rs) == 0 {
		return text
	}
	b := []byte(text)
	for _, r := range rs {
		for i := r.Start; i < r.End; i++ {
			if b[i] != '\n' {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// opening reports whether line ends with an opening delimiter "<name>"
// that starts the line or follows a space or a colon, and where it starts.
// Requiring that separation keeps inline markup such as "text<br>" from
// opening a fence.
func opening(line string) (at int, name string, ok bool) {
	t := strings.TrimRightFunc(line, unicode.IsSpace)
	if !strings.HasSuffix(t, ">") {
		return 0, "", false
	}
	at = strings.LastIndexByte(t, '<')
	if at < 0 {
		return 0, "", false
	}
	name, isClosing, ok := delimiter(t[at:])
	if !ok || isClosing {
		return 0, "", false
	}
	if before := strings.TrimRightFunc(t[:at], unicode.IsSpace); before != "" && len(before) == at && before[at-1] != ':' {
		return 0, "", false
	}
	return at, name, true
}

// closing reports whether line starts, after spaces, with the closing
// delimiter "</tag>", and the offset just past it.
func closing(line, tag string) (end int, ok bool) {
	t := strings.TrimLeftFunc(line, unicode.IsSpace)
	if !strings.HasPrefix(t, "<") {
		return 0, false
	}
	gt := strings.IndexByte(t, '>')
	if gt < 0 {
		return 0, false
	}
	name, isClosing, ok := delimiter(t[:gt+1])
	if !ok || !isClosing || name != tag {
		return 0, false
	}
	return len(line) - len(t) + gt + 1, true
}

// delimiter reports whether s is a fence delimiter: "<name>" or "</name>"
// with optional spaces inside the brackets and a name of ASCII letters,
// digits, '_', '-', '.' or ':' starting with a letter. The name is returned
// lower-cased.
func delimiter(s string) (name string, closing, ok bool) {
	if len(s) < 3 || s[0] != '<' || s[len(s)-1] != '>' {
		return "", false, false
	}
	in := strings.TrimSpace(s[1 : len(s)-1])
	if strings.HasPrefix(in, "/") {
		closing = true
		in = strings.TrimSpace(in[1:])
	}
	if in == "" || !isLetter(in[0]) {
		return "", false, false
	}
	for i := 0; i < len(in); i++ {
		if !isTagByte(in[i]) && in[i] != '.' && in[i] != ':' {
			return "", false, false
		}
	}
	return strings.ToLower(in), closing, true
}

// writeEscaped writes text to b with the opening bracket of every
// delimiter-like sequence for any of tags replaced by "&lt;".
func writeEscaped(b *strings.Builder, tags []string, text string) {
	at := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isOpenBracket(r) && startsAny(text[i+size:], tags) {
			b.WriteString(text[at:i])
			b.WriteString("&lt;")
			at = i + size
		}
		i += size
	}
	b.WriteString(text[at:])
}

func startsAny(s string, tags []string) bool {
	for _, t := range tags {
		if startsDelimiter(s, t) {
			return true
		}
	}
	return false
}

// startsDelimiter reports whether s, the text after an opening bracket,
// continues as a delimiter for tag: ignorable characters, an optional slash,
// ignorable characters, then tag in any case (Unicode simple folding, so
// that the Kelvin sign matches k).
func startsDelimiter(s, tag string) bool {
	s = skipIgnorable(s)
	if r, size := utf8.DecodeRuneInString(s); isSlash(r) {
		s = skipIgnorable(s[size:])
	}
	for _, t := range tag {
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || !equalFold(r, t) {
			return false
		}
		s = s[size:]
	}
	return true
}

func skipIgnorable(s string) string {
	for s != "" {
		r, size := utf8.DecodeRuneInString(s)
		if !unicode.IsSpace(r) && !isInvisible(r) {
			break
		}
		s = s[size:]
	}
	return s
}

func equalFold(r, t rune) bool {
	if r == t {
		return true
	}
	for f := unicode.SimpleFold(t); f != t; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}

// isOpenBracket accepts '<' and characters a model might read as one.
func isOpenBracket(r rune) bool {
	switch r {
	case '<', '\uFF1C', '\uFE64', '\u2039', '\u2329', '\u3008', '\u27E8', '\u02C2', '\u1438':
		return true
	}
	return false
}

func isSlash(r rune) bool {
	switch r {
	case '/', '\u2215', '\uFF0F', '\u2044', '\u29F8':
		return true
	}
	return false
}

// isInvisible accepts format characters that render as nothing (zero-width
// space and joiners, word joiner, byte-order mark, soft hyphen, ...).
func isInvisible(r rune) bool {
	return unicode.Is(unicode.Cf, r)
}

func isLetter(c byte) bool { return isLower(c) || c >= 'A' && c <= 'Z' }

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func isTagByte(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// After returns the trimmed text after the last occurrence of marker
// outside the fenced regions of out — so that a model echoing its prompt
// cannot supply the marker from quoted text — and false when there is none
// or the text after it is empty.
func After(out, marker string) (string, bool) {
	i := strings.LastIndex(Mask(out), marker)
	if i < 0 {
		return "", false
	}
	text := strings.TrimSpace(out[i+len(marker):])
	return text, text != ""
}
