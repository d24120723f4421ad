package judge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/promptgen"
	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/judge"
	"github.com/selfalign/selfalign/sampler"
)

// TestOneVocabulary checks that every package reports invalid input with
// alignment.ErrInvalid and unreadable model output with
// alignment.ErrUnparsable, and that the packages' own names for them are
// the same values.
func TestOneVocabulary(t *testing.T) {
	ctx := context.Background()
	same := map[string][2]error{
		"judge.ErrInvalid":           {judge.ErrInvalid, alignment.ErrInvalid},
		"constitution.ErrInvalid":    {constitution.ErrInvalid, alignment.ErrInvalid},
		"sampler.ErrInvalid":         {sampler.ErrInvalid, alignment.ErrInvalid},
		"judge.ErrUnparsable":        {judge.ErrUnparsable, alignment.ErrUnparsable},
		"constitution.ErrUnparsable": {constitution.ErrUnparsable, alignment.ErrUnparsable},
		"promptgen.ErrUnparsable":    {promptgen.ErrUnparsable, alignment.ErrUnparsable},
	}
	for name, pair := range same {
		assert.Same(t, pair[1], pair[0], name) // the same value, not an equal one
	}
	undecided := &alignmenttest.Script{Default: []string{"I cannot decide."}}
	comparer, err := constitution.NewComparer(undecided, constitution.Default(), nil)
	assert.NoError(t, err)
	rubric, err := judge.NewRubric(undecided, nil)
	assert.NoError(t, err)
	p, r := alignment.NewPrompt("q", "What is 2+2?"), alignment.Response{Text: "4"}

	invalid := map[string]error{
		"judge.NewRubric":           second(judge.NewRubric(nil, nil)),
		"judge.NewMeta":             second(judge.NewMeta(undecided, &judge.MetaOptions{Prior: -1})),
		"judge.ParseVerdict":        second(judge.ParseVerdict("Verdict: A", "A")),
		"constitution.New":          second(constitution.New()),
		"constitution.NewReviser":   second(constitution.NewReviser(nil, nil, nil)),
		"sampler.NewStandard":       second(sampler.NewStandard(nil, sampler.Options{})),
		"sampler.NewEnsemble":       second(sampler.NewEnsemble()),
		"sampler.ErrScore":          sampler.ErrScore,
		"promptgen.NewSelfInstruct": second(promptgen.NewSelfInstruct(promptgen.Generation{}, nil, 0)),
		"dpo.Sigmoid.Validate":      dpo.Sigmoid{Beta: -1}.Validate(),
	}
	for name, err := range invalid {
		assert.ErrorIs(t, err, alignment.ErrInvalid, name)
	}
	unparsable := map[string]error{
		"judge.ParseScore":           second(judge.ParseScore("no score here", 0, 5)),
		"judge.ParseVerdict":         second(judge.ParseVerdict("no verdict here")),
		"judge.Rubric.Judge":         second(rubric.Judge(ctx, p, r)),
		"constitution.Comparer":      second(comparer.Compare(ctx, p, r, alignment.Response{Text: "5"})),
		"promptgen.ParseInstruction": second(promptgen.ParseInstruction("")),
	}
	for name, err := range unparsable {
		assert.ErrorIs(t, err, alignment.ErrUnparsable, name)
		assert.False(t, errors.Is(err, alignment.ErrInvalid), name)
	}
}

func second[T any](_ T, err error) error { return err }
