package recipe_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/promptgen"
	"github.com/selfalign/selfalign/alignment/recipe"
	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

// The recipes on the embedded model: a small tinylm fine-tuned on the task
// world's mixed corpus, judged by the world's rules as a rule
// constitution. Sizes are small so that each run takes a second or two
// under -race; the seeds are fixed.

type tinyFixture struct {
	world *taskworld.World
	sft   *tinylm.Model
	rules *constitution.Constitution
}

var (
	tinyOnce sync.Once
	tiny     tinyFixture
	tinyErr  error
)

// tinyWorld returns the shared fixture; tests clone the model before
// training it, since dpo.Trainer trains in place.
func tinyWorld(t *testing.T) tinyFixture {
	t.Helper()
	tinyOnce.Do(func() {
		kit, err := taskworld.NewKit(context.Background(), 1, &taskworld.Options{Train: 40, HeldOut: 10, Examples: 200},
			tinylm.Config{Embed: 16, Hidden: 64}, 8)
		if err != nil {
			tinyErr = err
			return
		}
		tiny = tinyFixture{world: kit.World, sft: kit.Model, rules: kit.Rules}
	})
	require.NoError(t, tinyErr)
	return tiny
}

func (f tinyFixture) prompts(t *testing.T, n int) *alignment.SliceSource {
	src, err := alignment.NewSliceSource(taskworld.Prompts(f.world.Train()[:n]))
	require.NoError(t, err)
	return src
}

func (f tinyFixture) score(t *testing.T, p alignment.Prompt, r alignment.Response) float64 {
	j, err := f.rules.Judge(t.Context(), p, r)
	require.NoError(t, err)
	return j.Score
}

func newDPO(t *testing.T) *dpo.Trainer {
	tr, err := dpo.NewTrainer(&dpo.TrainerOptions{Epochs: 2, BatchSize: 8, LearningRate: 3e-3, Seed: 1}, dpo.LoadFunc(tinylm.Load))
	require.NoError(t, err)
	return tr
}

var tinySampling = alignment.SampleOptions{Temperature: 1, MaxTokens: 16}

// margin is the mean log-probability margin of chosen over rejected of
// pairs under m: what DPO raises.
func margin(t *testing.T, m *tinylm.Model, pairs []alignment.Pair) float64 {
	var sum float64
	for _, p := range pairs {
		c, _, err := m.LogProb(t.Context(), p.Prompt, p.Chosen.Text)
		require.NoError(t, err)
		r, _, err := m.LogProb(t.Context(), p.Prompt, p.Rejected.Text)
		require.NoError(t, err)
		sum += c - r
	}
	return sum / float64(len(pairs))
}

// resample is a model-backed Refiner: a response that fails some rule is
// replaced by the best of n fresh samples of pol when one scores higher,
// recorded as a revision. It stands for a critique-and-revise model that
// a tiny model cannot be.
type resample struct {
	pol   alignment.Policy
	rules *constitution.Constitution
	n     int
}

func (r resample) Refine(ctx context.Context, p alignment.Prompt, resp alignment.Response) (alignment.Response, error) {
	cur, err := r.rules.Judge(ctx, p, resp)
	if err != nil || cur.Score >= taskworld.MaxScore {
		return resp, err
	}
	seed, _ := alignment.SeedFrom(ctx)
	o := tinySampling
	o.N, o.Seed = r.n, seeds.Derive(seed, "resample")
	cands, err := alignment.SampleN(ctx, r.pol, p, o)
	if err != nil {
		return resp, err
	}
	best, bestScore := -1, cur.Score
	for i, c := range cands {
		j, err := r.rules.Judge(ctx, p, c)
		if err != nil {
			return resp, err
		}
		if j.Score > bestScore {
			best, bestScore = i, j.Score
		}
	}
	if best < 0 {
		return resp, nil
	}
	// The candidate's own finish reason and token counts describe its text.
	out := cands[best].Clone()
	out.Source = "resample"
	out.Revisions = append(slices.Clone(resp.Revisions), alignment.Revision{Refiner: "resample", Principle: cur.Rationale, Text: out.Text})
	return out, nil
}

func TestResampleRefinerConforms(t *testing.T) {
	f := tinyWorld(t)
	if err := alignmenttest.TestRefiner(t.Context(), resample{pol: f.sft, rules: f.rules, n: 2}); err != nil {
		t.Error(err)
	}
}

func TestSelfRewardingTinyLMWithSelfInstruct(t *testing.T) {
	f := tinyWorld(t)
	m := f.sft.Clone()
	gen, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: f.sft.Clone(), Count: 16, Sampling: tinySampling, Seed: 2},
		taskworld.Prompts(f.world.Train()), 4)
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	sr := recipe.SelfRewarding{
		Base:  alignment.Loop{Policy: m, Prompts: gen, Trainer: newDPO(t), Sink: rec, Seed: 1, Sampling: tinySampling},
		Judge: func(alignment.Policy) (alignment.Judge, error) { return f.rules, nil },
	}
	res, err := sr.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 2)
	assert.Same(t, m, res.Policy, "dpo.Trainer trains M1 in place into M2, M3")
	st := gen.Stats()
	assert.Equal(t, 2*16, st.Accepted, "the generator filled both iterations: %+v", st)

	pairs := rec.Pairs()
	for it := range 2 {
		assert.NotEmpty(t, rec.Pairs(alignmenttest.Iteration(it)), "iteration %d", it)
	}
	for _, p := range pairs {
		assert.Equal(t, "self-rewarding", p.Source)
		assert.Regexp(t, `^self-instruct-[01]-\d+-[0-9a-f]{6}$`, p.Prompt.ID)
		assert.Equal(t, f.score(t, p.Prompt, p.Chosen), p.ScoreChosen)
		assert.Equal(t, f.score(t, p.Prompt, p.Rejected), p.ScoreRejected)
		assert.Greater(t, p.ScoreChosen, p.ScoreRejected)
	}
	first := rec.Pairs(alignmenttest.Iteration(0))
	assert.Greater(t, margin(t, m, first), margin(t, f.sft, first), "training raised the chosen responses' margin")
}

func TestMetaRewardingTinyLM(t *testing.T) {
	f := tinyWorld(t)
	m := f.sft.Clone()
	rules := taskworld.Rules()
	// A judge that checks a seeded sample of three of the five rules, so
	// that its judgments of one response vary, and writes its verdict.
	sampled := alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		seed, _ := alignment.SeedFrom(ctx)
		pass, text := 0, ""
		for _, i := range seeds.Rand(seed).Perm(len(rules))[:3] {
			ok := rules[i].Check(p, r)
			if ok {
				pass++
			}
			text += rules[i].ID + "=" + strconv.FormatBool(ok) + " "
		}
		score := float64(taskworld.MaxScore*pass) / 3
		return alignment.Judgment{Score: score, Rationale: text + "Score: " + strconv.FormatFloat(score, 'g', 4, 64)}, nil
	})
	// A meta-judge that trusts the judgment nearer the full rule score.
	meta := metaByTruth{rules: f.rules}
	type judged struct {
		p alignment.Prompt
		r alignment.Response
	}
	var mu sync.Mutex
	asked := map[string]judged{}
	rec := &alignmenttest.Recorder{}
	mr := recipe.MetaRewarding{
		Base: alignment.Loop{Policy: m, Prompts: f.prompts(t, 16), Trainer: newDPO(t), Sink: rec, Seed: 1,
			Sampling: tinySampling, Iterations: 2},
		Judge:     func(alignment.Policy) (alignment.Judge, error) { return sampled, nil },
		MetaJudge: func(alignment.Policy) (recipe.JudgmentComparer, error) { return meta, nil },
		JudgePrompt: func(p alignment.Prompt, r alignment.Response) alignment.Prompt {
			mu.Lock()
			defer mu.Unlock()
			asked["judge:"+p.ID] = judged{p, r}
			return alignment.NewPrompt("judge:"+p.ID, "grade the answer "+r.Text+" to "+p.Text())
		},
		Rho:             0.2,
		JudgeIterations: 1,
	}
	res, err := mr.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Reports, 2)
	judgePairs := rec.Pairs(alignmenttest.Source("meta-judge"))
	require.NotEmpty(t, judgePairs)
	for _, p := range judgePairs {
		assert.Equal(t, 0, p.Iteration, "judge training stops after JudgeIterations")
		assert.False(t, p.Scored, "strengths are not judge scores")
		j, ok := asked[p.Prompt.ID]
		require.True(t, ok, p.Prompt.ID)
		truth := f.score(t, j.p, j.r)
		assert.Less(t, abs(lastNumber(p.Chosen.Text)-truth), abs(lastNumber(p.Rejected.Text)-truth),
			"the chosen judgment %q is nearer the rule score %g than %q", p.Chosen.Text, truth, p.Rejected.Text)
	}
	actor := rec.Pairs(alignmenttest.Source("meta-rewarding"))
	require.NotEmpty(t, actor)
	assert.Equal(t, len(judgePairs), res.Reports[0].ExtraPairs)
	assert.Zero(t, res.Reports[1].ExtraPairs)
}

// metaByTruth prefers the judgment whose score is nearer the rule score of
// the response.
type metaByTruth struct{ rules *constitution.Constitution }

func (m metaByTruth) CompareJudgments(ctx context.Context, p alignment.Prompt, r alignment.Response, a, b string) (alignment.Comparison, error) {
	j, err := m.rules.Judge(ctx, p, r)
	if err != nil {
		return alignment.Comparison{}, err
	}
	da, db := abs(lastNumber(a)-j.Score), abs(lastNumber(b)-j.Score)
	switch {
	case da < db:
		return alignment.Comparison{ProbA: 1}, nil
	case da > db:
		return alignment.Comparison{ProbA: 0}, nil
	}
	return alignment.Comparison{ProbA: 0.5}, nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestConstitutionalAITinyLM(t *testing.T) {
	for _, form := range []recipe.SLForm{recipe.SLSupervised, recipe.SLPairs} {
		t.Run(string(form), func(t *testing.T) { testConstitutionalAITinyLM(t, form) })
	}
}

func testConstitutionalAITinyLM(t *testing.T, form recipe.SLForm) {
	f := tinyWorld(t)
	m := f.sft.Clone()
	rec := &alignmenttest.Recorder{}
	cai := recipe.ConstitutionalAI{
		Base:      alignment.Loop{Policy: m, Prompts: f.prompts(t, 16), Trainer: newDPO(t), Sink: rec, Seed: 1, Sampling: tinySampling},
		Reviser:   resample{pol: f.sft.Clone(), rules: f.rules, n: 4},
		SLTrainer: newDPO(t),
		SLForm:    form,
		Comparer:  judge.Pointwise{Judge: f.rules},
	}
	res, err := cai.Run(t.Context())
	require.NoError(t, err)
	sl, rl := rec.Pairs(alignmenttest.Source("sl-cai")), rec.Pairs(alignmenttest.Source("rl-cai"))
	require.NotEmpty(t, sl)
	require.NotEmpty(t, rl)
	for _, p := range append(slices.Clone(sl), rl...) {
		assert.Greater(t, f.score(t, p.Prompt, p.Chosen), f.score(t, p.Prompt, p.Rejected), "%s: %q over %q", p.Source, p.Chosen.Text, p.Rejected.Text)
	}
	for _, p := range sl {
		require.NotEmpty(t, p.Chosen.Revisions, "an SL pair's chosen response is a revision")
		assert.Equal(t, p.Chosen.Text, p.Chosen.Revisions[len(p.Chosen.Revisions)-1].Text)
	}
	assert.Equal(t, len(sl), res.SL.Reports[0].Pairs)
	if form == recipe.SLPairs {
		assert.Greater(t, margin(t, m, sl), margin(t, f.sft, sl), "the SL stage trained on its revision pairs")
		return
	}
	slPol, ok := res.SL.Policy.(*tinylm.Model)
	require.True(t, ok)
	assert.Greater(t, likelihood(t, slPol, sl), likelihood(t, f.sft, sl), "the SL stage fine-tuned on its revisions")
}

// likelihood is the mean log-probability of the pairs' chosen responses.
func likelihood(t *testing.T, m *tinylm.Model, pairs []alignment.Pair) float64 {
	var sum float64
	for _, p := range pairs {
		c, _, err := m.LogProb(t.Context(), p.Prompt, p.Chosen.Text)
		require.NoError(t, err)
		sum += c
	}
	return sum / float64(len(pairs))
}

func TestOnlineDPOTinyLMIsRepeatable(t *testing.T) {
	f := tinyWorld(t)
	run := func() ([]alignment.Pair, alignment.Result) {
		rec := &alignmenttest.Recorder{}
		// OAIF: the initial model, frozen, is the reference; one step of
		// the whole batch.
		pol := f.sft.Clone()
		ref, err := pol.Snapshot()
		require.NoError(t, err)
		tr, err := dpo.NewTrainer(&dpo.TrainerOptions{Reference: ref, BatchSize: 8, LearningRate: 3e-3, Seed: 1}, dpo.LoadFunc(tinylm.Load))
		require.NoError(t, err)
		o := recipe.OnlineDPO{
			Base: alignment.Loop{Policy: pol, Prompts: f.prompts(t, 24), Trainer: tr, Sink: rec, Seed: 5,
				Sampling: tinySampling},
			Comparer:  judge.Pointwise{Judge: f.rules},
			BatchSize: 8,
		}
		res, err := o.Run(t.Context())
		require.NoError(t, err)
		return rec.Pairs(), res
	}
	pairs, res := run()
	require.Len(t, res.Reports, 3, "an iteration per batch of 8")
	for it, r := range res.Reports {
		assert.Equal(t, 8, r.Prompts)
		assert.Positive(t, r.Training, "the trainer stepped after batch %d", it)
	}
	require.NotEmpty(t, pairs)
	for _, p := range pairs {
		assert.Greater(t, f.score(t, p.Prompt, p.Chosen), f.score(t, p.Prompt, p.Rejected))
	}
	again, _ := run()
	assert.Equal(t, briefs(pairs), briefs(again), "the same seed gives the same run")
}

func TestSelfBoostingTinyLM(t *testing.T) {
	f := tinyWorld(t)
	initial := &recordingPolicy{Policy: f.sft.Clone()}
	rec := &alignmenttest.Recorder{}
	s := recipe.SelfBoosting{
		Base: alignment.Loop{Policy: f.sft.Clone(), Prompts: f.prompts(t, 16), Trainer: newDPO(t), Sink: rec, Seed: 1, Sampling: tinySampling, Iterations: 2,
			Eval: &alignment.Evaluation{Prompts: taskworld.Prompts(f.world.HeldOut()), Judge: f.rules},
			// Two iterations of a tiny model need not beat each other on ten
			// held-out prompts; the plateau rule is not what this tests.
			Safeguards: alignment.Safeguards{PlateauWinRate: -1}},
		Improver: resample{pol: f.sft.Clone(), rules: f.rules, n: 4},
		Initial:  initial,
	}
	res, err := s.Run(t.Context())
	require.NoError(t, err)
	_, ok := res.Policy.(*tinylm.Model)
	assert.True(t, ok, "Run returns the trained model")
	require.Nil(t, res.Stopped)
	require.NotNil(t, res.Final, "the held-out evaluation sees the current policy")
	for _, r := range res.Reports {
		require.NotNil(t, r.Eval)
		assert.Equal(t, len(f.world.HeldOut()), r.Eval.Prompts)
		assert.Equal(t, 2*len(f.world.HeldOut()), r.Eval.Length.N, "two samples per held-out prompt, of the current policy only")
	}
	pairs := rec.Pairs()
	for it := range 2 {
		assert.NotEmpty(t, rec.Pairs(alignmenttest.Iteration(it)), "iteration %d", it)
	}
	for _, p := range pairs {
		assert.True(t, initial.wrote(p.Prompt.ID, p.Rejected.Text), "rejected %q is the initial model's", p.Rejected.Text)
		assert.NotEqual(t, p.Chosen.Text, p.Rejected.Text)
	}
}

// TestSelfBoostingTinyLMFaithful runs SynPO's mechanisms on tinylm: an
// improver re-learned each iteration on (the policy's answer → a gold
// answer of the corpus), a gap filter by the rules, and pairs accumulated
// across iterations.
func TestSelfBoostingTinyLMFaithful(t *testing.T) {
	f := tinyWorld(t)
	var gold []alignment.Example
	for _, e := range f.world.Corpus() {
		if e.Kind == taskworld.KindGood && len(gold) < 16 {
			gold = append(gold, alignment.Example{Prompt: e.Prompt, Completion: e.Response})
		}
	}
	require.NotEmpty(t, gold)
	rec := &alignmenttest.Recorder{}
	var trained []int
	tr := &countingTrainer{Trainer: newDPO(t), sizes: &trained}
	s := recipe.SelfBoosting{
		Base:            alignment.Loop{Policy: f.sft.Clone(), Prompts: f.prompts(t, 16), Trainer: tr, Sink: rec, Seed: 1, Sampling: tinySampling, Iterations: 2},
		NewImprover:     func() (alignment.Policy, error) { return f.sft.Clone(), nil },
		ImproverTrainer: newDPO(t),
		Gold:            gold,
		GapJudge:        f.rules,
		Accumulate:      true,
		Initial:         f.sft.Clone(),
	}
	_, err := s.Run(t.Context())
	require.NoError(t, err)
	pairs := rec.Pairs()
	require.NotEmpty(t, pairs)
	for _, p := range pairs {
		assert.True(t, p.Scored)
		assert.Greater(t, p.ScoreChosen, p.ScoreRejected, "the gap filter keeps chosen above rejected")
		assert.Equal(t, f.score(t, p.Prompt, p.Chosen), p.ScoreChosen)
	}
	require.Len(t, trained, 2)
	assert.Equal(t, []int{len(rec.Pairs(alignmenttest.Iteration(0))), len(pairs)}, trained, "the second iteration trains on both iterations' pairs")
}

// countingTrainer records the number of pairs of each Train call.
type countingTrainer struct {
	*dpo.Trainer
	sizes *[]int
}

func (c *countingTrainer) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	*c.sizes = append(*c.sizes, len(pairs))
	return c.Trainer.Train(ctx, pol, pairs)
}

// recordingPolicy remembers what it wrote to each prompt.
type recordingPolicy struct {
	alignment.Policy
	mu      sync.Mutex
	written map[string][]string
}

func (r *recordingPolicy) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	rs, err := r.Policy.Generate(ctx, p, o)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[string][]string{}
	}
	for _, x := range rs {
		r.written[p.ID] = append(r.written[p.ID], x.Text)
	}
	return rs, err
}

func (r *recordingPolicy) wrote(id, text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.written[id], text)
}
