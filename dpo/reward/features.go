package reward

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Feature kinds, mixed into each feature's hash so that, say, a response
// word and the same word in a bigram are different features.
const (
	kindWord     = 'w' // a response token
	kindBigram   = 'b' // two adjacent response tokens, with start and end marks
	kindLength   = 'n' // the response's length in tokens, capped
	kindRepeat   = 'r' // a response token that occurs more than once
	kindCross    = 'x' // a prompt word with a response word
	kindCrossBig = 'y' // a prompt word bigram with a response word
	kindEnd      = 'e' // whether the response ends with a word, a mark or nothing
	kindOverlap  = 'o' // how many response words occur in the prompt, capped
)

// maxOverlapFeature caps the overlap feature.
const maxOverlapFeature = 3

// maxLengthFeature caps the length feature: longer responses share one.
const maxLengthFeature = 32

// promptWindow is how many of the prompt's last tokens the cross features
// read: a question sits at the end of its prompt.
const promptWindow = 12

// Tokens splits text into the model's tokens: lower-cased runs of letters,
// digits and apostrophes, and every other character that is not a space as
// a token of its own.
func Tokens(text string) []string {
	var out []string
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			out = append(out, word.String())
			word.Reset()
		}
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			word.WriteRune(r)
		case unicode.IsSpace(r):
			flush()
		default:
			flush()
			out = append(out, string(r))
		}
	}
	flush()
	return out
}

// Feature is one non-zero entry of a sparse feature vector.
type Feature struct {
	Index int
	Value float64
}

// Features returns φ(prompt, response) for a model of dim buckets: the
// hashed features of the package documentation, each of value 1, summed
// where two hash to the same bucket, sorted by Index. dim must be at least 1.
func Features(prompt, response string, dim int) []Feature {
	pt, rt := Tokens(prompt), Tokens(response)
	if len(pt) > promptWindow {
		pt = pt[len(pt)-promptWindow:]
	}
	var idx []int
	add := func(h uint64) { idx = append(idx, int(h%uint64(dim))) }
	seq := append(append([]string{"^"}, rt...), "$")
	seen := map[string]int{}
	for _, t := range rt {
		add(hash(kindWord, t))
		if seen[t]++; seen[t] == 2 {
			add(hash(kindRepeat, t)) // once per token that recurs
		}
	}
	for i := 1; i < len(seq); i++ {
		add(hash(kindBigram, seq[i-1], seq[i]))
	}
	add(hash(kindLength, strconv.Itoa(min(len(rt), maxLengthFeature))))
	end := "none"
	if n := len(rt); n > 0 {
		end = "mark"
		if isWord(rt[n-1]) {
			end = "word"
		}
	}
	add(hash(kindEnd, end))
	overlap := 0
	for _, r := range rt {
		if !isWord(r) {
			continue
		}
		if slices.Contains(pt, r) {
			overlap++
		}
		for i, p := range pt {
			if !isWord(p) {
				continue
			}
			add(hash(kindCross, p, r))
			if i+1 < len(pt) {
				add(hash(kindCrossBig, p, pt[i+1], r))
			}
		}
	}
	add(hash(kindOverlap, strconv.Itoa(min(overlap, maxOverlapFeature))))
	slices.Sort(idx)
	var out []Feature
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1].Index == i {
			out[n-1].Value++
			continue
		}
		out = append(out, Feature{Index: i, Value: 1})
	}
	return out
}

// isWord reports whether a token is a word rather than a mark.
func isWord(t string) bool {
	for _, r := range t {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\''
	}
	return false
}

// hash is 64-bit FNV-1a over the kind and the parts, each part followed by
// a byte that no UTF-8 text holds, so that ("ab", "c") and ("a", "bc")
// differ.
func hash(kind byte, parts ...string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	h = (h ^ uint64(kind)) * prime
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * prime
		}
		h = (h ^ 0xff) * prime
	}
	return h
}
