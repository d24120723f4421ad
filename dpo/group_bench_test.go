package dpo_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

// BenchmarkGroupStep times one GRPO step on tinylm beside one DPO step of the
// same shapes, set up as dpo/tinylm's BenchmarkDPOStep ("ref=cached"): a
// model of V = 1000 tokens with the default context, embedding and hidden
// widths (Config{Seed: 1}), prompts of 6 random words and completions of
// T − 1 = 11 random words (T = 12 scored positions with <eos>), reference
// (and, for GRPO, sampling-policy) log-probabilities computed once outside
// the timed loop, and each step: ZeroGrad, the fused forward and backward
// pass (tinylm's AccumulateGradFunc) with the loss's derivatives as scales,
// and an Adam update (lr 1e-3, PyTorch's defaults; the same update for
// every arm).
//
//   - DPO,B=16: 16 pairs, 32 completions, dpo.Sigmoid{Beta: 0.1} through
//     BatchResult.Eval, as dpo.Trainer evaluates it.
//   - DPO,B=32: 32 pairs, 64 completions: as many tokens as the GRPO step.
//   - GRPO,B=16,N=4 and RLOO,B=16,N=4: 16 prompts with 4 completions each,
//     64 completions, dpo.GRPO{} (TRL's defaults) and dpo.RLOO{}, with the
//     finite checks dpo.GroupTrainer makes.
//
// The cost ratio of interest is GRPO,B=16,N=4 over DPO,B=16 (issue 12's
// target ≤ 1.5) and over DPO,B=32 (equal tokens: the overhead of the group
// loss itself).
func BenchmarkGroupStep(b *testing.B) {
	const V, B, N, T = 1000, 16, 4, 12
	words := make([]string, V-tinylm.FirstWord)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	tok, err := tinylm.NewTokenizer([]string{strings.Join(words, " ")}, tinylm.TokenizerOptions{})
	require.NoError(b, err)
	require.Equal(b, V, tok.Len())
	seqs := func(r *rand.Rand, n int) []dpo.Sequence {
		word := func() string { return words[r.IntN(len(words))] }
		out := make([]dpo.Sequence, n)
		for i := range out {
			var p, c []string
			for range 6 {
				p = append(p, word())
			}
			for range T - 1 {
				c = append(c, word())
			}
			out[i] = dpo.Sequence{Prompt: alignment.NewPrompt(fmt.Sprint(i), strings.Join(p, " ")), Completion: strings.Join(c, " ")}
		}
		return out
	}
	for _, arm := range []struct {
		name string
		n    int // completions per step
		dpo  bool
		loss dpo.GroupLoss
	}{
		{"DPO,B=16", 2 * B, true, nil},
		{"DPO,B=32", 4 * B, true, nil},
		{"GRPO,B=16,N=4", B * N, false, dpo.GRPO{}},
		{"RLOO,B=16,N=4", B * N, false, dpo.RLOO{}},
	} {
		b.Run(fmt.Sprintf("V=%d,T=%d,%s", V, T, arm.name), func(b *testing.B) {
			ctx := b.Context()
			m, err := tinylm.New(tok, tinylm.Config{Seed: 1})
			require.NoError(b, err)
			ss := seqs(rand.New(rand.NewPCG(1, 2)), arm.n)
			ref, _, err := m.Clone().LogProbs(ctx, ss)
			require.NoError(b, err)
			var scales func([]float64, []int) ([]float64, error)
			if arm.dpo {
				k := arm.n / 2
				pairs := make([]dpo.Pair, k)
				var res dpo.BatchResult
				grad := make([]float64, arm.n)
				scales = func(logps []float64, lens []int) ([]float64, error) {
					for i := range pairs {
						pairs[i] = dpo.Pair{Chosen: logps[i], Rejected: logps[k+i], RefChosen: ref[i], RefRejected: ref[k+i], ChosenLen: lens[i], RejectedLen: lens[k+i]}
					}
					if err := res.Eval(dpo.Sigmoid{Beta: 0.1}, pairs); err != nil {
						return nil, err
					}
					copy(grad, res.DChosen)
					copy(grad[k:], res.DRejected)
					return grad, nil
				}
			} else {
				gs := make([]dpo.GroupSeq, arm.n)
				r := rand.New(rand.NewPCG(3, 4))
				for g := range B {
					rewards := make([]float64, N)
					for i := range rewards {
						rewards[i] = r.Float64()
						gs[g*N+i] = dpo.GroupSeq{OldLogP: ref[g*N+i], RefLogP: ref[g*N+i], Len: T}
					}
					adv := make([]float64, N)
					arm.loss.Advantages(adv, rewards, gs[g*N:(g+1)*N])
					for i, a := range adv {
						gs[g*N+i].Advantage = a
					}
				}
				d := make([]float64, arm.n)
				scales = func(logps []float64, lens []int) ([]float64, error) {
					for i := range gs {
						gs[i].LogP, gs[i].Len = logps[i], lens[i]
					}
					if l := arm.loss.Eval(gs, d); math.IsNaN(l) || math.IsInf(l, 0) {
						return nil, fmt.Errorf("loss %v", l)
					}
					for _, x := range d {
						if math.IsNaN(x) || math.IsInf(x, 0) {
							return nil, fmt.Errorf("derivative %v", x)
						}
					}
					return d, nil
				}
			}
			opt := newBenchAdam(m.Params(), 1e-3)
			b.ReportAllocs()
			for b.Loop() {
				m.ZeroGrad()
				if _, err := m.AccumulateGradFunc(ctx, ss, scales); err != nil {
					b.Fatal(err)
				}
				opt.step()
			}
		})
	}
}

// benchAdam is torch.optim.Adam with its defaults (no weight decay), the
// same update for every arm of BenchmarkGroupStep.
type benchAdam struct {
	params []dpo.Param
	m, v   [][]float32
	lr     float64
	t      int
}

func newBenchAdam(params []dpo.Param, lr float64) *benchAdam {
	a := &benchAdam{params: params, lr: lr}
	for _, p := range params {
		a.m = append(a.m, make([]float32, len(p.Value)))
		a.v = append(a.v, make([]float32, len(p.Value)))
	}
	return a
}

func (a *benchAdam) step() {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	bc1 := float32(1 - math.Pow(b1, float64(a.t)))
	bc2 := float32(math.Sqrt(1 - math.Pow(b2, float64(a.t))))
	lr := float32(a.lr)
	for i, p := range a.params {
		m, v := a.m[i], a.v[i]
		for j, g := range p.Grad {
			m[j] = b1*m[j] + (1-b1)*g
			v[j] = b2*v[j] + (1-b2)*g*g
			p.Value[j] -= lr / bc1 * m[j] / (float32(math.Sqrt(float64(v[j])))/bc2 + eps)
		}
	}
}
