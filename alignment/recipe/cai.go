package recipe

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

// Sources of the pairs of the Constitutional AI recipe.
const (
	SourceSLCAI = "sl-cai"
	SourceRLCAI = "rl-cai"
)

// SLForm names how the supervised stage of ConstitutionalAI trains on its
// revisions.
type SLForm string

// Forms of the supervised stage.
const (
	// SLSupervised fine-tunes the policy on the final revisions, as Bai et
	// al. (2022, §3) do: SLTrainer must be an alignment.SFTTrainer
	// (dpo.Trainer is). The default.
	SLSupervised SLForm = "sft"
	// SLPairs trains the policy on the revision ≻ original pairs with
	// SLTrainer's Train (a DPO-style departure from the paper, kept to
	// compare the two).
	SLPairs SLForm = "pairs"
)

// ConstitutionalAI is the recipe of Constitutional AI (Bai et al., 2022) in
// two stages on one Loop each.
//
// The supervised stage (SL-CAI) samples responses, has the Reviser
// critique and revise each of them, and pairs every revision over its
// original (Source "sl-cai"). It needs no judge: the Loop runs it without
// one and with the NoPair selector, and the pairs come from the Extra
// hook, which sees each response before and after revision
// (Scored.Unrefined). Its reports therefore have no scores, and count a
// prompt as yielded when it made a revision pair and as unjudged
// (Report.Unjudged) when it made none; Report.Pairs counts the revision
// pairs, which carry no scores (Pair.Scored is false, so a pairs file has
// no score columns for them). When
// the Reviser is a RevisionPairer (constitution.Reviser is), it makes the
// pairs; otherwise a revision is paired over its original when the text
// changed. Identical pairs from samples that happened to be equal are
// written once.
//
// Between the stages, SLTrainer (optional) trains the policy on the SL
// stage's data, in the form SLForm names. By default (SLSupervised) it
// fine-tunes the policy on the final revisions — each SL pair's chosen
// response — as Bai et al. (2022, §3.1) fine-tune on revisions; the
// pairs are still what the Sink receives. Departures from the paper: a
// revision that left the text unchanged makes no pair and so is not
// trained on (it is the policy's own sample), and the revisions of one
// run of the SL stage are trained on once, after the stage, rather than
// on a mix with helpfulness data. SLPairs instead trains on the revision
// pairs with Train. The reinforcement stage (RL-CAI) then samples two
// responses per prompt from that policy and has the Comparer, which asks a
// feedback model under a sampled principle, label them; the preferred one
// is chosen, ties (position-inconsistent verdicts) are dropped (Source
// "rl-cai"). Base.Trainer, if set, trains on each RL iteration's pairs.
type ConstitutionalAI struct {
	// Base holds the settings both stages share: Policy and Prompts
	// (required), Sink, Observer, Sampling, Concurrency, Seed,
	// FailureBudget, Retry and Dir (each stage keeps its own run in
	// Dir/sl and Dir/rl). Base.Trainer, Iterations (default 1), Samples
	// (default 2), JudgeSamples (comparer rounds, default 1) and Selector
	// (default MaxMin) are the RL stage's. Judge, SelfJudge, Comparer,
	// Refiner, Extra and Source must be left zero.
	Base alignment.Loop
	// SLPrompts are the prompts of the SL stage (red-team prompts, in the
	// paper); nil means Base.Prompts.
	SLPrompts alignment.PromptSource
	// SLSamples is the number of responses revised per prompt in the SL
	// stage; default 2.
	SLSamples int
	// Reviser critiques and revises responses in the SL stage
	// (constitution.Reviser). Required.
	Reviser alignment.Refiner
	// SLTrainer, if set, trains the policy on the SL stage's data before
	// the RL stage, in the form SLForm names; with Dir it must be a
	// Checkpointer.
	SLTrainer alignment.Trainer
	// SLForm is how SLTrainer trains: SLSupervised (the default, "") on
	// the final revisions through alignment.SFTTrainer, or SLPairs on the
	// revision pairs.
	SLForm SLForm
	// Comparer labels the RL stage's pairs (constitution.Comparer).
	// Required.
	Comparer alignment.Comparer
}

// CAIResult is what a Constitutional AI run leaves: each stage's Result,
// and the policy it ended with (RL.Policy).
type CAIResult struct {
	SL, RL alignment.Result
	Policy alignment.Policy
}

// SLLoop returns the Loop of the supervised stage. The error wraps
// ErrInvalid and names the field that is missing or must be left zero.
func (c *ConstitutionalAI) SLLoop() (*alignment.Loop, error) {
	l, err := c.base()
	if err != nil {
		return nil, err
	}
	if c.SLSamples < 0 {
		return nil, fmt.Errorf("recipe: ConstitutionalAI: SLSamples is %d, want 0 (default 2) or more: %w", c.SLSamples, alignment.ErrInvalid)
	}
	l.Prompts = cmp.Or(c.SLPrompts, c.Base.Prompts)
	l.Refiner = c.Reviser
	l.Selector = alignment.NoPair{} // the pairs come from Extra; the responses go unjudged
	l.Trainer = c.SLTrainer
	switch c.SLForm {
	case SLPairs:
	case "", SLSupervised:
		if c.SLTrainer != nil {
			sft, ok := c.SLTrainer.(alignment.SFTTrainer)
			if !ok {
				return nil, fmt.Errorf("recipe: ConstitutionalAI: SLTrainer of type %T is not an alignment.SFTTrainer, which SLForm %q needs; set SLForm to %q to train on the revision pairs: %w",
					c.SLTrainer, SLSupervised, SLPairs, alignment.ErrInvalid)
			}
			l.Trainer = newRevisionSFT(sft, c.SLTrainer)
		}
	default:
		return nil, fmt.Errorf("recipe: ConstitutionalAI: SLForm is %q, want %q or %q: %w", c.SLForm, SLSupervised, SLPairs, alignment.ErrInvalid)
	}
	l.Iterations = 1
	l.Samples = cmp.Or(c.SLSamples, 2)
	l.JudgeSamples = 1
	l.Source = SourceSLCAI
	l.Extra = revisionPairs(c.Reviser, SourceSLCAI)
	if c.Base.Dir != "" {
		l.Dir = filepath.Join(c.Base.Dir, "sl")
	}
	return l, nil
}

// RLLoop returns the Loop of the reinforcement stage, starting from pol
// (the SL stage's policy; Base.Policy when nil). The error wraps
// ErrInvalid and names the field that is missing or must be left zero.
func (c *ConstitutionalAI) RLLoop(pol alignment.Policy) (*alignment.Loop, error) {
	l, err := c.base()
	if err != nil {
		return nil, err
	}
	if pol != nil {
		l.Policy = pol
	}
	l.Comparer = c.Comparer
	l.Samples = cmp.Or(c.Base.Samples, 2)
	l.Source = SourceRLCAI
	if c.Base.Dir != "" {
		l.Dir = filepath.Join(c.Base.Dir, "rl")
	}
	return l, nil
}

// Run runs the SL stage, then the RL stage on the SL stage's policy. On
// error the result holds what the stages finished. With Base.Dir set, a run
// started again continues where it stopped, in either stage.
func (c *ConstitutionalAI) Run(ctx context.Context) (CAIResult, error) {
	var out CAIResult
	sl, err := c.SLLoop()
	if err != nil {
		return out, err
	}
	rl, err := c.RLLoop(nil)
	if err != nil {
		return out, err
	}
	if out.SL, err = sl.Run(ctx); err != nil {
		return out, fmt.Errorf("recipe: ConstitutionalAI: SL stage: %w", err)
	}
	out.Policy = out.SL.Policy
	rl.Policy = out.SL.Policy
	if out.RL, err = rl.Run(ctx); err != nil {
		return out, fmt.Errorf("recipe: ConstitutionalAI: RL stage: %w", err)
	}
	out.Policy = out.RL.Policy
	return out, nil
}

func (c *ConstitutionalAI) base() (*alignment.Loop, error) {
	b := c.Base
	l, err := recipeBase("ConstitutionalAI", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Refiner", b.Refiner != nil}, field{"Extra", b.Extra != nil}, field{"Source", b.Source != ""})
	switch {
	case err != nil:
		return nil, err
	case c.Reviser == nil:
		return nil, fmt.Errorf("recipe: ConstitutionalAI: Reviser is nil: %w", alignment.ErrInvalid)
	case c.Comparer == nil:
		return nil, fmt.Errorf("recipe: ConstitutionalAI: Comparer is nil: %w", alignment.ErrInvalid)
	}
	return l, nil
}

// revisionPairs returns the Extra hook that pairs every refined response
// over its original: through ref's own Pair when it is a RevisionPairer,
// otherwise whenever the refinement changed the text.
func revisionPairs(ref alignment.Refiner, source string) func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
	pairer, _ := ref.(RevisionPairer)
	return func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		p := x.Prompt
		var out []alignment.Pair
		seen := make(map[[2]string]bool, len(rs))
		for _, s := range rs {
			var (
				pair alignment.Pair
				ok   bool
			)
			if pairer != nil {
				pair, ok = pairer.Pair(p, s.Unrefined, s.Response)
			} else if strings.TrimSpace(s.Response.Text) != strings.TrimSpace(s.Unrefined.Text) {
				pair, ok = alignment.Pair{Prompt: p, Chosen: s.Response, Rejected: s.Unrefined}, true
			}
			key := [2]string{pair.Chosen.Text, pair.Rejected.Text}
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			pair.Iteration = x.Iteration
			if pair.Source == "" {
				pair.Source = source
			}
			out = append(out, pair)
		}
		return out, nil
	}
}

// revisionSFT is the SL stage's Trainer in the SLSupervised form: it
// fine-tunes on the chosen response of each pair, the final revision.
type revisionSFT struct {
	sft   alignment.SFTTrainer
	inner alignment.Trainer
}

// revisionSFTCheckpointer is a revisionSFT whose trainer saves and loads
// policies, which a run with Dir needs.
type revisionSFTCheckpointer struct {
	revisionSFT
	alignment.Checkpointer
}

func newRevisionSFT(sft alignment.SFTTrainer, inner alignment.Trainer) alignment.Trainer {
	r := revisionSFT{sft: sft, inner: inner}
	if c, ok := inner.(alignment.Checkpointer); ok {
		return revisionSFTCheckpointer{r, c}
	}
	return r
}

// Train fine-tunes pol on the pairs' revisions.
func (r revisionSFT) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	ex := make([]alignment.Example, len(pairs))
	for i, p := range pairs {
		ex[i] = alignment.Example{Prompt: p.Prompt, Completion: p.Chosen.Text}
	}
	return r.sft.TrainSFT(ctx, pol, ex)
}

// Fingerprint names the form with the trainer, so that a run resumed in
// the other form is refused.
func (r revisionSFT) Fingerprint() string {
	return "sft(" + alignment.FingerprintOf(r.inner) + ")"
}
