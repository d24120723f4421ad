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
// LogProb is the sum of the drawn tokens' log-probabilities under the
// untempered, untruncated model (<eos> included when drawn), and Tokens
// their number, so a response that stopped at <eos> has the LogProb and
// Tokens that LogProb gives for its Text. With o.LogProbs, TokenLogProbs
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

	C := m.cfg.Context
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
	probs := make([]float64, V)
	exps := make([]float32, V)
	order := make([]int32, V)
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
			tok := m.draw(z, o, s, probs, order)
			s.ids = append(s.ids, int32(tok))
			s.logps = append(s.logps, logProb(z[tok], mx, sum))
			if o.LogProbs {
				s.tlp = append(s.tlp, m.tokenLogProb(z, mx, sum, tok, o.TopLogProbs, order))
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

// draw picks the next token from the logits z.
func (m *Model) draw(z []float32, o alignment.SampleOptions, s *sample, probs []float64, order []int32) int {
	if o.Temperature == 0 {
		best := TokenEOS
		for v := FirstWord; v < len(z); v++ {
			if z[v] > z[best] {
				best = v
			}
		}
		return best
	}
	// Only <eos> and words may be drawn.
	mx := z[TokenEOS]
	for _, v := range z[FirstWord:] {
		mx = max(mx, v)
	}
	clear(probs[:FirstWord])
	var total float64
	for v := TokenEOS; v < len(z); v++ {
		if v > TokenEOS && v < FirstWord {
			continue
		}
		e := math.Exp(float64(z[v]-mx) / o.Temperature)
		probs[v] = e
		total += e
	}
	candidates := order[:0]
	if o.TopP > 0 && o.TopP < 1 {
		for v := TokenEOS; v < len(z); v++ {
			if probs[v] > 0 {
				candidates = append(candidates, int32(v))
			}
		}
		slices.SortFunc(candidates, func(a, b int32) int {
			if probs[a] != probs[b] {
				if probs[a] > probs[b] {
					return -1
				}
				return 1
			}
			return int(a - b)
		})
		var kept float64
		for i, v := range candidates {
			kept += probs[v]
			if kept >= o.TopP*total {
				candidates = candidates[:i+1]
				break
			}
		}
		u := s.rng.Float64() * kept
		for _, v := range candidates {
			u -= probs[v]
			if u < 0 {
				return int(v)
			}
		}
		return int(candidates[len(candidates)-1])
	}
	u := s.rng.Float64() * total
	last := TokenEOS
	for v := TokenEOS; v < len(z); v++ {
		if probs[v] == 0 {
			continue
		}
		u -= probs[v]
		last = v
		if u < 0 {
			return v
		}
	}
	return last
}

// tokenLogProb describes token tok at a position with logits z, whose
// largest is mx and Σ exp(z − mx) is sum, with the top most likely
// alternatives.
func (m *Model) tokenLogProb(z []float32, mx, sum float32, tok, top int, order []int32) alignment.TokenLogProb {
	t := alignment.TokenLogProb{Token: m.tok.Token(tok), LogProb: logProb(z[tok], mx, sum)}
	if top <= 0 {
		return t
	}
	top = min(top, len(z))
	idx := order[:len(z)]
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if z[a] != z[b] {
			if z[a] > z[b] {
				return -1
			}
			return 1
		}
		return int(a - b)
	})
	t.Top = make([]alignment.TokenLogProb, top)
	for i, v := range idx[:top] {
		t.Top[i] = alignment.TokenLogProb{Token: m.tok.Token(int(v)), LogProb: logProb(z[v], mx, sum)}
	}
	return t
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
