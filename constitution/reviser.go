package constitution

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
	"github.com/selfalign/selfalign/internal/seeds"
)

// ReviserName is the Refiner recorded in the revisions a [Reviser] makes and
// the Source of the responses it rewrites.
const ReviserName = "constitution.Reviser"

// MaxRounds is the largest number of critique-revision rounds a [Reviser]
// runs, the most that the Constitutional AI paper (Bai et al., 2022) used.
const MaxRounds = 4

// ReviserOptions configure a [Reviser]. The zero value, or nil, gives the
// defaults.
type ReviserOptions struct {
	// Rounds is the number of critique-revision rounds, from 1 to
	// MaxRounds; zero means 1.
	Rounds int
	// Seed is mixed into the seeds of principle sampling and of the
	// policy's calls.
	Seed uint64
	// Sample holds the decoding options of critique and revision calls;
	// their N and Seed are set by the Reviser.
	Sample alignment.SampleOptions
}

// Reviser is the critique-and-revise Refiner of SL-CAI. Each round samples a
// principle, asks the policy to critique the current text under it, then to
// rewrite the text to answer the critique. The rounds of one response use
// different principles when the constitution has enough of them (see
// [Constitution.Sample]).
//
// A round is appended to Response.Revisions as
// alignment.Revision{Refiner: ReviserName, Principle, Critique, Text}. The
// critique is the text after the last "Critique:" outside fenced regions of
// the output, or the whole output without its fenced regions when it has no
// such line. The revision is the text after the last "Revision:" outside
// fenced regions; a revision that itself contains "Revision:" is therefore
// cut after its last one, as the parser cannot tell the model's own marker
// from one it copied. A round whose critique is empty (no revision is then
// asked for) or whose revision is missing or empty is marked Failed, keeps
// the previous text, records the unusable output in its Text, and is
// counted in [ReviserStats].
//
// When some round succeeded, the refined response's Source becomes
// ReviserName and its token counts and log-probabilities, which described
// the original text, are cleared.
type Reviser struct {
	pol alignment.Policy
	c   *Constitution
	o   ReviserOptions

	responses, rounds, failed, unchanged, pairs, skipped atomic.Int64
}

var _ alignment.Refiner = (*Reviser)(nil)

// ReviserStats counts what a Reviser has done since it was built.
type ReviserStats struct {
	// Responses counts Refine calls that completed; Rounds the rounds they
	// ran.
	Responses, Rounds int64
	// FailedRounds counts rounds with an empty critique or an unreadable
	// or empty revision.
	FailedRounds int64
	// Unchanged counts responses whose every round failed.
	Unchanged int64
	// Pairs counts pairs made by Pair; SkippedPairs the calls to Pair that
	// made none because no round had succeeded or the text was unchanged.
	Pairs, SkippedPairs int64
}

// NewReviser returns a Reviser that critiques and revises with pol under the
// principles of c that have texts. A nil o means the defaults. It fails,
// wrapping [ErrInvalid], when pol or c is nil, c has no principle with
// texts, or Rounds is outside 0..MaxRounds.
func NewReviser(pol alignment.Policy, c *Constitution, o *ReviserOptions) (*Reviser, error) {
	var opts ReviserOptions
	if o != nil {
		opts = *o
		opts.Sample = o.Sample.Clone()
	}
	switch {
	case pol == nil:
		return nil, fmt.Errorf("constitution: reviser: nil policy: %w", ErrInvalid)
	case c == nil:
		return nil, fmt.Errorf("constitution: reviser: nil constitution: %w", ErrInvalid)
	case len(c.model) == 0:
		return nil, fmt.Errorf("constitution: reviser: no principle has critique and revision texts: %w", ErrInvalid)
	case opts.Rounds < 0 || opts.Rounds > MaxRounds:
		return nil, fmt.Errorf("constitution: reviser: %d rounds, want 1 to %d: %w", opts.Rounds, MaxRounds, ErrInvalid)
	}
	if opts.Rounds == 0 {
		opts.Rounds = 1
	}
	return &Reviser{pol: pol, c: c, o: opts}, nil
}

// Refine implements alignment.Refiner: it runs the critique-revision rounds
// on r and returns the result with the rounds appended to its Revisions.
// Errors of the policy are returned, wrapped, and end the chain.
func (v *Reviser) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Response{}, err
	}
	base := componentSeed(ctx, ReviserName, v.o.Seed, p.ID, r.Text)
	principles, err := v.c.Sample(seeds.Rand(seeds.Derive(base, "principles")), v.o.Rounds)
	if err != nil {
		return alignment.Response{}, err
	}
	out := r.Clone()
	text, finish, changed := r.Text, r.FinishReason, false
	failed := 0
	for i, pr := range principles {
		round := strconv.Itoa(i)
		cp := critiquePrompt(p, text, pr)
		crit, err := v.ask(ctx, p, cp, seeds.Derive(base, "critique", round))
		if err != nil {
			return alignment.Response{}, fmt.Errorf("constitution: reviser: critique round %d of prompt %q: %w", i+1, p.ID, err)
		}
		rev := alignment.Revision{Refiner: ReviserName, Principle: pr.ID, Critique: readCritique(crit.Text, shown(p, text)...)}
		if rev.Critique == "" {
			rev.Critique, rev.Failed = crit.Text, true
			failed++
			out.Revisions = append(out.Revisions, rev)
			continue
		}
		rp := revisionPrompt(p, text, rev.Critique, pr)
		res, err := v.ask(ctx, p, rp, seeds.Derive(base, "revision", round))
		if err != nil {
			return alignment.Response{}, fmt.Errorf("constitution: reviser: revision round %d of prompt %q: %w", i+1, p.ID, err)
		}
		if t, ok := fence.After(res.Text, "Revision:", shown(p, text, rev.Critique)...); ok {
			rev.Text, text, finish, changed = t, t, res.FinishReason, true
		} else {
			rev.Text, rev.Failed = res.Text, true
			failed++
		}
		out.Revisions = append(out.Revisions, rev)
	}
	v.responses.Add(1)
	v.rounds.Add(int64(len(principles)))
	v.failed.Add(int64(failed))
	if !changed {
		v.unchanged.Add(1)
		return out, nil
	}
	out.Text, out.FinishReason, out.Source = text, finish, ReviserName
	out.Tokens, out.LogProb, out.HasLogProb, out.TokenLogProbs = 0, 0, false, nil
	return out, nil
}

// Pair returns the SL-CAI preference pair of a response and its refinement
// by this Reviser: chosen is the final revision, rejected the original,
// Source "sl-cai". It makes no pair, reports false and counts the skip in
// [ReviserStats] when refined does not extend original's revisions with at
// least one successful round, or when the text did not change.
func (v *Reviser) Pair(p alignment.Prompt, original, refined alignment.Response) (alignment.Pair, bool) {
	ok := len(refined.Revisions) > len(original.Revisions) && refined.Text != original.Text &&
		slices.Equal(refined.Revisions[:len(original.Revisions)], original.Revisions)
	if ok {
		ok = false
		for _, rev := range refined.Revisions[len(original.Revisions):] {
			if rev.Refiner == ReviserName && !rev.Failed {
				ok = true
			}
		}
	}
	if !ok {
		v.skipped.Add(1)
		return alignment.Pair{}, false
	}
	v.pairs.Add(1)
	return alignment.Pair{Prompt: p.Clone(), Chosen: refined.Clone(), Rejected: original.Clone(), Source: "sl-cai"}, true
}

// Stats returns the counts of what v has done so far.
func (v *Reviser) Stats() ReviserStats {
	return ReviserStats{
		Responses: v.responses.Load(), Rounds: v.rounds.Load(), FailedRounds: v.failed.Load(),
		Unchanged: v.unchanged.Load(), Pairs: v.pairs.Load(), SkippedPairs: v.skipped.Load(),
	}
}

// ask sends one single-turn prompt to the policy and returns its response.
func (v *Reviser) ask(ctx context.Context, p alignment.Prompt, text string, seed uint64) (alignment.Response, error) {
	o := v.o.Sample
	o.N, o.Seed = 1, seed
	rs, err := alignment.SampleN(ctx, v.pol, alignment.NewPrompt(p.ID, text), o)
	if err != nil {
		return alignment.Response{}, err
	}
	return rs[0], nil
}

// readCritique returns the critique in a model's output: the text after the
// last "Critique:" outside fenced regions and echoes of quoted (see
// fence.Mask), or else the output without its fenced regions, trimmed.
func readCritique(out string, quoted ...string) string {
	if i := strings.LastIndex(fence.Mask(out, quoted...), "Critique:"); i >= 0 {
		return strings.TrimSpace(out[i+len("Critique:"):])
	}
	return strings.TrimSpace(fence.Strip(out))
}

// componentSeed returns the base seed of one call of a component: from the
// seed in ctx when the caller set one, else from the labels (the prompt ID
// and the texts concerned); always mixed with the component's own seed and
// name.
func componentSeed(ctx context.Context, name string, own uint64, labels ...string) uint64 {
	base, ok := alignment.SeedFrom(ctx)
	if !ok {
		base = seeds.Derive(0, labels...)
	}
	return seeds.Derive(base, name, strconv.FormatUint(own, 10))
}
