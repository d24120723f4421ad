package alignment

import (
	"context"
	"fmt"
	"iter"
	"strings"
)

var (
	_ PromptSource  = (*SliceSource)(nil)
	_ Sized         = (*SliceSource)(nil)
	_ Fingerprinter = (*SliceSource)(nil)
)

// SliceSource is a PromptSource that yields the same prompts, in the same
// order, every iteration. It is safe for concurrent use.
type SliceSource struct {
	prompts []Prompt
}

// NewSliceSource returns a source of copies of ps. Every prompt must be
// valid (see ValidatePrompt) and have an ID no other prompt has; otherwise
// the error names the index of the first bad prompt and wraps ErrInvalid.
func NewSliceSource(ps []Prompt) (*SliceSource, error) {
	seen := make(map[string]int, len(ps))
	out := make([]Prompt, len(ps))
	for i, p := range ps {
		if err := ValidatePrompt(p); err != nil {
			return nil, fmt.Errorf("alignment: prompt %d: %w", i, err)
		}
		if j, ok := seen[p.ID]; ok {
			return nil, fmt.Errorf("alignment: prompt %d: id %q already used by prompt %d: %w", i, p.ID, j, ErrInvalid)
		}
		seen[p.ID] = i
		out[i] = p.Clone()
	}
	return &SliceSource{prompts: out}, nil
}

// Prompts implements PromptSource. It yields copies, so callers may modify
// them, and stops with ctx's error once ctx is done.
func (s *SliceSource) Prompts(ctx context.Context, iteration int) iter.Seq2[Prompt, error] {
	return func(yield func(Prompt, error) bool) {
		for _, p := range s.prompts {
			if err := ctx.Err(); err != nil {
				yield(Prompt{}, fmt.Errorf("alignment: prompts of iteration %d: %w", iteration, err))
				return
			}
			if !yield(p.Clone(), nil) {
				return
			}
		}
	}
}

// Len implements Sized.
func (s *SliceSource) Len(iteration int) int { return len(s.prompts) }

// Fingerprint implements Fingerprinter: a SHA-256 digest of the prompts,
// so that a run in an output directory notices a changed prompt set.
func (s *SliceSource) Fingerprint() string {
	return "alignment.SliceSource " + promptsDigest(s.prompts)
}

// ValidatePrompt checks that p can be asked of a policy: it has a non-empty
// ID and at least one message, every message has the role system, user or
// assistant and content that is not only white space, and the last message
// is the user's. The error says which rule p breaks and wraps ErrInvalid.
func ValidatePrompt(p Prompt) error {
	if p.ID == "" {
		return fmt.Errorf("empty id: %w", ErrInvalid)
	}
	return validateMessages(p.Messages)
}

func validateMessages(ms []Message) error {
	if len(ms) == 0 {
		return fmt.Errorf("prompt has no messages: %w", ErrInvalid)
	}
	for i, m := range ms {
		if !validRole(m.Role) {
			return fmt.Errorf("message %d has role %q, want system, user or assistant: %w", i, m.Role, ErrInvalid)
		}
		if strings.TrimSpace(m.Content) == "" {
			return fmt.Errorf("message %d (%s) is empty: %w", i, m.Role, ErrInvalid)
		}
	}
	if last := ms[len(ms)-1]; last.Role != RoleUser {
		return fmt.Errorf("last message has role %q, want user: %w", last.Role, ErrInvalid)
	}
	return nil
}

func validRole(r string) bool {
	return r == RoleSystem || r == RoleUser || r == RoleAssistant
}
