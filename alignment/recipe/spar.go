package recipe

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/selfalign/selfalign/alignment"
)

// Sources of the SPaR recipe's pairs.
const (
	SourceSPaR        = "spar"
	SourceSPaRRefiner = "spar-refiner"
)

// RefinementSearcher searches for a refinement of a response that fails
// the judge and returns SPaR's two pairs, as sampler.TreeSearch does:
// actor is the refinement over the original response, refiner the
// refiner's successful search trace (the prompt that asked for the
// accepted refinement, the answer that gave it chosen). found is false,
// with zero pairs, when no refinement passed or the original passed after
// all. Concurrency, context and ownership rules are those of Refiner.
type RefinementSearcher interface {
	SearchPairs(ctx context.Context, p alignment.Prompt, r alignment.Response) (actor, refiner alignment.Pair, found bool, err error)
}

// SPaR is the recipe of SPaR (Cheng et al., 2024, "SPaR: Self-Play with
// Tree-Search Refinement to Improve Instruction-Following in Large
// Language Models"): an actor answers, a refiner judges the answers, and
// for a prompt whose answers the judge fails, the refiner searches a tree
// of minimal corrections of one failed answer until a correction passes.
// The passing refinement is preferred to the failed original: a pair that
// differs only where the answer was wrong (Source "spar"), for the
// actor's DPO. The refiner learns from its own successful searches: the
// prompt that asked for the accepted refinement, with the answer that gave
// it chosen (Source "spar-refiner"; see RefinementSearcher). Both go to
// the one Trainer, since by default the actor and the refiner are the same
// model, as SPaR initialises them.
//
// On the Loop: each iteration draws Samples answers per prompt (default
// 5, as SPaR's code draws) from the actor, the judge built from the
// refiner judges each JudgeSamples times (default 5), and an answer fails
// when the share of its judgments scoring at least Pass is not above 0.5
// (SPaR's majority vote over 5 judgments at temperature 0.7, the judge's
// own sampling setting). The Loop selects no pair of its own (NoPair):
// among a prompt's failing answers one is picked at random (seeded, as
// SPaR's code picks one), and the Search made from the refiner and the
// judge refines it, in one Item.Call. With sampler.TreeSearch's defaults
// the search is SPaR's: breadth 3, the best 2 of a level kept, depth 3, 5
// judgments per node and a pass rate above 0.5 to accept. An iteration in
// which no search succeeds raises the extra-pairs alarm.
//
// Departures, deliberate: SPaR also fine-tunes the refiner as a judge on
// its majority-vote judgments; here the judge is not trained. SPaR's
// refiner fine-tuning is supervised (the chosen answers alone); here it is
// a pair, with a failed answer to the same refine prompt rejected, so that
// a preference Trainer can take it (see sampler.TreeResult.RefinerPair).
// SPaR trains the actor and the refiner as separate models from the same
// start; here they are one model, trained on both kinds of pair, unless
// Refiner names a separate refiner, which is then used as it is: it is
// not trained, and its traces make no pairs.
//
// The judge and the search of an iteration are built once, at its start,
// from the refiner (the iteration's policy by default). A builder's error,
// or a nil judge or search, stops the run with an error wrapping
// ErrInvalid that names the builder. The Loop that SPaR.Loop returns holds
// the current search, so it must not be run twice at once.
type SPaR struct {
	// Base holds the run's settings: Policy (the actor) and Prompts are
	// required; Trainer trains the model on both kinds of pair;
	// Iterations defaults to 3 (as SPaR's three iterations), Samples to
	// 5, JudgeSamples to 5, Source to "spar". Judge, SelfJudge, Comparer,
	// Refiner, Selector, Extra and ExtraIterations must be left zero.
	Base alignment.Loop
	// Judge builds the judge from the refiner. Required. It should sample
	// (SPaR judges at temperature 0.7) and give each judgment a rationale,
	// which the search shows the refiner.
	Judge func(alignment.Policy) (alignment.Judge, error)
	// Search builds the refinement search from the refiner and the judge.
	// Required. With package sampler:
	//
	//	Search: func(r alignment.Policy, j alignment.Judge) (recipe.RefinementSearcher, error) {
	//		return sampler.NewTreeSearch(r, j, nil)
	//	},
	Search func(refiner alignment.Policy, j alignment.Judge) (RefinementSearcher, error)
	// Refiner, if set, is a separate refiner model, used as it is in every
	// iteration; nil means the actor's policy of each iteration, trained
	// on its own search traces.
	Refiner alignment.Policy
	// Pass is the score at or above which one judgment passes; zero means
	// the top of the judge's ScoreRange when it is Ranged, else 5 (the top
	// of the default rubric), as in sampler.TreeSearch.
	Pass float64
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (s *SPaR) Loop() (*alignment.Loop, error) {
	b := s.Base
	l, err := recipeBase("SPaR", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Refiner", b.Refiner != nil}, field{"Selector", b.Selector != nil}, field{"Extra", b.Extra != nil},
		field{"ExtraIterations", b.ExtraIterations != 0})
	bad := func(why string) error { return fmt.Errorf("recipe: SPaR: %s: %w", why, alignment.ErrInvalid) }
	switch {
	case err != nil:
		return nil, err
	case s.Judge == nil:
		return nil, bad("Judge is nil")
	case s.Search == nil:
		return nil, bad("Search is nil")
	case math.IsNaN(s.Pass) || math.IsInf(s.Pass, 0):
		return nil, bad(fmt.Sprintf("Pass is %v, want a finite score", s.Pass))
	}
	// The Loop calls SelfJudge at the start of each iteration, before any
	// Extra call of it, so Extra always finds its own iteration's search.
	var cur struct {
		sync.Mutex
		search RefinementSearcher
		pass   float64
	}
	l.SelfJudge = func(pol alignment.Policy) (alignment.Judge, error) {
		refiner := pol
		if s.Refiner != nil {
			refiner = s.Refiner
		}
		j, err := build("SPaR.Judge", s.Judge, refiner)
		if err != nil {
			return nil, err
		}
		search, err := build("SPaR.Search", func(p alignment.Policy) (RefinementSearcher, error) { return s.Search(p, j) }, refiner)
		if err != nil {
			return nil, err
		}
		pass := s.Pass
		if pass == 0 {
			pass = 5
			if r, ok := j.(alignment.Ranged); ok {
				_, pass = r.ScoreRange()
			}
		}
		cur.Lock()
		cur.search, cur.pass = search, pass
		cur.Unlock()
		return j, nil
	}
	l.Selector = alignment.NoPair{}
	l.Extra = func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		cur.Lock()
		search, pass := cur.search, cur.pass
		cur.Unlock()
		if search == nil {
			return nil, fmt.Errorf("no search for iteration %d: the Loop's SelfJudge, which builds it, was replaced: %w", x.Iteration, alignment.ErrInvalid)
		}
		return s.refine(ctx, x, search, pass, rs)
	}
	l.Iterations = cmp.Or(b.Iterations, 3)
	l.Samples = cmp.Or(b.Samples, 5)
	l.JudgeSamples = cmp.Or(b.JudgeSamples, 5)
	l.Source = cmp.Or(b.Source, SourceSPaR)
	return l, nil
}

// Run runs the configured Loop.
func (s *SPaR) Run(ctx context.Context) (alignment.Result, error) {
	l, err := s.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}

// refine searches from one of the prompt's failing answers and returns
// the pairs of a successful search.
func (s *SPaR) refine(ctx context.Context, x *alignment.Item, search RefinementSearcher, pass float64, rs []alignment.Scored) ([]alignment.Pair, error) {
	var failed []int
	for i, r := range rs {
		if len(r.Judgments) == 0 {
			return nil, fmt.Errorf("answer %d has no judgments to vote on: %w", i, alignment.ErrInvalid)
		}
		passes := 0
		for _, j := range r.Judgments {
			if j.Score >= pass {
				passes++
			}
		}
		if !(float64(passes)/float64(len(r.Judgments)) > 0.5) {
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 {
		return nil, nil
	}
	pick := failed[x.Seed("spar", "pick")%uint64(len(failed))]
	var (
		actor, refiner alignment.Pair
		found          bool
	)
	err := x.Call(ctx, func(ctx context.Context) (err error) {
		actor, refiner, found, err = search.SearchPairs(ctx, x.Prompt, rs[pick].Response)
		return err
	}, "spar", strconv.Itoa(pick))
	if err != nil {
		return nil, fmt.Errorf("refining answer %d: %w", pick, err)
	}
	if !found {
		return nil, nil
	}
	actor.Iteration, actor.Source = x.Iteration, SourceSPaR
	out := []alignment.Pair{actor}
	if s.Refiner == nil && refiner.Chosen.Text != "" {
		refiner.Iteration, refiner.Source = x.Iteration, SourceSPaRRefiner
		out = append(out, refiner)
	}
	return out, nil
}
