package recipe

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/rank"
)

// Sources of the Meta-Rewarding recipe's pairs.
const (
	SourceMetaRewarding = "meta-rewarding"
	SourceMetaJudge     = "meta-judge"
)

// JudgmentComparer is a meta-judge: how likely judgment a (a judge's text
// about response r to prompt p) applies the judge's rubric more accurately
// than judgment b. judge.Meta has this method. Implementations should
// present the judgments in both orders and combine the verdicts, as
// judge.Meta does, since the recipe asks about each pair once.
//
// Concurrency, context and ownership rules are those of Judge; a meta-judge
// that samples a model takes its seed from SeedFrom(ctx).
type JudgmentComparer interface {
	CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error)
}

// JudgmentOrderer is a JudgmentComparer that also reports the verdict of
// each presentation order, as judge.Meta does: aFirst is P(judgment a
// more accurate than b) when a is shown first, aSecond the same when b is
// shown first. MetaRewarding uses it for the paper's position weighting
// (see MetaRewarding); without it, only Comparison.ProbA is used.
type JudgmentOrderer interface {
	CompareJudgmentOrders(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (aFirst, aSecond float64, err error)
}

// JudgePrompter is a Judge that can show the prompt it asks its model about
// a response, as judge.Rubric does. Meta-Rewarding uses it as the prompt of
// judge-training pairs.
type JudgePrompter interface {
	Prompt(p alignment.Prompt, r alignment.Response) alignment.Prompt
}

// MetaRewarding is the recipe of Meta-Rewarding Language Models (Wu et al.,
// 2024): Self-Rewarding in which the model also learns to judge.
//
// Actor pairs are made as in SelfRewarding, but chosen by length control
// (LengthControlled with Rho): among the top scores the shortest response,
// among the bottom ones the longest (Source "meta-rewarding").
//
// Judge pairs come from the Extra hook. Among a prompt's responses the one
// whose k judgments vary most (variance of their scores; the earliest among
// equals) has its judgments compared by the meta-judge, every two of them
// once (the meta-judge presents both orders itself). As in the paper
// (Wu et al., 2024, §2.2), the verdicts form a battle matrix in which
// each position's wins are weighted by the other position's share of all
// the wins (w1 = win2/(win1+win2) for a win of the judgment shown first,
// w2 = win1/(win1+win2) for one shown second), which cancels the
// meta-judge's position bias: a meta-judge that prefers whichever
// judgment it sees first still ranks the judgments by its preference
// between them. That needs the verdict of each order (JudgmentOrderer,
// which judge.Meta has); a meta-judge without it, or Ties set, adds its
// Comparison.ProbA and 1−ProbA instead, so that a disagreement of its two
// orders is a tie (a meta-judge biased to one position then yields mostly
// ties and few judge pairs). The paper counts the positions' wins over
// all its meta-judgments; here they are counted per tournament, since
// each prompt is meta-judged on its own and concurrently, and a count
// shared across prompts would depend on scheduling. Rank turns the table
// into strengths, by default the paper's Elo fit (maximum likelihood,
// with 0.5 pseudo-wins per ordered pair so that a judgment that won every
// comparison has a finite rating, as judge.Elo(wins, 0.5) computes it),
// and the strongest judgment is chosen over the weakest (Source
// "meta-judge") when it is stronger by at least MinGap (by any amount
// by default, as in the paper), without scores (Pair.Scored false:
// strengths are not on the judge's scale, and a pairs file's score columns
// hold only judge scores), for the judge prompt that produced them
// (JudgePrompt, or the judge's own Prompt method). No judge pair is made
// when every response's judgments agree on the score, when the strengths
// all tie or differ by less than MinGap, or when the two texts are equal;
// an iteration that makes none at all raises the extra-pairs alarm
// (alignment.AlarmExtraPairs; Report.ExtraPairs is 0). The judgments of
// a response agree more often the fewer there are and the less noisy
// each is: a judge that averages several samples of its own before
// returning a score leaves the meta-judge little to compare. The texts
// are Judgment.Rationale: a judge whose judgments carry none fails the
// prompt. Judge pairs stop after JudgeIterations iterations, as the paper
// stops training the judge once its gains fade.
//
// Responses are sampled at the paper's temperature 0.8 and top-p 0.95
// unless Base.Sampling sets a temperature or a top-p (see SelfRewarding).
//
// The judge and the meta-judge of an iteration are built from that
// iteration's policy, once, at the start of the iteration (the Loop's
// SelfJudge builds both). A builder's error, or a nil judge or
// meta-judge, stops the run there with an error wrapping ErrInvalid that
// names the builder. The Loop that MetaRewarding.Loop returns holds the
// current meta-judge, so it must not be run twice at once.
type MetaRewarding struct {
	// Base holds the run's settings: Policy and Prompts are required;
	// Trainer trains the one model on both kinds of pair; Iterations
	// defaults to 2, Samples to 4, JudgeSamples to 3 (at least 2),
	// Source to "meta-rewarding", Sampling to temperature 0.8 and top-p
	// 0.95 when it sets neither. Judge, SelfJudge, Comparer, Selector,
	// Extra and ExtraIterations must be left zero.
	Base alignment.Loop
	// Judge builds the judge of an iteration from its policy, as
	// SelfRewarding.Judge does. Required.
	Judge func(alignment.Policy) (alignment.Judge, error)
	// MetaJudge builds the meta-judge of an iteration from its policy.
	// Required. With package judge:
	//
	//	MetaJudge: func(p alignment.Policy) (recipe.JudgmentComparer, error) { return judge.NewMeta(p, nil) },
	MetaJudge func(alignment.Policy) (JudgmentComparer, error)
	// JudgePrompt returns the prompt the judge was asked about r, the
	// prompt of judge pairs; nil means the judge's own Prompt method
	// (JudgePrompter), which the judge must then have: Loop checks it on
	// the judge that Judge builds from Base.Policy.
	JudgePrompt func(p alignment.Prompt, r alignment.Response) alignment.Prompt
	// Rho is the length-control window of actor pairs (see
	// LengthControlled); 0 is MaxMin with length as the tie-breaker.
	Rho float64
	// Rank returns a strength per judgment from the battle matrix,
	// wins[i][j] being how much judgment i beat judgment j. Nil means the
	// paper's Elo fit with 0.5 pseudo-wins, the values of
	// judge.Elo(wins, 0.5).
	Rank func(wins [][]float64) ([]float64, error)
	// Ties turns the position weighting off: each comparison enters the
	// table as the meta-judge's Comparison.ProbA, a disagreement of its
	// two orders being a tie. Meta-judges without JudgmentOrderer are
	// always used so.
	Ties bool
	// JudgeIterations is the number of iterations, from the first, that
	// make judge pairs; 0 means every iteration.
	JudgeIterations int
	// MinGap is the least difference of strength, in Rank's units (Elo
	// points with the default Rank), between the strongest and the
	// weakest judgment for a judge pair to be made. 0 is the paper's
	// rule, any strict difference. A positive MinGap is a deliberate,
	// optional departure from Wu et al. (2024): a near-tie of the
	// meta-judge's ranking is a judge pair of full weight, so a small or
	// noisy meta-judge that barely prefers one judgment trains the judge
	// on its noise; MinGap drops those pairs and keeps the ones the
	// meta-judge is decided about. It must be finite and at least 0.
	MinGap float64
}

// Loop returns the configured Loop. The error wraps ErrInvalid and names
// the field that is missing or must be left zero.
func (m *MetaRewarding) Loop() (*alignment.Loop, error) {
	b := m.Base
	l, err := recipeBase("MetaRewarding", b,
		field{"Judge", b.Judge != nil}, field{"SelfJudge", b.SelfJudge != nil}, field{"Comparer", b.Comparer != nil},
		field{"Selector", b.Selector != nil}, field{"Extra", b.Extra != nil}, field{"ExtraIterations", b.ExtraIterations != 0})
	bad := func(why string) error {
		return fmt.Errorf("recipe: MetaRewarding: %s: %w", why, alignment.ErrInvalid)
	}
	switch {
	case err != nil:
		return nil, err
	case m.Judge == nil:
		return nil, bad("Judge is nil")
	case m.MetaJudge == nil:
		return nil, bad("MetaJudge is nil")
	case b.JudgeSamples == 1:
		return nil, bad("Base.JudgeSamples is 1: judge pairs need at least 2 judgments per response")
	case !(m.Rho >= 0 && m.Rho < 0.5):
		return nil, bad(fmt.Sprintf("Rho is %v, want a value in [0, 0.5)", m.Rho))
	case m.JudgeIterations < 0:
		return nil, bad(fmt.Sprintf("JudgeIterations is %d, want 0 (every iteration) or more", m.JudgeIterations))
	case !(m.MinGap >= 0 && m.MinGap <= math.MaxFloat64):
		return nil, bad(fmt.Sprintf("MinGap is %v, want a finite value of 0 or more", m.MinGap))
	}
	if m.JudgePrompt == nil {
		j, err := build("MetaRewarding.Judge", m.Judge, b.Policy)
		if err != nil {
			return nil, fmt.Errorf("%w (built from Base.Policy to check its Prompt method)", err)
		}
		if _, ok := j.(JudgePrompter); !ok {
			return nil, bad(fmt.Sprintf("JudgePrompt is nil and the judge (%T) has no Prompt method to give the prompt of judge pairs", j))
		}
	}
	// The Loop calls SelfJudge at the start of each iteration, before any
	// Extra call of the iteration, so Extra always finds the meta-judge
	// of its own iteration's policy.
	var meta struct {
		sync.Mutex
		mj JudgmentComparer
	}
	l.SelfJudge = func(pol alignment.Policy) (alignment.Judge, error) {
		j, err := build("MetaRewarding.Judge", m.Judge, pol)
		if err != nil {
			return nil, err
		}
		mj, err := build("MetaRewarding.MetaJudge", m.MetaJudge, pol)
		if err != nil {
			return nil, err
		}
		meta.Lock()
		meta.mj = mj
		meta.Unlock()
		return j, nil
	}
	l.Selector = alignment.LengthControlled{Rho: m.Rho}
	l.Extra = func(ctx context.Context, x *alignment.Item, rs []alignment.Scored) ([]alignment.Pair, error) {
		meta.Lock()
		mj := meta.mj
		meta.Unlock()
		return m.judgePair(ctx, x, mj, rs)
	}
	l.ExtraIterations = m.JudgeIterations
	l.Iterations = cmp.Or(b.Iterations, 2)
	l.Samples = cmp.Or(b.Samples, 4)
	l.JudgeSamples = cmp.Or(b.JudgeSamples, 3)
	l.Source = cmp.Or(b.Source, SourceMetaRewarding)
	l.Sampling = samplingOr(b.Sampling, 0.8, 0.95)
	return l, nil
}

// Run runs the configured Loop.
func (m *MetaRewarding) Run(ctx context.Context) (alignment.Result, error) {
	l, err := m.Loop()
	if err != nil {
		return alignment.Result{}, err
	}
	return l.Run(ctx)
}

// judgePair makes the judge-training pair of one prompt, if any, with the
// iteration's meta-judge mj.
func (m *MetaRewarding) judgePair(ctx context.Context, x *alignment.Item, mj JudgmentComparer, rs []alignment.Scored) ([]alignment.Pair, error) {
	p, it, j := x.Prompt, x.Iteration, x.Judge
	pick, spread := -1, 0.0
	for i, s := range rs {
		if v := scoreVariance(s.Judgments); v > spread {
			pick, spread = i, v
		}
	}
	if pick < 0 {
		return nil, nil
	}
	r := rs[pick].Response
	texts := make([]string, len(rs[pick].Judgments))
	for i, jd := range rs[pick].Judgments {
		if jd.Rationale == "" {
			return nil, fmt.Errorf("judgment %d of response %d has no rationale for the meta-judge to read: %w", i, pick, alignment.ErrInvalid)
		}
		texts[i] = jd.Rationale
	}
	if mj == nil {
		return nil, fmt.Errorf("no meta-judge for iteration %d: the Loop's SelfJudge, which builds it, was replaced: %w", it, alignment.ErrInvalid)
	}
	n := len(texts)
	orderer, weigh := mj.(JudgmentOrderer)
	weigh = weigh && !m.Ties
	wins := make([][]float64, n)
	for i := range wins {
		wins[i] = make([]float64, n)
	}
	var battles []rank.Battle
	for a := range n {
		for b := a + 1; b < n; b++ {
			var c alignment.Comparison
			var first, second float64
			err := x.Call(ctx, func(ctx context.Context) (err error) {
				if weigh {
					first, second, err = orderer.CompareJudgmentOrders(ctx, p, r, texts[a], texts[b])
					return err
				}
				c, err = mj.CompareJudgments(ctx, p, r, texts[a], texts[b])
				return err
			}, "meta", strconv.Itoa(pick), strconv.Itoa(a), strconv.Itoa(b))
			if err != nil {
				return nil, fmt.Errorf("meta-judging judgments %d and %d of response %d: %w", a, b, pick, err)
			}
			if weigh {
				if !(first >= 0 && first <= 1 && second >= 0 && second <= 1) {
					return nil, fmt.Errorf("meta-judge returned P(A better) = %v shown first and %v shown second for judgments %d and %d of response %d, want probabilities: %w", first, second, a, b, pick, alignment.ErrInvalid)
				}
				battles = append(battles, rank.Battle{I: a, J: b, First: first, Second: second})
				continue
			}
			if !(c.ProbA >= 0 && c.ProbA <= 1) {
				return nil, fmt.Errorf("meta-judge returned P(A better) = %v for judgments %d and %d of response %d, want a probability: %w", c.ProbA, a, b, pick, alignment.ErrInvalid)
			}
			wins[a][b] += c.ProbA
			wins[b][a] += 1 - c.ProbA
		}
	}
	if weigh {
		var err error
		if wins, _, err = rank.PositionWeighted(n, battles); err != nil {
			return nil, fmt.Errorf("weighting the meta-judge's verdicts on response %d: %v: %w", pick, err, alignment.ErrInvalid)
		}
	}
	strength, err := m.rank(wins)
	if err != nil {
		return nil, fmt.Errorf("ranking the judgments of response %d: %w", pick, err)
	}
	best, worst := 0, 0
	for i, s := range strength {
		if s > strength[best] {
			best = i
		}
		if s < strength[worst] {
			worst = i
		}
	}
	if gap := strength[best] - strength[worst]; !(gap > 0 && gap >= m.MinGap) || texts[best] == texts[worst] {
		return nil, nil
	}
	var jp alignment.Prompt
	if m.JudgePrompt != nil {
		jp = m.JudgePrompt(p, r)
	} else if pr, ok := j.(JudgePrompter); ok {
		jp = pr.Prompt(p, r)
	} else {
		return nil, fmt.Errorf("the judge (%T) has no Prompt method and JudgePrompt is nil: %w", j, alignment.ErrInvalid)
	}
	return []alignment.Pair{{
		Prompt:    jp,
		Chosen:    alignment.Response{Text: texts[best], Source: SourceMetaJudge},
		Rejected:  alignment.Response{Text: texts[worst], Source: SourceMetaJudge},
		Iteration: it,
		Source:    SourceMetaJudge,
	}}, nil
}

// rank applies Rank, or the Elo fit, and checks the strengths.
func (m *MetaRewarding) rank(wins [][]float64) ([]float64, error) {
	var s []float64
	if m.Rank != nil {
		var err error
		if s, err = m.Rank(wins); err != nil {
			return nil, err
		}
	} else {
		bt, err := rank.BradleyTerry(wins, 0.5)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, alignment.ErrInvalid)
		}
		s = rank.Elo(bt)
	}
	if len(s) != len(wins) {
		return nil, fmt.Errorf("Rank returned %d strengths for %d judgments: %w", len(s), len(wins), alignment.ErrInvalid)
	}
	for i, x := range s {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("Rank returned strength %v for judgment %d: %w", x, i, alignment.ErrInvalid)
		}
	}
	return s, nil
}

// scoreVariance returns the population variance of the judgments' scores,
// 0 for fewer than two.
func scoreVariance(js []alignment.Judgment) float64 {
	if len(js) < 2 {
		return 0
	}
	var mean float64
	for _, j := range js {
		mean += j.Score
	}
	mean /= float64(len(js))
	var v float64
	for _, j := range js {
		v += (j.Score - mean) * (j.Score - mean)
	}
	return v / float64(len(js))
}
