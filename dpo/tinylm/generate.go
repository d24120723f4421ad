package tinylm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// DefaultMaxTokens is the completion length cap when SampleOptions.MaxTokens
// is 0.
const DefaultMaxTokens = 32

// Generate draws o.Count() completions of p; it implements alignment.Policy.
//
// Temperature 0 is greedy decoding (the most likely token, the lowest ID
// among equals); otherwise tokens are drawn from the softmax of logits ÷
// Temperature, truncated to the nucleus of mass TopP when 0 < TopP < 1.
// Generation stops at <eos> (FinishReason "stop"), at the first of o.Stop
// found in the text (FinishReason "stop"; the text ends before it and keeps
// only the tokens wholly before it; empty stop strings are ignored), or after
// MaxTokens tokens (default DefaultMaxTokens; FinishReason "length"). The
// special tokens other than <eos> are never drawn, so Text always encodes
// back to the tokens drawn. Extra is ignored.
//
// Sample i draws from its own generator seeded from (o.Seed, i), so the
// responses depend only on the prompt and the options; the samples run as
// the rows of one batch.
//
// LogProb is the sum of the log-probabilities of the response's tokens (those
// drawn, less any cut by a stop string; <eos> included when drawn) under the
// untempered, untruncated model, and Tokens their number, so a response that
// stopped at <eos> has exactly the LogProb and Tokens that Model.LogProb
// gives for its Text. With o.LogProbs, TokenLogProbs
// lists those tokens ("<eos>" by name) with the o.TopLogProbs most likely
// alternatives of each position, under the same untempered model.
//
// Options out of range (negative or NaN Temperature, TopP outside [0, 1],
// negative MaxTokens or TopLogProbs) are an error wrapping
// alignment.ErrInvalid.
func (m *Model) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := checkSampleOptions(o); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	maxTokens := o.MaxTokens
	if maxTokens == 0 {
		maxTokens = DefaultMaxTokens
	}
	ws := m.getWorkspace()
	defer m.pool.Put(ws)
	// Every step multiplies a few rows by the same weights: pack them once
	// for all steps instead of once per step.
	C, E, H := m.cfg.Context, m.cfg.Embed, m.cfg.Hidden
	ws.packBuf[0] = packAll(ws.packBuf[0], matrix{m.w.w1, H, 1}, C*E, H)
	ws.packBuf[1] = packAll(ws.packBuf[1], matrix{m.w.w2, m.v, 1}, H, m.v)
	ws.packW1, ws.packW2 = ws.packBuf[0], ws.packBuf[1]
	defer func() { ws.packW1, ws.packW2 = nil, nil }()

	prompt := make([]int32, 0, C+16)
	for range C {
		prompt = append(prompt, TokenBOS)
	}
	ws.text = m.tok.appendPrompt(ws.text, p, func(id int32) { prompt = append(prompt, id) })
	prompt = append(prompt, TokenSep)

	samples := make([]sample, o.Count())
	for i := range samples {
		samples[i] = sample{
			ids:  slices.Clip(slices.Clone(prompt)),
			gen:  len(prompt),
			keep: -1,
			rng:  seeds.Rand(seeds.Derive(o.Seed, "tinylm", "sample", strconv.Itoa(i))),
		}
	}
	maxStop := 0
	for _, s := range o.Stop {
		maxStop = max(maxStop, len(s))
	}

	V := m.v
	weights := make([]float32, V)
	exps := make([]float32, V)
	keys := make([]uint64, 0, V)
	var active []int
	for step := 0; step < maxTokens; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		active = active[:0]
		ws.batch.ctx = ws.batch.ctx[:0]
		for i := range samples {
			if s := &samples[i]; !s.done {
				active = append(active, i)
				ws.batch.ctx = append(ws.batch.ctx, s.ids[len(s.ids)-C:]...)
			}
		}
		if len(active) == 0 {
			break
		}
		m.logits(ws, ws.batch.ctx, len(active))
		for r, i := range active {
			s := &samples[i]
			z := ws.z[r*V : (r+1)*V]
			// The normaliser is computed as forward computes it, so that
			// LogProb equals Scorer.LogProb of the same tokens exactly.
			mx := vmax(z)
			sum := expSum(exps, z, mx)
			tok := m.draw(z, mx, exps, o, s, weights, keys)
			s.ids = append(s.ids, int32(tok))
			s.logps = append(s.logps, logProb(z[tok], mx, sum))
			if o.LogProbs {
				s.tlp = append(s.tlp, m.tokenLogProb(z, mx, sum, tok, o.TopLogProbs, keys))
			}
			if tok == TokenEOS {
				s.done, s.finish = true, "stop"
				continue
			}
			if maxStop > 0 {
				s.checkStop(m.tok, o.Stop, maxStop)
			}
		}
	}

	out := make([]alignment.Response, len(samples))
	for i := range samples {
		out[i] = samples[i].response(m)
	}
	return out, nil
}

// sample is the state of one completion being drawn.
type sample struct {
	ids    []int32 // BOS padding, prompt, SEP, then the tokens drawn
	gen    int     // index in ids of the first token drawn
	rng    *rand.Rand
	logps  []float64
	tlp    []alignment.TokenLogProb
	text   strings.Builder // text of the tokens drawn, when stop strings are watched
	done   bool
	finish string
	keep   int // tokens kept when a stop string cut the text; -1 for all
}

// checkStop appends the last token to the text and ends the sample when a
// stop string appears, keeping the tokens wholly before it.
func (s *sample) checkStop(tok *Tokenizer, stops []string, maxStop int) {
	drawn := s.ids[s.gen:]
	w := tok.Token(int(drawn[len(drawn)-1]))
	before := s.text.Len()
	if len(drawn) > 1 && !closing(w) && !opening(tok.Token(int(drawn[len(drawn)-2]))) {
		s.text.WriteByte(' ')
	}
	s.text.WriteString(w)
	text := s.text.String()
	from := max(0, before-maxStop)
	cut := -1
	for _, st := range stops {
		if st == "" {
			continue
		}
		if i := strings.Index(text[from:], st); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	if cut < 0 {
		return
	}
	// Decoding a prefix of the tokens gives a prefix of the text, so keep
	// the longest prefix whose text ends at or before the stop string.
	keep := 0
	for j := 1; j <= len(drawn); j++ {
		if len(tok.Decode(int32sToInts(drawn[:j]))) > cut {
			break
		}
		keep = j
	}
	s.done, s.finish, s.keep = true, "stop", keep
}

func (s *sample) response(m *Model) alignment.Response {
	drawn := s.ids[s.gen:]
	finish := s.finish
	if !s.done {
		finish = "length"
	}
	n := len(drawn)
	if s.keep >= 0 {
		n = s.keep
	}
	words := drawn[:n]
	if n > 0 && words[n-1] == TokenEOS {
		words = words[:n-1]
	}
	r := alignment.Response{
		Text:         m.tok.Decode(int32sToInts(words)),
		Source:       m.cfg.Name,
		FinishReason: finish,
		Tokens:       n,
		HasLogProb:   true,
	}
	for _, lp := range s.logps[:n] {
		r.LogProb += lp
	}
	if s.tlp != nil {
		r.TokenLogProbs = s.tlp[:n:n]
	}
	return r
}

// draw picks the next token from the logits z, whose largest is mx and
// whose exp(z − mx) are exps; w and keys are scratch space of the
// vocabulary's size.
func (m *Model) draw(z []float32, mx float32, exps []float32, o alignment.SampleOptions, s *sample, w []float32, keys []uint64) int {
	if o.Temperature == 0 {
		best := TokenEOS
		for v := FirstWord; v < len(z); v++ {
			if z[v] > z[best] {
				best = v
			}
		}
		return best
	}
	// Only <eos> and words may be drawn: the other special tokens get
	// weight 0.
	dmx := z[TokenEOS]
	if len(z) > FirstWord {
		dmx = max(dmx, vmax(z[FirstWord:]))
	}
	switch {
	case o.Temperature == 1 && dmx == mx:
		// The weights exp((z − dmx)/1) are the exps already computed.
		copy(w, exps)
	case o.Temperature == 1:
		expSum(w, z, dmx)
	default:
		for v, x := range z {
			// In float64, so that a tiny temperature sends the others to
			// −Inf (weight exp(expMin) ≈ 1e-38) rather than to NaN.
			w[v] = float32(float64(x-dmx) / o.Temperature)
		}
		expSum(w, w, 0)
	}
	clear(w[:TokenEOS])
	clear(w[TokenEOS+1 : FirstWord])
	var total float64
	for _, x := range w {
		total += float64(x)
	}
	if o.TopP > 0 && o.TopP < 1 {
		keys = keys[:0]
		for v, x := range w {
			if x > 0 {
				keys = append(keys, uint64(^orderKey(x))<<32|uint64(v))
			}
		}
		n, kept := nucleus(keys, w, o.TopP*total)
		u := s.rng.Float64() * kept
		for _, k := range keys[:n] {
			u -= float64(w[uint32(k)])
			if u < 0 {
				return int(uint32(k))
			}
		}
		return int(uint32(keys[n-1]))
	}
	u := s.rng.Float64() * total
	last := TokenEOS
	for v, x := range w {
		if x == 0 {
			continue
		}
		u -= float64(x)
		last = v
		if u < 0 {
			return v
		}
	}
	return last
}

// nucleus rearranges the distinct keys (as draw makes them: most probable
// token first) so that keys[:n] hold the n most probable tokens, n being the
// least count whose weight reaches target, and returns n and their weight.
// It is a quickselect on the cumulative weight, linear in expectation where
// sorting would be n log n; keys[:n] come out in an order that depends only
// on the input, which keeps sampling repeatable.
func nucleus(keys []uint64, w []float32, target float64) (int, float64) {
	lo, hi := 0, len(keys)
	var acc float64 // weight of keys[:lo], all in the nucleus
	for hi-lo > 32 {
		a, b, c := keys[lo], keys[lo+(hi-lo)/2], keys[hi-1]
		pivot := max(min(a, b), min(max(a, b), c))
		// A Lomuto partition, keys below the pivot to keys[lo:p] in the
		// order met, computed with masks instead of a branch that keys in
		// random order would mispredict half the time.
		p := lo
		for i := lo; i < hi; i++ {
			k, kp := keys[i], keys[p]
			var below uint64
			if k < pivot {
				below = 1
			}
			swap := (k ^ kp) & -below
			keys[i], keys[p] = k^swap, kp^swap
			p += int(below)
		}
		for i := p; i < hi; i++ {
			if keys[i] == pivot {
				keys[p], keys[i] = keys[i], keys[p]
				break
			}
		}
		var left float64
		for _, k := range keys[lo:p] {
			left += float64(w[uint32(k)])
		}
		if acc+left >= target {
			hi = p
			continue
		}
		acc += left + float64(w[uint32(keys[p])])
		if acc >= target {
			return p + 1, acc
		}
		lo = p + 1
	}
	slices.Sort(keys[lo:hi])
	for i := lo; i < hi; i++ {
		acc += float64(w[uint32(keys[i])])
		if acc >= target {
			return i + 1, acc
		}
	}
	return hi, acc
}

// tokenLogProb describes token tok at a position with logits z, whose
// largest is mx and Σ exp(z − mx) is sum, with the top most likely
// alternatives.
func (m *Model) tokenLogProb(z []float32, mx, sum float32, tok, top int, keys []uint64) alignment.TokenLogProb {
	t := alignment.TokenLogProb{Token: m.tok.Token(tok), LogProb: logProb(z[tok], mx, sum)}
	if top <= 0 {
		return t
	}
	keys = keys[:0]
	for v, x := range z {
		keys = append(keys, uint64(^orderKey(x))<<32|uint64(v))
	}
	slices.Sort(keys)
	t.Top = make([]alignment.TokenLogProb, min(top, len(z)))
	for i := range t.Top {
		v := int(uint32(keys[i]))
		t.Top[i] = alignment.TokenLogProb{Token: m.tok.Token(v), LogProb: logProb(z[v], mx, sum)}
	}
	return t
}

// orderKey maps float32 values to uint32 keys in the same order.
func orderKey(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func checkSampleOptions(o alignment.SampleOptions) error {
	switch {
	case math.IsNaN(o.Temperature) || o.Temperature < 0 || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("tinylm: sample options: Temperature %v must be a finite number ≥ 0: %w", o.Temperature, alignment.ErrInvalid)
	case math.IsNaN(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return fmt.Errorf("tinylm: sample options: TopP %v is outside [0, 1]: %w", o.TopP, alignment.ErrInvalid)
	case o.MaxTokens < 0:
		return fmt.Errorf("tinylm: sample options: MaxTokens %d is negative: %w", o.MaxTokens, alignment.ErrInvalid)
	case o.TopLogProbs < 0:
		return fmt.Errorf("tinylm: sample options: TopLogProbs %d is negative: %w", o.TopLogProbs, alignment.ErrInvalid)
	}
	return nil
}

func int32sToInts(s []int32) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}
