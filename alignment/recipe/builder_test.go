package recipe_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/recipe"
)

// A judge builder that fails or builds nothing stops the run at the start
// of the iteration whose policy it was given, with an error that names the
// builder, instead of a run with no judgments that looks like a plateau.
func TestRecipeJudgeBuildersFailLoudly(t *testing.T) {
	boom := errors.New("boom")
	texts := func(int, string) []string { return []string{"a", "b"} }
	judge := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{"a": {3, 1, 5}, "b": {1, 1, 1}}}
	// judgeFrom returns j for the policy of version 0 and fails as told
	// for later ones.
	judgeFrom := func(j alignment.Judge, err error) func(alignment.Policy) (alignment.Judge, error) {
		return func(p alignment.Policy) (alignment.Judge, error) {
			if p.(*rcpPolicy).version == 0 {
				return judge, nil
			}
			return j, err
		}
	}
	metaFrom := func(mj recipe.JudgmentComparer, err error) func(alignment.Policy) (recipe.JudgmentComparer, error) {
		return func(p alignment.Policy) (recipe.JudgmentComparer, error) {
			if p.(*rcpPolicy).version == 0 {
				return &nearest{truth: 3}, nil
			}
			return mj, err
		}
	}
	okMeta := metaFrom(&nearest{truth: 3}, nil)
	tests := []struct {
		name    string
		judge   func(alignment.Policy) (alignment.Judge, error)
		meta    func(alignment.Policy) (recipe.JudgmentComparer, error) // nil: SelfRewarding
		want    string
		wrapped error
	}{
		{"SelfRewarding error", judgeFrom(nil, boom), nil, "recipe: SelfRewarding.Judge: boom", boom},
		{"SelfRewarding nil", judgeFrom(nil, nil), nil, "recipe: SelfRewarding.Judge returned nil and no error", nil},
		{"SelfRewarding typed nil", judgeFrom((*metaJudge)(nil), nil), nil, "recipe: SelfRewarding.Judge returned a nil *recipe_test.metaJudge", nil},
		{"MetaRewarding judge error", judgeFrom(nil, boom), okMeta, "recipe: MetaRewarding.Judge: boom", boom},
		{"MetaRewarding judge nil", judgeFrom(nil, nil), okMeta, "recipe: MetaRewarding.Judge returned nil and no error", nil},
		{"MetaRewarding meta-judge error", judgeFrom(judge, nil), metaFrom(nil, boom), "recipe: MetaRewarding.MetaJudge: boom", boom},
		{"MetaRewarding meta-judge nil", judgeFrom(judge, nil), metaFrom(nil, nil), "recipe: MetaRewarding.MetaJudge returned nil and no error", nil},
		{"MetaRewarding meta-judge typed nil", judgeFrom(judge, nil), metaFrom((*nearest)(nil), nil),
			"recipe: MetaRewarding.MetaJudge returned a nil *recipe_test.nearest", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &alignmenttest.Recorder{}
			base := alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Trainer: &rcpTrainer{texts: texts},
				Sink: rec, Samples: 2}
			var l *alignment.Loop
			var err error
			if tt.meta == nil {
				l, err = (&recipe.SelfRewarding{Base: base, Judge: tt.judge}).Loop()
			} else {
				l, err = (&recipe.MetaRewarding{Base: base, Judge: tt.judge, MetaJudge: tt.meta}).Loop()
			}
			require.NoError(t, err)
			res, err := l.Run(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			if tt.wrapped != nil {
				assert.ErrorIs(t, err, tt.wrapped)
			}
			assert.Contains(t, err.Error(), "Loop.SelfJudge failed for iteration 1: "+tt.want)
			assert.Len(t, res.Reports, 1, "iteration 0 ran; iteration 1 stopped before its prompts")
			assert.Empty(t, rec.Pairs(alignmenttest.Iteration(1)))
		})
	}
}

// onceSource yields its prompts in iteration 0 only, as a prompt
// generator that ran dry would, and does not know its size.
type onceSource struct{ src alignment.PromptSource }

func (o onceSource) Prompts(ctx context.Context, it int) iter.Seq2[alignment.Prompt, error] {
	if it > 0 {
		return func(func(alignment.Prompt, error) bool) {}
	}
	return o.src.Prompts(ctx, it)
}

// An online DPO run given more iterations than its source has batches
// stops at the first iteration past them, which has no prompts, instead of
// training on nothing.
func TestOnlineDPOIterationsPastTheBatches(t *testing.T) {
	texts := func(v int, id string) []string {
		return []string{fmt.Sprintf("v%d good", v), fmt.Sprintf("v%d bad", v)}
	}
	o := recipe.OnlineDPO{
		Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: onceSource{rcpSource(t, "p0", "p1", "p2")},
			Trainer: &rcpTrainer{texts: texts}, Iterations: 3},
		Comparer:  alignmenttest.Scores{"v0 good": 1, "v0 bad": 0, "v1 good": 1, "v1 bad": 0},
		BatchSize: 2,
	}
	res, err := o.Run(t.Context())
	require.ErrorIs(t, err, alignment.ErrInvalid)
	assert.ErrorContains(t, err, "iteration 2 has no prompts")
	assert.Len(t, res.Reports, 2, "two batches of three prompts")
}
