package alignment

import "context"

// Group is every scored response to one prompt, the unit that group
// policy-gradient trainers (GRPO, RLOO) learn from: each response's reward
// is compared with its siblings' instead of being reduced to one pair.
type Group struct {
	Prompt Prompt
	// Responses holds the prompt's responses with their scores, in the
	// order they were sampled.
	Responses []Scored
	// Iteration is the Loop iteration that produced the group, from 0.
	Iteration int
}

// GroupTrainer is a trainer that learns from scored groups rather than
// preference pairs. It is an optional capability beside Trainer: the Loop
// gives a Trainer that is also a GroupTrainer every judged prompt's scored
// responses, as Groups, in place of the pairs its Selector would make, so
// that no score is lost to pair selection (the pairs are still written to
// the sinks). Without Loop.Dir the groups are kept in memory for the
// iteration; with it they are journaled to Dir/groups.jsonl beside the
// pairs, and TrainGroups gets the groups read back from it, so that a run
// resumed after a crash trains on exactly the groups of an uninterrupted
// one. Lacking it, the Loop trains on pairs through Train.
//
// TrainGroups is called from one goroutine at a time. It returns promptly
// with ctx's error once ctx is done. It must not modify groups or anything
// they hold, and must not keep them after returning. It may return pol
// itself, updated in place, or a new Policy.
type GroupTrainer interface {
	TrainGroups(ctx context.Context, pol Policy, groups []Group) (Policy, error)
}
