package tinylm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

var smallCorpus = []string{
	"what is two plus three ?", "two plus three is five .",
	"what is one plus one ?", "one plus one is two .",
	"name a colour .", "red , please .",
	"say hello", "hello there !",
}

func newSmall(t testing.TB, c Config) *Model {
	t.Helper()
	tok, err := NewTokenizer(smallCorpus, TokenizerOptions{})
	require.NoError(t, err)
	m, err := New(tok, c)
	require.NoError(t, err)
	return m
}

var gradSeqs = []dpo.Sequence{
	{Prompt: alignment.NewPrompt("a", "what is two plus three ?"), Completion: "two plus three is five ."},
	{Prompt: alignment.NewPrompt("b", "say hello"), Completion: "hello !"},
	{Prompt: alignment.Prompt{ID: "c", Messages: []alignment.Message{
		{Role: alignment.RoleSystem, Content: "name a colour ."},
		{Role: alignment.RoleUser, Content: "what is one plus one ?"},
		{Role: alignment.RoleAssistant, Content: "one plus one is two ."},
		{Role: "tool", Content: "unknown words here"},
	}}, Completion: "red , please . what is zzz"},
}

var gradScales = []float64{0.7, -1.3, 2.0}

// ref64 is an independent float64 implementation of the model, written from
// the definition: each position's window of the <bos>-padded token sequence,
// embeddings concatenated, tanh layer, log-softmax. It returns Σᵢ
// scales[i]·log π(seqs[i]) and the per-sequence log-probabilities.
type ref64 struct {
	C, E, H, V int
	p          [][]float64 // Params order
}

func newRef64(m *Model) *ref64 {
	r := &ref64{C: m.cfg.Context, E: m.cfg.Embed, H: m.cfg.Hidden, V: m.v}
	for _, p := range m.Params() {
		q := make([]float64, len(p.Value))
		for i, v := range p.Value {
			q[i] = float64(v)
		}
		r.p = append(r.p, q)
	}
	return r
}

// rows returns the (context, target) pairs of a sequence, from the public
// encoders.
func seqRows(tok *Tokenizer, C int, s dpo.Sequence) (ctxs [][]int, tgts []int) {
	ids := make([]int, C)
	for i := range ids {
		ids[i] = TokenBOS
	}
	ids = append(ids, tok.EncodePrompt(s.Prompt)...)
	ids = append(ids, TokenSep)
	first := len(ids)
	ids = append(ids, tok.Encode(s.Completion)...)
	ids = append(ids, TokenEOS)
	for t := first; t < len(ids); t++ {
		ctxs = append(ctxs, ids[t-C:t])
		tgts = append(tgts, ids[t])
	}
	return ctxs, tgts
}

func (r *ref64) logProb(ctx []int, tgt int) float64 {
	emb, w1, b1, w2, b2 := r.p[0], r.p[1], r.p[2], r.p[3], r.p[4]
	x := make([]float64, 0, r.C*r.E)
	for _, id := range ctx {
		x = append(x, emb[id*r.E:(id+1)*r.E]...)
	}
	a := make([]float64, r.H)
	for h := range a {
		s := b1[h]
		for k, xk := range x {
			s += xk * w1[k*r.H+h]
		}
		a[h] = math.Tanh(s)
	}
	z := make([]float64, r.V)
	mx := math.Inf(-1)
	for v := range z {
		s := b2[v]
		for h, ah := range a {
			s += ah * w2[h*r.V+v]
		}
		z[v] = s
		mx = math.Max(mx, s)
	}
	var sum float64
	for _, zv := range z {
		sum += math.Exp(zv - mx)
	}
	return z[tgt] - mx - math.Log(sum)
}

func (r *ref64) objective(tok *Tokenizer, seqs []dpo.Sequence, scales []float64) (float64, []float64) {
	var f float64
	lps := make([]float64, len(seqs))
	for i, s := range seqs {
		ctxs, tgts := seqRows(tok, r.C, s)
		for j := range tgts {
			lps[i] += r.logProb(ctxs[j], tgts[j])
		}
		f += scales[i] * lps[i]
	}
	return f, lps
}

// TestGradientFiniteDifferences checks AccumulateGrad against central finite
// differences of ref64 (float64, step 1e-5, so the differences are accurate
// to about 1e-9) on random parameters: every coordinate of a small model
// with both kernels, and 15 random coordinates of each tensor of one with
// the default dimensions. The float32
// gradient must agree within 2e-5·(1 + |finite difference|). It also checks
// LogProbs against ref64 within 1e-5 relative.
func TestGradientFiniteDifferences(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		configs := []Config{{Context: 3, Embed: 4, Hidden: 5, Seed: 1}}
		if useAVX2 || !detectedAVX2 {
			configs = append(configs, Config{Seed: 2})
		}
		for _, c := range configs {
			t.Run(fmt.Sprintf("C=%d,E=%d,H=%d", c.Context, c.Embed, c.Hidden), func(t *testing.T) {
				m := newSmall(t, c)
				// Larger hidden weights put tanh in its nonlinear range.
				for i := range m.w.w1 {
					m.w.w1[i] *= 3
				}
				ctx := t.Context()
				ref := newRef64(m)
				_, wantLps := ref.objective(m.tok, gradSeqs, gradScales)
				lps, lens, err := m.LogProbs(ctx, gradSeqs)
				require.NoError(t, err)
				for i := range lps {
					assert.InDelta(t, wantLps[i], lps[i], 1e-5*math.Abs(wantLps[i]), "log-probability of sequence %d", i)
					_, tgts := seqRows(m.tok, m.cfg.Context, gradSeqs[i])
					assert.Equal(t, len(tgts), lens[i])
				}

				m.ZeroGrad()
				require.NoError(t, m.AccumulateGrad(ctx, gradSeqs, gradScales))
				params := m.Params()
				r := rand.New(rand.NewPCG(3, 4))
				const eps = 1e-5
				worst := 0.0
				for pi, p := range params {
					coords := make([]int, len(p.Value))
					for i := range coords {
						coords[i] = i
					}
					if len(coords) > 15 && m.cfg.Context != 3 {
						r.Shuffle(len(coords), func(i, j int) { coords[i], coords[j] = coords[j], coords[i] })
						coords = coords[:15]
					}
					for _, i := range coords {
						old := ref.p[pi][i]
						ref.p[pi][i] = old + eps
						fp, _ := ref.objective(m.tok, gradSeqs, gradScales)
						ref.p[pi][i] = old - eps
						fm, _ := ref.objective(m.tok, gradSeqs, gradScales)
						ref.p[pi][i] = old
						fd := (fp - fm) / (2 * eps)
						g := float64(p.Grad[i])
						worst = max(worst, math.Abs(g-fd)/(1+math.Abs(fd)))
						if !assert.InDelta(t, fd, g, 2e-5*(1+math.Abs(fd)), "%s[%d]", p.Name, i) {
							return
						}
					}
				}
				t.Logf("largest |analytic − finite difference|/(1+|fd|): %.2g", worst)
			})
		}
	})
}

// TestGradientOwnForward checks AccumulateGrad against central differences of
// the model's own float32 LogProbs (step 1e-2) on the coordinates with the
// largest gradients; float32 rounding limits the agreement to 2e-2 relative.
func TestGradientOwnForward(t *testing.T) {
	m := newSmall(t, Config{Context: 4, Embed: 6, Hidden: 7, Seed: 5})
	ctx := t.Context()
	m.ZeroGrad()
	require.NoError(t, m.AccumulateGrad(ctx, gradSeqs, gradScales))
	f := func() float64 {
		lps, _, err := m.LogProbs(ctx, gradSeqs)
		require.NoError(t, err)
		var s float64
		for i, lp := range lps {
			s += gradScales[i] * lp
		}
		return s
	}
	for _, p := range m.Params() {
		best := 0
		for i, g := range p.Grad {
			if math.Abs(float64(g)) > math.Abs(float64(p.Grad[best])) {
				best = i
			}
		}
		const eps = 1e-2
		old := p.Value[best]
		p.Value[best] = old + eps
		fp := f()
		p.Value[best] = old - eps
		fm := f()
		p.Value[best] = old
		fd := (fp - fm) / (2 * eps)
		assert.InDelta(t, fd, float64(p.Grad[best]), 2e-2*math.Abs(fd)+1e-3, "%s[%d]", p.Name, best)
	}
}

// torchReference is testdata/torch_reference.json, written by
// testdata/torch_reference.py.
type torchReference struct {
	Torch      string `json:"torch"`
	V, C, E, H int
	Seqs       []struct {
		Ctx [][]int32 `json:"ctx"`
		Tgt []int32   `json:"tgt"`
	} `json:"seqs"`
	Scales   []float64   `json:"scales"`
	Logps    []float64   `json:"logps"`
	Emb      [][]float64 `json:"emb"`
	HW       [][]float64 `json:"h_w"`
	HB       []float64   `json:"h_b"`
	OutW     [][]float64 `json:"out_w"`
	OutB     []float64   `json:"out_b"`
	GradEmb  [][]float64 `json:"grad_emb"`
	GradHW   [][]float64 `json:"grad_h_w"`
	GradHB   []float64   `json:"grad_h_b"`
	GradOutW [][]float64 `json:"grad_out_w"`
	GradOutB []float64   `json:"grad_out_b"`
}

// TestTorchReference compares log-probabilities and gradients with PyTorch
// (testdata/torch_reference.py: the same architecture in float64 on weights
// representable in float32) within 1e-5 relative to each tensor's scale.
func TestTorchReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_reference.json")
	require.NoError(t, err)
	var ref torchReference
	require.NoError(t, json.Unmarshal(raw, &ref))
	words := make([]string, ref.V-FirstWord)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	tok, err := newTokenizerWords(words)
	require.NoError(t, err)

	withKernels(t, func(t *testing.T) {
		m, err := New(tok, Config{Context: ref.C, Embed: ref.E, Hidden: ref.H})
		require.NoError(t, err)
		E, H, V, CE := ref.E, ref.H, ref.V, ref.C*ref.E
		for v := range V {
			for k := range E {
				m.w.emb[v*E+k] = float32(ref.Emb[v][k])
			}
		}
		for h := range H {
			m.w.b1[h] = float32(ref.HB[h])
			for k := range CE {
				m.w.w1[k*H+h] = float32(ref.HW[h][k]) // PyTorch stores out × in
			}
		}
		for v := range V {
			m.w.b2[v] = float32(ref.OutB[v])
			for h := range H {
				m.w.w2[h*V+v] = float32(ref.OutW[v][h])
			}
		}
		var b batch
		for i, s := range ref.Seqs {
			for r := range s.Tgt {
				b.ctx = append(b.ctx, s.Ctx[r]...)
				b.tgt = append(b.tgt, s.Tgt[r])
				b.rowSeq = append(b.rowSeq, int32(i))
			}
		}
		ws := new(workspace)
		m.ZeroGrad()
		m.forward(ws, &b, ref.Scales)
		logps := make([]float64, len(ref.Seqs))
		for r, s := range b.rowSeq {
			logps[s] += ws.logp[r]
		}
		m.backward(ws, &b)
		for i := range logps {
			assert.InDelta(t, ref.Logps[i], logps[i], 1e-5*math.Abs(ref.Logps[i]), "log-probability of sequence %d (torch %s)", i, ref.Torch)
		}
		check := func(name string, want []float64, got []float32) {
			scale := 0.0
			for _, w := range want {
				scale = max(scale, math.Abs(w))
			}
			for i := range want {
				if !assert.InDelta(t, want[i], float64(got[i]), 1e-5*scale, "%s[%d]", name, i) {
					return
				}
			}
		}
		var gEmb, gHW, gOutW []float64
		for v := range V {
			gEmb = append(gEmb, ref.GradEmb[v]...)
		}
		for k := range CE {
			for h := range H {
				gHW = append(gHW, ref.GradHW[h][k])
			}
		}
		for h := range H {
			for v := range V {
				gOutW = append(gOutW, ref.GradOutW[v][h])
			}
		}
		check("embedding grad", gEmb, m.grad.emb)
		check("hidden.weight grad", gHW, m.grad.w1)
		check("hidden.bias grad", ref.GradHB, m.grad.b1)
		check("output.weight grad", gOutW, m.grad.w2)
		check("output.bias grad", ref.GradOutB, m.grad.b2)
	})
}

func TestAccumulateGradFuncMatchesSeparateCalls(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 9})
	m.ZeroGrad()
	lps, lens, err := m.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	require.NoError(t, m.AccumulateGrad(ctx, gradSeqs, gradScales))
	want := snapshotGrads(m)

	m.ZeroGrad()
	var gotLens []int
	got, err := m.AccumulateGradFunc(ctx, gradSeqs, func(l []float64, n []int) ([]float64, error) {
		gotLens = append([]int(nil), n...)
		return gradScales, nil
	})
	require.NoError(t, err)
	assert.Equal(t, lps, got)
	assert.Equal(t, lens, gotLens)
	assert.Equal(t, want, snapshotGrads(m))

	// Errors leave the gradients alone.
	for name, f := range map[string]func([]float64, []int) ([]float64, error){
		"short": func([]float64, []int) ([]float64, error) { return []float64{1}, nil },
		"nan":   func([]float64, []int) ([]float64, error) { return []float64{1, math.NaN(), 1}, nil },
		"error": func([]float64, []int) ([]float64, error) { return nil, context.DeadlineExceeded },
	} {
		_, err := m.AccumulateGradFunc(ctx, gradSeqs, f)
		assert.Error(t, err, name)
		assert.Equal(t, want, snapshotGrads(m), name)
	}
}

func snapshotGrads(m *Model) [][]float32 {
	var out [][]float32
	for _, p := range m.Params() {
		out = append(out, append([]float32(nil), p.Grad...))
	}
	return out
}

func TestAccumulateGradErrors(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 9})
	m.ZeroGrad()
	zero := snapshotGrads(m)
	tests := []struct {
		name   string
		scales []float64
		want   string
	}{
		{"length", []float64{1}, "1 scales for 3 sequences"},
		{"nan", []float64{1, math.NaN(), 1}, "scale 1 is NaN"},
		{"inf", []float64{1, 1, math.Inf(-1)}, "scale 2 is -Inf"},
	}
	for _, tc := range tests {
		err := m.AccumulateGrad(ctx, gradSeqs, tc.scales)
		assert.ErrorIs(t, err, alignment.ErrInvalid, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
		assert.Equal(t, zero, snapshotGrads(m), tc.name)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, m.AccumulateGrad(cancelled, gradSeqs, gradScales), context.Canceled)
	_, _, err := m.LogProbs(cancelled, gradSeqs)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestLogProbsPasses checks that splitting many positions into passes gives
// the log-probabilities of one sequence at a time.
func TestLogProbsPasses(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 4})
	var seqs []dpo.Sequence
	long := ""
	for range 100 {
		long += "two plus three is five . "
	}
	for i := range 6 {
		seqs = append(seqs, gradSeqs[i%len(gradSeqs)], dpo.Sequence{Prompt: alignment.NewPrompt("l", "say hello"), Completion: long})
	}
	lps, lens, err := m.LogProbs(ctx, seqs)
	require.NoError(t, err)
	for i, s := range seqs[:6] {
		lp, n, err := m.LogProb(ctx, s.Prompt, s.Completion)
		require.NoError(t, err)
		assert.Equal(t, lp, lps[i], "a sequence's log-probability does not depend on its batch")
		assert.Equal(t, n, lens[i])
	}
	assert.Equal(t, 601, lens[1], "100 × 6 words and <eos>")

	// The gradient over passes equals the sum of per-sequence gradients.
	scales := make([]float64, len(seqs))
	for i := range scales {
		scales[i] = float64(i%3) - 0.5
	}
	m.ZeroGrad()
	require.NoError(t, m.AccumulateGrad(ctx, seqs, scales))
	all := snapshotGrads(m)
	m.ZeroGrad()
	for i := range seqs {
		require.NoError(t, m.AccumulateGrad(ctx, seqs[i:i+1], scales[i:i+1]))
	}
	one := snapshotGrads(m)
	for p := range all {
		for i := range all[p] {
			if !assert.InDelta(t, one[p][i], all[p][i], 1e-3*(1+math.Abs(float64(one[p][i]))), "param %d[%d]", p, i) {
				break
			}
		}
	}
}

func TestSnapshotIsIndependent(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 4})
	s, err := m.Snapshot()
	require.NoError(t, err)
	before, _, err := s.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	for _, p := range m.Params() {
		for i := range p.Value {
			p.Value[i] += 0.1
		}
	}
	after, _, err := s.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	assert.Equal(t, before, after, "updating the policy must not move the snapshot")
	moved, _, err := m.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	assert.NotEqual(t, before, moved)
}

func TestLogProbsConcurrent(t *testing.T) {
	ctx := t.Context()
	m := newSmall(t, Config{Seed: 4})
	want, _, err := m.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	got := make([][]float64, 16)
	for g := range 16 {
		wg.Go(func() { got[g], _, errs[g] = m.LogProbs(ctx, gradSeqs) })
	}
	wg.Wait()
	for g := range 16 {
		require.NoError(t, errs[g])
		assert.Equal(t, want, got[g])
	}
}

func TestNewErrors(t *testing.T) {
	tok, err := NewTokenizer(smallCorpus, TokenizerOptions{})
	require.NoError(t, err)
	tests := []struct {
		c    Config
		want string
	}{
		{Config{Context: -1}, "Context -1"},
		{Config{Embed: maxEmbed + 1}, "Embed 4097"},
		{Config{Hidden: -3}, "Hidden -3"},
		{Config{Embed: 4096, Hidden: 16384, Context: 1024}, "parameters exceed"},
	}
	for _, tc := range tests {
		_, err := New(tok, tc.c)
		assert.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err = New(nil, Config{})
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

func TestTanhf(t *testing.T) {
	worst := 0.0
	for x := -12.0; x < 12; x += 1e-4 {
		worst = max(worst, math.Abs(float64(tanhf(float32(x)))-math.Tanh(float64(float32(x)))))
	}
	assert.Less(t, worst, 1e-6, "absolute error of tanhf against math.Tanh")
}

// TestSameBitsOnAnyCores checks that training gives the same weights, bit
// for bit, whatever GOMAXPROCS: the products, the softmax, the bias and
// embedding gradients and Adam share their work out over the cores without
// changing any element's order of summation. The model has the benchmarks'
// dimensions, so every parallel path runs.
func TestSameBitsOnAnyCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	train := func(procs int) ([][]float32, []float64) {
		runtime.GOMAXPROCS(procs)
		m := benchModel(t, 1000, Config{Seed: 1})
		seqs := benchSeqs(rand.New(rand.NewPCG(1, 2)), m, 32, 12)
		opt := newAdam(m.Params(), 1e-2)
		var lps []float64
		for step := range 3 {
			m.ZeroGrad()
			var err error
			lps, err = m.AccumulateGradFunc(t.Context(), seqs, func(l []float64, _ []int) ([]float64, error) {
				s := make([]float64, len(l))
				for i := range s {
					s[i] = float64((i+step)%3) - 1
				}
				return s, nil
			})
			require.NoError(t, err)
			opt.step()
		}
		var out [][]float32
		for _, p := range m.Params() {
			out = append(out, append([]float32(nil), p.Value...))
		}
		return out, lps
	}
	want, wantLps := train(1)
	for _, procs := range []int{2, 3, 4} {
		got, gotLps := train(procs)
		assert.Equal(t, wantLps, gotLps, "log-probabilities at GOMAXPROCS=%d", procs)
		for i := range want {
			assert.True(t, slices.Equal(want[i], got[i]), "weights %d differ at GOMAXPROCS=%d", i, procs)
		}
	}
}
