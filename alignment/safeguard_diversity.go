package alignment

import (
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Diversity summarises how varied the responses to each prompt are, over
// the prompts of an iteration or of a held-out evaluation. Each Summary
// holds one value per prompt: Distinct1 and Distinct2 its distinct-1 and
// distinct-2 (see Distinct; prompts whose responses have no bigram are left
// out of Distinct2, and those with no word out of both), Duplicates its
// duplicate rate (see DuplicateRate). A policy collapsing onto one answer
// shows falling distinct-n and rising duplicates.
type Diversity struct {
	// Distinct1, Distinct2 and Duplicates summarise the per-prompt
	// figures named above.
	Distinct1  Summary `json:"distinct_1"`
	Distinct2  Summary `json:"distinct_2"`
	Duplicates Summary `json:"duplicates"`
}

// add records the figures of one prompt's responses.
func (d *Diversity) add(f divFigures) {
	if f.d1 >= 0 {
		d.Distinct1.Add(f.d1)
	}
	if f.d2 >= 0 {
		d.Distinct2.Add(f.d2)
	}
	d.Duplicates.Add(f.dup)
}

// Distinct returns distinct-n (Li et al., 2016, "A Diversity-Promoting
// Objective Function for Neural Conversation Models") of texts: the number
// of distinct n-grams of words divided by the number of n-grams, counted
// within each text and pooled over all. Words are separated by white
// space and compared without regard to case (Unicode simple folding, as
// strings.EqualFold). It returns ok == false when the texts hold no n-gram,
// or when n < 1.
func Distinct(texts []string, n int) (share float64, ok bool) {
	if n < 1 {
		return 0, false
	}
	sc := divPool.Get().(*divScratch)
	defer sc.release()
	sc.tokenize(len(texts), func(i int) string { return texts[i] })
	return sc.distinct(n)
}

// DuplicateRate returns the share of texts that are identical to another
// of texts once white space is collapsed and case ignored (as Distinct
// compares words): 0 when all differ, 1 when every text has a twin. It is
// 0 for fewer than two texts.
func DuplicateRate(texts []string) float64 {
	sc := divPool.Get().(*divScratch)
	defer sc.release()
	sc.tokenize(len(texts), func(i int) string { return texts[i] })
	return sc.duplicates()
}

// divFigures are the diversity figures of one prompt's responses:
// distinct-1, distinct-2 (each −1 when there is no such n-gram; no flags,
// to keep the Loop's per-prompt item small) and the duplicate rate.
type divFigures struct {
	d1, d2, dup float64
}

// measureDiversity computes the figures of m texts given by text(i). It
// allocates nothing once the pool's scratch space has grown to the size of
// the texts, which keeps the Loop's per-prompt cost flat.
func measureDiversity(m int, text func(i int) string) divFigures {
	sc := divPool.Get().(*divScratch)
	defer sc.release()
	sc.tokenize(m, text)
	f := divFigures{d1: -1, d2: -1, dup: sc.duplicates()}
	if d, ok := sc.distinct(1); ok {
		f.d1 = d
	}
	if d, ok := sc.distinct(2); ok {
		f.d2 = d
	}
	return f
}

var divPool = sync.Pool{New: func() any { return new(divScratch) }}

// divScratch holds the words of a set of texts as byte spans with hashes
// of their case-folded runes. Counting compares hashes first and confirms
// every match with strings.EqualFold, so a hash collision can never merge
// two different words.
type divScratch struct {
	texts []string
	words []word
	first []int // index in words of each text's first word; len(texts)+1 entries
	grams []gram
}

type word struct {
	text  int // index in texts
	start int // byte offsets in texts[text]
	end   int
	hash  uint64
}

// gram is the n-gram of words starting at words[at].
type gram struct {
	hash uint64
	at   int
}

// release returns sc to the pool without the texts, which the pool must
// not keep alive.
func (sc *divScratch) release() {
	clear(sc.texts)
	divPool.Put(sc)
}

func (sc *divScratch) tokenize(m int, text func(i int) string) {
	sc.texts, sc.words, sc.first = sc.texts[:0], sc.words[:0], sc.first[:0]
	for i := range m {
		t := text(i)
		sc.texts = append(sc.texts, t)
		sc.first = append(sc.first, len(sc.words))
		start, h := -1, uint64(fnvOffset)
		for j := 0; j < len(t); {
			// ASCII without decoding: model text is mostly ASCII, and this
			// runs for every prompt of a Loop.
			var c rune
			size, space := 1, false
			if b := t[j]; b < utf8.RuneSelf {
				if 'a' <= b && b <= 'z' {
					b -= 'a' - 'A' // foldRune, inlined
				}
				c, space = rune(b), asciiSpace[b]
			} else {
				c, size = utf8.DecodeRuneInString(t[j:])
				c, space = foldRune(c), unicode.IsSpace(c)
			}
			switch {
			case space && start >= 0:
				sc.words = append(sc.words, word{text: i, start: start, end: j, hash: mix64(h)})
				start, h = -1, fnvOffset
			case space:
			default:
				if start < 0 {
					start = j
				}
				h = (h ^ uint64(c)) * fnvPrime
			}
			j += size
		}
		if start >= 0 {
			sc.words = append(sc.words, word{text: i, start: start, end: len(t), hash: mix64(h)})
		}
	}
	sc.first = append(sc.first, len(sc.words))
}

// distinct counts distinct n-grams over all n-grams within each text.
func (sc *divScratch) distinct(n int) (float64, bool) {
	sc.grams = sc.grams[:0]
	for i := range len(sc.texts) {
		lo, hi := sc.first[i], sc.first[i+1]
		for at := lo; at+n <= hi; at++ {
			h := sc.words[at].hash
			for _, w := range sc.words[at+1 : at+n] {
				h = mix64(bits.RotateLeft64(h, 23) ^ w.hash)
			}
			sc.grams = append(sc.grams, gram{hash: h, at: at})
		}
	}
	total := len(sc.grams)
	if total == 0 {
		return 0, false
	}
	if total <= smallSet {
		distinct := 0
		for k, g := range sc.grams {
			seen := false
			for _, e := range sc.grams[:k] {
				if e.hash == g.hash && sc.sameWords(e.at, g.at, n) {
					seen = true
					break
				}
			}
			if !seen {
				distinct++
			}
		}
		return float64(distinct) / float64(total), true
	}
	slices.SortFunc(sc.grams, func(a, b gram) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return a.at - b.at
	})
	distinct := 0
	for lo := 0; lo < total; {
		hi := lo + 1
		for hi < total && sc.grams[hi].hash == sc.grams[lo].hash {
			hi++
		}
		// Within a run of equal hashes, an n-gram is new unless it equals
		// an earlier one of the run.
		for k := lo; k < hi; k++ {
			seen := false
			for j := lo; j < k && !seen; j++ {
				seen = sc.sameWords(sc.grams[j].at, sc.grams[k].at, n)
			}
			if !seen {
				distinct++
			}
		}
		lo = hi
	}
	return float64(distinct) / float64(total), true
}

// duplicates returns the share of texts whose word sequence equals that of
// another text.
func (sc *divScratch) duplicates() float64 {
	m := len(sc.texts)
	if m < 2 {
		return 0
	}
	dup := 0
	for i := range m {
		for j := range m {
			if i != j && sc.sameText(i, j) {
				dup++
				break
			}
		}
	}
	return float64(dup) / float64(m)
}

func (sc *divScratch) sameText(i, j int) bool {
	n := sc.first[i+1] - sc.first[i]
	if sc.first[j+1]-sc.first[j] != n {
		return false
	}
	return sc.sameWords(sc.first[i], sc.first[j], n)
}

// sameWords reports whether the n words from a equal those from b.
func (sc *divScratch) sameWords(a, b, n int) bool {
	for k := range n {
		wa, wb := sc.words[a+k], sc.words[b+k]
		if wa.hash != wb.hash {
			return false
		}
	}
	for k := range n {
		wa, wb := sc.words[a+k], sc.words[b+k]
		a, b := sc.texts[wa.text][wa.start:wa.end], sc.texts[wb.text][wb.start:wb.end]
		if a != b && !strings.EqualFold(a, b) {
			return false
		}
	}
	return true
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	// smallSet is the number of n-grams up to which distinct compares
	// every pair instead of sorting: cheaper for a few short responses.
	smallSet = 48
)

// asciiSpace marks the ASCII bytes unicode.IsSpace accepts.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// foldRune maps every rune of a simple case-folding orbit to the orbit's
// smallest member, so that two words have the same folded runes exactly
// when strings.EqualFold says they are equal ('k', 'K' and the Kelvin sign
// all map to 'K').
func foldRune(c rune) rune {
	if c < utf8.RuneSelf {
		if 'a' <= c && c <= 'z' {
			return c - 'a' + 'A'
		}
		return c
	}
	m := c
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// mix64 is the SplitMix64 finaliser.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
