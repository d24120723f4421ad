package dpo_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

// BenchmarkGroupStep times one GRPO (or RLOO) step on tinylm against one
// DPO step of the same shapes, each as its trainer takes it: a
// GroupTrainer.FitGroups or Trainer.Fit call that takes one optimiser step
// (BatchSize = the groups or pairs given, one epoch), with the forward
// passes the trainer makes before that step — the reference's, and for a
// group loss the sampling policy's where it needs them — the fused forward
// and backward pass (tinylm's AccumulateGradFunc), clipping and an Adam
// update (every call starts a fresh optimiser, for every arm). The model
// has V = 1000 tokens with the default context, embedding and hidden
// widths (Config{Seed: 1}); prompts are 6 random words and completions
// T − 1 = 11 random words (T = 12 scored positions with <eos>).
//
// Each iteration runs three steps, interleaved so that the shared
// machine's load falls on all three alike: the group step of the arm, a
// DPO step of 16 pairs (32 completions: the same prompts and batch, as the
// issue counts a step) and a DPO step of 32 pairs (64 completions: as many
// tokens as the group step). The DPO steps use dpo.Sigmoid{Beta: 0.1}
// with the policy at the start of the call as the reference, whose
// log-probabilities dpo.Trainer computes in each call, as TRL recomputes a
// reference model's every step. ns/op is the group step's time alone;
// x-DPO16 and x-DPO32 are its ratios to the two DPO steps.
//
// The arms: GRPO with β = 0 (GRPO{}: this package's default and TRL's
// current one, which loads no reference model) and β = 0.04 (the
// DeepSeekMath paper's value and TRL's earlier default) against a fixed
// reference model, and RLOO{} (β = 0.05, TRL's default, against the policy
// at the start of the call).
func BenchmarkGroupStep(b *testing.B) {
	const V, B, N, T = 1000, 16, 4, 12
	words := make([]string, V-tinylm.FirstWord)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	tok, err := tinylm.NewTokenizer([]string{strings.Join(words, " ")}, tinylm.TokenizerOptions{})
	require.NoError(b, err)
	require.Equal(b, V, tok.Len())
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	groups := make([]alignment.Group, B)
	for g := range groups {
		groups[g].Prompt = alignment.NewPrompt(fmt.Sprint(g), text(6))
		for range N {
			resp := alignment.Response{Text: text(T - 1)}
			groups[g].Responses = append(groups[g].Responses, alignment.Scored{Response: resp, Unrefined: resp, Score: r.Float64()})
		}
	}
	pairs := func(n int) []alignment.Pair {
		out := make([]alignment.Pair, n)
		for i := range out {
			g := groups[i%B]
			out[i] = alignment.Pair{Prompt: g.Prompt, Chosen: g.Responses[i/B*2].Response, Rejected: g.Responses[i/B*2+1].Response}
		}
		return out
	}
	pairs16, pairs32 := pairs(B), pairs(2*B)
	newModel := func() *tinylm.Model {
		m, err := tinylm.New(tok, tinylm.Config{Seed: 1})
		require.NoError(b, err)
		return m
	}
	dpoTrainer := func(n int) *dpo.Trainer {
		t, err := dpo.NewTrainer(&dpo.TrainerOptions{Loss: dpo.Sigmoid{Beta: 0.1}, BatchSize: n}, nil)
		require.NoError(b, err)
		return t
	}
	for _, arm := range []struct {
		name string
		loss dpo.GroupLoss
		ref  bool // a fixed reference model
	}{
		{"GRPO,beta=0", dpo.GRPO{}, false},
		{"GRPO,beta=0.04,fixed-ref", dpo.GRPO{Beta: 0.04}, true},
		{"RLOO", dpo.RLOO{}, false},
	} {
		b.Run(fmt.Sprintf("V=%d,T=%d,B=%d,N=%d,%s", V, T, B, N, arm.name), func(b *testing.B) {
			ctx := b.Context()
			o := &dpo.GroupTrainerOptions{Loss: arm.loss, BatchSize: B}
			gm := newModel()
			if arm.ref {
				o.Reference = gm.Clone()
			}
			gt, err := dpo.NewGroupTrainer(o, nil)
			require.NoError(b, err)
			dm16, dm32 := newModel(), newModel()
			dt16, dt32 := dpoTrainer(B), dpoTrainer(2*B)
			var group, d16, d32 time.Duration
			timed := func(d *time.Duration, f func() error) {
				t0 := time.Now()
				if err := f(); err != nil {
					b.Fatal(err)
				}
				*d += time.Since(t0)
			}
			b.ReportAllocs()
			for b.Loop() {
				timed(&d16, func() error { _, err := dt16.Fit(ctx, dm16, pairs16); return err })
				timed(&group, func() error {
					rep, err := gt.FitGroups(ctx, gm, groups)
					if err == nil && rep.Steps != 1 {
						err = fmt.Errorf("%d steps, want 1", rep.Steps)
					}
					return err
				})
				timed(&d32, func() error { _, err := dt32.Fit(ctx, dm32, pairs32); return err })
			}
			b.ReportMetric(float64(group.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(d16.Nanoseconds())/float64(b.N), "DPO16-ns/op")
			b.ReportMetric(float64(group)/float64(d16), "x-DPO16")
			b.ReportMetric(float64(group)/float64(d32), "x-DPO32")
		})
	}
}
