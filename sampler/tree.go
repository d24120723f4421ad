package sampler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
	"github.com/selfalign/selfalign/internal/seeds"
)

// refinerName is the Refiner recorded in the revisions TreeSearch makes and
// the Source of the responses it refines.
const refinerName = "sampler.TreeSearch"

// TreeOptions configure a [TreeSearch]. The zero value, or nil, gives the
// defaults, which are those of SPaR's public code (thu-coai/SPaR,
// src/ToT/task.py, ToT_Task: branch=3, select_branch=2, max_depth=3,
// sample_critique_num=5, end_gate=0.5; its judge samples at temperature
// 0.7, which is the Judge's own setting here).
type TreeOptions struct {
	// Branch is the number of refinements drawn from each expanded node;
	// zero means 3.
	Branch int
	// Depth is the number of refinement levels tried; zero means 3.
	Depth int
	// Keep is the number of best nodes of a level that are expanded into
	// the next (keep-top-k); zero means 2, or Branch when that is smaller.
	Keep int
	// Samples is the number of times each node is judged (k); zero means 5.
	Samples int
	// Pass is the score at or above which one judge sample counts as a
	// pass; zero means the top of the judge's ScoreRange when it implements
	// alignment.Ranged, else 5, the top of the default rubric.
	Pass float64
	// Threshold is the pass rate (passes/Samples) a node must exceed to be
	// accepted, below 1; zero means 0.5 (a majority of the judgments), and
	// a negative value means 0: a node is accepted as soon as one sample
	// passes.
	Threshold float64
	// Budget caps the model calls of one search: policy calls plus judge
	// calls. Zero means no cap beyond what Branch, Depth, Keep and Samples
	// imply.
	Budget int
	// Seed is mixed into every seed of a search.
	Seed uint64
	// Sample holds the decoding options of refinement calls; its N and Seed
	// are set by the search.
	Sample alignment.SampleOptions
}

// TreeSearch is a SPaR-style Refiner (Cheng et al., 2024, "SPaR: Self-Play
// with Tree-Search Refinement"): a response the judge fails is refined
// breadth-first. Each level asks the policy for Branch minimal corrections
// of each kept node, judges every new candidate Samples times, and stops at
// the first candidate whose pass rate exceeds Threshold, which is therefore
// one of the shallowest passing refinements. The Keep best candidates of a
// level (by pass rate, then mean score, then order) are expanded next.
// Candidates whose text repeats one already seen (after [Normalize]) are
// skipped without judging. SPaR's code judges a whole level and accepts
// its best candidate above the gate; stopping at the first saves judge
// calls and still returns a refinement of the shallowest passing level,
// though not always the best-scored of it.
//
// A refinement prompt quotes the request, the response and the judge's
// rationale between fences and asks for the corrected response after a
// final "Revision:" line; the text after the last "Revision:" outside
// fenced regions of the output is the candidate, and outputs without one are
// counted as unparsed and skipped. The accepted candidate and the original
// differ only where the correction was needed, which makes them the
// minimally different pairs SPaR trains on (see [TreeResult.Pair]).
//
// A search runs its calls one after another, so that which calls it makes,
// and so its result and its budget use, never depend on scheduling. Its
// seeds come from alignment.SeedFrom(ctx) when set, else from the prompt ID
// and the response text, always mixed with TreeOptions.Seed.
type TreeSearch struct {
	pol   alignment.Policy
	judge alignment.Judge
	o     TreeOptions

	searches, found, passing, exhausted, budget, unparsed, duplicates atomic.Int64
}

var _ alignment.Refiner = (*TreeSearch)(nil)

// TreeResult is the outcome of one [TreeSearch.Search].
type TreeResult struct {
	// Original is the response searched from.
	Original alignment.Response
	// Response is the accepted refinement, with one Revision per level from
	// the original appended to its Revisions; the original when none was
	// found or the original already passed.
	Response alignment.Response
	// Found is true when a refinement was accepted.
	Found bool
	// AlreadyPassing is true when the original itself passed and no search
	// was needed.
	AlreadyPassing bool
	// Depth is the level of the accepted refinement, from 1; 0 otherwise.
	Depth int
	// PassRate and Score are the pass rate and mean judge score of
	// Response; OriginalPassRate and OriginalScore those of Original.
	PassRate, Score                 float64
	OriginalPassRate, OriginalScore float64
	// Calls is the number of model calls made: policy plus judge.
	Calls int
	// RefinePrompt is the prompt that asked the policy for the accepted
	// refinement (the request, the text it refined and the judge's
	// feedback on that text; its ID is the request's); Output is the policy's whole answer to it,
	// reasoning and "Revision:" line included; Failed holds the answers to
	// the same prompt whose candidates the judge failed, in the order they
	// were judged. They are the refiner's successful search trace (see
	// RefinerPair), empty when Found is false.
	RefinePrompt alignment.Prompt
	Output       string
	Failed       []string
}

// Pair returns the SPaR preference pair of a successful search: chosen is
// the accepted refinement, rejected the original, Source "spar", scores the
// mean judge scores. It reports false when no refinement was found.
func (r TreeResult) Pair(p alignment.Prompt) (alignment.Pair, bool) {
	if !r.Found {
		return alignment.Pair{}, false
	}
	return alignment.Pair{
		Prompt:        p.Clone(),
		Chosen:        r.Response.Clone(),
		Rejected:      r.Original.Clone(),
		ScoreChosen:   r.Score,
		ScoreRejected: r.OriginalScore,
		Scored:        true,
		Source:        "spar",
	}, true
}

// RefinerPair returns the refiner's training pair of a successful search,
// SPaR's rejection-sampling fine-tuning of the refiner put as a preference
// so that a DPO Trainer can take it: for RefinePrompt, the answer that
// gave the accepted refinement (Output) is chosen, and rejected is the
// first answer to the same prompt whose candidate the judge failed, or,
// when the accepted answer was the first one judged, an answer that
// repeats the text it was asked to refine ("Revision: " and that text),
// which the judge failed too. The pair's prompt ID is "refine:" and the
// request's ID, Source "spar-refiner"; the pair carries
// no scores. SPaR fine-tunes on the chosen answers alone (supervised);
// a pair keeps the same target and needs a Trainer of preferences only.
// It reports false when no refinement was found.
func (r TreeResult) RefinerPair() (alignment.Pair, bool) {
	if !r.Found || r.Output == "" {
		return alignment.Pair{}, false
	}
	rejected := ""
	if len(r.Failed) > 0 {
		rejected = r.Failed[0]
	} else {
		parent := r.Original.Text
		if revs := r.Response.Revisions; r.Depth >= 2 && len(revs) >= 2 {
			parent = revs[len(revs)-2].Text
		}
		rejected = "Revision: " + parent
	}
	prompt := r.RefinePrompt.Clone()
	prompt.ID = "refine:" + prompt.ID
	return alignment.Pair{
		Prompt:   prompt,
		Chosen:   alignment.Response{Text: r.Output, Source: refinerName},
		Rejected: alignment.Response{Text: rejected, Source: refinerName},
		Source:   "spar-refiner",
	}, true
}

// SearchPairs runs Search and returns SPaR's two pairs: the actor's
// (TreeResult.Pair: the refinement over the original) and the refiner's
// (TreeResult.RefinerPair). found is false, with zero pairs, when r
// already passed or no refinement was found. It is the method that
// recipe.SPaR asks its search for.
func (t *TreeSearch) SearchPairs(ctx context.Context, p alignment.Prompt, r alignment.Response) (actor, refiner alignment.Pair, found bool, err error) {
	res, err := t.Search(ctx, p, r)
	if err != nil {
		return alignment.Pair{}, alignment.Pair{}, false, err
	}
	actor, ok := res.Pair(p)
	if !ok {
		return alignment.Pair{}, alignment.Pair{}, false, nil
	}
	refiner, _ = res.RefinerPair()
	return actor, refiner, true, nil
}

// TreeStats counts what a TreeSearch has done since it was built.
type TreeStats struct {
	// Searches counts Search and Refine calls that ran to an outcome.
	Searches int64
	// Found counts searches that accepted a refinement, AlreadyPassing those
	// whose original passed, Exhausted those that tried every level in vain.
	Found, AlreadyPassing, Exhausted int64
	// OverBudget counts searches stopped by the budget.
	OverBudget int64
	// Unparsed counts policy outputs without a "Revision:" line or with an
	// empty revision; Duplicates counts candidates skipped as repeats.
	Unparsed, Duplicates int64
}

// NewTreeSearch returns a tree search that refines with pol and judges with
// j. A nil o means the defaults. It fails, wrapping [ErrInvalid], when pol
// or j is nil or an option is out of range (negative counts, a Threshold
// of 1 or more, a Pass that is not finite).
func NewTreeSearch(pol alignment.Policy, j alignment.Judge, o *TreeOptions) (*TreeSearch, error) {
	var opts TreeOptions
	if o != nil {
		opts = *o
		opts.Sample = o.Sample.Clone()
	}
	switch {
	case pol == nil:
		return nil, fmt.Errorf("sampler: tree search: nil policy: %w", ErrInvalid)
	case j == nil:
		return nil, fmt.Errorf("sampler: tree search: nil judge: %w", ErrInvalid)
	case opts.Branch < 0, opts.Depth < 0, opts.Keep < 0, opts.Samples < 0, opts.Budget < 0:
		return nil, fmt.Errorf("sampler: tree search: negative Branch, Depth, Keep, Samples or Budget (%d, %d, %d, %d, %d): %w",
			opts.Branch, opts.Depth, opts.Keep, opts.Samples, opts.Budget, ErrInvalid)
	case !(opts.Threshold < 1) || math.IsInf(opts.Threshold, -1):
		return nil, fmt.Errorf("sampler: tree search: threshold %v: want a pass rate below 1 (0 for 0.5, negative for any pass): %w", opts.Threshold, ErrInvalid)
	case math.IsNaN(opts.Pass) || math.IsInf(opts.Pass, 0):
		return nil, fmt.Errorf("sampler: tree search: pass score %v is not finite: %w", opts.Pass, ErrInvalid)
	}
	if err := checkDecoding(opts.Sample.Temperature, opts.Sample.TopP, opts.Sample.MaxTokens); err != nil {
		return nil, fmt.Errorf("sampler: tree search: %w", err)
	}
	opts.Branch = cmp.Or(opts.Branch, 3)
	opts.Depth = cmp.Or(opts.Depth, 3)
	opts.Keep = cmp.Or(opts.Keep, min(2, opts.Branch))
	opts.Samples = cmp.Or(opts.Samples, 5)
	switch {
	case opts.Threshold == 0:
		opts.Threshold = 0.5
	case opts.Threshold < 0:
		opts.Threshold = 0
	}
	if opts.Pass == 0 {
		opts.Pass = 5
		if r, ok := j.(alignment.Ranged); ok {
			_, opts.Pass = r.ScoreRange()
		}
	}
	return &TreeSearch{pol: pol, judge: j, o: opts}, nil
}

// Refine implements alignment.Refiner: it returns the accepted refinement,
// or r unchanged when r already passes or no refinement was found. It fails,
// wrapping [ErrBudget], when the search needs more calls than the budget.
func (t *TreeSearch) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	res, err := t.Search(ctx, p, r)
	if err != nil {
		return alignment.Response{}, err
	}
	return res.Response, nil
}

// Stats returns the counts of what t has done so far.
func (t *TreeSearch) Stats() TreeStats {
	return TreeStats{
		Searches: t.searches.Load(), Found: t.found.Load(), AlreadyPassing: t.passing.Load(),
		Exhausted: t.exhausted.Load(), OverBudget: t.budget.Load(),
		Unparsed: t.unparsed.Load(), Duplicates: t.duplicates.Load(),
	}
}

// Search judges r and, when it fails, searches for a passing refinement. It
// fails, wrapping [ErrBudget], when the budget runs out first, and
// [ErrScore] when the judge returns NaN.
func (t *TreeSearch) Search(ctx context.Context, p alignment.Prompt, r alignment.Response) (TreeResult, error) {
	if err := ctx.Err(); err != nil {
		return TreeResult{}, err
	}
	base, ok := alignment.SeedFrom(ctx)
	if !ok {
		base = seeds.Derive(0, "response", p.ID, r.Text)
	}
	s := &search{t: t, p: p, base: seeds.Derive(base, "tree", strconv.FormatUint(t.o.Seed, 10))}
	res, err := s.run(ctx, r)
	res.Calls = s.calls
	if err != nil {
		if errors.Is(err, ErrBudget) {
			t.budget.Add(1)
		}
		return TreeResult{}, err
	}
	t.searches.Add(1)
	switch {
	case res.Found:
		t.found.Add(1)
	case res.AlreadyPassing:
		t.passing.Add(1)
	default:
		t.exhausted.Add(1)
	}
	return res, nil
}

// search is the state of one Search call.
type search struct {
	t     *TreeSearch
	p     alignment.Prompt
	base  uint64
	calls int
}

// node is one candidate of the tree.
type node struct {
	parent   *node
	text     string
	output   string // the policy's whole answer that gave text
	path     string // "0" for the root, "0.2.1" for the second child of the third child
	finish   string
	rate     float64
	score    float64
	feedback string
}

func (s *search) run(ctx context.Context, r alignment.Response) (TreeResult, error) {
	o := s.t.o
	root := &node{text: r.Text, path: "0"}
	if err := s.judge(ctx, root, r); err != nil {
		return TreeResult{}, err
	}
	res := TreeResult{
		Original: r.Clone(), Response: r.Clone(),
		PassRate: root.rate, Score: root.score,
		OriginalPassRate: root.rate, OriginalScore: root.score,
	}
	if root.rate > o.Threshold {
		res.AlreadyPassing = true
		return res, nil
	}
	seen := map[string]bool{Normalize(r.Text): true}
	frontier := []*node{root}
	for depth := 1; depth <= o.Depth && len(frontier) > 0; depth++ {
		var level []*node
		for _, parent := range frontier {
			kids, err := s.expand(ctx, parent)
			if err != nil {
				return TreeResult{}, err
			}
			for _, kid := range kids {
				if key := Normalize(kid.text); seen[key] {
					s.t.duplicates.Add(1)
					continue
				} else {
					seen[key] = true
				}
				cand := s.refined(r, kid)
				if err := s.judge(ctx, kid, cand); err != nil {
					return TreeResult{}, err
				}
				if kid.rate > o.Threshold {
					res.Found, res.Depth = true, depth
					res.Response, res.PassRate, res.Score = cand, kid.rate, kid.score
					res.RefinePrompt, res.Output = refinePrompt(s.p, parent), kid.output
					for _, n := range level {
						if n.parent == parent {
							res.Failed = append(res.Failed, n.output)
						}
					}
					return res, nil
				}
				level = append(level, kid)
			}
		}
		slices.SortStableFunc(level, func(a, b *node) int {
			if c := cmp.Compare(b.rate, a.rate); c != 0 {
				return c
			}
			return cmp.Compare(b.score, a.score)
		})
		frontier = level[:min(o.Keep, len(level))]
	}
	return res, nil
}

// expand asks the policy for Branch refinements of n.
func (s *search) expand(ctx context.Context, n *node) ([]*node, error) {
	o := s.t.o.Sample
	o.N = s.t.o.Branch
	o.Seed = seeds.Derive(s.base, "expand", n.path)
	prompt := refinePrompt(s.p, n)
	outs, err := alignment.SampleN(ctx, policyFunc(func(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
		if err := s.spend(); err != nil {
			return nil, err
		}
		return s.t.pol.Generate(ctx, p, o)
	}), prompt, o)
	if err != nil {
		return nil, fmt.Errorf("sampler: tree search: refining prompt %q at node %s: %w", s.p.ID, n.path, err)
	}
	// Echoes of the texts the prompt quotes cannot supply the revision
	// marker.
	shown := []string{s.p.Transcript(), n.text, n.feedback}
	var kids []*node
	for i, out := range outs {
		text, ok := fence.After(out.Text, "Revision:", shown...)
		if !ok {
			s.t.unparsed.Add(1)
			continue
		}
		kids = append(kids, &node{parent: n, text: text, output: out.Text, path: n.path + "." + strconv.Itoa(i), finish: out.FinishReason})
	}
	return kids, nil
}

// judge sets n's pass rate, mean score and feedback from Samples judgments
// of r, whose text is n's.
func (s *search) judge(ctx context.Context, n *node, r alignment.Response) error {
	k := s.t.o.Samples
	passes, sum := 0, 0.0
	n.feedback = ""
	for i := range k {
		if err := s.spend(); err != nil {
			return err
		}
		jctx := alignment.WithSeed(ctx, seeds.Derive(s.base, "judge", n.path, strconv.Itoa(i)))
		j, err := s.t.judge.Judge(jctx, s.p, r)
		if err != nil {
			return fmt.Errorf("sampler: tree search: judging prompt %q at node %s: %w", s.p.ID, n.path, err)
		}
		if math.IsNaN(j.Score) {
			return fmt.Errorf("sampler: tree search: judge scored prompt %q at node %s NaN: %w", s.p.ID, n.path, ErrScore)
		}
		sum += j.Score
		if j.Score >= s.t.o.Pass {
			passes++
		} else if n.feedback == "" {
			n.feedback = j.Rationale
		}
	}
	n.rate, n.score = float64(passes)/float64(k), sum/float64(k)
	return nil
}

// spend counts one model call against the budget.
func (s *search) spend() error {
	if b := s.t.o.Budget; b > 0 && s.calls >= b {
		return fmt.Errorf("sampler: tree search: prompt %q needs more than %d model calls: %w", s.p.ID, b, ErrBudget)
	}
	s.calls++
	return nil
}

// refined returns r rewritten to n's text with the path from the root
// recorded as revisions.
func (s *search) refined(r alignment.Response, n *node) alignment.Response {
	var chain []alignment.Revision
	for c := n; c.parent != nil; c = c.parent {
		chain = append(chain, alignment.Revision{Refiner: refinerName, Critique: c.parent.feedback, Text: c.text})
	}
	slices.Reverse(chain)
	out := r.Clone()
	out.Revisions = append(out.Revisions, chain...)
	out.Text = n.text
	out.Source = refinerName
	out.FinishReason = n.finish
	// Token counts and log-probabilities described the original text.
	out.Tokens, out.LogProb, out.HasLogProb, out.TokenLogProbs = 0, 0, false, nil
	return out
}

// policyFunc adapts a function to alignment.Policy.
type policyFunc func(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error)

func (f policyFunc) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	return f(ctx, p, o)
}

// refinePrompt asks for a minimal correction of n's text.
func refinePrompt(p alignment.Prompt, n *node) alignment.Prompt {
	var b strings.Builder
	b.WriteString("A response to the request below falls short. Correct it with the smallest changes that fix the problem, and keep everything that is already right.\n\n")
	b.WriteString("The request:\n")
	b.WriteString(fence.Quote("request", p.Transcript()))
	b.WriteString("\n\nThe response:\n")
	b.WriteString(fence.Quote("response", n.text))
	if n.feedback != "" {
		b.WriteString("\n\nA reviewer's feedback on the response:\n")
		b.WriteString(fence.Quote("feedback", n.feedback))
	}
	b.WriteString("\n\nWrite the corrected response, and nothing else, after the final \"Revision:\" line.\n\nRevision:")
	return alignment.NewPrompt(p.ID, b.String())
}
