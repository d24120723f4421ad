package recipe_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/recipe"
)

// rcpPolicy is a scripted policy of a given version: the k-th response to
// prompt id is texts(version, id)[k], whatever the seed, so that expected
// pairs can be written down.
type rcpPolicy struct {
	*alignmenttest.Script
	version int
}

func newRcpPolicy(version int, texts func(version int, id string) []string) *rcpPolicy {
	return &rcpPolicy{version: version, Script: &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		ts := texts(version, p.ID)
		return alignment.Response{Text: ts[k%len(ts)], Source: "v" + strconv.Itoa(version)}
	}}}
}

// rcpTrainer records the pairs of every Train call and returns the next
// version of an rcpPolicy.
type rcpTrainer struct {
	mu    sync.Mutex
	calls [][]alignment.Pair
	texts func(version int, id string) []string
}

func (t *rcpTrainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, slices.Clone(pairs))
	p, ok := pol.(*rcpPolicy)
	if !ok {
		return nil, fmt.Errorf("rcpTrainer: got a %T", pol)
	}
	return newRcpPolicy(p.version+1, t.texts), nil
}

func rcpSource(t *testing.T, ids ...string) *alignment.SliceSource {
	t.Helper()
	var ps []alignment.Prompt
	for _, id := range ids {
		ps = append(ps, alignment.NewPrompt(id, "question "+id))
	}
	src, err := alignment.NewSliceSource(ps)
	require.NoError(t, err)
	return src
}

// brief is a pair reduced to what the tests check.
type brief struct {
	Prompt, Chosen, Rejected, Source string
	Iteration                        int
}

func briefs(ps []alignment.Pair) []brief {
	out := make([]brief, len(ps))
	for i, p := range ps {
		out[i] = brief{p.Prompt.ID, p.Chosen.Text, p.Rejected.Text, p.Source, p.Iteration}
	}
	return out
}

// revisionCounter is a Refiner with its own revision pairs, as
// constitution.Reviser has: it records the pairs it was asked for.
type revisionCounter struct {
	alignmenttest.Rewrites
	mu    sync.Mutex
	asked int
}

func (r *revisionCounter) Pair(p alignment.Prompt, original, refined alignment.Response) (alignment.Pair, bool) {
	r.mu.Lock()
	r.asked++
	r.mu.Unlock()
	if original.Text == refined.Text {
		return alignment.Pair{}, false
	}
	return alignment.Pair{Prompt: p, Chosen: refined, Rejected: original, Source: "sl-cai"}, true
}

func TestConstitutionalAIKnownPairs(t *testing.T) {
	texts := func(v int, id string) []string {
		switch {
		case v == 0 && id == "a":
			return []string{"rude draft", "wrong draft"}
		case v == 0:
			return []string{"fine", "fine"}
		case id == "a":
			return []string{"helpful answer", "harmful answer"}
		default:
			return []string{"same", "same too"}
		}
	}
	rewrites := alignmenttest.Rewrites{"rude draft": "polite revision", "wrong draft": "correct revision"}
	cmp := alignmenttest.Scores{"helpful answer": 5, "harmful answer": 0, "same": 2, "same too": 2}
	for _, pairer := range []bool{false, true} {
		t.Run(fmt.Sprintf("pairer=%v", pairer), func(t *testing.T) {
			var reviser alignment.Refiner = rewrites
			counter := &revisionCounter{Rewrites: rewrites}
			if pairer {
				reviser = counter
			}
			slTrainer := &rcpTrainer{texts: texts}
			rec := &alignmenttest.Recorder{}
			cai := recipe.ConstitutionalAI{
				Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Sink: rec, Seed: 3},
				Reviser:   reviser,
				SLTrainer: slTrainer,
				SLForm:    recipe.SLPairs,
				Comparer:  cmp,
			}
			res, err := cai.Run(t.Context())
			require.NoError(t, err)
			want := []brief{
				{"a", "polite revision", "rude draft", "sl-cai", 0},
				{"a", "correct revision", "wrong draft", "sl-cai", 0},
				{"a", "helpful answer", "harmful answer", "rl-cai", 0},
			}
			assert.Equal(t, want, briefs(rec.Pairs()))
			require.Len(t, slTrainer.calls, 1, "one training between the stages")
			assert.Equal(t, want[:2], briefs(slTrainer.calls[0]))
			assert.Equal(t, 1, res.Policy.(*rcpPolicy).version, "the RL stage ends with the SL-trained policy")

			sl, rl := res.SL.Reports[0], res.RL.Reports[0]
			assert.Equal(t, 2, sl.Pairs)
			assert.Equal(t, 2, sl.ExtraPairs, "the SL stage's pairs all come from Extra")
			assert.Zero(t, sl.Ties, "its responses go unjudged, so nothing ties")
			assert.Zero(t, sl.Score.N)
			assert.Equal(t, 1, rl.Pairs)
			assert.Equal(t, 1, rl.Ties, "b's responses tie")
			if pairer {
				assert.Equal(t, 4, counter.asked, "every revised response goes through the Reviser's Pair")
			}
		})
	}
}

// sftRecorder is an rcpTrainer that also fine-tunes: it records the
// examples of every TrainSFT call.
type sftRecorder struct {
	rcpTrainer
	examples [][]alignment.Example
}

func (t *sftRecorder) TrainSFT(ctx context.Context, pol alignment.Policy, ex []alignment.Example) (alignment.Policy, error) {
	t.mu.Lock()
	t.examples = append(t.examples, slices.Clone(ex))
	t.mu.Unlock()
	return pol, nil
}

// TestConstitutionalAISLStageIsSupervised: Bai et al. fine-tune on the
// final revisions; pairs are the option, and a trainer without the
// capability is refused by name rather than silently trained on pairs.
func TestConstitutionalAISLStageIsSupervised(t *testing.T) {
	texts := func(int, string) []string { return []string{"rude draft", "wrong draft"} }
	rewrites := alignmenttest.Rewrites{"rude draft": "polite revision", "wrong draft": "correct revision"}
	for _, tt := range []struct {
		form            recipe.SLForm
		sftCalls, calls int
	}{
		{"", 1, 0},
		{recipe.SLSupervised, 1, 0},
		{recipe.SLPairs, 0, 1},
	} {
		t.Run(string(tt.form), func(t *testing.T) {
			tr := &sftRecorder{rcpTrainer: rcpTrainer{texts: texts}}
			cai := recipe.ConstitutionalAI{
				Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a"), Seed: 3},
				Reviser:   rewrites,
				SLTrainer: tr,
				SLForm:    tt.form,
				Comparer:  alignmenttest.Scores{"rude draft": 1, "wrong draft": 0},
			}
			_, err := cai.Run(t.Context())
			require.NoError(t, err)
			require.Len(t, tr.examples, tt.sftCalls)
			require.Len(t, tr.calls, tt.calls)
			if tt.sftCalls > 0 {
				got := []string{}
				for _, e := range tr.examples[0] {
					assert.Equal(t, "a", e.Prompt.ID)
					got = append(got, e.Completion)
				}
				assert.ElementsMatch(t, []string{"polite revision", "correct revision"}, got, "the final revisions are the targets")
			}
		})
	}
	for _, tt := range []struct {
		form recipe.SLForm
		tr   alignment.Trainer
		want string
	}{
		{"", &rcpTrainer{texts: texts}, "not an alignment.SFTTrainer"},
		{"rl", &sftRecorder{}, `SLForm is "rl"`},
	} {
		cai := recipe.ConstitutionalAI{
			Base:    alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a")},
			Reviser: rewrites, SLTrainer: tt.tr, SLForm: tt.form, Comparer: alignmenttest.Scores{},
		}
		_, err := cai.SLLoop()
		require.ErrorIs(t, err, alignment.ErrInvalid)
		assert.ErrorContains(t, err, tt.want)
	}
}

func TestConstitutionalAIDropsRepeatedPairs(t *testing.T) {
	texts := func(int, string) []string { return []string{"draft"} }
	rec := &alignmenttest.Recorder{}
	cai := recipe.ConstitutionalAI{
		Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a"), Sink: rec},
		Reviser:   alignmenttest.Rewrites{"draft": "revision"},
		Comparer:  alignmenttest.Scores{"draft": 1},
		SLSamples: 3,
	}
	_, err := cai.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []brief{{"a", "revision", "draft", "sl-cai", 0}}, briefs(rec.Pairs()), "three equal samples give one pair")
}

func TestConstitutionalAIDirKeepsStagesApart(t *testing.T) {
	texts := func(v int, id string) []string { return []string{"draft " + id, "other " + id} }
	dir := t.TempDir()
	cai := recipe.ConstitutionalAI{
		Base:     alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Dir: dir},
		Reviser:  alignmenttest.Rewrites{"draft a": "revised a"},
		Comparer: alignmenttest.Scores{"draft a": 1, "other a": 0, "draft b": 1, "other b": 0},
	}
	first, err := cai.Run(t.Context())
	require.NoError(t, err)
	sl := readPairsFile(t, dir+"/sl/"+alignment.PairsFile)
	rl := readPairsFile(t, dir+"/rl/"+alignment.PairsFile)
	assert.Equal(t, []brief{{"a", "revised a", "draft a", "sl-cai", 0}}, sl)
	assert.Equal(t, []brief{{"a", "draft a", "other a", "rl-cai", 0}, {"b", "draft b", "other b", "rl-cai", 0}}, rl)

	again, err := cai.Run(t.Context())
	require.NoError(t, err, "a finished run started again returns at once")
	assert.Equal(t, first.RL.Reports[0].Pairs, again.RL.Reports[0].Pairs)
	assert.Equal(t, sl, readPairsFile(t, dir+"/sl/"+alignment.PairsFile), "no pair duplicated")
}

func TestSelfRewardingKnownPairs(t *testing.T) {
	texts := func(v int, id string) []string {
		if id == "tie" {
			return []string{"meh", "meh", "meh", "meh"}
		}
		return []string{
			fmt.Sprintf("v%d ok", v), fmt.Sprintf("v%d best", v), fmt.Sprintf("v%d worst", v), fmt.Sprintf("v%d good", v),
		}
	}
	scores := alignmenttest.Scores{"meh": 2}
	for v := range 3 {
		scores[fmt.Sprintf("v%d ok", v)] = 2
		scores[fmt.Sprintf("v%d best", v)] = 5
		scores[fmt.Sprintf("v%d worst", v)] = 0
		scores[fmt.Sprintf("v%d good", v)] = 4
	}
	var judgedVersions []int
	var mu sync.Mutex
	tr := &rcpTrainer{texts: texts}
	rec := &alignmenttest.Recorder{}
	sr := recipe.SelfRewarding{
		Base: alignment.Loop{Policy: newRcpPolicy(1, texts), Prompts: rcpSource(t, "x", "tie"), Trainer: tr, Sink: rec, Seed: 9},
		Judge: func(pol alignment.Policy) (alignment.Judge, error) {
			mu.Lock()
			defer mu.Unlock()
			judgedVersions = append(judgedVersions, pol.(*rcpPolicy).version)
			return scores, nil
		},
	}
	res, err := sr.Run(t.Context())
	require.NoError(t, err)
	want := []brief{
		{"x", "v1 best", "v1 worst", "self-rewarding", 0},
		{"x", "v2 best", "v2 worst", "self-rewarding", 1},
	}
	assert.Equal(t, want, briefs(rec.Pairs()))
	assert.Equal(t, []int{1, 2}, judgedVersions, "each iteration is judged by its own policy: M1, then M2")
	assert.Equal(t, 3, res.Policy.(*rcpPolicy).version, "M1 → M2 → M3")
	require.Len(t, tr.calls, 2)
	assert.Equal(t, want[:1], briefs(tr.calls[0]))
	for _, r := range res.Reports {
		assert.Equal(t, 2*4*3, r.Judgments, "N=4 responses judged k=3 times")
		assert.Equal(t, 1, r.Ties, "the prompt whose responses all tie makes no pair")
	}
}

// metaJudge is a judge whose n-th call about a response text gives the
// judgment (n mod 3) of its script, so that a response's three judgments
// are the script's three whatever the order of the calls; it can show its
// judge prompt, as judge.Rubric does.
type metaJudge struct {
	scripts map[string][3]float64
	mu      sync.Mutex
	calls   map[string]int
}

func (j *metaJudge) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	j.mu.Lock()
	n := j.calls[p.ID+"\x00"+r.Text]
	j.calls[p.ID+"\x00"+r.Text]++
	j.mu.Unlock()
	s := j.scripts[r.Text][n%3]
	return alignment.Judgment{Score: s, Rationale: fmt.Sprintf("About %q. Score: %g", r.Text, s)}, nil
}

func (j *metaJudge) Prompt(p alignment.Prompt, r alignment.Response) alignment.Prompt {
	return alignment.NewPrompt("judge:"+p.ID, "Grade "+r.Text)
}

// nearest is a meta-judge that trusts the judgment whose score is nearer
// to the truth; it records the judgments it compared.
type nearest struct {
	truth float64
	mu    sync.Mutex
	seen  []string
}

func (m *nearest) CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error) {
	m.mu.Lock()
	m.seen = append(m.seen, a, b)
	m.mu.Unlock()
	da, db := math.Abs(lastNumber(a)-m.truth), math.Abs(lastNumber(b)-m.truth)
	switch {
	case da < db:
		return alignment.Comparison{ProbA: 1}, nil
	case da > db:
		return alignment.Comparison{ProbA: 0}, nil
	}
	return alignment.Comparison{ProbA: 0.5}, nil
}

func lastNumber(s string) float64 {
	f := strings.Fields(s)
	v, _ := strconv.ParseFloat(f[len(f)-1], 64)
	return v
}

func TestMetaRewardingKnownPairs(t *testing.T) {
	// Scores: "long good" and "short good" both average 4 (top), "bad"
	// averages 1 and "longer bad" 1.5 (within ρ of the bottom); "short
	// good" varies most, so its judgments are meta-judged.
	texts := func(v int, id string) []string {
		return []string{"long good answer here", "short good", "bad", "longer bad answer indeed"}
	}
	mj := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{
		"long good answer here":    {4, 4, 4},
		"short good":               {2, 5, 5},
		"bad":                      {1, 1, 1},
		"longer bad answer indeed": {1, 2, 1.5},
	}}
	meta := &nearest{truth: 5}
	tr := &rcpTrainer{texts: texts}
	rec := &alignmenttest.Recorder{}
	m := recipe.MetaRewarding{
		Base:            alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Trainer: tr, Sink: rec, Iterations: 3},
		Judge:           func(alignment.Policy) (alignment.Judge, error) { return mj, nil },
		MetaJudge:       func(alignment.Policy) (recipe.JudgmentComparer, error) { return meta, nil },
		Rho:             0.2,
		JudgeIterations: 2,
	}
	res, err := m.Run(t.Context())
	require.NoError(t, err)
	actor := brief{"q", "short good", "longer bad answer indeed", "meta-rewarding", 0}
	judgeBest := `About "short good". Score: 5`
	judgeWorst := `About "short good". Score: 2`
	var want []brief
	for it := range 3 {
		a := actor
		a.Iteration = it
		want = append(want, a)
		if it < 2 {
			want = append(want, brief{"judge:q", judgeBest, judgeWorst, "meta-judge", it})
		}
	}
	got := rec.Pairs()
	assert.Equal(t, want, briefs(got))
	assert.Equal(t, "Grade short good", got[1].Prompt.Text(), "the judge pair's prompt is the judge's own")
	assert.False(t, got[1].Scored, "a judge pair carries no scores: strengths are on no judge's scale")
	assert.Zero(t, got[1].ScoreChosen)
	assert.True(t, got[0].Scored, "an actor pair carries the judge's scores")
	assert.Len(t, meta.seen, 2*3*2, "three comparisons per judged iteration, none after JudgeIterations")
	assert.Equal(t, 2, res.Reports[0].Pairs, "one actor and one judge pair")
	assert.Equal(t, 1, res.Reports[0].ExtraPairs)
	assert.Equal(t, 0, res.Reports[2].ExtraPairs)
	assert.Zero(t, res.Reports[2].ExtraPrompts, "no judge pairs are sought after JudgeIterations")
	for _, r := range res.Reports {
		assert.Empty(t, r.Alarms, "iteration %d", r.Iteration)
	}
	require.Len(t, tr.calls, 3)
	assert.Len(t, tr.calls[0], 2, "the model trains on actor and judge pairs together")
}

func TestMetaRewardingRankAndNoSpread(t *testing.T) {
	texts := func(int, string) []string { return []string{"a", "b"} }
	flat := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{"a": {3, 3, 3}, "b": {1, 1, 1}}}
	meta := &nearest{truth: 3}
	rec := &alignmenttest.Recorder{}
	m := recipe.MetaRewarding{
		Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Sink: rec, Iterations: 1, Samples: 2},
		Judge:     func(alignment.Policy) (alignment.Judge, error) { return flat, nil },
		MetaJudge: func(alignment.Policy) (recipe.JudgmentComparer, error) { return meta, nil },
		Rank: func([][]float64) ([]float64, error) {
			return nil, errors.New("rank must not be called without disagreement")
		},
	}
	res, err := m.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []brief{{"q", "a", "b", "meta-rewarding", 0}}, briefs(rec.Pairs()), "judgments that agree make no judge pair")
	assert.Empty(t, meta.seen)
	rep := res.Reports[0]
	assert.Equal(t, 1, rep.ExtraPrompts)
	assert.Zero(t, rep.ExtraPairs)
	require.Len(t, rep.Alarms, 1, "an iteration without judge pairs says so")
	assert.Equal(t, alignment.AlarmExtraPairs, rep.Alarms[0].Kind)

	vary := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{"a": {3, 1, 5}, "b": {1, 1, 1}}}
	m.Judge = func(alignment.Policy) (alignment.Judge, error) { return vary, nil }
	m.Rank = func(w [][]float64) ([]float64, error) { return []float64{1, math.NaN(), 0}, nil }
	m.Base.FailureBudget = 1
	res, err = m.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports[0].Failures, 1)
	assert.Contains(t, res.Reports[0].Failures[0].Err, "strength NaN for judgment 1")
}

// TestMetaRewardingMinGap: a judge pair is made only when the strongest
// judgment beats the weakest by at least MinGap. The nearest meta-judge
// ranks the judgments 5 > 4 > 3 (truth 5); Rank turns each judgment's wins
// into a strength of gap/2 per win, so the best is exactly gap above the
// worst.
func TestMetaRewardingMinGap(t *testing.T) {
	texts := func(int, string) []string { return []string{"a", "b"} }
	actor := brief{"q", "a", "b", "meta-rewarding", 0}
	judgePair := brief{"judge:q", `About "a". Score: 5`, `About "a". Score: 3`, "meta-judge", 0}
	for _, tt := range []struct {
		name        string
		gap, minGap float64
		want        []brief
	}{
		{"paper: any difference", 1, 0, []brief{actor, judgePair}},
		{"below the gap", 99, 100, []brief{actor}},
		{"at the gap", 100, 100, []brief{actor, judgePair}},
		{"above the gap", 150, 100, []brief{actor, judgePair}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mj := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{"a": {3, 5, 4}, "b": {1, 1, 1}}}
			rec := &alignmenttest.Recorder{}
			m := recipe.MetaRewarding{
				Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Sink: rec, Iterations: 1, Samples: 2},
				Judge:     func(alignment.Policy) (alignment.Judge, error) { return mj, nil },
				MetaJudge: func(alignment.Policy) (recipe.JudgmentComparer, error) { return &nearest{truth: 5}, nil },
				Rank: func(wins [][]float64) ([]float64, error) {
					s := make([]float64, len(wins))
					for i, row := range wins {
						for _, w := range row {
							s[i] += w * tt.gap / 2
						}
					}
					return s, nil
				},
				MinGap: tt.minGap,
			}
			res, err := m.Run(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tt.want, briefs(rec.Pairs()))
			assert.Equal(t, len(tt.want)-1, res.Reports[0].ExtraPairs)
		})
	}
}

// biasedMeta is a soft meta-judge that prefers the judgment whose score
// is nearer the truth only slightly (0.2 in log-odds per point) and the
// judgment shown first strongly: P(first better) = σ(q_first − q_second +
// ln(7/3)), 0.7 between judgments of equal quality. Close judgments make
// its two orders disagree.
type biasedMeta struct{ truth float64 }

func (m biasedMeta) CompareJudgmentOrders(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (float64, float64, error) {
	q := func(s string) float64 { return -0.2 * math.Abs(lastNumber(s)-m.truth) }
	first := func(x, y string) float64 { return 1 / (1 + math.Exp(-(q(x) - q(y) + math.Log(7.0/3)))) }
	return first(a, b), 1 - first(b, a), nil
}

// CompareJudgments applies the tie rule to the same verdicts, as
// judge.Meta does.
func (m biasedMeta) CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error) {
	p1, p2, _ := m.CompareJudgmentOrders(ctx, p, r, a, b)
	if (p1-0.5)*(p2-0.5) < 0 {
		return alignment.Comparison{ProbA: 0.5, Inconsistent: true}, nil
	}
	return alignment.Comparison{ProbA: (p1 + p2) / 2}, nil
}

// tiesOnly hides CompareJudgmentOrders.
type tiesOnly struct{ biasedMeta }

func (m tiesOnly) CompareJudgmentOrders() {}

// TestMetaRewardingPositionBias: a meta-judge that picks the judgment
// shown first about 70% of the time disagrees with itself on every pair of
// these close judgments. With the paper's position weighting the judge
// pair still comes out, the judgment nearest the truth over the farthest;
// with the tie rule (Ties, or a meta-judge that does not report its
// orders) there is none.
func TestMetaRewardingPositionBias(t *testing.T) {
	texts := func(int, string) []string { return []string{"a", "b"} }
	for _, tt := range []struct {
		name string
		meta recipe.JudgmentComparer
		ties bool
		want []brief
	}{
		{"weighted", biasedMeta{truth: 3}, false, []brief{{"q", "a", "b", "meta-rewarding", 0}, {"judge:q", `About "a". Score: 3`, `About "a". Score: 5`, "meta-judge", 0}}},
		{"Ties", biasedMeta{truth: 3}, true, []brief{{"q", "a", "b", "meta-rewarding", 0}}},
		{"no orders", tiesOnly{biasedMeta{truth: 3}}, false, []brief{{"q", "a", "b", "meta-rewarding", 0}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mj := &metaJudge{calls: map[string]int{}, scripts: map[string][3]float64{"a": {4, 5, 3}, "b": {1, 1, 1}}}
			rec := &alignmenttest.Recorder{}
			m := recipe.MetaRewarding{
				Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "q"), Sink: rec, Iterations: 1, Samples: 2},
				Judge:     func(alignment.Policy) (alignment.Judge, error) { return mj, nil },
				MetaJudge: func(alignment.Policy) (recipe.JudgmentComparer, error) { return tt.meta, nil },
				Ties:      tt.ties,
			}
			_, err := m.Run(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tt.want, briefs(rec.Pairs()))
		})
	}
}

func TestOnlineDPOTrainsEveryBatch(t *testing.T) {
	texts := func(v int, id string) []string {
		return []string{fmt.Sprintf("v%d %s good", v, id), fmt.Sprintf("v%d %s bad", v, id)}
	}
	cmp := alignmenttest.ComparerFunc(func(ctx context.Context, p alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
		good := func(r alignment.Response) bool { return strings.HasSuffix(r.Text, "good") }
		switch {
		case good(a) == good(b):
			return alignment.Comparison{ProbA: 0.5}, nil
		case good(a):
			return alignment.Comparison{ProbA: 1}, nil
		}
		return alignment.Comparison{ProbA: 0}, nil
	})
	tr := &rcpTrainer{texts: texts}
	rec := &alignmenttest.Recorder{}
	o := recipe.OnlineDPO{
		Base:      alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "p0", "p1", "p2", "p3", "p4"), Trainer: tr, Sink: rec},
		Comparer:  cmp,
		BatchSize: 2,
		Epochs:    2,
	}
	l, err := o.Loop()
	require.NoError(t, err)
	assert.Equal(t, 6, l.Iterations, "three batches, two epochs")
	res, err := o.Run(t.Context())
	require.NoError(t, err)
	batches := [][]string{{"p0", "p1"}, {"p2", "p3"}, {"p4"}, {"p0", "p1"}, {"p2", "p3"}, {"p4"}}
	var want []brief
	for it, ids := range batches {
		var step []brief
		for _, id := range ids {
			step = append(step, brief{id, fmt.Sprintf("v%d %s good", it, id), fmt.Sprintf("v%d %s bad", it, id), "online-dpo", it})
		}
		require.Len(t, tr.calls, 6)
		assert.Equal(t, step, briefs(tr.calls[it]), "step %d trains on its own batch, sampled from the policy of the step before", it)
		want = append(want, step...)
	}
	assert.Equal(t, want, briefs(rec.Pairs()))
	assert.Equal(t, 6, res.Policy.(*rcpPolicy).version)
}

// reporting is an rcpTrainer that reports its reference and steps, as
// dpo.Trainer does.
type reporting struct {
	*rcpTrainer
	fixed bool
	steps int
}

func (r reporting) ReferenceFixed() bool { return r.fixed }
func (r reporting) Steps(int) int        { return r.steps }

// TestOnlineDPOChecksTheTrainer: OAIF anchors to the initial model and
// takes one step per batch; a Trainer that reports otherwise is refused
// unless the departure is asked for.
func TestOnlineDPOChecksTheTrainer(t *testing.T) {
	texts := func(int, string) []string { return []string{"x", "y"} }
	for _, tt := range []struct {
		name          string
		tr            alignment.Trainer
		moving, multi bool
		msg           string
	}{
		{"OAIF", reporting{&rcpTrainer{texts: texts}, true, 1}, false, false, ""},
		{"moving reference", reporting{&rcpTrainer{texts: texts}, false, 1}, false, false, "set MovingReference"},
		{"moving reference allowed", reporting{&rcpTrainer{texts: texts}, false, 1}, true, false, ""},
		{"two steps", reporting{&rcpTrainer{texts: texts}, true, 2}, false, false, "takes 2 optimiser steps on a batch of 2 pairs"},
		{"two steps allowed", reporting{&rcpTrainer{texts: texts}, true, 2}, false, true, ""},
		{"frequent-refresh iterative DPO", reporting{&rcpTrainer{texts: texts}, false, 4}, true, true, ""},
		{"unreported", &rcpTrainer{texts: texts}, false, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := recipe.OnlineDPO{
				Base: alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "p0", "p1"), Trainer: tt.tr},
				Comparer: alignmenttest.ComparerFunc(func(context.Context, alignment.Prompt, alignment.Response, alignment.Response) (alignment.Comparison, error) {
					return alignment.Comparison{ProbA: 1}, nil
				}),
				BatchSize: 2, MovingReference: tt.moving, MultiStep: tt.multi,
			}
			l, err := o.Loop()
			if tt.msg != "" {
				assert.ErrorIs(t, err, alignment.ErrInvalid)
				assert.ErrorContains(t, err, tt.msg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 2, l.Samples, "OAIF samples two responses")
		})
	}
}

func TestSelfBoostingKnownPairs(t *testing.T) {
	texts := func(v int, id string) []string { return []string{fmt.Sprintf("v%d answer to %s", v, id)} }
	improve := alignmenttest.RefinerFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Response, error) {
		if strings.Contains(r.Text, "skip") {
			return r, nil
		}
		r = r.Clone()
		r.Text += ", improved"
		r.Revisions = append(r.Revisions, alignment.Revision{Refiner: "improver", Text: r.Text})
		return r, nil
	})
	tr := &rcpTrainer{texts: texts}
	rec := &alignmenttest.Recorder{}
	s := recipe.SelfBoosting{
		Base:     alignment.Loop{Policy: newRcpPolicy(0, texts), Prompts: rcpSource(t, "a", "b"), Trainer: tr, Sink: rec},
		Improver: improve,
		Initial:  newRcpPolicy(0, texts),
	}
	res, err := s.Run(t.Context())
	require.NoError(t, err)
	var want []brief
	for it := range 3 {
		for _, id := range []string{"a", "b"} {
			want = append(want, brief{id, fmt.Sprintf("v%d answer to %s, improved", it, id), "v0 answer to " + id, "synpo", it})
		}
	}
	assert.Equal(t, want, briefs(rec.Pairs()), "chosen: the current policy's answer improved; rejected: the initial policy's")
	assert.Equal(t, 3, res.Policy.(*rcpPolicy).version, "Run returns the trained policy, not the pair")
	require.Len(t, tr.calls, 3)
	assert.Equal(t, want[2:4], briefs(tr.calls[1]))
	// What the doc promises the reports show: unjudged responses, so no
	// ties and no scores, and the pairs, unscored.
	for _, r := range res.Reports {
		assert.Zero(t, r.Ties)
		assert.Zero(t, r.Score.N)
		assert.Equal(t, 2, r.Pairs)
		assert.Equal(t, 2, r.ExtraPairs)
	}
	for _, p := range rec.Pairs() {
		assert.False(t, p.Scored)
	}
}

func TestRecipesRejectBadSettings(t *testing.T) {
	pol := newRcpPolicy(0, func(int, string) []string { return []string{"x"} })
	src := rcpSource(t, "a")
	judge := alignmenttest.Scores{"x": 1}
	selfJudge := func(alignment.Policy) (alignment.Judge, error) { return judge, nil }
	meta := func(alignment.Policy) (recipe.JudgmentComparer, error) { return &nearest{}, nil }
	tr := &rcpTrainer{}
	base := alignment.Loop{Policy: pol, Prompts: src}
	loops := map[string]func() (*alignment.Loop, error){
		"SelfRewarding: Base.Judge is set":                (&recipe.SelfRewarding{Base: alignment.Loop{Policy: pol, Prompts: src, Judge: judge}, Judge: selfJudge}).Loop,
		"SelfRewarding: Judge is nil":                     (&recipe.SelfRewarding{Base: base}).Loop,
		"SelfRewarding: Base.Policy is nil":               (&recipe.SelfRewarding{Base: alignment.Loop{Prompts: src}, Judge: selfJudge}).Loop,
		"MetaRewarding: MetaJudge is nil":                 (&recipe.MetaRewarding{Base: base, Judge: selfJudge}).Loop,
		"MetaRewarding: JudgePrompt is nil and the judge": (&recipe.MetaRewarding{Base: base, Judge: selfJudge, MetaJudge: meta}).Loop,
		"MetaRewarding: Rho is 0.5": (&recipe.MetaRewarding{Base: base, Judge: selfJudge, MetaJudge: meta, Rho: 0.5,
			JudgePrompt: func(p alignment.Prompt, r alignment.Response) alignment.Prompt { return p }}).Loop,
		"MetaRewarding: MinGap is -1": (&recipe.MetaRewarding{Base: base, Judge: selfJudge, MetaJudge: meta, MinGap: -1,
			JudgePrompt: func(p alignment.Prompt, r alignment.Response) alignment.Prompt { return p }}).Loop,
		"MetaRewarding: MinGap is NaN": (&recipe.MetaRewarding{Base: base, Judge: selfJudge, MetaJudge: meta, MinGap: math.NaN(),
			JudgePrompt: func(p alignment.Prompt, r alignment.Response) alignment.Prompt { return p }}).Loop,
		"MetaRewarding: Base.JudgeSamples is 1": (&recipe.MetaRewarding{Base: alignment.Loop{Policy: pol, Prompts: src, JudgeSamples: 1},
			Judge: selfJudge, MetaJudge: meta}).Loop,
		"MetaRewarding: Base.Selector is set": (&recipe.MetaRewarding{Base: alignment.Loop{Policy: pol, Prompts: src, Selector: alignment.MaxMin{}},
			Judge: selfJudge, MetaJudge: meta}).Loop,
		"MetaRewarding: Base.ExtraIterations is set": (&recipe.MetaRewarding{Base: alignment.Loop{Policy: pol, Prompts: src, ExtraIterations: 1},
			Judge: selfJudge, MetaJudge: meta}).Loop,
		"recipe: MetaRewarding.Judge returned nil and no error": (&recipe.MetaRewarding{Base: base, MetaJudge: meta,
			Judge: func(alignment.Policy) (alignment.Judge, error) { return nil, nil }}).Loop,
		"OnlineDPO: Base.Trainer is nil": (&recipe.OnlineDPO{Base: base, Comparer: judge, BatchSize: 1}).Loop,
		"OnlineDPO: BatchSize is 0":      (&recipe.OnlineDPO{Base: alignment.Loop{Policy: pol, Prompts: src, Trainer: tr}, Comparer: judge}).Loop,
		"OnlineDPO: Base.Iterations is 0 and Base.Prompts is not Sized": (&recipe.OnlineDPO{
			Base: alignment.Loop{Policy: pol, Prompts: struct{ alignment.PromptSource }{src}, Trainer: tr}, Comparer: judge, BatchSize: 1}).Loop,
		"SelfBoosting: Initial is nil":      (&recipe.SelfBoosting{Base: base, Improver: alignmenttest.Rewrites{}}).Loop,
		"SelfBoosting: Base.Refiner is set": (&recipe.SelfBoosting{Base: alignment.Loop{Policy: pol, Prompts: src, Refiner: alignmenttest.Rewrites{}}, Improver: alignmenttest.Rewrites{}, Initial: pol}).Loop,
		"ConstitutionalAI: Reviser is nil":  (&recipe.ConstitutionalAI{Base: base, Comparer: judge}).SLLoop,
		"ConstitutionalAI: Comparer is nil": func() (*alignment.Loop, error) {
			return (&recipe.ConstitutionalAI{Base: base, Reviser: alignmenttest.Rewrites{}}).RLLoop(nil)
		},
		"ConstitutionalAI: SLSamples is -1": (&recipe.ConstitutionalAI{Base: base, Reviser: alignmenttest.Rewrites{}, Comparer: judge, SLSamples: -1}).SLLoop,
		"ConstitutionalAI: Base.Source is set": (&recipe.ConstitutionalAI{Base: alignment.Loop{Policy: pol, Prompts: src, Source: "x"},
			Reviser: alignmenttest.Rewrites{}, Comparer: judge}).SLLoop,
	}
	for want, loop := range loops {
		t.Run(want, func(t *testing.T) {
			l, err := loop()
			assert.Nil(t, l)
			require.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestBatches(t *testing.T) {
	src := rcpSource(t, "a", "b", "c", "d", "e")
	ids := func(b alignment.PromptSource, it int) []string {
		var out []string
		for p, err := range b.Prompts(t.Context(), it) {
			require.NoError(t, err)
			out = append(out, p.ID)
		}
		return out
	}
	for _, sized := range []bool{true, false} {
		t.Run(fmt.Sprintf("sized=%v", sized), func(t *testing.T) {
			var s alignment.PromptSource = src
			if !sized {
				s = struct{ alignment.PromptSource }{src}
			}
			b, err := recipe.NewBatches(s, 2)
			require.NoError(t, err)
			want := [][]string{{"a", "b"}, {"c", "d"}, {"e"}, {"a", "b"}, {"c", "d"}}
			for it, w := range want {
				assert.Equal(t, w, ids(b, it), "batch %d", it)
				if sized {
					assert.Equal(t, len(w), b.Len(it))
				} else {
					assert.Equal(t, 0, b.Len(it), "unknown size")
				}
			}
			if sized {
				assert.Equal(t, 3, b.PerEpoch(0))
			} else {
				assert.Equal(t, -1, b.PerEpoch(0))
			}
		})
	}
	empty, err := recipe.NewBatches(rcpSource(t), 3)
	require.NoError(t, err)
	assert.Empty(t, ids(empty, 0))
	assert.Empty(t, ids(empty, -1))
	_, err = recipe.NewBatches(src, 0)
	require.ErrorIs(t, err, alignment.ErrInvalid)
	_, err = recipe.NewBatches(nil, 1)
	require.ErrorIs(t, err, alignment.ErrInvalid)
}

func TestNoPair(t *testing.T) {
	_, _, ok := alignment.NoPair{}.Select([]alignment.Scored{{Score: 1}, {Score: 0}})
	assert.False(t, ok)
}

// readPairsFile reads a pairs file written by a Loop.
func readPairsFile(t *testing.T, path string) []brief {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var ps []alignment.Pair
	for p, err := range alignment.ReadPairs(f) {
		require.NoError(t, err)
		ps = append(ps, p)
	}
	return briefs(ps)
}

// Self-Rewarding and Meta-Rewarding sample at their papers' settings unless
// the run sets a temperature or a top-p: at temperature 0 the N responses
// of a prompt are copies and make no pair.
func TestSelfJudgingRecipesSampleByDefault(t *testing.T) {
	judge := alignmenttest.Scores{"a": 1, "b": 2}
	selfJudge := func(alignment.Policy) (alignment.Judge, error) { return judge, nil }
	meta := func(alignment.Policy) (recipe.JudgmentComparer, error) { return &nearest{}, nil }
	jp := func(p alignment.Prompt, r alignment.Response) alignment.Prompt { return p }
	loop := map[string]func(alignment.Loop) (*alignment.Loop, error){
		"SelfRewarding": func(b alignment.Loop) (*alignment.Loop, error) {
			return (&recipe.SelfRewarding{Base: b, Judge: selfJudge}).Loop()
		},
		"MetaRewarding": func(b alignment.Loop) (*alignment.Loop, error) {
			return (&recipe.MetaRewarding{Base: b, Judge: selfJudge, MetaJudge: meta, JudgePrompt: jp}).Loop()
		},
	}
	tests := []struct {
		recipe   string
		sampling alignment.SampleOptions
		want     alignment.SampleOptions
	}{
		{"SelfRewarding", alignment.SampleOptions{}, alignment.SampleOptions{Temperature: 0.7, TopP: 0.9}},
		{"SelfRewarding", alignment.SampleOptions{MaxTokens: 9}, alignment.SampleOptions{Temperature: 0.7, TopP: 0.9, MaxTokens: 9}},
		{"SelfRewarding", alignment.SampleOptions{Temperature: 1}, alignment.SampleOptions{Temperature: 1}},
		{"SelfRewarding", alignment.SampleOptions{TopP: 1}, alignment.SampleOptions{TopP: 1}},
		{"MetaRewarding", alignment.SampleOptions{}, alignment.SampleOptions{Temperature: 0.8, TopP: 0.95}},
		{"MetaRewarding", alignment.SampleOptions{Temperature: 0.3, TopP: 0.5}, alignment.SampleOptions{Temperature: 0.3, TopP: 0.5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.recipe, tt.sampling), func(t *testing.T) {
			pol := newRcpPolicy(0, func(int, string) []string { return []string{"a", "b"} })
			l, err := loop[tt.recipe](alignment.Loop{Policy: pol, Prompts: rcpSource(t, "x"), Sampling: tt.sampling})
			require.NoError(t, err)
			assert.Equal(t, tt.want, l.Sampling)
			if tt.recipe == "MetaRewarding" {
				return // its judge pairs need rationales, which Scores has not
			}
			_, err = l.Run(t.Context())
			require.NoError(t, err)
			calls := pol.Calls()
			require.NotEmpty(t, calls)
			for _, c := range calls {
				assert.Equal(t, tt.want.Temperature, c.Options.Temperature, "the policy samples at the default temperature")
				assert.Equal(t, tt.want.TopP, c.Options.TopP)
			}
		})
	}
}
