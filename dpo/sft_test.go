package dpo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

// TestTrainSFTRaisesTheLikelihoodOfTheExamples checks one step against the
// hand-computed reference: the first Adam step (Kingma and Ba, 2015, Alg. 1)
// moves every parameter by lr·sign(gradient), and the gradient of the
// per-token cross-entropy of completion k on the tabular model is
// −(e_k − π)/len(k), positive for θ_k and negative for the others.
func TestTrainSFTRaisesTheLikelihoodOfTheExamples(t *testing.T) {
	m := newTabular(completions...)
	tr := newTrainer(t, &dpo.TrainerOptions{LearningRate: 0.1})
	p := alignment.NewPrompt("p", "q")
	before, _, err := m.LogProbs(t.Context(), []dpo.Sequence{{Prompt: p, Completion: "maybe so"}})
	require.NoError(t, err)
	got, err := tr.TrainSFT(t.Context(), m, []alignment.Example{{Prompt: p, Completion: "maybe so"}})
	require.NoError(t, err)
	assert.Same(t, m, got)
	assert.InDeltaSlice(t, []float32{-0.1, -0.1, 0.1, -0.1}, m.theta, 1e-5)
	after, _, err := m.LogProbs(t.Context(), []dpo.Sequence{{Prompt: p, Completion: "maybe so"}})
	require.NoError(t, err)
	assert.Greater(t, after[0], before[0])
	rep := tr.LastReport()
	require.Len(t, rep.Epochs, 1)
	assert.Equal(t, 1, rep.Steps)
	assert.InDelta(t, -before[0]/2, rep.Epochs[0].Loss, 1e-9, "the loss is per token, before the step")
}

func TestTrainSFTErrors(t *testing.T) {
	tr := newTrainer(t, nil)
	p := alignment.NewPrompt("p", "q")
	_, err := tr.TrainSFT(t.Context(), &alignmenttestPolicy{}, []alignment.Example{{Prompt: p, Completion: "no"}})
	assert.ErrorIs(t, err, dpo.ErrUnsupported)
	_, err = tr.TrainSFT(t.Context(), newTabular(completions...), []alignment.Example{{Prompt: p, Completion: "unknown words"}})
	assert.Error(t, err)
	m := newTabular(completions...)
	got, err := tr.TrainSFT(t.Context(), m, nil)
	require.NoError(t, err)
	assert.Same(t, m, got)
	assert.Equal(t, make([]float32, len(completions)), m.theta, "no examples is no training")
}
