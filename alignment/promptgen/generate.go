// Package promptgen makes prompts with a policy, as the papers grow their
// prompt sets: [SelfInstruct] writes new tasks few-shot from seed prompts
// (Self-Instruct, as Self-Rewarding generates its prompts),
// [KeywordPrompts] writes one request around sampled keywords, and
// [Inversion] writes the request that a given text answers, then pairs a
// fresh answer over that text (its Pairs method is an alignment.Loop
// Extra hook). Each is an alignment.PromptSource, deterministic under its
// seed, and filters what it keeps by length and by overlap with the
// prompts it already has ([GenerationStats] counts what was dropped and
// why). [ParseInstruction] reads a generated prompt out of a model's
// output.
package promptgen

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
	"github.com/selfalign/selfalign/internal/seeds"
)

// ErrUnparsable says a policy's output holds no usable generated prompt. It
// is alignment.ErrUnparsable, the one sentinel of the module for model
// output that cannot be read.
var ErrUnparsable = alignment.ErrUnparsable

// Generation holds the settings shared by the prompt generators
// (SelfInstruct, KeywordPrompts): which policy writes the prompts, how many
// an iteration has, how they are sampled and which are kept.
//
// Generators are deterministic: prompt i of iteration it comes from
// policy calls whose seeds derive from (Seed, iteration, attempt), and has
// an ID derived from (Seed, iteration, i). A Loop resumed on an output
// directory reads a source again and checks the ID at the resume point, so
// the policy must honour SampleOptions.Seed and must not change during the
// run: use a separate model, or a copy of the one being trained.
type Generation struct {
	// Policy writes the prompts. Required.
	Policy alignment.Policy
	// Instruction heads every request to the policy; empty means the
	// generator's default (DefaultSelfInstruct, DefaultKeywordPrompt,
	// DefaultInversion). It is sent as written, never run as a template.
	Instruction string
	// Count is the number of prompts wanted per iteration. Required.
	Count int
	// Sampling holds the decoding options of the policy's calls; N and
	// Seed are set per call. A temperature above 0 lets attempts differ.
	Sampling alignment.SampleOptions
	// Seed seeds the generation and the prompt IDs.
	Seed uint64
	// MinWords and MaxWords bound a prompt's length in words (WordCount);
	// defaults 2 and 150.
	MinWords, MaxWords int
	// MaxOverlap is the largest word-bigram Jaccard similarity a new prompt
	// may have with any prompt already in the pool (the seed prompts, if
	// any, and the prompts accepted so far in the iteration); default 0.7.
	// Exact repeats, ignoring letter case, punctuation and spacing, are
	// always dropped.
	MaxOverlap float64
	// MaxAttempts bounds the policy calls of one iteration; default
	// 4·Count. An iteration whose attempts run out yields the prompts it
	// accepted, fewer than Count, and Stats says why the others failed.
	MaxAttempts int
	// Retry says how transient failures of the policy are retried.
	Retry alignment.Retry
}

// GenerationStats counts what a prompt generator has done since it was
// built, across iterations.
type GenerationStats struct {
	// Attempts counts policy calls; Accepted the prompts yielded.
	Attempts, Accepted int
	// Unparsable counts outputs with no usable prompt in them; TooShort
	// and TooLong prompts outside the length bounds; Duplicates prompts too
	// close to one already in the pool.
	Unparsable, TooShort, TooLong, Duplicates int
}

// labelRE matches what a model may put before a generated prompt, any
// number of them: a label ("Task 4:", "Instruction:", "**Prompt:**"),
// a list marker ("1.", "2)", "-"), quotes and markdown marks.
var labelRE = regexp.MustCompile(`^(?i)(?:[\s*_#>"'` + "`" + `“”‘’]+|(?:task|instruction|prompt|question|request|query|user)\s*#?\s*\d*\s*[*_]*:|\d+[.)](?:\s|$)|[-•](?:\s|$))+`)

// ParseInstruction returns the prompt a policy wrote in output: the first
// line with text outside fenced regions (see internal/fence), without a
// leading label such as "Task 4:", "Instruction:" or a list marker,
// without surrounding quotes or emphasis marks, cut before a further
// "Task 5:" on the same line, with control characters and runs of white
// space made single spaces and invalid UTF-8 dropped. A line that is still
// not clean after a few rounds of this (nested labels, quotes and fence
// tags, which no honest output has) is skipped, so the result always
// parses back as itself and parsing takes linear time. An output with no
// usable line gives an error wrapping ErrUnparsable.
func ParseInstruction(output string) (string, error) {
	text := fence.Strip(strings.ToValidUTF8(output, ""))
	for line := range strings.Lines(text) {
		s := cleanSpace(line)
		for range 3 {
			s = cleanLine(s)
		}
		if s != "" && cleanLine(s) == s {
			return s, nil
		}
	}
	return "", fmt.Errorf("promptgen: no prompt in the policy's output (%d bytes): %w", len(output), ErrUnparsable)
}

// cleanLine is one round of cleaning a line of output: labels, a further
// task, fenced text and surrounding quotes and marks go.
func cleanLine(s string) string {
	s = labelRE.ReplaceAllString(s, "")
	s = s[:nextLabel(s)]
	s = strings.TrimSpace(fence.Strip(s))
	return strings.TrimRight(s, "\"'`*_“”‘’ ")
}

// nextLabel returns where a further numbered task starts in s, as in "…
// Task 5: …" where a model continued the list on the same line: a word
// "task" or "instruction" in any letter case, optional spaces and "#",
// digits, optional spaces and a colon. It returns len(s) when there is
// none. A scan by hand: the regular expression took most of the parse.
func nextLabel(s string) int {
	for i := 0; i < len(s); i++ {
		if i > 0 && isWordByte(s[i-1]) {
			continue
		}
		j := i
		switch {
		case hasFoldPrefix(s[i:], "task"):
			j += len("task")
		case hasFoldPrefix(s[i:], "instruction"):
			j += len("instruction")
		default:
			continue
		}
		j = skipSpaces(s, j)
		if j < len(s) && s[j] == '#' {
			j = skipSpaces(s, j+1)
		}
		d := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == d {
			continue
		}
		if j = skipSpaces(s, j); j < len(s) && s[j] == ':' {
			return i
		}
	}
	return len(s)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// cleanSpace turns control characters and runs of white space into single
// spaces and trims the ends.
func cleanSpace(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// generator is the machinery shared by the prompt generators: settings
// with defaults, statistics, and the filters.
type generator struct {
	g           Generation
	kind        string
	mu          sync.Mutex
	stats       GenerationStats
	minW, maxW  int
	overlap     float64
	maxAttempts int
	retry       alignment.Retry
}

func newGenerator(kind string, g Generation) (*generator, error) {
	bad := func(why string) error { return fmt.Errorf("promptgen: %s: %s: %w", kind, why, alignment.ErrInvalid) }
	switch {
	case g.Policy == nil:
		return nil, bad("Policy is nil")
	case g.Count < 1:
		return nil, bad(fmt.Sprintf("Count is %d, want at least 1", g.Count))
	case g.MinWords < 0 || g.MaxWords < 0 || g.MaxAttempts < 0:
		return nil, bad("MinWords, MaxWords and MaxAttempts must not be negative")
	case !(g.MaxOverlap >= 0 && g.MaxOverlap <= 1):
		return nil, bad(fmt.Sprintf("MaxOverlap is %v, want a share in [0, 1]", g.MaxOverlap))
	}
	gen := &generator{g: g, kind: kind, minW: cmp.Or(g.MinWords, 2), maxW: cmp.Or(g.MaxWords, 150),
		overlap: cmp.Or(g.MaxOverlap, 0.7), maxAttempts: cmp.Or(g.MaxAttempts, 4*g.Count), retry: g.Retry}
	if gen.minW > gen.maxW {
		return nil, bad(fmt.Sprintf("MinWords %d is above MaxWords %d", gen.minW, gen.maxW))
	}
	return gen, nil
}

// Stats returns the counts so far.
func (gen *generator) Stats() GenerationStats {
	gen.mu.Lock()
	defer gen.mu.Unlock()
	return gen.stats
}

func (gen *generator) count(f func(*GenerationStats)) {
	gen.mu.Lock()
	defer gen.mu.Unlock()
	f(&gen.stats)
}

// ask has the policy answer the request text of one attempt and parses
// the prompt from its output; it returns "" with a nil error when the
// output holds none.
func (gen *generator) ask(ctx context.Context, it, attempt int, request string) (string, error) {
	o := gen.g.Sampling
	o.N = 1
	o.Seed = seeds.Derive(gen.g.Seed, gen.kind, "attempt", strconv.Itoa(it), strconv.Itoa(attempt))
	req := alignment.NewPrompt(fmt.Sprintf("%s-request-%d-%d", gen.kind, it, attempt), request)
	var out []alignment.Response
	err := gen.retry.Do(ctx, func(ctx context.Context) (err error) {
		out, err = alignment.SampleN(ctx, gen.g.Policy, req, o)
		return err
	}, nil)
	gen.count(func(s *GenerationStats) { s.Attempts++ })
	if err != nil {
		return "", fmt.Errorf("promptgen: %s: iteration %d, attempt %d: %w", gen.kind, it, attempt, err)
	}
	text, err := ParseInstruction(out[0].Text)
	if err != nil {
		gen.count(func(s *GenerationStats) { s.Unparsable++ })
		return "", nil
	}
	return text, nil
}

// promptID returns the ID of prompt index of iteration it.
func (gen *generator) promptID(it, index int) string {
	h := seeds.Derive(gen.g.Seed, gen.kind, "id", strconv.Itoa(it), strconv.Itoa(index))
	return fmt.Sprintf("%s-%d-%d-%06x", gen.kind, it, index, h&0xffffff)
}

// rand returns the generator of an attempt's choices.
func (gen *generator) rand(it, attempt int) *rand.Rand {
	return seeds.Rand(seeds.Derive(gen.g.Seed, gen.kind, "choose", strconv.Itoa(it), strconv.Itoa(attempt)))
}

// pool holds the prompts a new one must not repeat.
type pool struct {
	keys    map[string]bool
	bigrams []map[string]bool
}

func (p *pool) add(text string) {
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	words := overlapWords(text)
	p.keys[strings.Join(words, " ")] = true
	p.bigrams = append(p.bigrams, bigrams(words))
}

// admit checks text against the length bounds and the pool, counts a
// rejection, and adds an admitted text to the pool.
func (gen *generator) admit(p *pool, text string) bool {
	n := alignment.WordCount(text)
	words := overlapWords(text)
	var reject func(*GenerationStats)
	switch {
	case n < gen.minW:
		reject = func(s *GenerationStats) { s.TooShort++ }
	case n > gen.maxW:
		reject = func(s *GenerationStats) { s.TooLong++ }
	case p.keys[strings.Join(words, " ")]:
		reject = func(s *GenerationStats) { s.Duplicates++ }
	default:
		b := bigrams(words)
		for _, q := range p.bigrams {
			if jaccard(b, q) > gen.overlap {
				reject = func(s *GenerationStats) { s.Duplicates++ }
				break
			}
		}
	}
	if reject != nil {
		gen.count(reject)
		return false
	}
	p.add(text)
	gen.count(func(s *GenerationStats) { s.Accepted++ })
	return true
}

// overlapWords returns the lower-cased runs of letters and digits of s.
func overlapWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// bigrams returns the set of word bigrams of words, with the start and end
// marked so that one-word texts have bigrams too.
func bigrams(words []string) map[string]bool {
	out := make(map[string]bool, len(words)+1)
	prev := "\x00"
	for _, w := range words {
		out[prev+" "+w] = true
		prev = w
	}
	out[prev+" \x00"] = true
	return out
}

// jaccard returns |a∩b| / |a∪b|.
func jaccard(a, b map[string]bool) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// generate runs the attempts of iteration it, asking for request(attempt)
// each time, and yields the admitted prompts until Count of them or
// MaxAttempts.
func (gen *generator) generate(ctx context.Context, it int, p *pool, request func(attempt int) string, yield func(alignment.Prompt, error) bool) {
	index := 0
	for attempt := 0; attempt < gen.maxAttempts && index < gen.g.Count; attempt++ {
		if err := ctx.Err(); err != nil {
			yield(alignment.Prompt{}, fmt.Errorf("promptgen: %s: iteration %d: %w", gen.kind, it, err))
			return
		}
		text, err := gen.ask(ctx, it, attempt, request(attempt))
		if err != nil {
			yield(alignment.Prompt{}, err)
			return
		}
		if text == "" || !gen.admit(p, text) {
			continue
		}
		if !yield(alignment.NewPrompt(gen.promptID(it, index), text), nil) {
			return
		}
		index++
	}
}
