package recipe

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
	"github.com/selfalign/selfalign/internal/seeds"
)

// SourceSelfBoosting is the Source of the self-boosting recipe's pairs.
const SourceSelfBoosting = "synpo"

// SelfBoosting is the self-boosting recipe of SynPO (Dong et al., 2024,
// "Self-Boosting Large Language Models with Synthetic Preference Data"):
// a response improver turns the current policy's responses into chosen
// ones, while the rejected ones stay the initial policy's responses, and
// the policy is trained on these pairs iteration after iteration, so that
// each iteration's chosen responses build on a better policy while the
// rejected side keeps the starting point.
//
// On the Loop, the current policy is the Loop's policy: it draws N
// responses per prompt as usual (so reports, evaluation and safeguards see
// the current policy alone). The Extra hook draws N responses of the
// Initial policy to the same prompt, has the Improver refine each current
// response, and pairs the i-th refinement over the i-th initial response,
// skipping a pair whose two texts are equal and one that repeats a pair
// already made for the prompt. Pairs need no scores (Pair.Scored is
// false, so a pairs file has no score columns for them), so the Loop runs
// without a judge and with the NoPair selector: its reports have no
// scores, count a prompt as yielded when it made a pair and as unjudged
// (Report.Unjudged) when it made none, and count the pairs in
// Report.Pairs.
//
// What SynPO does that the recipe does on request:
//
//   - The improver is re-learned each iteration (NewImprover and
//     ImproverTrainer, with Gold): at its first prompt, an iteration has
//     the policy it samples from answer each Gold prompt, and fine-tunes
//     a fresh copy of the initial improver (NewImprover) on (ImproverPrompt
//     of the prompt and that answer → the gold response), through the
//     alignment.SFTTrainer capability; that improver then rewrites the
//     iteration's responses. Departure: the paper trains the improver on
//     the seed data once per iteration and also uses it to label; here
//     every iteration starts the improver from the same initial copy, so
//     that a resumed run re-learns exactly the improver it had (the
//     improver is not checkpointed). Lacking NewImprover, Improver is a
//     fixed Refiner, as before.
//   - Pairs are filtered by a preference gap (GapJudge): a pair is kept
//     only when the judge scores the chosen response more than MinGap
//     above the rejected one, and then carries those scores (Pair.Scored).
//   - Pairs accumulate across iterations (Accumulate): the Trainer is
//     given every pair of the run so far, not only the iteration's; the
//     accumulated pairs are saved with each checkpoint, so a resumed run
//     trains on the same data.
//
// A departure that stays: SynPO synthesises its prompts with a prompt
// generator trained on keywords; here the prompts are Base.Prompts (see
// package promptgen for self-instructed prompts).
type SelfBoosting struct {
	// Base holds the run's settings: Policy (the current policy to start
	// from), Prompts and Trainer; Iterations defaults to 3, Samples (pairs
	// per prompt) to 2, Source to "synpo". Judge, SelfJudge, Comparer,
	// Refiner, Selector and Extra must be left zero.
	Base alignment.Loop
	// Improver rewrites the current policy's responses into chosen ones:
	// a fixed improver. Required unless NewImprover is set, and then it
	// must be nil.
	Improver alignment.Refiner
	// NewImprover returns a fresh copy of the initial improver model (for
	// tinylm: a Clone of the fine-tuned model), which each iteration
	// fine-tunes with ImproverTrainer on Gold and then samples, on
	// ImproverPrompt(prompt, response), for the chosen response. Set
	// NewImprover, ImproverTrainer and Gold together, or none.
	NewImprover func() (alignment.Policy, error)
	// ImproverTrainer fine-tunes the improver (dpo.Trainer does).
	ImproverTrainer alignment.SFTTrainer
	// Gold is SynPO's seed data: prompts with gold responses, the targets
	// the improver learns to rewrite the current policy's answers into.
	Gold []alignment.Example
	// GapJudge, if set, scores each pair's two responses; a pair is kept
	// only when the chosen one scores more than MinGap (≥ 0) above the
	// rejected one.
	GapJudge alignment.Judge
	MinGap   float64
	// Accumulate trains each iteration on the pairs of every iteration so
	// far, as SynPO does, instead of the iteration's alone. It needs a
	// Trainer; with Dir, a Checkpointer.
	Accumulate bool
	// Initial is the initial policy, whose responses are rejected; it must
	// stay unchanged during the run and honour SampleOptions.Seed.
	// Required: with a Trainer that updates its policy in place
	// (dpo.Trainer does), pass a copy of the starting policy, not the same
	// value as Base.Policy.
	Initial alignment.Policy
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (s *SelfBoosting) Loop() (*alignment.Loop, error) {
	b := s.Base
	l, err := recipeBase("SelfBoosting", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Refiner", b.Refiner != nil}, field{"Selector", b.Selector != nil}, field{"Extra", b.Extra != nil})
	bad := func(why string) error {
		return fmt.Errorf("recipe: SelfBoosting: %s: %w", why, alignment.ErrInvalid)
	}
	switch {
	case err != nil:
		return nil, err
	case s.NewImprover == nil && s.Improver == nil:
		return nil, bad("Improver is nil (and no NewImprover learns one)")
	case s.NewImprover != nil && s.Improver != nil:
		return nil, bad("Improver is set, but NewImprover learns the improver; set one of them")
	case (s.NewImprover != nil) != (s.ImproverTrainer != nil) || (s.NewImprover != nil) != (len(s.Gold) > 0):
		return nil, bad(fmt.Sprintf("NewImprover (set: %v), ImproverTrainer (set: %v) and Gold (%d examples) go together", s.NewImprover != nil, s.ImproverTrainer != nil, len(s.Gold)))
	case s.Initial == nil:
		return nil, bad("Initial is nil")
	case !(s.MinGap >= 0) || math.IsInf(s.MinGap, 1):
		return nil, bad(fmt.Sprintf("MinGap is %v, want a finite number ≥ 0", s.MinGap))
	case s.MinGap > 0 && s.GapJudge == nil:
		return nil, bad("MinGap is set, but GapJudge is nil")
	case s.Accumulate && b.Trainer == nil:
		return nil, bad("Accumulate is set, but Base.Trainer is nil")
	}
	for i, g := range s.Gold {
		if strings.TrimSpace(g.Completion) == "" {
			return nil, bad(fmt.Sprintf("Gold[%d] (prompt %q) has an empty completion", i, g.Prompt.ID))
		}
	}
	if s.Accumulate {
		l.Trainer = newAccumulator(b.Trainer)
	}
	var learned *learnedImprover
	if s.NewImprover != nil {
		learned = &learnedImprover{s: s, loop: l}
	}
	l.Selector = alignment.NoPair{} // the pairs come from Extra; the responses go unjudged
	l.JudgeSamples = 1
	l.Samples = cmp.Or(b.Samples, 2)
	l.Iterations = cmp.Or(b.Iterations, 3)
	l.Source = cmp.Or(b.Source, SourceSelfBoosting)
	l.Extra = func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		p := x.Prompt
		o := l.Sampling
		o.N, o.Seed = len(rs), x.Seed("initial")
		var initial []alignment.Response
		err := x.Call(ctx, func(ctx context.Context) (err error) {
			initial, err = alignment.SampleN(ctx, s.Initial, p, o)
			return err
		}, "initial")
		if err != nil {
			return nil, fmt.Errorf("sampling the initial policy: %w", err)
		}
		ref := s.Improver
		if learned != nil {
			if ref, err = learned.forIteration(ctx, x); err != nil {
				return nil, err
			}
		}
		var out []alignment.Pair
		seen := make(map[[2]string]bool, len(rs))
		for i, r := range rs {
			var chosen alignment.Response
			err := x.Call(ctx, func(ctx context.Context) (err error) {
				chosen, err = ref.Refine(ctx, p, r.Response)
				return err
			}, "improve", strconv.Itoa(i))
			if err != nil {
				return nil, fmt.Errorf("improving response %d: %w", i, err)
			}
			key := [2]string{strings.TrimSpace(chosen.Text), strings.TrimSpace(initial[i].Text)}
			if key[0] == key[1] || seen[key] {
				continue
			}
			seen[key] = true
			pair := alignment.Pair{Prompt: p, Chosen: chosen, Rejected: initial[i], Iteration: x.Iteration, Source: l.Source}
			if s.GapJudge != nil {
				var sc [2]float64
				for k, resp := range []alignment.Response{chosen, initial[i]} {
					err := x.Call(ctx, func(ctx context.Context) error {
						j, err := s.GapJudge.Judge(ctx, p, resp)
						if err == nil && (math.IsNaN(j.Score) || math.IsInf(j.Score, 0)) {
							err = fmt.Errorf("judge returned score %v: %w", j.Score, alignment.ErrInvalid)
						}
						sc[k] = j.Score
						return err
					}, "gap", strconv.Itoa(i), strconv.Itoa(k))
					if err != nil {
						return nil, fmt.Errorf("judging the gap of pair %d: %w", i, err)
					}
				}
				if sc[0]-sc[1] <= s.MinGap {
					continue
				}
				pair.ScoreChosen, pair.ScoreRejected, pair.Scored = sc[0], sc[1], true
			}
			out = append(out, pair)
		}
		return out, nil
	}
	return l, nil
}

// Run runs the configured Loop.
func (s *SelfBoosting) Run(ctx context.Context) (alignment.Result, error) {
	l, err := s.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}

// ImproverPrompt is the prompt on which a learned improver rewrites
// response r to prompt p: p's text, then r's, as one user message, with
// p's ID.
func ImproverPrompt(p alignment.Prompt, r alignment.Response) alignment.Prompt {
	return alignment.NewPrompt(p.ID, p.Text()+"\n"+r.Text)
}

// learnedImprover is SynPO's improver, learned once per iteration from
// the Gold data and the iteration's policy.
type learnedImprover struct {
	s    *SelfBoosting
	loop *alignment.Loop

	mu  sync.Mutex
	it  int
	imp alignment.Policy
}

// forIteration returns the improver of x's iteration, learning it on the
// first call of the iteration. A failed learning is not kept: the next
// prompt tries again.
func (li *learnedImprover) forIteration(ctx context.Context, x *alignment.Item) (alignment.Refiner, error) {
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.imp == nil || li.it != x.Iteration {
		imp, err := li.learn(ctx, x.Iteration, x.Policy)
		if err != nil {
			return nil, fmt.Errorf("learning the improver of iteration %d: %w", x.Iteration, err)
		}
		li.imp, li.it = imp, x.Iteration
	}
	return policyImprover{imp: li.imp, sampling: li.loop.Sampling}, nil
}

// learn fine-tunes a fresh initial improver on (the policy's answer to
// each gold prompt → the gold response). The answers' seeds derive from
// the Loop's seed, the iteration and the prompt, so that a resumed run
// learns the same improver.
func (li *learnedImprover) learn(ctx context.Context, it int, pol alignment.Policy) (alignment.Policy, error) {
	imp, err := li.s.NewImprover()
	if err != nil {
		return nil, fmt.Errorf("NewImprover: %w", err)
	}
	if imp == nil {
		return nil, fmt.Errorf("NewImprover returned a nil policy: %w", alignment.ErrInvalid)
	}
	ex := make([]alignment.Example, len(li.s.Gold))
	for i, g := range li.s.Gold {
		o := li.loop.Sampling
		o.N, o.Seed = 1, seeds.Derive(li.loop.Seed, "synpo", "improver", strconv.Itoa(it), g.Prompt.ID)
		rs, err := alignment.SampleN(ctx, pol, g.Prompt, o)
		if err != nil {
			return nil, fmt.Errorf("sampling the policy on gold prompt %q: %w", g.Prompt.ID, err)
		}
		ex[i] = alignment.Example{Prompt: ImproverPrompt(g.Prompt, rs[0]), Completion: g.Completion}
	}
	ctx = alignment.WithSeed(ctx, seeds.Derive(li.loop.Seed, "synpo", "improver", strconv.Itoa(it), "train"))
	if imp, err = li.s.ImproverTrainer.TrainSFT(ctx, imp, ex); err != nil {
		return nil, fmt.Errorf("fine-tuning: %w", err)
	}
	return imp, nil
}

// policyImprover refines a response by sampling the improver on
// ImproverPrompt, with the seed of the call's context.
type policyImprover struct {
	imp      alignment.Policy
	sampling alignment.SampleOptions
}

func (pi policyImprover) Refine(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
	o := pi.sampling
	o.N = 1
	if seed, ok := alignment.SeedFrom(ctx); ok {
		o.Seed = seed
	}
	rs, err := alignment.SampleN(ctx, pi.imp, ImproverPrompt(p, r), o)
	if err != nil {
		return alignment.Response{}, err
	}
	out := rs[0]
	out.Source = "improver"
	return out, nil
}

// accumulatedFile is the file in each checkpoint directory that holds the
// pairs an accumulating SelfBoosting trained on so far.
const accumulatedFile = "synpo-pairs.json"

// accumulator is a Trainer that trains on every pair it was given so far.
type accumulator struct {
	inner alignment.Trainer
	pairs []alignment.Pair
}

// accumulatorCheckpointer is an accumulator whose trainer checkpoints;
// the accumulated pairs are saved with each checkpoint.
type accumulatorCheckpointer struct {
	*accumulator
	cp alignment.Checkpointer
}

func newAccumulator(inner alignment.Trainer) alignment.Trainer {
	a := &accumulator{inner: inner}
	if cp, ok := inner.(alignment.Checkpointer); ok {
		return accumulatorCheckpointer{a, cp}
	}
	return a
}

// Train trains on the pairs of the earlier calls and pairs.
func (a *accumulator) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	all := append(a.pairs[:len(a.pairs):len(a.pairs)], pairs...)
	out, err := a.inner.Train(ctx, pol, all)
	if err != nil {
		return nil, err
	}
	a.pairs = all
	return out, nil
}

// Fingerprint says that the trainer accumulates, so that a run resumed
// without Accumulate is refused.
func (a *accumulator) Fingerprint() string {
	return "accumulate(" + alignment.FingerprintOf(a.inner) + ")"
}

func (a accumulatorCheckpointer) SaveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	if err := a.cp.SaveCheckpoint(ctx, pol, dir); err != nil {
		return err
	}
	data, err := json.Marshal(a.pairs)
	if err != nil {
		return fmt.Errorf("recipe: SelfBoosting: saving the accumulated pairs: %w", err)
	}
	return atomicfile.WriteBytes(filepath.Join(dir, accumulatedFile), data)
}

func (a accumulatorCheckpointer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	pol, err := a.cp.LoadCheckpoint(ctx, dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, accumulatedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recipe: SelfBoosting: %s has no %s: the run was not accumulating: %w", dir, accumulatedFile, alignment.ErrNotResumable)
	}
	if err != nil {
		return nil, fmt.Errorf("recipe: SelfBoosting: %w", err)
	}
	var pairs []alignment.Pair
	if err := json.Unmarshal(data, &pairs); err != nil {
		return nil, fmt.Errorf("recipe: SelfBoosting: reading %s: %w", filepath.Join(dir, accumulatedFile), err)
	}
	a.pairs = pairs
	return pol, nil
}
