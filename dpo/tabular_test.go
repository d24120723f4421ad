package dpo_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
)

// tabular is a tiny exact dpo.Model for tests: a softmax policy over a fixed
// list of completions, the same for every prompt, with one float32 logit per
// completion. log π(k) = θk − log Σ exp θ, and ∂ log π(k)/∂θj = [j = k] − π(j),
// so its gradients are exact. A completion's length is its word count.
type tabular struct {
	completions []string
	theta, grad []float32
}

var (
	_ dpo.Model        = (*tabular)(nil)
	_ dpo.Saver        = (*tabular)(nil)
	_ alignment.Policy = (*tabular)(nil)
)

var errUnknownCompletion = errors.New("tabular: unknown completion")

func newTabular(completions ...string) *tabular {
	return &tabular{completions: completions, theta: make([]float32, len(completions)), grad: make([]float32, len(completions))}
}

func (m *tabular) index(c string) (int, error) {
	k := slices.Index(m.completions, c)
	if k < 0 {
		return 0, fmt.Errorf("%w %q", errUnknownCompletion, c)
	}
	return k, nil
}

// logSoftmax returns log π over the completions, computed in float64.
func (m *tabular) logSoftmax() []float64 {
	mx := math.Inf(-1)
	for _, t := range m.theta {
		mx = math.Max(mx, float64(t))
	}
	var s float64
	for _, t := range m.theta {
		s += math.Exp(float64(t) - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(m.theta))
	for i, t := range m.theta {
		out[i] = min(0, float64(t)-lse)
	}
	return out
}

func (m *tabular) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lp := m.logSoftmax()
	r := rand.New(rand.NewPCG(o.Seed, uint64(len(p.Text()))))
	out := make([]alignment.Response, o.Count())
	for i := range out {
		k := 0
		if o.Temperature == 0 {
			for j := range lp {
				if lp[j] > lp[k] {
					k = j
				}
			}
		} else {
			u := r.Float64()
			var acc float64
			w := make([]float64, len(lp))
			var tot float64
			for j, l := range lp {
				w[j] = math.Exp(l / o.Temperature)
				tot += w[j]
			}
			for k = 0; k < len(w)-1; k++ {
				acc += w[k] / tot
				if u < acc {
					break
				}
			}
		}
		c := m.completions[k]
		out[i] = alignment.Response{Text: c, Source: "tabular", FinishReason: "stop", Tokens: alignment.WordCount(c), LogProb: lp[k], HasLogProb: true}
	}
	return out, nil
}

func (m *tabular) LogProbs(ctx context.Context, seqs []dpo.Sequence) ([]float64, []int, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	lp := m.logSoftmax()
	logps, lens := make([]float64, len(seqs)), make([]int, len(seqs))
	for i, s := range seqs {
		k, err := m.index(s.Completion)
		if err != nil {
			return nil, nil, err
		}
		logps[i], lens[i] = lp[k], alignment.WordCount(s.Completion)
	}
	return logps, lens, nil
}

func (m *tabular) AccumulateGrad(ctx context.Context, seqs []dpo.Sequence, scales []float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(scales) != len(seqs) {
		return fmt.Errorf("tabular: %d scales for %d sequences", len(scales), len(seqs))
	}
	lp := m.logSoftmax()
	for i, s := range seqs {
		k, err := m.index(s.Completion)
		if err != nil {
			return err
		}
		for j := range m.grad {
			d := -math.Exp(lp[j])
			if j == k {
				d++
			}
			m.grad[j] += float32(scales[i] * d)
		}
	}
	return nil
}

func (m *tabular) Params() []dpo.Param {
	return []dpo.Param{{Name: "theta", Value: m.theta, Grad: m.grad}}
}

func (m *tabular) ZeroGrad() { clear(m.grad) }

func (m *tabular) Snapshot() (dpo.Model, error) {
	return &tabular{completions: slices.Clone(m.completions), theta: slices.Clone(m.theta), grad: make([]float32, len(m.grad))}, nil
}

// prob returns π(c).
func (m *tabular) prob(c string) float64 {
	k, err := m.index(c)
	if err != nil {
		panic(err)
	}
	return math.Exp(m.logSoftmax()[k])
}

// Save writes the completions and logits: a count, then each completion as
// a length-prefixed string, then the logits, all little-endian.
func (m *tabular) Save(w io.Writer) error {
	if err := binary.Write(w, binary.LittleEndian, uint32(len(m.completions))); err != nil {
		return err
	}
	for _, c := range m.completions {
		if err := binary.Write(w, binary.LittleEndian, uint32(len(c))); err != nil {
			return err
		}
		if _, err := io.WriteString(w, c); err != nil {
			return err
		}
	}
	return binary.Write(w, binary.LittleEndian, m.theta)
}

// loadTabular reads what Save wrote.
func loadTabular(r io.Reader) (dpo.Model, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("tabular: count: %w", err)
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("tabular: %d completions is implausible", n)
	}
	cs := make([]string, n)
	for i := range cs {
		var l uint32
		if err := binary.Read(r, binary.LittleEndian, &l); err != nil {
			return nil, fmt.Errorf("tabular: completion %d: %w", i, err)
		}
		if l > 1<<20 {
			return nil, fmt.Errorf("tabular: completion %d of %d bytes is implausible", i, l)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("tabular: completion %d: %w", i, err)
		}
		cs[i] = string(b)
	}
	m := newTabular(cs...)
	if err := binary.Read(r, binary.LittleEndian, m.theta); err != nil {
		return nil, fmt.Errorf("tabular: logits: %w", err)
	}
	return m, nil
}

// faulty wraps a dpo.Model to misbehave on purpose: a fixed log-probability
// and length for one completion, a hook run after every AccumulateGrad (to
// cancel a context between steps), and counts of the calls.
type faulty struct {
	dpo.Model
	badCompletion string
	badLogP       float64
	badLen        int
	onGrad        func()

	mu               sync.Mutex
	logProbs, accums int
}

func (f *faulty) LogProbs(ctx context.Context, seqs []dpo.Sequence) ([]float64, []int, error) {
	f.mu.Lock()
	f.logProbs++
	f.mu.Unlock()
	lp, ln, err := f.Model.LogProbs(ctx, seqs)
	if err != nil {
		return nil, nil, err
	}
	for i, s := range seqs {
		if f.badCompletion != "" && s.Completion == f.badCompletion {
			lp[i], ln[i] = f.badLogP, f.badLen
		}
	}
	return lp, ln, nil
}

func (f *faulty) AccumulateGrad(ctx context.Context, seqs []dpo.Sequence, scales []float64) error {
	f.mu.Lock()
	f.accums++
	f.mu.Unlock()
	err := f.Model.AccumulateGrad(ctx, seqs, scales)
	if f.onGrad != nil {
		f.onGrad()
	}
	return err
}

// fused adds the fused step of dpo.FusedAccumulator to a model, built from
// its two halves, and counts its calls.
type fused struct {
	dpo.Model
	calls int
}

var _ dpo.FusedAccumulator = (*fused)(nil)

func (f *fused) AccumulateGradFunc(ctx context.Context, seqs []dpo.Sequence, scales func([]float64, []int) ([]float64, error)) ([]float64, error) {
	f.calls++
	lp, ln, err := f.LogProbs(ctx, seqs)
	if err != nil {
		return nil, err
	}
	s, err := scales(lp, ln)
	if err != nil {
		return nil, err
	}
	return lp, f.AccumulateGrad(ctx, seqs, s)
}
