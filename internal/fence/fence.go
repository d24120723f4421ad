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
// ">". Because escaping removes every way of writing a closing delimiter
// for the fence's own tag, text quoted by Quote can never end its fence
// early, and whatever it says stays inside.
//
// An opening delimiter without a closing one is not a fence. Taking it for
// one would hide everything after it, and any text can end with a tag: a
// judged response ending "Score: 5" and "<br>", repeated by the judge
// model before its own verdict, would hide that verdict and have its own
// score read instead. Only Strip, whose result is kept rather than searched
// for a verdict, drops the text from such a delimiter on (a block cut
// short).
//
// # Echoes
//
// A model may also repeat what it was shown outside any fence: the judged
// text verbatim, its prompt with the escapes undone, or its prompt cut off
// by a length limit in the middle of a quotation. Mask takes the texts the
// model was shown and masks every such echo of them (see Mask), so that a
// parser reads only what the model wrote itself.
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
// included.
type Region struct {
	Start, End int
	// Tag is the tag name as written in the opening delimiter, lower-cased.
	Tag string
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
	rs, _ := regions(text)
	return rs
}

// regions returns the fenced regions of text and the offset of the first
// opening delimiter outside them that has no closing one, or -1.
func regions(text string) ([]Region, int) {
	if strings.IndexByte(text, '<') < 0 {
		return nil, -1
	}
	// One pass finds the delimiter lines; a second pairs each opening with
	// the next closing line of its tag, found through a per-tag cursor that
	// only moves forward.
	type delim struct {
		at   int // the opening's "<", or the start of the closing's line
		end  int // the end of the opening's line, or the offset just past the closing ">"
		next int // the start of the line after the closing's
		tag  string
	}
	var opens []delim
	closes := map[string][]delim{}
	for start := 0; start <= len(text); {
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		line := text[start:end]
		if at, name, ok := opening(line); ok {
			opens = append(opens, delim{at: start + at, end: end, tag: name})
		}
		if n, name, ok := closing(line); ok {
			closes[name] = append(closes[name], delim{at: start, end: start + n, next: end + 1, tag: name})
		}
		start = end + 1
	}
	var out []Region
	unclosed := -1
	next := map[string]int{}
	from := 0 // regions may not start before this offset
	for _, o := range opens {
		if o.at < from {
			continue
		}
		cs := closes[o.tag]
		k := next[o.tag]
		for k < len(cs) && cs[k].at <= o.end {
			k++
		}
		next[o.tag] = k
		if k == len(cs) {
			if unclosed < 0 {
				unclosed = o.at
			}
			continue // unclosed: no fence
		}
		out = append(out, Region{Start: o.at, End: cs[k].end, Tag: o.tag})
		from = cs[k].next
	}
	return out, unclosed
}

// Strip returns text without its fenced regions, and without everything
// from an opening delimiter that has no closing one: what Strip returns is
// kept (as a generated prompt, a critique), and a block cut short, such as
// an unfinished "<think>", is no part of it. Mask, which serves to find a
// verdict, hides nothing after an unclosed delimiter instead, lest a
// repeated tag hide the verdict. Text with nothing to strip is returned as
// is, without copying.
func Strip(text string) string {
	rs, unclosed := regions(text)
	if len(rs) == 0 && unclosed < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	at := 0
	for _, r := range rs {
		if unclosed >= 0 && r.Start > unclosed {
			break
		}
		b.WriteString(text[at:r.Start])
		at = r.End
	}
	if unclosed >= 0 {
		b.WriteString(text[at:unclosed])
	} else {
		b.WriteString(text[at:])
	}
	return b.String()
}

// Mask returns text with every byte of its fenced regions, and of every
// echo in it of one of quoted, replaced by a space, line breaks excepted.
// Offsets and line numbers in the result are those of text, which lets a
// parser report positions in the original. Text with nothing to mask is
// returned as is, without copying.
//
// Quoted are the texts the model's prompt quoted (a judged response, a
// user's request), as written before quoting. Each is compared
// with its surrounding white space trimmed, and with "&lt;" and the
// look-alikes of "<" read as "<" on both sides, so that an echo of a text
// Quote escaped matches the text, and an echo of the escaped text with the
// escapes undone matches it too; lengths below are counted so read. An
// echo is:
//
//   - an occurrence of a quoted text of at least MinEcho bytes, or, when
//     nothing but white space follows it, of at least MinTail bytes;
//   - at the end of text, a beginning of a quoted text, as a model cut off
//     by a length limit while repeating it leaves it: on the line after an
//     opening delimiter that is not itself inside an echo (an echoed
//     quotation), or at least MinTail bytes.
//
// What ends a text is where a model writes its own verdict, and a short
// quoted text ("Score: 3") may say the same words; so there only what is
// long enough not to be the model's own is taken for an echo.
func Mask(text string, quoted ...string) string {
	var b []byte
	mask := func(lo, hi int) {
		if b == nil {
			b = []byte(text)
		}
		for i := lo; i < hi; i++ {
			if b[i] != '\n' {
				b[i] = ' '
			}
		}
	}
	for _, r := range Regions(text) {
		mask(r.Start, r.End)
	}
	if len(quoted) > 0 && strings.TrimSpace(text) != "" {
		n := normalize(text)
		qs := make([]string, len(quoted))
		for i, q := range quoted {
			qs[i] = normalize(strings.TrimSpace(q)).text
			maskEchoes(n, qs[i], mask)
		}
		// An opening line inside an echo masked above is the quoted text's,
		// not the mark of a quotation the model began.
		masked := func(i int) bool { return b != nil && b[i] == ' ' }
		for _, q := range qs {
			if at := cutAt(n, q, text, masked); at >= 0 {
				mask(n.at(at), len(text))
				break
			}
		}
	}
	if b == nil {
		return text
	}
	return string(b)
}

// Lengths in bytes from which Mask takes a quoted text for an echo (see
// Mask). Shorter texts ("4", "A") are common words of a model's own
// verdict.
const (
	// MinEcho is the shortest quoted text whose occurrences are masked.
	MinEcho = 8
	// MinTail is the shortest echo masked at the end of a text, where the
	// model's own verdict stands, unless it follows an opening delimiter.
	MinTail = 64
)

// normalized is a text with "&lt;" and the look-alikes of "<" written "<",
// and the offset in the original of each of its bytes.
type normalized struct {
	text string
	pos  []int // len(text)+1 offsets, the last one the original's length
}

func normalize(s string) normalized {
	if strings.IndexByte(s, '&') < 0 && !hasLookAlike(s) {
		return normalized{text: s}
	}
	var b strings.Builder
	pos := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "&lt;") {
			b.WriteByte('<')
			pos = append(pos, i)
			i += 4
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != '<' && isOpenBracket(r) {
			b.WriteByte('<')
			pos = append(pos, i)
			i += size
			continue
		}
		for k := 0; k < size; k++ {
			pos = append(pos, i+k)
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return normalized{text: b.String(), pos: append(pos, len(s))}
}

// at returns the offset in the original of byte i of n.
func (n normalized) at(i int) int {
	if n.pos == nil {
		return i
	}
	return n.pos[i]
}

func hasLookAlike(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && isOpenBracket(r) {
			return true
		}
	}
	return false
}

// maskEchoes masks the occurrences of q, normalised, in the text whose
// normalised form is n.
func maskEchoes(n normalized, q string, mask func(lo, hi int)) {
	if len(q) < MinEcho {
		return
	}
	end := trimEnd(n.text)
	for at := 0; at+len(q) <= len(n.text); {
		i := strings.Index(n.text[at:], q)
		if i < 0 {
			break
		}
		at += i + len(q)
		if at < end || len(q) >= MinTail {
			mask(n.at(at-len(q)), n.at(at))
		}
	}
}

// cutAt returns the offset in n, the normalised form of text, of the
// longest cut-off echo of q that ends text (see Mask), or -1. masked
// reports whether a byte of text is already masked.
func cutAt(n normalized, q, text string, masked func(int) bool) int {
	if q == "" {
		return -1
	}
	end := trimEnd(n.text)
	for _, partial := range []string{"&lt", "&l", "&"} { // an escape cut in two
		if strings.HasSuffix(n.text[:end], partial) {
			end -= len(partial)
			break
		}
	}
	for l := range borders(n.text[max(0, end-len(q)+1):end], q) {
		start := end - l
		lo := n.at(start)
		lineStart := strings.LastIndexByte(text[:lo], '\n') + 1
		if l >= MinTail {
			return start
		}
		if at, ok := openingBefore(text, lineStart); ok && strings.TrimSpace(text[lineStart:lo]) == "" && !masked(at) {
			return start
		}
	}
	return -1
}

// trimEnd returns the length of s without its trailing white space.
func trimEnd(s string) int { return len(strings.TrimRightFunc(s, unicode.IsSpace)) }

// borders yields, longest first, the lengths l > 0 of the ends of s that
// are beginnings of q (the Knuth–Morris–Pratt automaton of q run over s,
// then its failure links).
func borders(s, q string) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		fail := make([]int, len(q))
		for i, k := 1, 0; i < len(q); i++ {
			for k > 0 && q[i] != q[k] {
				k = fail[k-1]
			}
			if q[i] == q[k] {
				k++
			}
			fail[i] = k
		}
		k := 0
		for i := 0; i < len(s); i++ {
			for k > 0 && (k == len(q) || s[i] != q[k]) {
				k = fail[k-1]
			}
			if s[i] == q[k] {
				k++
			}
		}
		for ; k > 0; k = fail[k-1] {
			if !yield(k) {
				return
			}
		}
	}
}

// openingBefore reports whether the line before the one starting at
// lineStart is an opening delimiter line, and the offset of its "<".
func openingBefore(text string, lineStart int) (int, bool) {
	if lineStart == 0 {
		return 0, false
	}
	ls := strings.LastIndexByte(text[:lineStart-1], '\n') + 1
	at, _, ok := opening(text[ls : lineStart-1])
	return ls + at, ok
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

// closing reports whether line starts, after spaces, with a closing
// delimiter "</name>", the offset just past it and the name.
func closing(line string) (end int, name string, ok bool) {
	t := strings.TrimLeftFunc(line, unicode.IsSpace)
	if !strings.HasPrefix(t, "<") {
		return 0, "", false
	}
	gt := strings.IndexByte(t, '>')
	if gt < 0 {
		return 0, "", false
	}
	name, isClosing, ok := delimiter(t[:gt+1])
	if !ok || !isClosing {
		return 0, "", false
	}
	return len(line) - len(t) + gt + 1, name, true
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
// outside the fenced regions of out and the echoes of quoted in it (see
// Mask) — so that a model echoing its prompt cannot supply the marker from
// quoted text — and false when there is none or the text after it is empty.
func After(out, marker string, quoted ...string) (string, bool) {
	i := strings.LastIndex(Mask(out, quoted...), marker)
	if i < 0 {
		return "", false
	}
	text := strings.TrimSpace(out[i+len(marker):])
	return text, text != ""
}
