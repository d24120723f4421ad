package taskworld

import (
	"fmt"
	"slices"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/constitution"
)

// SuiteCorrectness is the Name of [CapabilitySuite].
const SuiteCorrectness = "correctness"

// Style returns the four style rules — on-topic, concise, polite and
// well-formed — as a constitution judging on 0–5: the target of a run
// whose capability suite checks correctness apart ([CapabilitySuite]).
func Style() (*constitution.Constitution, error) {
	return rulesConstitution(RuleOnTopic, RuleConcise, RulePolite, RuleWellFormed)
}

// Correctness returns the correct rule alone as a constitution: 5 for a
// response that gives the right answer and nothing contradicting it, 0
// otherwise.
func Correctness() (*constitution.Constitution, error) {
	return rulesConstitution(RuleCorrect)
}

// CapabilityFamilies are the families whose answers are right or wrong
// as facts: arithmetic, capitals, colours and sounds.
func CapabilityFamilies() []Family {
	return []Family{FamilyArithmetic, FamilyCapital, FamilyColour, FamilySound}
}

// CapabilitySuite returns the capability suite of a run on the world, for
// alignment.Evaluation.Suites: the prompts of the tasks of the
// CapabilityFamilies (the held-out tasks, usually), judged by
// [Correctness], so that a run that trains style can show it kept the
// arithmetic and facts the model knew. No task of those families is an
// error wrapping alignment.ErrInvalid.
func CapabilitySuite(tasks []Task) (alignment.Suite, error) {
	var keep []Task
	for _, t := range tasks {
		if slices.Contains(CapabilityFamilies(), t.Facts.Family) {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		return alignment.Suite{}, fmt.Errorf("taskworld: capability suite: none of %d tasks asks arithmetic or a fact: %w", len(tasks), alignment.ErrInvalid)
	}
	c, err := Correctness()
	if err != nil {
		return alignment.Suite{}, err
	}
	return alignment.Suite{Name: SuiteCorrectness, Prompts: Prompts(keep), Judge: c}, nil
}

// rulesConstitution returns the rules with the given IDs as a
// constitution of rule principles.
func rulesConstitution(ids ...string) (*constitution.Constitution, error) {
	var ps []constitution.Principle
	for _, r := range Rules() {
		if slices.Contains(ids, r.ID) {
			ps = append(ps, constitution.Principle{ID: r.ID, Check: r.Check})
		}
	}
	c, err := constitution.New(ps...)
	if err != nil {
		return nil, fmt.Errorf("taskworld: %w", err)
	}
	return c, nil
}
