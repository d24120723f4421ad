package tinylm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
	"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen"}

const refusal = "i do not know ."

// ruleTask is the data of the DPO test: prompts "what is x plus y ?", each
// answered in SFT both by the rule-following "the answer is z ." and by the
// refusal "i do not know .", and preference pairs that prefer the former.
type ruleTask struct {
	train, held []alignment.Prompt
	sft         []dpo.Sequence
	pairs       []alignment.Pair
}

func newRuleTask() ruleTask {
	var t ruleTask
	for x := range 10 {
		for y := range 10 {
			p := alignment.NewPrompt(fmt.Sprintf("%d+%d", x, y), fmt.Sprintf("what is %s plus %s ?", numberWords[x], numberWords[y]))
			if (x+y)%5 == 0 && x != y {
				t.held = append(t.held, p)
				continue
			}
			t.train = append(t.train, p)
			answer := fmt.Sprintf("the answer is %s .", numberWords[x+y])
			t.sft = append(t.sft, dpo.Sequence{Prompt: p, Completion: answer}, dpo.Sequence{Prompt: p, Completion: refusal})
			t.pairs = append(t.pairs, alignment.Pair{Prompt: p, Chosen: alignment.Response{Text: answer}, Rejected: alignment.Response{Text: refusal}})
		}
	}
	return t
}

// followRate is the fraction of samples (temperature 1) that answer with a
// number rather than refuse.
func followRate(t *testing.T, m *Model, prompts []alignment.Prompt) float64 {
	t.Helper()
	follow, total := 0, 0
	for i, p := range prompts {
		rs, err := m.Generate(t.Context(), p, alignment.SampleOptions{N: 8, Temperature: 1, MaxTokens: 12, Seed: uint64(i)})
		require.NoError(t, err)
		for _, r := range rs {
			total++
			if strings.HasPrefix(r.Text, "the answer is ") {
				follow++
			}
		}
	}
	return float64(follow) / float64(total)
}

// TestDPOFollowsRule fine-tunes a model on answers and refusals in equal
// measure, then trains it with dpo.Trainer (sigmoid loss, β = 0.1) on pairs
// that prefer the answers, and measures on held-out prompts that the rate of
// answering rises, as do the rewards/accuracies of the training epochs.
func TestDPOFollowsRule(t *testing.T) {
	ctx := t.Context()
	task := newRuleTask()
	var corpus []string
	for _, s := range task.sft {
		corpus = append(corpus, s.Prompt.Text(), s.Completion)
	}
	for _, p := range task.held {
		corpus = append(corpus, p.Text())
	}
	tok, err := NewTokenizer(corpus, TokenizerOptions{})
	require.NoError(t, err)
	m, err := New(tok, Config{Seed: 11})
	require.NoError(t, err)
	_, err = m.Fit(ctx, task.sft, FitOptions{Epochs: 8, BatchSize: 16, Seed: 12})
	require.NoError(t, err)
	before := followRate(t, m, task.held)

	tr, err := dpo.NewTrainer(&dpo.TrainerOptions{Epochs: 4, BatchSize: 16, LearningRate: 2e-3, Seed: 13}, dpo.LoadFunc(Load))
	require.NoError(t, err)
	rep, err := tr.Fit(ctx, m, task.pairs)
	require.NoError(t, err)
	after := followRate(t, m, task.held)

	first, last := rep.Epochs[0], rep.Epochs[len(rep.Epochs)-1]
	t.Logf("held-out rule-following rate %.3f → %.3f; rewards/accuracies %.3f → %.3f, margins %.3f → %.3f over %d steps",
		before, after, first.RewardsAccuracy, last.RewardsAccuracy, first.RewardsMargin, last.RewardsMargin, rep.Steps)
	assert.Greater(t, before, 0.2, "SFT on both kinds of response leaves refusals and answers likely")
	assert.Less(t, before, 0.8)
	assert.Greater(t, after, before+0.2, "DPO raises the rate of answering on held-out prompts")
	assert.Greater(t, last.RewardsAccuracy, first.RewardsAccuracy, "rewards/accuracies rises")
	assert.Greater(t, last.RewardsMargin, first.RewardsMargin, "rewards/margins rises")
}
