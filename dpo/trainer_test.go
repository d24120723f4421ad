package dpo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo"
)

var completions = []string{"yes indeed it is", "no", "maybe so", "perhaps not today"}

// rulePairs returns n pairs that prefer the first completion to one of the
// others, over distinct prompts.
func rulePairs(n int) []alignment.Pair {
	ps := make([]alignment.Pair, n)
	for i := range ps {
		ps[i] = alignment.Pair{
			Prompt:   alignment.NewPrompt(fmt.Sprintf("p%d", i), fmt.Sprintf("question %d?", i)),
			Chosen:   alignment.Response{Text: completions[0]},
			Rejected: alignment.Response{Text: completions[1+i%3]},
		}
	}
	return ps
}

func newTrainer(t *testing.T, o *dpo.TrainerOptions) *dpo.Trainer {
	t.Helper()
	tr, err := dpo.NewTrainer(o, loadTabular)
	require.NoError(t, err)
	return tr
}

func TestTabularModelPassesConformance(t *testing.T) {
	m := newTabular(completions...)
	m.theta[2] = 0.7
	if err := alignmenttest.TestPolicy(t.Context(), m); err != nil {
		t.Error(err)
	}
}

// The test model's gradient is checked too, so that the trainer tests rest
// on an exact model: central differences in float64 on the logits.
func TestTabularGradientFiniteDifferences(t *testing.T) {
	m := newTabular(completions...)
	copy(m.theta, []float32{0.5, -1, 0.25, 2})
	seqs := []dpo.Sequence{{Completion: completions[0]}, {Completion: completions[3]}}
	scales := []float64{0.7, -1.3}
	require.NoError(t, m.AccumulateGrad(t.Context(), seqs, scales))
	f := func() float64 {
		lp, _, err := m.LogProbs(t.Context(), seqs)
		require.NoError(t, err)
		return scales[0]*lp[0] + scales[1]*lp[1]
	}
	for j := range m.theta {
		x := m.theta[j]
		const h = 1e-2 // float32 logits: a coarse step, a loose tolerance
		m.theta[j] = x + h
		up := f()
		m.theta[j] = x - h
		down := f()
		m.theta[j] = x
		assert.InDelta(t, (up-down)/(2*h), float64(m.grad[j]), 1e-4, "logit %d", j)
	}
}

func TestTrainerRaisesPreferenceForEveryLoss(t *testing.T) {
	for _, l := range []dpo.Loss{
		dpo.Sigmoid{Beta: 0.1}, dpo.Sigmoid{Beta: 0.5, LabelSmoothing: 0.1}, dpo.Robust{Beta: 0.1, LabelSmoothing: 0.1},
		dpo.Hinge{Beta: 0.5}, dpo.IPO{Beta: 0.1}, dpo.SimPO{Beta: 2, Gamma: 0.5}, dpo.NCA{Beta: 0.5},
	} {
		t.Run(fmt.Sprintf("%T", l), func(t *testing.T) {
			m := newTabular(completions...)
			before := m.prob(completions[0])
			tr := newTrainer(t, &dpo.TrainerOptions{Loss: l, Epochs: 6, BatchSize: 4, LearningRate: 0.05, Seed: 7})
			pol, err := tr.Train(t.Context(), m, rulePairs(12))
			require.NoError(t, err)
			assert.Same(t, m, pol, "the policy is trained in place")
			after := m.prob(completions[0])
			assert.Greater(t, after, before+0.2, "π(chosen) %.3f → %.3f", before, after)

			rep := tr.LastReport()
			require.Len(t, rep.Epochs, 6)
			assert.Equal(t, 12, rep.Pairs)
			assert.Equal(t, 18, rep.Steps, "3 batches of 4 pairs per epoch")
			first, last := rep.Epochs[0], rep.Epochs[5]
			assert.Equal(t, 12, first.Pairs)
			assert.Equal(t, 3, first.Steps)
			// SimPO's reference-free rewards can be right from the start
			// (under a uniform policy the chosen completion, the longest,
			// has the highest per-token log-probability); the others start
			// from a reference equal to the policy, where no pair is right.
			if _, ok := l.(dpo.SimPO); !ok {
				assert.Greater(t, last.RewardsAccuracy, first.RewardsAccuracy)
			}
			assert.Equal(t, 1.0, last.RewardsAccuracy)
			assert.Greater(t, last.RewardsMargin, first.RewardsMargin)
			assert.Greater(t, last.LogPsChosen, first.LogPsChosen)
			if _, ok := l.(dpo.Hinge); !ok {
				// the hinge loss can reach 0 and stop, the others keep falling
				assert.Less(t, last.Loss, first.Loss)
			}
		})
	}
}

// Soft labels reach training: alignment.Pair.Prob is the pair's own label
// smoothing (ε = 1 − Prob) for the cDPO loss, so a pair the comparer was
// unsure of (Prob 0.55) moves the policy less than a sure one, and exactly
// as a global LabelSmoothing of 0.45 does; a loss without soft labels
// refuses it rather than ignore it.
func TestTrainerSoftLabels(t *testing.T) {
	train := func(o *dpo.TrainerOptions, prob float64) float64 {
		m := newTabular(completions...)
		pairs := rulePairs(8)
		for i := range pairs {
			pairs[i].Prob = prob
		}
		o.Epochs, o.BatchSize, o.LearningRate, o.Seed = 3, 4, 0.05, 7
		_, err := newTrainer(t, o).Train(t.Context(), m, pairs)
		require.NoError(t, err)
		return m.prob(completions[0])
	}
	sure := train(&dpo.TrainerOptions{Loss: dpo.Sigmoid{Beta: 0.5}}, 0)
	unsure := train(&dpo.TrainerOptions{Loss: dpo.Sigmoid{Beta: 0.5}}, 0.55)
	global := train(&dpo.TrainerOptions{Loss: dpo.Sigmoid{Beta: 0.5, LabelSmoothing: 0.45}}, 0)
	assert.Less(t, unsure, sure, "an unsure pair teaches less")
	assert.Equal(t, global, unsure, "Prob 0.55 is label smoothing 0.45 for that pair")

	pairs := rulePairs(4)
	pairs[2].Prob = 0.8
	_, err := newTrainer(t, &dpo.TrainerOptions{Loss: dpo.IPO{Beta: 0.1}}).Train(t.Context(), newTabular(completions...), pairs)
	var pe *dpo.PairError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 2, pe.Index)
	assert.Equal(t, "Prob", pe.Field)
}

func TestTrainerFirstStepIsAdamSignStep(t *testing.T) {
	// With a fresh Adam, the first update of every parameter whose gradient
	// is not zero is −lr·g/(|g| + ε·…) ≈ −lr·sign(g), whatever clipping did.
	m := newTabular(completions...)
	const lr = 0.01
	tr := newTrainer(t, &dpo.TrainerOptions{LearningRate: lr, BatchSize: 1})
	pairs := rulePairs(1)
	_, err := tr.Train(t.Context(), m, pairs)
	require.NoError(t, err)
	// chosen completion 0 is pushed up, rejected completion 1 down, and the
	// two untouched completions get no gradient: the softmax terms cancel.
	assert.InDelta(t, lr, float64(m.theta[0]), 1e-6)
	assert.InDelta(t, -lr, float64(m.theta[1]), 1e-6)
	assert.InDelta(t, 0, float64(m.theta[2]), 1e-6)
	assert.InDelta(t, 0, float64(m.theta[3]), 1e-6)
	rep := tr.LastReport()
	require.Len(t, rep.Epochs, 1)
	// Gradient of −logσ(βh) at h = 0: −β/2 on each log-probability, so
	// the logit gradient is (−β/2)·(e0 − e1): norm β/√2.
	assert.InDelta(t, 0.1/math.Sqrt2, rep.Epochs[0].GradNorm, 1e-6)
	assert.Zero(t, rep.Epochs[0].Clipped)
	assert.InDelta(t, math.Ln2, rep.Epochs[0].Loss, 1e-12)
	assert.Zero(t, rep.Epochs[0].RewardsAccuracy, "policy equals reference at the first step")
}

func TestTrainerClipsGradients(t *testing.T) {
	m := newTabular(completions...)
	tr := newTrainer(t, &dpo.TrainerOptions{ClipNorm: 1e-3, BatchSize: 2, Epochs: 2})
	_, err := tr.Train(t.Context(), m, rulePairs(4))
	require.NoError(t, err)
	for _, e := range tr.LastReport().Epochs {
		assert.Equal(t, e.Steps, e.Clipped)
		assert.Greater(t, e.GradNorm, 1e-3)
	}
	tr = newTrainer(t, &dpo.TrainerOptions{ClipNorm: math.Inf(1)})
	_, err = tr.Train(t.Context(), newTabular(completions...), rulePairs(4))
	require.NoError(t, err)
	assert.Zero(t, tr.LastReport().Epochs[0].Clipped)
}

func TestTrainerIsDeterministic(t *testing.T) {
	run := func(seed uint64) []float32 {
		m := newTabular(completions...)
		tr := newTrainer(t, &dpo.TrainerOptions{Seed: seed, BatchSize: 3, Epochs: 3, LearningRate: 0.03})
		_, err := tr.Train(t.Context(), m, rulePairs(10))
		require.NoError(t, err)
		return m.theta
	}
	a, b, c := run(1), run(1), run(2)
	assert.Equal(t, a, b, "same seed, same run")
	assert.NotEqual(t, a, c, "the seed orders the minibatches")
}

func TestTrainerFixedReference(t *testing.T) {
	// A reference that finds the chosen completion unlikely makes the
	// policy's chosen rewards positive from the first step.
	ref := newTabular(completions...)
	ref.theta[0] = -3
	m := newTabular(completions...)
	tr := newTrainer(t, &dpo.TrainerOptions{Reference: ref, BatchSize: 4})
	_, err := tr.Train(t.Context(), m, rulePairs(4))
	require.NoError(t, err)
	ep := tr.LastReport().Epochs[0]
	assert.Greater(t, ep.RewardsChosen, 0.2)
	assert.Equal(t, 1.0, ep.RewardsAccuracy)
	assert.Equal(t, float32(-3), ref.theta[0], "the reference is never trained")
}

func TestTrainerReferenceIsTakenOncePerCall(t *testing.T) {
	m := &faulty{Model: newTabular(completions...)}
	tr := newTrainer(t, &dpo.TrainerOptions{BatchSize: 2, Epochs: 3})
	_, err := tr.Train(t.Context(), m, rulePairs(4))
	require.NoError(t, err)
	// one reference pass over 8 sequences in chunks of 4, then one policy
	// pass per step
	assert.Equal(t, 2+6, m.logProbs)
	assert.Equal(t, 6, m.accums)
}

func TestTrainerHonoursContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		m := &faulty{Model: newTabular(completions...)}
		_, err := newTrainer(t, nil).Train(ctx, m, rulePairs(4))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, m.logProbs+m.accums)
	})
	t.Run("cancelled between steps", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		m := &faulty{Model: newTabular(completions...), onGrad: cancel}
		tr := newTrainer(t, &dpo.TrainerOptions{BatchSize: 2, Epochs: 5})
		pol, err := tr.Train(ctx, m, rulePairs(8))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Nil(t, pol)
		assert.Equal(t, 1, m.accums, "training stops at the first check after cancellation")
		rep := tr.LastReport()
		assert.Equal(t, 1, rep.Steps)
		assert.Empty(t, rep.Epochs, "the interrupted epoch is not reported")
	})
}

func TestTrainerRejectsInvalidPairs(t *testing.T) {
	pairs := rulePairs(6)
	pairs[4].Rejected.Text = "bad one"
	tabWithBad := func() *tabular { return newTabular(append(slices.Clone(completions), "bad one")...) }

	t.Run("positive log-probability in the reference", func(t *testing.T) {
		m := &faulty{Model: tabWithBad(), badCompletion: "bad one", badLogP: 0.5, badLen: 2}
		_, err := newTrainer(t, &dpo.TrainerOptions{BatchSize: 2}).Train(t.Context(), m, pairs)
		var pe *dpo.PairError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 4, pe.Index)
		assert.Equal(t, "RefRejected", pe.Field)
		assert.ErrorIs(t, err, dpo.ErrInvalid)
		assert.Zero(t, m.accums, "nothing is trained when the reference is bad")
	})
	t.Run("NaN from the policy mid-training", func(t *testing.T) {
		m := &faulty{Model: tabWithBad(), badCompletion: "bad one", badLogP: math.NaN(), badLen: 2}
		ref := tabWithBad()
		_, err := newTrainer(t, &dpo.TrainerOptions{BatchSize: 2, Reference: ref, Seed: 3}).Train(t.Context(), m, pairs)
		var pe *dpo.PairError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 4, pe.Index, "the index is in the caller's slice, not in the shuffled batch")
		assert.Equal(t, "Rejected", pe.Field)
		assert.Contains(t, err.Error(), "pair 4: Rejected = NaN")
	})
	t.Run("zero-length completion for IPO", func(t *testing.T) {
		m := &faulty{Model: tabWithBad(), badCompletion: "bad one", badLogP: -1, badLen: 0}
		_, err := newTrainer(t, &dpo.TrainerOptions{Loss: dpo.IPO{Beta: 0.1}}).Train(t.Context(), m, pairs)
		var pe *dpo.PairError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 4, pe.Index)
		assert.Equal(t, "RejectedLen", pe.Field)
	})
	t.Run("completion the model cannot score", func(t *testing.T) {
		_, err := newTrainer(t, nil).Train(t.Context(), newTabular(completions...), pairs)
		assert.ErrorIs(t, err, errUnknownCompletion)
	})
	t.Run("not a dpo.Model", func(t *testing.T) {
		script := &alignmenttest.Script{}
		_, err := newTrainer(t, nil).Train(t.Context(), script, pairs)
		assert.ErrorIs(t, err, dpo.ErrUnsupported)
		assert.ErrorIs(t, err, alignment.ErrUnsupported)
		assert.Contains(t, err.Error(), "is not a dpo.Model")
	})
}

func TestTrainerDoesNotModifyPairs(t *testing.T) {
	pairs := rulePairs(5)
	want := rulePairs(5)
	_, err := newTrainer(t, &dpo.TrainerOptions{BatchSize: 2, Epochs: 2}).Train(t.Context(), newTabular(completions...), pairs)
	require.NoError(t, err)
	assert.Equal(t, want, pairs)
}

func TestTrainerNoPairs(t *testing.T) {
	m := newTabular(completions...)
	tr := newTrainer(t, nil)
	pol, err := tr.Train(t.Context(), m, nil)
	require.NoError(t, err)
	assert.Same(t, m, pol)
	assert.Equal(t, 0, tr.LastReport().Steps)
	assert.Equal(t, []float32{0, 0, 0, 0}, m.theta)
}

func TestTrainerIsNotASink(t *testing.T) {
	var tr any = newTrainer(t, nil)
	_, isSink := tr.(alignment.PreferenceSink)
	assert.False(t, isSink, "a Trainer consumes pairs for training only; it must not be mistaken for a sink")
}

func TestNewTrainerOptions(t *testing.T) {
	tr, err := dpo.NewTrainer(nil, nil)
	require.NoError(t, err)
	o := tr.Options()
	assert.Equal(t, dpo.Sigmoid{Beta: 0.1}, o.Loss)
	assert.Equal(t, 1, o.Epochs)
	assert.Equal(t, 16, o.BatchSize)
	assert.Equal(t, 1e-3, o.LearningRate)
	assert.Equal(t, dpo.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, o.Adam)
	assert.Equal(t, 1.0, o.ClipNorm)
	assert.Nil(t, o.Reference)

	for _, tc := range []struct {
		o   dpo.TrainerOptions
		msg string
	}{
		{dpo.TrainerOptions{Loss: dpo.Sigmoid{}}, "TrainerOptions.Loss: dpo: invalid input: Sigmoid.Beta = 0"},
		{dpo.TrainerOptions{Epochs: -1}, "TrainerOptions.Epochs = -1"},
		{dpo.TrainerOptions{BatchSize: -2}, "TrainerOptions.BatchSize = -2"},
		{dpo.TrainerOptions{LearningRate: math.NaN()}, "TrainerOptions.LearningRate = NaN"},
		{dpo.TrainerOptions{LearningRate: -1}, "TrainerOptions.LearningRate = -1"},
		{dpo.TrainerOptions{Adam: dpo.Adam{Beta1: 1}}, "TrainerOptions.Adam.Beta1 = 1"},
		{dpo.TrainerOptions{Adam: dpo.Adam{Beta2: -0.1}}, "TrainerOptions.Adam.Beta2 = -0.1"},
		{dpo.TrainerOptions{Adam: dpo.Adam{Eps: math.Inf(1)}}, "TrainerOptions.Adam.Eps = +Inf"},
		{dpo.TrainerOptions{ClipNorm: -1}, "TrainerOptions.ClipNorm = -1"},
	} {
		_, err := dpo.NewTrainer(&tc.o, nil)
		assert.ErrorIs(t, err, dpo.ErrInvalid, tc.msg)
		assert.ErrorContains(t, err, tc.msg)
	}
}

func TestTrainerDiverges(t *testing.T) {
	m := newTabular(completions...)
	m.theta[0] = float32(math.NaN())
	// NaN logits make NaN log-probabilities, which the reference check
	// reports; a NaN gradient from finite log-probabilities is ErrDiverged.
	_, err := newTrainer(t, nil).Train(t.Context(), m, rulePairs(2))
	assert.ErrorIs(t, err, dpo.ErrInvalid)

	g := &nanGrad{tabular: newTabular(completions...)}
	_, err = newTrainer(t, nil).Train(t.Context(), g, rulePairs(2))
	assert.ErrorIs(t, err, dpo.ErrDiverged)
	assert.Equal(t, []float32{0, 0, 0, 0}, g.theta, "parameters are untouched by a diverged step")
}

// nanGrad is a model whose gradients are NaN.
type nanGrad struct{ *tabular }

func (m *nanGrad) AccumulateGrad(ctx context.Context, seqs []dpo.Sequence, scales []float64) error {
	m.grad[0] = float32(math.NaN())
	return nil
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "iter-1")
	m := newTabular(completions...)
	copy(m.theta, []float32{1, -2, 0.5, 3})
	tr := newTrainer(t, nil)
	require.NoError(t, tr.SaveCheckpoint(t.Context(), m, dir))
	// saving again replaces the checkpoint and leaves no temporary file
	m.theta[1] = -1
	require.NoError(t, tr.SaveCheckpoint(t.Context(), m, dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, dpo.CheckpointFile, entries[0].Name())

	pol, err := tr.LoadCheckpoint(t.Context(), dir)
	require.NoError(t, err)
	got, ok := pol.(*tabular)
	require.True(t, ok)
	assert.Equal(t, m.completions, got.completions)
	assert.Equal(t, m.theta, got.theta)
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	tr := newTrainer(t, nil)

	_, err := tr.LoadCheckpoint(t.Context(), dir)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	err = tr.SaveCheckpoint(t.Context(), &alignmenttest.Script{}, dir)
	assert.ErrorIs(t, err, dpo.ErrUnsupported)

	noLoad, err := dpo.NewTrainer(nil, nil)
	require.NoError(t, err)
	_, err = noLoad.LoadCheckpoint(t.Context(), dir)
	assert.ErrorIs(t, err, dpo.ErrUnsupported)

	require.NoError(t, os.WriteFile(filepath.Join(dir, dpo.CheckpointFile), []byte{2, 0, 0, 0, 5}, 0o644))
	_, err = tr.LoadCheckpoint(t.Context(), dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tabular: completion 0")
	assert.Contains(t, err.Error(), dpo.CheckpointFile)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, tr.SaveCheckpoint(ctx, newTabular("a"), dir), context.Canceled)
	_, err = tr.LoadCheckpoint(ctx, dir)
	assert.ErrorIs(t, err, context.Canceled)

	// A failing Save leaves the previous checkpoint in place and no
	// temporary file behind.
	require.NoError(t, tr.SaveCheckpoint(t.Context(), newTabular("a"), dir))
	err = tr.SaveCheckpoint(t.Context(), failingSaver{newTabular("b")}, dir)
	assert.ErrorContains(t, err, "disk full")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	pol, err := tr.LoadCheckpoint(t.Context(), dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, pol.(*tabular).completions)
}

type failingSaver struct{ *tabular }

func (failingSaver) Save(io.Writer) error { return errors.New("disk full") }

func TestTrainerUsesFusedStep(t *testing.T) {
	o := &dpo.TrainerOptions{BatchSize: 3, Epochs: 2, LearningRate: 0.02, Seed: 5}
	plain := newTabular(completions...)
	_, err := newTrainer(t, o).Train(t.Context(), plain, rulePairs(7))
	require.NoError(t, err)
	tab := newTabular(completions...)
	f := &fused{Model: tab}
	_, err = newTrainer(t, o).Train(t.Context(), f, rulePairs(7))
	require.NoError(t, err)
	assert.Equal(t, 6, f.calls, "3 steps per epoch, each one fused call")
	assert.Equal(t, plain.theta, tab.theta, "the fused step trains exactly as the two-pass one")

	// A pair error raised inside the fused call keeps its index.
	pairs := rulePairs(5)
	pairs[3].Chosen.Text = "bad one"
	withBad := func() *tabular { return newTabular(append(slices.Clone(completions), "bad one")...) }
	f = &fused{Model: &faulty{Model: withBad(), badCompletion: "bad one", badLogP: -1, badLen: 0}}
	_, err = newTrainer(t, &dpo.TrainerOptions{Loss: dpo.SimPO{Beta: 2}, Reference: withBad()}).Train(t.Context(), f, pairs)
	var pe *dpo.PairError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 1, f.calls)
	assert.Equal(t, 3, pe.Index)
	assert.Equal(t, "ChosenLen", pe.Field)
}

func TestLoadFunc(t *testing.T) {
	typed := func(r io.Reader) (*tabular, error) { return nil, errors.New("broken") }
	m, err := dpo.LoadFunc(typed)(strings.NewReader(""))
	assert.EqualError(t, err, "broken")
	assert.Nil(t, m, "no typed nil inside the interface")
	good := func(r io.Reader) (*tabular, error) { return newTabular("a"), nil }
	m, err = dpo.LoadFunc(good)(strings.NewReader(""))
	require.NoError(t, err)
	assert.IsType(t, &tabular{}, m)
}

// A Trainer states its options as its fingerprint, so a run directory
// trained with one setting refuses to continue with another.
func TestTrainerFingerprint(t *testing.T) {
	base := newTrainer(t, nil).Fingerprint()
	assert.Equal(t, base, newTrainer(t, &dpo.TrainerOptions{}).Fingerprint(), "defaults are the zero options")
	for name, o := range map[string]*dpo.TrainerOptions{
		"loss":      {Loss: dpo.IPO{Beta: 0.1}},
		"beta":      {Loss: dpo.Sigmoid{Beta: 0.3}},
		"lr":        {LearningRate: 1e-2},
		"epochs":    {Epochs: 3},
		"seed":      {Seed: 9},
		"reference": {Reference: newTabular(completions...)},
	} {
		assert.NotEqual(t, base, newTrainer(t, o).Fingerprint(), name)
	}
	assert.Contains(t, newTrainer(t, &dpo.TrainerOptions{Loss: dpo.Sigmoid{Beta: 0.3}}).Fingerprint(), "Beta:0.3")
}
