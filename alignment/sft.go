package alignment

import "context"

// Example is one supervised fine-tuning example: a prompt and the
// completion the policy should learn to give, such as Constitutional AI's
// final revision of a response.
type Example struct {
	Prompt     Prompt
	Completion string
}

// SFTTrainer is an optional capability of a trainer: supervised
// fine-tuning, which raises the likelihood of given completions instead of
// preferring one response over another. Recipes whose paper fine-tunes on
// text (SL-CAI on the final revisions, SynPO's response improver) find it
// by type assertion; lacking it, they fall back as each documents
// (ConstitutionalAI trains on revision ≻ original pairs with Train).
//
// TrainSFT is called from one goroutine at a time; it must not modify
// examples and must not keep them after returning. It may return pol
// itself, updated in place, or a new Policy. No examples is no training:
// pol is returned unchanged.
type SFTTrainer interface {
	TrainSFT(ctx context.Context, pol Policy, examples []Example) (Policy, error)
}
