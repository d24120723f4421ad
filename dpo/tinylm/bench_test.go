package tinylm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

// The benchmarks are named with the dimensions of the PyTorch peer
// /work/shared/bench/torch_tinylm_step.py (V C E H B T), which times the
// same step:
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 \
//	    /work/shared/bench/torch_tinylm_step.py 1000 8 32 128 16 12 2

// benchModel returns a model with default dimensions over a vocabulary of V
// tokens (specials and words "w0", "w1", ...).
func benchModel(tb testing.TB, V int, c Config) *Model {
	words := make([]string, V-FirstWord)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	tok, err := newTokenizerWords(words)
	require.NoError(tb, err)
	m, err := New(tok, c)
	require.NoError(tb, err)
	return m
}

// benchSeqs returns n sequences whose prompts are 6 random words and whose
// completions are T−1 random words, so that T positions are scored with
// <eos>, each with a full window of real tokens.
func benchSeqs(r *rand.Rand, m *Model, n, T int) []dpo.Sequence {
	word := func() string { return m.tok.words[FirstWord+r.IntN(m.v-FirstWord)] }
	seqs := make([]dpo.Sequence, n)
	for i := range seqs {
		var p, c []string
		for range 6 {
			p = append(p, word())
		}
		for range T - 1 {
			c = append(c, word())
		}
		seqs[i] = dpo.Sequence{Prompt: alignment.NewPrompt(fmt.Sprint(i), strings.Join(p, " ")), Completion: strings.Join(c, " ")}
	}
	return seqs
}

// BenchmarkDPOStep times one DPO step of the policy on B chosen and B
// rejected completions of T tokens: forward and backward over all 2·B·T
// positions, the sigmoid DPO loss with β = 0.1 (dpo.Sigmoid), and an Adam
// update (lr 1e-3, PyTorch's defaults).
//
//   - ref=cached: the reference log-probabilities are computed once, outside
//     the timed loop, as dpo.Trainer does once per Train call (one iterative
//     DPO iteration); the step runs the fused AccumulateGradFunc.
//   - ref=recomputed: the step also runs the frozen reference's forward pass,
//     as the PyTorch peer does every step: the apples-to-apples comparison.
//   - ref=cached,api=dpo.Model: LogProbs then AccumulateGrad through the
//     dpo.Model interface (two policy forward passes), as dpo.Trainer calls it.
func BenchmarkDPOStep(b *testing.B) {
	const C, E, H, B, T = DefaultContext, DefaultEmbed, DefaultHidden, 16, 12
	// V = 223 is the vocabulary of the quickstart's task world
	// (internal/taskworld); 1000 a larger one.
	for _, V := range []int{223, 1000} {
		for _, variant := range []string{"ref=cached", "ref=recomputed", "ref=cached,api=dpo.Model"} {
			b.Run(fmt.Sprintf("V=%d,C=%d,E=%d,H=%d,B=%d,T=%d,%s", V, C, E, H, B, T, variant), func(b *testing.B) {
				ctx := b.Context()
				m := benchModel(b, V, Config{Seed: 1})
				ref := m.Clone()
				seqs := benchSeqs(rand.New(rand.NewPCG(1, 2)), m, 2*B, T)
				refLogps, _, err := ref.LogProbs(ctx, seqs)
				require.NoError(b, err)
				loss := dpo.Sigmoid{Beta: 0.1}
				opt := newAdam(m.Params(), 1e-3)
				scales := make([]float64, 2*B)
				dpoScales := func(logps []float64, lens []int) ([]float64, error) {
					for i := range B {
						_, dc, dr := loss.Eval(dpo.Pair{
							Chosen: logps[i], Rejected: logps[B+i],
							RefChosen: refLogps[i], RefRejected: refLogps[B+i],
							ChosenLen: lens[i], RejectedLen: lens[B+i],
						})
						scales[i], scales[B+i] = dc/B, dr/B
					}
					return scales, nil
				}
				b.ReportAllocs()
				for b.Loop() {
					if variant == "ref=recomputed" {
						if refLogps, _, err = ref.LogProbs(ctx, seqs); err != nil {
							b.Fatal(err)
						}
					}
					m.ZeroGrad()
					if variant == "ref=cached,api=dpo.Model" {
						logps, lens, err := m.LogProbs(ctx, seqs)
						if err != nil {
							b.Fatal(err)
						}
						s, _ := dpoScales(logps, lens)
						if err := m.AccumulateGrad(ctx, seqs, s); err != nil {
							b.Fatal(err)
						}
					} else if _, err := m.AccumulateGradFunc(ctx, seqs, dpoScales); err != nil {
						b.Fatal(err)
					}
					opt.step()
				}
			})
		}
	}
}

// BenchmarkLogProbs times the log-probabilities of N completions of T
// tokens (N·T positions in one pass).
func BenchmarkLogProbs(b *testing.B) {
	const V, N, T = 1000, 32, 12
	b.Run(fmt.Sprintf("V=%d,C=%d,E=%d,H=%d,N=%d,T=%d", V, DefaultContext, DefaultEmbed, DefaultHidden, N, T), func(b *testing.B) {
		m := benchModel(b, V, Config{Seed: 1})
		seqs := benchSeqs(rand.New(rand.NewPCG(1, 2)), m, N, T)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := m.LogProbs(b.Context(), seqs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGenerate times N samples of MaxTokens tokens at temperature 1
// (<eos> made impossible so that every sample runs to the cap).
func BenchmarkGenerate(b *testing.B) {
	const V, MaxTokens = 1000, 32
	for _, n := range []int{1, 8} {
		for _, topP := range []float64{1, 0.9} {
			b.Run(fmt.Sprintf("V=%d,C=%d,E=%d,H=%d,N=%d,MaxTokens=%d,TopP=%g", V, DefaultContext, DefaultEmbed, DefaultHidden, n, MaxTokens, topP), func(b *testing.B) {
				m := benchModel(b, V, Config{Seed: 1})
				m.w.b2[TokenEOS] = -1e4
				p := alignment.NewPrompt("p", "w1 w2 w3 w4")
				o := alignment.SampleOptions{N: n, Temperature: 1, TopP: topP, MaxTokens: MaxTokens, Seed: 1}
				b.ReportAllocs()
				for b.Loop() {
					rs, err := m.Generate(b.Context(), p, o)
					if err != nil {
						b.Fatal(err)
					}
					if rs[0].Tokens != MaxTokens {
						b.Fatalf("sample has %d tokens, want %d", rs[0].Tokens, MaxTokens)
					}
				}
			})
		}
	}
}
