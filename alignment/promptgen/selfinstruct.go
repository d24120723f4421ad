package promptgen

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

var (
	_ alignment.PromptSource = (*SelfInstruct)(nil)
	_ alignment.PromptSource = (*KeywordPrompts)(nil)
)

// DefaultSelfInstruct heads the requests of a SelfInstruct generator.
const DefaultSelfInstruct = `Come up with a new task for an AI assistant: one request a user could send, different from the tasks below. Write it on one line after the last "Task" label.`

// DefaultKeywordPrompt heads the requests of a KeywordPrompts generator.
const DefaultKeywordPrompt = `Write one request that a user could send to an AI assistant, using the keywords below. Write only the request, on one line.`

// SelfInstruct is a PromptSource that has a policy write new prompts
// few-shot from a set of seed prompts, as Self-Instruct (Wang et al., 2023)
// does and as Self-Rewarding (Yuan et al., 2024) generates its prompts:
// each request shows Shots seed prompts drawn at random, numbered "Task 1:"
// to "Task k:", and ends with "Task k+1:" for the policy to continue. The
// shots come from the seed prompts only, so that generated prompts cannot
// drift away from them over an iteration. ParseInstruction reads the new
// prompt; it is kept when its length is within bounds and it is not a
// near-duplicate of a seed prompt or of a prompt accepted before it (see
// Generation). It is safe for concurrent use.
type SelfInstruct struct {
	gen      *generator
	examples []string
	shots    int
}

// NewSelfInstruct returns a SelfInstruct generator with the settings g,
// whose requests show shots of the examples (8 when shots is 0; all of
// them when there are fewer). Examples must have text; their white space
// is collapsed to one line. The error wraps ErrInvalid and names the bad
// setting or example.
func NewSelfInstruct(g Generation, examples []alignment.Prompt, shots int) (*SelfInstruct, error) {
	gen, err := newGenerator("self-instruct", g)
	if err != nil {
		return nil, err
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("promptgen: self-instruct: no examples: %w", alignment.ErrInvalid)
	}
	if shots < 0 {
		return nil, fmt.Errorf("promptgen: self-instruct: shots is %d, want 0 (default 8) or more: %w", shots, alignment.ErrInvalid)
	}
	s := &SelfInstruct{gen: gen, shots: min(cmp.Or(shots, 8), len(examples))}
	for i, p := range examples {
		t := cleanSpace(p.Text())
		if t == "" {
			return nil, fmt.Errorf("promptgen: self-instruct: example %d (%q) has no text: %w", i, p.ID, alignment.ErrInvalid)
		}
		s.examples = append(s.examples, t)
	}
	return s, nil
}

// Prompts implements PromptSource: iteration's new prompts, generated as
// they are read. An error of the policy (after retries) is yielded and
// ends the sequence.
func (s *SelfInstruct) Prompts(ctx context.Context, iteration int) iter.Seq2[alignment.Prompt, error] {
	return func(yield func(alignment.Prompt, error) bool) {
		var p pool
		for _, e := range s.examples {
			p.add(e)
		}
		s.gen.generate(ctx, iteration, &p, func(attempt int) string { return s.request(iteration, attempt) }, yield)
	}
}

// Stats returns what the generator has done so far.
func (s *SelfInstruct) Stats() GenerationStats { return s.gen.Stats() }

func (s *SelfInstruct) request(it, attempt int) string {
	rng := s.gen.rand(it, attempt)
	var b strings.Builder
	b.WriteString(cmp.Or(s.gen.g.Instruction, DefaultSelfInstruct))
	b.WriteString("\n\n")
	for i, k := range rng.Perm(len(s.examples))[:s.shots] {
		b.WriteString("Task " + strconv.Itoa(i+1) + ": " + s.examples[k] + "\n")
	}
	b.WriteString("Task " + strconv.Itoa(s.shots+1) + ":")
	return b.String()
}

// KeywordPrompts is a PromptSource that has a policy write a prompt around
// a few keywords drawn at random from a list, as SynPO's self-prompt
// generator does (Dong et al., 2024), which makes prompts diverse without
// seed prompts. ParseInstruction reads the prompt; it is kept when its
// length is within bounds and it is not a near-duplicate of a prompt
// accepted before it (see Generation). It is safe for concurrent use.
type KeywordPrompts struct {
	gen       *generator
	keywords  []string
	perPrompt int
}

// NewKeywordPrompts returns a keyword-seeded generator with the settings
// g, drawing perPrompt keywords (3 when 0) per request from keywords,
// which must be distinct and have text. The error wraps ErrInvalid and
// names the bad setting or keyword.
func NewKeywordPrompts(g Generation, keywords []string, perPrompt int) (*KeywordPrompts, error) {
	gen, err := newGenerator("keywords", g)
	if err != nil {
		return nil, err
	}
	k := &KeywordPrompts{gen: gen, perPrompt: cmp.Or(perPrompt, 3)}
	seen := map[string]int{}
	for i, w := range keywords {
		w = cleanSpace(w)
		if w == "" {
			return nil, fmt.Errorf("promptgen: keywords: keyword %d is empty: %w", i, alignment.ErrInvalid)
		}
		if j, ok := seen[w]; ok {
			return nil, fmt.Errorf("promptgen: keywords: keyword %d (%q) repeats keyword %d: %w", i, w, j, alignment.ErrInvalid)
		}
		seen[w] = i
		k.keywords = append(k.keywords, w)
	}
	if k.perPrompt < 1 || k.perPrompt > len(k.keywords) {
		return nil, fmt.Errorf("promptgen: keywords: %d keywords per prompt from a list of %d: %w", k.perPrompt, len(k.keywords), alignment.ErrInvalid)
	}
	return k, nil
}

// Prompts implements PromptSource: iteration's new prompts, generated as
// they are read. An error of the policy (after retries) is yielded and
// ends the sequence.
func (k *KeywordPrompts) Prompts(ctx context.Context, iteration int) iter.Seq2[alignment.Prompt, error] {
	return func(yield func(alignment.Prompt, error) bool) {
		var p pool
		k.gen.generate(ctx, iteration, &p, func(attempt int) string { return k.request(iteration, attempt) }, yield)
	}
}

// Stats returns what the generator has done so far.
func (k *KeywordPrompts) Stats() GenerationStats { return k.gen.Stats() }

func (k *KeywordPrompts) request(it, attempt int) string {
	rng := k.gen.rand(it, attempt)
	var words []string
	for _, i := range rng.Perm(len(k.keywords))[:k.perPrompt] {
		words = append(words, k.keywords[i])
	}
	return cmp.Or(k.gen.g.Instruction, DefaultKeywordPrompt) + "\n\nKeywords: " + strings.Join(words, ", ") + "\nRequest:"
}
