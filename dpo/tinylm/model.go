package tinylm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Default dimensions of a Model, those of the PyTorch peer in
// /work/shared/bench/torch_tinylm_step.py.
const (
	DefaultContext = 8
	DefaultEmbed   = 32
	DefaultHidden  = 128
	// DefaultName is the Response.Source of a model whose Config has no Name.
	DefaultName = "tinylm"
)

// Limits on the dimensions, which keep a checkpoint from asking for more
// memory than a small model needs.
const (
	maxContext = 1 << 10
	maxEmbed   = 1 << 12
	maxHidden  = 1 << 14
	maxVocab   = 1 << 22
	maxParams  = 1 << 28
)

// maxRows bounds the token positions processed in one pass, and with it the
// memory of the logits (maxRows × vocabulary floats).
const maxRows = 2048

var (
	_ dpo.Model        = (*Model)(nil)
	_ alignment.Policy = (*Model)(nil)
	_ alignment.Scorer = (*Model)(nil)
)

// Config sets the dimensions, initialisation and name of a new Model. Zero
// fields take the defaults.
type Config struct {
	// Context is the number of previous tokens the model sees (default 8).
	Context int
	// Embed is the width of a token embedding (default 32).
	Embed int
	// Hidden is the width of the hidden layer (default 128).
	Hidden int
	// Seed draws the initial weights.
	Seed uint64
	// Name is the Source of the model's responses (default "tinylm").
	Name string
}

// Model is a word-level neural language model in the manner of Bengio et
// al. (2003): the embeddings of the previous Context tokens are concatenated,
// pass through one tanh layer and a softmax over the vocabulary,
//
//	log π(t | c₁…c_C) = log_softmax(W₂ᵀ·tanh(W₁ᵀ·[E[c₁]; …; E[c_C]] + b₁) + b₂)[t]
//
// which is the architecture of the PyTorch peer
// /work/shared/bench/torch_tinylm_step.py (Embedding, Linear, tanh, Linear,
// log_softmax). Weights are float32; products run through float32 matrix
// kernels (AVX-512 or AVX2 assembly on amd64 CPUs that have them, portable
// Go elsewhere) batched over every token position of every sequence of a
// call, and log-probabilities are summed in float64.
//
// Model implements alignment.Policy, alignment.Scorer and dpo.Model.
// Generate, LogProbs, LogProb, Save, Clone and Snapshot only read the
// weights and may run concurrently with each other; Fit, AccumulateGrad,
// AccumulateGradFunc, ZeroGrad and updates through Params must not run
// concurrently with anything else on the model.
type Model struct {
	tok  *Tokenizer
	cfg  Config
	v    int // vocabulary size
	w    weights
	grad weights

	pool  sync.Pool  // *workspace for Generate and LogProbs
	train *workspace // for AccumulateGrad and Fit
}

// weights are the parameter tensors, row-major:
//
//	emb  V × E       (embedding of token v in row v)
//	w1   C·E × H     (input-major: row j·E+k is input k of context slot j)
//	b1   H
//	w2   H × V       (input-major: column v gives the logit of token v)
//	b2   V
//
// The linear layers are stored input-major, the transpose of PyTorch's
// weight, so that the forward products read them row by row.
type weights struct {
	emb, w1, b1, w2, b2 []float32
}

// New returns a model over tok's vocabulary with the dimensions of c and
// weights drawn from c.Seed as PyTorch initialises its layers: embeddings
// from N(0, 1), each linear layer's weights and biases uniform in ±1/√fan-in.
// Dimensions out of range are an error wrapping alignment.ErrInvalid.
func New(tok *Tokenizer, c Config) (*Model, error) {
	if tok == nil {
		return nil, fmt.Errorf("tinylm: nil tokenizer: %w", alignment.ErrInvalid)
	}
	m, err := newModel(tok, c)
	if err != nil {
		return nil, err
	}
	r := seeds.Rand(seeds.Derive(c.Seed, "tinylm", "init"))
	for i := range m.w.emb {
		m.w.emb[i] = float32(r.NormFloat64())
	}
	uniform(r, m.w.w1, 1/math.Sqrt(float64(m.cfg.Context*m.cfg.Embed)))
	uniform(r, m.w.b1, 1/math.Sqrt(float64(m.cfg.Context*m.cfg.Embed)))
	uniform(r, m.w.w2, 1/math.Sqrt(float64(m.cfg.Hidden)))
	uniform(r, m.w.b2, 1/math.Sqrt(float64(m.cfg.Hidden)))
	return m, nil
}

// newModel allocates a zero model after checking c, filled with defaults.
func newModel(tok *Tokenizer, c Config) (*Model, error) {
	if c.Context == 0 {
		c.Context = DefaultContext
	}
	if c.Embed == 0 {
		c.Embed = DefaultEmbed
	}
	if c.Hidden == 0 {
		c.Hidden = DefaultHidden
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	for _, d := range []struct {
		name  string
		v, hi int
	}{{"Context", c.Context, maxContext}, {"Embed", c.Embed, maxEmbed}, {"Hidden", c.Hidden, maxHidden}, {"vocabulary size", tok.Len(), maxVocab}} {
		if d.v < 1 || d.v > d.hi {
			return nil, fmt.Errorf("tinylm: config: %s %d is outside [1, %d]: %w", d.name, d.v, d.hi, alignment.ErrInvalid)
		}
	}
	if len(c.Name) > maxString {
		return nil, fmt.Errorf("tinylm: config: Name is %d bytes long, more than %d: %w", len(c.Name), maxString, alignment.ErrInvalid)
	}
	v := tok.Len()
	if n := v*c.Embed + c.Context*c.Embed*c.Hidden + c.Hidden*v; n > maxParams {
		return nil, fmt.Errorf("tinylm: config: %d parameters exceed the limit of %d: %w", n, maxParams, alignment.ErrInvalid)
	}
	m := &Model{tok: tok, cfg: c, v: v}
	m.w = m.alloc()
	m.grad = m.alloc()
	return m, nil
}

func (m *Model) alloc() weights {
	c := m.cfg
	return weights{
		emb: make([]float32, m.v*c.Embed),
		w1:  make([]float32, c.Context*c.Embed*c.Hidden),
		b1:  make([]float32, c.Hidden),
		w2:  make([]float32, c.Hidden*m.v),
		b2:  make([]float32, m.v),
	}
}

func uniform(r *rand.Rand, s []float32, bound float64) {
	for i := range s {
		s[i] = float32((2*r.Float64() - 1) * bound)
	}
}

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// Config returns the model's configuration with defaults filled in.
func (m *Model) Config() Config { return m.cfg }

// Name returns the Source of the model's responses.
func (m *Model) Name() string { return m.cfg.Name }

// Params returns the parameters, aliasing the model's storage, in the order
// and layout of the weights documentation: "embedding" (V×E), "hidden.weight"
// (C·E×H), "hidden.bias" (H), "output.weight" (H×V), "output.bias" (V).
func (m *Model) Params() []dpo.Param {
	return []dpo.Param{
		{Name: "embedding", Value: m.w.emb, Grad: m.grad.emb},
		{Name: "hidden.weight", Value: m.w.w1, Grad: m.grad.w1},
		{Name: "hidden.bias", Value: m.w.b1, Grad: m.grad.b1},
		{Name: "output.weight", Value: m.w.w2, Grad: m.grad.w2},
		{Name: "output.bias", Value: m.w.b2, Grad: m.grad.b2},
	}
}

// ZeroGrad sets every gradient to zero.
func (m *Model) ZeroGrad() {
	for _, p := range m.Params() {
		clear(p.Grad)
	}
}

// Snapshot returns an independent copy of the model for use as a frozen
// reference policy; it implements dpo.Model.
func (m *Model) Snapshot() (dpo.Model, error) { return m.Clone(), nil }

// Clone returns an independent copy of the model, gradients included.
func (m *Model) Clone() *Model {
	c := &Model{tok: m.tok, cfg: m.cfg, v: m.v, w: m.alloc(), grad: m.alloc()}
	src, dst := m.Params(), c.Params()
	for i := range src {
		copy(dst[i].Value, src[i].Value)
		copy(dst[i].Grad, src[i].Grad)
	}
	return c
}

// LogProb returns log π(completion | p) summed over the completion's tokens
// and its final <eos>, and the number of those tokens. It implements
// alignment.Scorer.
func (m *Model) LogProb(ctx context.Context, p alignment.Prompt, completion string) (float64, int, error) {
	lp, n, err := m.LogProbs(ctx, []dpo.Sequence{{Prompt: p, Completion: completion}})
	if err != nil {
		return 0, 0, err
	}
	return lp[0], n[0], nil
}

// LogProbs returns, for each sequence, log π(completion | prompt) summed
// over the completion's tokens and its final <eos>, and the number of those
// tokens; it implements dpo.Model. All positions of all sequences go through
// the network together, in passes of at most a few thousand positions.
func (m *Model) LogProbs(ctx context.Context, seqs []dpo.Sequence) ([]float64, []int, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ws := m.getWorkspace()
	defer m.pool.Put(ws)
	logps := make([]float64, len(seqs))
	lens := make([]int, len(seqs))
	err := m.passes(ctx, ws, seqs, func(b *batch) error {
		m.forward(ws, b, nil)
		for r, s := range b.rowSeq {
			logps[s] += ws.logp[r]
			lens[s]++
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return logps, lens, nil
}

// AccumulateGrad adds Σᵢ scales[i]·∇θ log π(seqs[i]) to the gradients of
// Params; it implements dpo.Model. A length mismatch or a scale that is not
// finite is an error wrapping alignment.ErrInvalid, reported before any
// gradient changes. Sequences of more positions than one pass holds are
// processed in several; a done ctx stops the work between passes, after the
// gradients of the passes done were added.
func (m *Model) AccumulateGrad(ctx context.Context, seqs []dpo.Sequence, scales []float64) error {
	if len(scales) != len(seqs) {
		return fmt.Errorf("tinylm: %d scales for %d sequences: %w", len(scales), len(seqs), alignment.ErrInvalid)
	}
	if err := checkScales(scales); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ws := m.trainWorkspace()
	return m.passes(ctx, ws, seqs, func(b *batch) error {
		m.forward(ws, b, scales)
		m.backward(ws, b)
		return nil
	})
}

// AccumulateGradFunc runs one forward pass over seqs, calls scales with
// their summed log-probabilities and lengths (as LogProbs returns them), and
// adds Σᵢ scales[i]·∇θ log π(seqs[i]) to the gradients, reusing the forward
// pass when the sequences fit in one. It is the fused form of LogProbs
// followed by AccumulateGrad that a DPO step needs, and returns the
// log-probabilities. An error from scales is returned as is; a wrong number
// of scales or one that is not finite wraps alignment.ErrInvalid. In both
// cases the gradients are unchanged.
func (m *Model) AccumulateGradFunc(ctx context.Context, seqs []dpo.Sequence, scales func(logps []float64, lens []int) ([]float64, error)) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ws := m.trainWorkspace()
	b := m.plan(ws, seqs, 0, len(seqs))
	if b.end < len(seqs) {
		// Too many positions for one pass: score, then recompute per pass.
		logps, lens, err := m.LogProbs(ctx, seqs)
		if err != nil {
			return nil, err
		}
		s, err := scales(logps, lens)
		if err != nil {
			return nil, err
		}
		return logps, m.AccumulateGrad(ctx, seqs, s)
	}
	m.forward(ws, b, nil)
	logps := make([]float64, len(seqs))
	lens := make([]int, len(seqs))
	for r, s := range b.rowSeq {
		logps[s] += ws.logp[r]
		lens[s]++
	}
	s, err := scales(logps, lens)
	if err != nil {
		return nil, err
	}
	if len(s) != len(seqs) {
		return nil, fmt.Errorf("tinylm: %d scales for %d sequences: %w", len(s), len(seqs), alignment.ErrInvalid)
	}
	if err := checkScales(s); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.gradients(ws, b, s)
	m.backward(ws, b)
	return logps, nil
}

func checkScales(scales []float64) error {
	for i, s := range scales {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("tinylm: scale %d is %v: %w", i, s, alignment.ErrInvalid)
		}
	}
	return nil
}

// passes plans the rows of seqs in passes of about maxRows positions and
// calls f with each, checking ctx between passes.
func (m *Model) passes(ctx context.Context, ws *workspace, seqs []dpo.Sequence, f func(*batch) error) error {
	for start := 0; start < len(seqs); {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := m.plan(ws, seqs, start, len(seqs))
		if err := f(b); err != nil {
			return err
		}
		start = b.end
	}
	return nil
}

// batch is the token positions of one pass: for row r, the context window
// ctx[r*C:(r+1)*C], the target token tgt[r] and its sequence rowSeq[r].
type batch struct {
	ctx    []int32
	tgt    []int32
	rowSeq []int32
	end    int // index after the last sequence planned
}

// plan fills ws.batch with the positions of seqs[start:], stopping before
// the sequence that would take the pass past maxRows (a pass holds at least
// one sequence).
func (m *Model) plan(ws *workspace, seqs []dpo.Sequence, start, end int) *batch {
	b := &ws.batch
	b.ctx, b.tgt, b.rowSeq = b.ctx[:0], b.tgt[:0], b.rowSeq[:0]
	C := m.cfg.Context
	for i := start; i < end; i++ {
		ids := ws.ids[:0]
		for range C {
			ids = append(ids, TokenBOS)
		}
		emit := func(id int32) { ids = append(ids, id) }
		ws.text = m.tok.appendPrompt(ws.text, seqs[i].Prompt, emit)
		ids = append(ids, TokenSep)
		first := len(ids)
		ws.text = m.tok.appendText(ws.text, seqs[i].Completion, emit)
		ids = append(ids, TokenEOS)
		ws.ids = ids
		n := len(ids) - first
		if i > start && len(b.tgt)+n > maxRows {
			b.end = i
			return b
		}
		for t := first; t < len(ids); t++ {
			b.ctx = append(b.ctx, ids[t-C:t]...)
			b.tgt = append(b.tgt, ids[t])
			b.rowSeq = append(b.rowSeq, int32(i))
		}
	}
	b.end = end
	return b
}

// workspace holds the activations of one pass, reused across calls by one
// goroutine at a time.
type workspace struct {
	batch batch
	ids   []int32
	text  []byte
	gemm  gemmBuf

	x    []float32 // rows × C·E gathered embeddings
	a    []float32 // rows × H hidden activations
	z    []float32 // rows × V logits, then probabilities, then their gradient
	sum  []float32 // rows: Σ exp(z − max)
	logp []float64 // rows: log-probability of the target

	da, dx []float32

	// packW1 and packW2 hold the weights packed for sgemm while Generate
	// runs (the weights cannot change then); nil otherwise.
	packW1, packW2 []float32
	packBuf        [2][]float32
}

func (m *Model) getWorkspace() *workspace {
	if ws, ok := m.pool.Get().(*workspace); ok {
		return ws
	}
	return new(workspace)
}

func (m *Model) trainWorkspace() *workspace {
	if m.train == nil {
		m.train = new(workspace)
	}
	return m.train
}

// forward computes the log-probability of every row's target into ws.logp.
// With scales (indexed by sequence) it also leaves in ws.z the gradient of
// Σ scales·log π with respect to the logits, for backward.
func (m *Model) forward(ws *workspace, b *batch, scales []float64) {
	rows, V := len(b.tgt), m.v
	ws.sum = grow(ws.sum, rows)
	if cap(ws.logp) < rows {
		ws.logp = make([]float64, rows)
	}
	ws.logp = ws.logp[:rows]

	m.logits(ws, b.ctx, rows)

	parallelRows(rows, rows*V*8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			zr := ws.z[r*V : (r+1)*V]
			t := b.tgt[r]
			mx := vmax(zr)
			zt := zr[t]
			s := expSum(zr, zr, mx)
			ws.sum[r] = s
			ws.logp[r] = logProb(zt, mx, s)
			if scales != nil {
				sc := float32(scales[b.rowSeq[r]])
				scale(zr, -sc/s)
				zr[t] += sc
			}
		}
	})
}

// logits computes the hidden activations (ws.a) and the logits (ws.z) of
// rows context windows ctx[r*C:(r+1)*C], with the packed weights of ws when
// it has them.
func (m *Model) logits(ws *workspace, ctx []int32, rows int) {
	C, E, H, V := m.cfg.Context, m.cfg.Embed, m.cfg.Hidden, m.v
	CE := C * E
	ws.x = grow(ws.x, rows*CE)
	ws.a = grow(ws.a, rows*H)
	ws.z = grow(ws.z, rows*V)
	for r := range rows {
		xr := ws.x[r*CE : (r+1)*CE]
		for j, id := range ctx[r*C : (r+1)*C] {
			copy(xr[j*E:(j+1)*E], m.w.emb[int(id)*E:(int(id)+1)*E])
		}
	}
	sgemm(&ws.gemm, rows, H, CE, matrix{ws.x, CE, 1}, matrix{m.w.w1, H, 1}, ws.packW1, ws.a, H, false, m.w.b1)
	tanh32(ws.a)
	sgemm(&ws.gemm, rows, V, H, matrix{ws.a, H, 1}, matrix{m.w.w2, V, 1}, ws.packW2, ws.z, V, false, m.w.b2)
}

// logProb returns the log-softmax of the logit zt in a row whose largest
// logit is mx and whose Σ exp(z − mx) is sum, in float64.
func logProb(zt, mx, sum float32) float64 {
	return float64(zt) - float64(mx) - math.Log(float64(sum))
}

// gradients turns the probabilities forward left in ws.z (called without
// scales) into the gradient of Σ scales·log π with respect to the logits.
func (m *Model) gradients(ws *workspace, b *batch, scales []float64) {
	rows, V := len(b.tgt), m.v
	parallelRows(rows, rows*V, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			zr := ws.z[r*V : (r+1)*V]
			sc := float32(scales[b.rowSeq[r]])
			scale(zr, -sc/ws.sum[r])
			zr[b.tgt[r]] += sc
		}
	})
}

// backward adds the gradients of the loss whose logit gradient forward or
// gradients left in ws.z.
func (m *Model) backward(ws *workspace, b *batch) {
	rows := len(b.tgt)
	C, E, H, V := m.cfg.Context, m.cfg.Embed, m.cfg.Hidden, m.v
	CE := C * E
	g := &m.grad

	for r := range rows {
		axpy(1, ws.z[r*V:(r+1)*V], g.b2)
	}
	sgemm(&ws.gemm, H, V, rows, matrix{ws.a, 1, H}, matrix{ws.z, V, 1}, nil, g.w2, V, true, nil)
	ws.da = grow(ws.da, rows*H)
	sgemm(&ws.gemm, rows, H, V, matrix{ws.z, V, 1}, matrix{m.w.w2, 1, V}, nil, ws.da, H, false, nil)
	for i, a := range ws.a {
		ws.da[i] *= 1 - a*a
	}
	for r := range rows {
		axpy(1, ws.da[r*H:(r+1)*H], g.b1)
	}
	sgemm(&ws.gemm, CE, H, rows, matrix{ws.x, 1, CE}, matrix{ws.da, H, 1}, nil, g.w1, H, true, nil)
	ws.dx = grow(ws.dx, rows*CE)
	sgemm(&ws.gemm, rows, CE, H, matrix{ws.da, H, 1}, matrix{m.w.w1, 1, H}, nil, ws.dx, CE, false, nil)
	for r := range rows {
		dxr := ws.dx[r*CE : (r+1)*CE]
		for j, id := range b.ctx[r*C : (r+1)*C] {
			axpy(1, dxr[j*E:(j+1)*E], g.emb[int(id)*E:(int(id)+1)*E])
		}
	}
}
