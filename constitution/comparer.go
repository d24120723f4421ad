package constitution

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/internal/verdict"
)

// ComparerName is the name mixed into the Comparer's seeds.
const ComparerName = "constitution.Comparer"

// The clamp applied to each presentation order's probability in
// chain-of-thought mode: Bai et al. (2022) found chain-of-thought labels
// overconfident and clamped them to 40–60%.
const (
	ClampLow  = 0.4
	ClampHigh = 0.6
)

// ComparerOptions configure a [Comparer]. The zero value, or nil, gives the
// defaults.
type ComparerOptions struct {
	// ChainOfThought asks the model to reason before answering and clamps
	// each order's probability to [ClampLow, ClampHigh].
	ChainOfThought bool
	// TopLogProbs is the number of alternatives per token asked of the
	// policy; zero means 5.
	TopLogProbs int
	// Seed is mixed into the seeds of principle sampling and of the
	// policy's calls.
	Seed uint64
	// Sample holds the decoding options of the comparison calls; N, Seed,
	// LogProbs and TopLogProbs are set by the Comparer.
	Sample alignment.SampleOptions
}

// Comparer is the RL-CAI feedback model: an alignment.Comparer that asks a
// policy a multiple-choice question, "(A) … (B) …" followed by the
// comparison question of one sampled principle, and reads the answer.
//
// # Labels
//
// The comparison runs in both presentation orders: first with (A) = a and
// (B) = b, giving p1, the probability that the model answers "A"; then with
// (A) = b and (B) = a, giving p2, the probability that it answers "A" there,
// that is, prefers b. The result is
//
//	ProbA = (p1 + (1 − p2)) / 2
//
// which cancels a position bias that shifts both orders alike. Inconsistent
// is set when the orders prefer different responses (p1 and p2 both above, or
// both below, 0.5); ProbA is then still the average above, which for hard
// labels is exactly 0.5.
//
// Each order's probability is a soft label when the policy returns
// TokenLogProbs: at the token that carries the answer letter (located with
// the verdict parser), the probabilities of the alternatives that read as
// "A" and as "B" (after trimming spaces, brackets, quotes and asterisks) are
// summed and normalised, pA / (pA + pB). When the policy returns no
// log-probabilities, or the alternatives name neither letter, the parsed
// letter gives 1 or 0. In chain-of-thought mode each order's probability is
// clamped to [ClampLow, ClampHigh] before averaging, and the reasoning of
// both orders becomes the Rationale.
//
// The verdict is the last declaration outside fenced regions, so text
// quoted from the responses cannot cast it; an output without a readable
// verdict makes Compare fail with an error wrapping [ErrUnparsable].
//
// # Seeds
//
// The principle and the calls' seeds derive from alignment.SeedFrom(ctx) when
// set, else from the prompt ID and the two response texts taken in sorted
// order, always mixed with ComparerOptions.Seed. Each order's call seed
// derives from the texts in presentation order. Compare(b, a) therefore
// sends the very same two calls as Compare(a, b), and with a policy that
// honours seeds returns exactly 1 − ProbA.
type Comparer struct {
	pol alignment.Policy
	c   *Constitution
	o   ComparerOptions

	comparisons, soft, hard, unparsed, inconsistent atomic.Int64
}

var _ alignment.Comparer = (*Comparer)(nil)

// ComparerStats counts what a Comparer has done since it was built.
type ComparerStats struct {
	// Comparisons counts Compare calls that returned a result.
	Comparisons int64
	// SoftLabels and HardLabels count presentation orders labelled from
	// log-probabilities and from the parsed letter.
	SoftLabels, HardLabels int64
	// Unparsed counts outputs without a readable verdict.
	Unparsed int64
	// Inconsistent counts comparisons whose orders disagreed.
	Inconsistent int64
}

// NewComparer returns a Comparer that asks pol under the principles of c
// that have texts. A nil o means the defaults. It fails, wrapping
// [ErrInvalid], when pol or c is nil, c has no principle with texts, or
// TopLogProbs is negative.
func NewComparer(pol alignment.Policy, c *Constitution, o *ComparerOptions) (*Comparer, error) {
	var opts ComparerOptions
	if o != nil {
		opts = *o
		opts.Sample = o.Sample.Clone()
	}
	switch {
	case pol == nil:
		return nil, fmt.Errorf("constitution: comparer: nil policy: %w", ErrInvalid)
	case c == nil:
		return nil, fmt.Errorf("constitution: comparer: nil constitution: %w", ErrInvalid)
	case len(c.model) == 0:
		return nil, fmt.Errorf("constitution: comparer: no principle has a comparison question: %w", ErrInvalid)
	case opts.TopLogProbs < 0:
		return nil, fmt.Errorf("constitution: comparer: TopLogProbs %d is negative: %w", opts.TopLogProbs, ErrInvalid)
	}
	if opts.TopLogProbs == 0 {
		opts.TopLogProbs = 5
	}
	return &Comparer{pol: pol, c: c, o: opts}, nil
}

// Compare implements alignment.Comparer.
func (c *Comparer) Compare(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Comparison{}, err
	}
	lo, hi := a.Text, b.Text
	if hi < lo {
		lo, hi = hi, lo
	}
	base := componentSeed(ctx, ComparerName, c.o.Seed, p.ID, lo, hi)
	prs, err := c.c.Sample(seeds.Rand(seeds.Derive(base, "principle")), 1)
	if err != nil {
		return alignment.Comparison{}, err
	}
	pr := prs[0]
	var orders [2]label
	g, gctx := errgroup.WithContext(ctx)
	for i, pair := range [2][2]string{{a.Text, b.Text}, {b.Text, a.Text}} {
		g.Go(func() error {
			l, err := c.ask(gctx, p, pair[0], pair[1], pr, seeds.Derive(base, "order", pair[0], pair[1]))
			if err != nil {
				return fmt.Errorf("constitution: comparer: prompt %q, order %d, principle %q: %w", p.ID, i+1, pr.ID, err)
			}
			orders[i] = l
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return alignment.Comparison{}, err
	}
	p1, p2 := orders[0].probA, orders[1].probA
	if c.o.ChainOfThought {
		p1, p2 = clamp(p1), clamp(p2)
	}
	cmp := alignment.Comparison{
		ProbA:        (p1 + (1 - p2)) / 2,
		Inconsistent: p1 > 0.5 && p2 > 0.5 || p1 < 0.5 && p2 < 0.5,
	}
	if c.o.ChainOfThought {
		cmp.Rationale = "Principle " + pr.ID + ".\n\nWith the first response as (A):\n" + orders[0].reasoning +
			"\n\nWith the second response as (A):\n" + orders[1].reasoning
	}
	c.comparisons.Add(1)
	if cmp.Inconsistent {
		c.inconsistent.Add(1)
	}
	return cmp, nil
}

// Stats returns the counts of what c has done so far.
func (c *Comparer) Stats() ComparerStats {
	return ComparerStats{
		Comparisons: c.comparisons.Load(), SoftLabels: c.soft.Load(), HardLabels: c.hard.Load(),
		Unparsed: c.unparsed.Load(), Inconsistent: c.inconsistent.Load(),
	}
}

// label is the reading of one presentation order.
type label struct {
	probA     float64
	reasoning string
}

// ask runs one presentation order and reads P(answer is "A").
func (c *Comparer) ask(ctx context.Context, p alignment.Prompt, first, second string, pr Principle, seed uint64) (label, error) {
	o := c.o.Sample
	o.N, o.Seed, o.LogProbs, o.TopLogProbs = 1, seed, true, c.o.TopLogProbs
	text := comparisonPrompt(p, first, second, pr, c.o.ChainOfThought)
	rs, err := alignment.SampleN(ctx, c.pol, alignment.NewPrompt(p.ID, text), o)
	if err != nil {
		return label{}, err
	}
	out := rs[0]
	// Echoes of what the model was shown are not its verdict: a response
	// repeated by the model cannot declare itself the better one.
	m, err := verdict.FindQuoted(out.Text, shown(p, first, second), "A", "B")
	if err != nil {
		c.unparsed.Add(1)
		return label{}, fmt.Errorf("%s: %w", strings.TrimSuffix(strings.TrimPrefix(err.Error(), "verdict: "), ": "+verdict.ErrUnparsable.Error()), ErrUnparsable)
	}
	l := label{reasoning: reasoning(out.Text, m)}
	if pa, ok := softLabel(out, m); ok {
		c.soft.Add(1)
		l.probA = pa
	} else {
		c.hard.Add(1)
		if m.Choice == "A" {
			l.probA = 1
		}
	}
	return l, nil
}

// softLabel returns pA / (pA + pB) at the token that carries the verdict
// m, or false when the response has no usable log-probabilities there.
func softLabel(out alignment.Response, m verdict.Match) (float64, bool) {
	k, ok := answerToken(out, m)
	if !ok {
		return 0, false
	}
	t := out.TokenLogProbs[k]
	// The sampled token may or may not be among its own alternatives;
	// count every distinct token text once.
	lps := map[string]float64{t.Token: t.LogProb}
	for _, alt := range t.Top {
		if _, dup := lps[alt.Token]; !dup {
			lps[alt.Token] = alt.LogProb
		}
	}
	var pa, pb float64
	for tok, lp := range lps {
		if math.IsNaN(lp) || lp > 0 {
			return 0, false
		}
		switch strings.Trim(tok, " \t\n([{*\"'`)]}.:") {
		case "A":
			pa += math.Exp(lp)
		case "B":
			pb += math.Exp(lp)
		}
	}
	if !(pa+pb > 0) {
		return 0, false
	}
	return pa / (pa + pb), true
}

// answerToken returns the index of the token that covers the verdict's
// first byte, provided the tokens up to it spell the output text exactly
// (otherwise offsets in the text say nothing about tokens).
func answerToken(out alignment.Response, m verdict.Match) (int, bool) {
	off := 0
	for i, t := range out.TokenLogProbs {
		end := off + len(t.Token)
		if end > len(out.Text) || out.Text[off:end] != t.Token {
			return 0, false
		}
		if m.Start >= off && m.Start < end {
			return i, true
		}
		off = end
	}
	return 0, false
}

// reasoning returns the output before the verdict's line.
func reasoning(out string, m verdict.Match) string {
	i := strings.LastIndexByte(out[:m.Start], '\n')
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(out[:i])
}

func clamp(p float64) float64 { return min(max(p, ClampLow), ClampHigh) }
