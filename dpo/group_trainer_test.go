package dpo_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

// scoredGroup returns a group for prompt i whose responses are texts, scored
// by scores.
func scoredGroup(i int, texts []string, scores ...float64) alignment.Group {
	g := alignment.Group{Prompt: alignment.NewPrompt(fmt.Sprintf("p%d", i), fmt.Sprintf("question %d?", i))}
	for k, t := range texts {
		g.Responses = append(g.Responses, alignment.Scored{Response: alignment.Response{Text: t}, Score: scores[k]})
	}
	return g
}

// rewardFirst returns n groups of all four test completions in which the
// first one alone is rewarded.
func rewardFirst(n int) []alignment.Group {
	gs := make([]alignment.Group, n)
	for i := range gs {
		gs[i] = scoredGroup(i, completions, 1, 0, 0, 0)
	}
	return gs
}

func newGroupTrainer(t *testing.T, o *dpo.GroupTrainerOptions) *dpo.GroupTrainer {
	t.Helper()
	tr, err := dpo.NewGroupTrainer(o, loadTabular)
	require.NoError(t, err)
	return tr
}

func TestGroupTrainerRaisesRewardedResponse(t *testing.T) {
	for _, l := range []dpo.GroupLoss{dpo.GRPO{}, dpo.GRPO{Beta: 0.04, Aggregation: dpo.SequenceMean}, dpo.RLOO{}, dpo.RLOO{NoKL: true}} {
		t.Run(fmt.Sprintf("%#v", l), func(t *testing.T) {
			m := newTabular(completions...)
			before := m.prob(completions[0])
			tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{Loss: l, Epochs: 3, BatchSize: 4, LearningRate: 0.05, Seed: 1})
			pol, err := tr.TrainGroups(t.Context(), m, rewardFirst(10))
			require.NoError(t, err)
			assert.Same(t, m, pol)
			assert.Greater(t, m.prob(completions[0]), before+0.1)
			rep := tr.LastReport()
			assert.Equal(t, 10, rep.Groups)
			assert.Equal(t, 0, rep.Skipped)
			assert.Equal(t, 40, rep.Completions)
			assert.Equal(t, 9, rep.Steps, "3 epochs of 3 batches of up to 4 groups")
			assert.Len(t, rep.Epochs, 3)
			assert.InDelta(t, 0.25, rep.RewardMean, 1e-15)
			assert.InDelta(t, 0.5, rep.RewardStd, 1e-15, "std of (1,0,0,0) with Bessel's correction")
			for _, e := range rep.Epochs {
				assert.False(t, math.IsNaN(e.Loss) || math.IsNaN(e.GradNorm))
			}
		})
	}
}

// Groups of one and groups of equal rewards carry no signal: they are
// skipped and counted, and a call with nothing else leaves the model as it
// was, with no NaN anywhere.
func TestGroupTrainerSkipsZeroAdvantageGroups(t *testing.T) {
	m := newTabular(completions...)
	copy(m.theta, []float32{0.5, -0.25, 1, 0})
	theta := slices.Clone(m.theta)
	groups := []alignment.Group{
		scoredGroup(0, completions[:1], 3),
		scoredGroup(1, completions, 2, 2, 2, 2),
		{Prompt: alignment.NewPrompt("p2", "empty?")},
	}
	tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{Loss: dpo.RLOO{}})
	rep, err := tr.FitGroups(t.Context(), m, groups)
	require.NoError(t, err)
	assert.Equal(t, dpo.GroupReport{Groups: 3, Skipped: 3, Elapsed: rep.Elapsed}, rep)
	assert.Equal(t, theta, m.theta)

	rep, err = tr.FitGroups(t.Context(), m, append(groups, rewardFirst(1)...))
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Skipped)
	assert.Equal(t, 4, rep.Completions)
	assert.Equal(t, 1, rep.Steps)
	for _, v := range m.theta {
		assert.False(t, math.IsNaN(float64(v)))
	}
	assert.NotEqual(t, theta, m.theta)
}

func TestGroupTrainerRejectsBadRewards(t *testing.T) {
	aspects := func(as ...map[string]float64) []alignment.Judgment {
		var js []alignment.Judgment
		for _, a := range as {
			js = append(js, alignment.Judgment{Aspects: a})
		}
		return js
	}
	for _, c := range []struct {
		name    string
		weights map[string]float64
		edit    func(r *alignment.Scored)
		field   string
		reason  string
		resp    int // the response the error names
	}{
		{"NaN score", nil, func(r *alignment.Scored) { r.Score = math.NaN() }, "reward", "NaN", 1},
		{"infinite score", nil, func(r *alignment.Scored) { r.Score = math.Inf(-1) }, "reward", "-Inf", 1},
		{"no judgments", map[string]float64{"helpful": 1}, func(r *alignment.Scored) { r.Judgments = nil }, "reward", "no judgments", 1},
		{"missing aspect", map[string]float64{"helpful": 1, "harmless": 2}, func(r *alignment.Scored) {
			r.Judgments = aspects(map[string]float64{"helpful": 1, "harmless": 1}, map[string]float64{"helpful": 1})
		}, "reward", `aspect "harmless", which judgment 1 lacks`, 1},
		{"NaN aspect", map[string]float64{"helpful": 1}, func(r *alignment.Scored) {
			r.Judgments = aspects(map[string]float64{"helpful": math.NaN()})
		}, "reward", "NaN", 1},
		{"overflowing aspects", map[string]float64{"a": 1e308, "b": 1e308}, func(r *alignment.Scored) {
			r.Judgments = aspects(map[string]float64{"a": 10, "b": 10})
		}, "reward", "overflow", 1},
		// Rewards 1.5e308 and −1.5e308 are finite but their spread is not:
		// the first advantage to leave float64 is named.
		{"overflowing advantage", nil, func(r *alignment.Scored) { r.Score = -1.5e308 }, "advantage", "beyond float64", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			groups := rewardFirst(4)
			for gi := range groups {
				for ri := range groups[gi].Responses {
					r := &groups[gi].Responses[ri]
					r.Judgments = aspects(map[string]float64{"helpful": r.Score, "harmless": 1, "a": 0, "b": 0})
				}
			}
			groups[2].Responses[0].Score = 1.5e308
			c.edit(&groups[2].Responses[1])
			m := newTabular(completions...)
			theta := slices.Clone(m.theta)
			tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{AspectWeights: c.weights})
			_, err := tr.TrainGroups(t.Context(), m, groups)
			var ge *dpo.GroupError
			require.ErrorAs(t, err, &ge)
			assert.ErrorIs(t, err, dpo.ErrInvalid)
			assert.ErrorIs(t, err, alignment.ErrInvalid)
			assert.Equal(t, 2, ge.Group)
			assert.Equal(t, "p2", ge.Prompt)
			assert.Equal(t, c.resp, ge.Response)
			assert.Equal(t, c.field, ge.Field)
			assert.ErrorContains(t, err, fmt.Sprintf(`group 2 (prompt "p2"), response %d`, c.resp))
			assert.ErrorContains(t, err, c.reason)
			assert.Equal(t, theta, m.theta, "bad input is found before any step")
		})
	}
}

// With AspectWeights the reward is the weighted aspects, not the Score: here
// the Score favours the first completion and the weighted aspects the
// second, which is the one that rises.
func TestGroupTrainerAspectWeights(t *testing.T) {
	groups := rewardFirst(8)
	for gi := range groups {
		for ri := range groups[gi].Responses {
			harmless := 0.0
			if ri == 1 {
				harmless = 1
			}
			groups[gi].Responses[ri].Judgments = []alignment.Judgment{
				{Aspects: map[string]float64{"helpful": groups[gi].Responses[ri].Score, "harmless": harmless}},
				{Aspects: map[string]float64{"helpful": 0, "harmless": harmless}},
			}
		}
	}
	m := newTabular(completions...)
	tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{AspectWeights: map[string]float64{"helpful": 0.5, "harmless": 2}, Epochs: 2, LearningRate: 0.05})
	rep, err := tr.FitGroups(t.Context(), m, groups)
	require.NoError(t, err)
	assert.InDelta(t, (0.25+2)/4, rep.RewardMean, 1e-15, "rewards 0.25+1, 2, 0, 0 averaged over judgments")
	assert.Greater(t, m.prob(completions[1]), m.prob(completions[0]))
	assert.Greater(t, m.prob(completions[1]), 0.25)
}

// A fixed Reference feeds the KL term: with a large β and no reward
// signal worth following, GRPO pulls the policy toward the reference.
func TestGroupTrainerFixedReference(t *testing.T) {
	ref := newTabular(completions...)
	copy(ref.theta, []float32{0, 0, 3, 0})
	m := newTabular(completions...)
	groups := []alignment.Group{scoredGroup(0, completions, 1e-3, 0, 0, 0)}
	tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{Loss: dpo.GRPO{Beta: 1, NoScale: true}, Reference: ref, Epochs: 20, LearningRate: 0.05})
	_, err := tr.FitGroups(t.Context(), m, groups)
	require.NoError(t, err)
	assert.Greater(t, m.prob(completions[2]), 0.3, "moved toward the reference's favourite")
}

func TestGroupTrainerRejectsBadLogProbs(t *testing.T) {
	withBad := func() *tabular { return newTabular(append(slices.Clone(completions), "bad one")...) }
	groups := rewardFirst(3)
	groups[1].Responses[2].Response.Text = "bad one"
	for _, c := range []struct {
		name   string
		m      dpo.Model
		o      dpo.GroupTrainerOptions
		field  string
		reason string
	}{
		{"positive", &faulty{Model: withBad(), badCompletion: "bad one", badLogP: 0.5, badLen: 2}, dpo.GroupTrainerOptions{}, "LogP", "≤ 0"},
		{"NaN", &faulty{Model: withBad(), badCompletion: "bad one", badLogP: math.NaN(), badLen: 2}, dpo.GroupTrainerOptions{}, "LogP", "finite"},
		{"no tokens", &faulty{Model: withBad(), badCompletion: "bad one", badLogP: -1, badLen: 0}, dpo.GroupTrainerOptions{}, "Len", "≥ 1"},
		{"reference", withBad(), dpo.GroupTrainerOptions{Loss: dpo.GRPO{Beta: 0.04}, Reference: &faulty{Model: withBad(), badCompletion: "bad one", badLogP: math.Inf(-1), badLen: 2}}, "RefLogP", "finite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newGroupTrainer(t, &c.o).TrainGroups(t.Context(), c.m, groups)
			var ge *dpo.GroupError
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, 1, ge.Group)
			assert.Equal(t, 2, ge.Response)
			assert.Equal(t, c.field, ge.Field)
			assert.ErrorContains(t, err, c.reason)
		})
	}
}

func TestGroupTrainerErrors(t *testing.T) {
	tr := newGroupTrainer(t, nil)
	_, err := tr.TrainGroups(t.Context(), &alignmenttestPolicy{}, rewardFirst(1))
	assert.ErrorIs(t, err, dpo.ErrUnsupported)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = tr.TrainGroups(ctx, newTabular(completions...), rewardFirst(2))
	assert.ErrorIs(t, err, context.Canceled)

	for _, c := range []struct {
		o    dpo.GroupTrainerOptions
		want string
	}{
		{dpo.GroupTrainerOptions{Epochs: -1}, "GroupTrainerOptions.Epochs"},
		{dpo.GroupTrainerOptions{BatchSize: -2}, "GroupTrainerOptions.BatchSize"},
		{dpo.GroupTrainerOptions{LearningRate: math.NaN()}, "GroupTrainerOptions.LearningRate"},
		{dpo.GroupTrainerOptions{Adam: dpo.Adam{Beta2: 1}}, "GroupTrainerOptions.Adam.Beta2"},
		{dpo.GroupTrainerOptions{ClipNorm: -1}, "GroupTrainerOptions.ClipNorm"},
		{dpo.GroupTrainerOptions{Loss: dpo.GRPO{Beta: -1}}, "GRPO.Beta"},
		{dpo.GroupTrainerOptions{AspectWeights: map[string]float64{"x": math.Inf(1)}}, `AspectWeights["x"]`},
	} {
		_, err := dpo.NewGroupTrainer(&c.o, nil)
		assert.ErrorIs(t, err, dpo.ErrInvalid, "%+v", c.o)
		assert.ErrorContains(t, err, c.want)
	}
	noLoad, err := dpo.NewGroupTrainer(nil, nil)
	require.NoError(t, err)
	_, err = noLoad.LoadCheckpoint(t.Context(), t.TempDir())
	assert.ErrorIs(t, err, dpo.ErrUnsupported)
	assert.ErrorIs(t, noLoad.SaveCheckpoint(t.Context(), &alignmenttestPolicy{}, t.TempDir()), dpo.ErrUnsupported)

	o := newGroupTrainer(t, nil).Options()
	assert.Equal(t, dpo.GRPO{}, o.Loss)
	assert.Equal(t, 1, o.Epochs)
	assert.Equal(t, dpo.DefaultBatchSize, o.BatchSize)
	assert.Equal(t, dpo.DefaultLearningRate, o.LearningRate)
	assert.Equal(t, dpo.DefaultClipNorm, o.ClipNorm)
}

// alignmenttestPolicy is a Policy that is not a dpo.Model.
type alignmenttestPolicy struct{}

func (alignmenttestPolicy) Generate(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
	return nil, errors.New("unused")
}

// tinyGroups are groups over arithmetic prompts in which the right answer
// alone is rewarded.
func tinyGroups() (corpus []string, groups []alignment.Group) {
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven"}
	for x := range 3 {
		for y := range 3 {
			p := alignment.NewPrompt(fmt.Sprintf("%d+%d", x, y), fmt.Sprintf("what is %s plus %s ?", words[x], words[y]))
			g := alignment.Group{Prompt: p}
			for k, a := range []int{x + y, x + y + 1, x*y + 3, 0} {
				score := 0.0
				if k == 0 {
					score = 1
				}
				text := fmt.Sprintf("it is %s .", words[a])
				if k == 3 {
					text = "i do not know ."
				}
				g.Responses = append(g.Responses, alignment.Scored{Response: alignment.Response{Text: text}, Score: score})
				corpus = append(corpus, text)
			}
			corpus = append(corpus, p.Text())
			groups = append(groups, g)
		}
	}
	return corpus, groups
}

// rewardedLogProb is the mean log-probability of each group's rewarded
// (first) response, and of the others.
func rewardedLogProb(t *testing.T, m *tinylm.Model, groups []alignment.Group) (rewarded, others float64) {
	t.Helper()
	var seqs []dpo.Sequence
	for _, g := range groups {
		for _, r := range g.Responses {
			seqs = append(seqs, dpo.Sequence{Prompt: g.Prompt, Completion: r.Response.Text})
		}
	}
	lp, _, err := m.LogProbs(t.Context(), seqs)
	require.NoError(t, err)
	for i, v := range lp {
		if i%4 == 0 {
			rewarded += v / float64(len(groups))
		} else {
			others += v / float64(3*len(groups))
		}
	}
	return rewarded, others
}

// GRPO and RLOO on tinylm raise the log-probability of the rewarded
// response and lower the others'; training resumed from a checkpoint
// continues exactly as training that never stopped.
func TestGroupTrainerTinyLM(t *testing.T) {
	ctx := t.Context()
	corpus, groups := tinyGroups()
	tok, err := tinylm.NewTokenizer(corpus, tinylm.TokenizerOptions{})
	require.NoError(t, err)
	for _, l := range []dpo.GroupLoss{dpo.GRPO{}, dpo.RLOO{}} {
		t.Run(fmt.Sprintf("%T", l), func(t *testing.T) {
			m, err := tinylm.New(tok, tinylm.Config{Seed: 3})
			require.NoError(t, err)
			o := &dpo.GroupTrainerOptions{Loss: l, Epochs: 2, BatchSize: 9, LearningRate: 3e-3, Seed: 4}
			tr, err := dpo.NewGroupTrainer(o, dpo.LoadFunc(tinylm.Load))
			require.NoError(t, err)
			r0, o0 := rewardedLogProb(t, m, groups)
			for range 3 {
				_, err = tr.TrainGroups(ctx, m, groups)
				require.NoError(t, err)
			}
			r1, o1 := rewardedLogProb(t, m, groups)
			t.Logf("%T: rewarded log-prob %.3f → %.3f, others %.3f → %.3f", l, r0, r1, o0, o1)
			assert.Greater(t, r1, r0+0.5)
			assert.Less(t, o1, o0)

			dir := filepath.Join(t.TempDir(), "iter-3")
			require.NoError(t, tr.SaveCheckpoint(ctx, m, dir))
			pol, err := tr.LoadCheckpoint(ctx, dir)
			require.NoError(t, err)
			resumed := pol.(*tinylm.Model)
			_, err = tr.TrainGroups(ctx, m, groups)
			require.NoError(t, err)
			_, err = tr.TrainGroups(ctx, resumed, groups)
			require.NoError(t, err)
			for i, p := range m.Params() {
				assert.Equal(t, p.Value, resumed.Params()[i].Value, "parameter %s after resuming", p.Name)
			}
		})
	}
}

// Train takes pairs as groups of two rewarded 1 and 0, whatever their
// scores and the AspectWeights, so that a GroupTrainer serves as a plain
// Trainer too.
func TestGroupTrainerTrainsOnPairs(t *testing.T) {
	pairs := rulePairs(9)
	for i := range pairs {
		pairs[i].ScoreChosen, pairs[i].ScoreRejected = 3, 3 // equal scores must not make a skip
	}
	m := newTabular(completions...)
	before := m.prob(completions[0])
	tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{Epochs: 3, BatchSize: 3, LearningRate: 0.05, AspectWeights: map[string]float64{"helpful": 1}})
	var _ alignment.Trainer = tr
	pol, err := tr.Train(t.Context(), m, pairs)
	require.NoError(t, err)
	assert.Same(t, m, pol)
	assert.Greater(t, m.prob(completions[0]), before+0.1)
	rep := tr.LastReport()
	assert.Equal(t, 9, rep.Groups)
	assert.Equal(t, 0, rep.Skipped)
	assert.Equal(t, 18, rep.Completions)
	assert.InDelta(t, 0.5, rep.RewardMean, 1e-15)

	_, err = tr.Train(t.Context(), &alignmenttestPolicy{}, pairs)
	assert.ErrorIs(t, err, dpo.ErrUnsupported)
}

// opaque hides which loss it is, so that the GroupTrainer computes every
// log-probability before the first step, as it does for a loss of
// another package.
type opaque struct{ dpo.GroupLoss }

// counted counts the sequences its Model scores with LogProbs.
type counted struct {
	dpo.Model
	seqs int
}

func (c *counted) LogProbs(ctx context.Context, seqs []dpo.Sequence) ([]float64, []int, error) {
	c.seqs += len(seqs)
	return c.Model.LogProbs(ctx, seqs)
}

// A GroupTrainer makes no forward pass whose result it does not use: the
// reference's only when the loss reads it (not for GRPO with β = 0, TRL's
// default, nor RLOO without KL), and the sampling policy's only for the
// completions trained after the first step, the first step's forward pass
// giving those of its own completions. Here 4 groups of 4 completions.
func TestGroupTrainerForwardPasses(t *testing.T) {
	for _, c := range []struct {
		name        string
		loss        dpo.GroupLoss
		batch       int
		policy, ref int // sequences scored by each
	}{
		{"GRPO beta=0, one step", dpo.GRPO{}, 4, 16, 0},
		{"GRPO beta=0.04, one step", dpo.GRPO{Beta: 0.04}, 4, 16, 16},
		{"GRPO beta=0, four steps", dpo.GRPO{}, 1, 12 + 16, 0},
		{"RLOO without KL", dpo.RLOO{NoKL: true}, 4, 16, 0},
		// RLOO's advantages read the sampling and the fixed reference's
		// log-probabilities: all are computed first.
		{"RLOO", dpo.RLOO{}, 4, 16 + 16, 16},
		{"another loss", opaque{dpo.GRPO{}}, 4, 16 + 16, 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &counted{Model: newTabular(completions...)}
			ref := &counted{Model: newTabular(completions...)}
			tr := newGroupTrainer(t, &dpo.GroupTrainerOptions{Loss: c.loss, BatchSize: c.batch, Reference: ref})
			rep, err := tr.FitGroups(t.Context(), m, rewardFirst(4))
			require.NoError(t, err)
			assert.Equal(t, 4/c.batch, rep.Steps)
			assert.Equal(t, c.policy, m.seqs, "sequences the policy scored")
			assert.Equal(t, c.ref, ref.seqs, "sequences the reference scored")
		})
	}
}

// Taking the first step's sampling log-probabilities from its own forward
// pass changes no number: training ends with exactly the parameters of
// the path that computes them all beforehand, for every loss, with or
// without a fixed reference, in one step or several, over several epochs,
// on tinylm.
func TestGroupTrainerOnPolicyFirstStepExact(t *testing.T) {
	tok, err := tinylm.NewTokenizer([]string{"question 0 1 2 3 4 5 ? " + strings.Join(completions, " ")}, tinylm.TokenizerOptions{})
	require.NoError(t, err)
	base, err := tinylm.New(tok, tinylm.Config{Seed: 3})
	require.NoError(t, err)
	groups := []alignment.Group{
		scoredGroup(0, completions, 1, 0, 0.5, 0),
		scoredGroup(1, completions, 0, 2, 0, 1),
		scoredGroup(2, completions, 3, 1, 0, 0.25),
		scoredGroup(3, completions, 0, 0, 1, 0),
	}
	for _, loss := range []dpo.GroupLoss{dpo.GRPO{}, dpo.GRPO{Beta: 0.04, Aggregation: dpo.SequenceMean}, dpo.RLOO{}, dpo.RLOO{NoKL: true}} {
		for _, fixedRef := range []bool{false, true} {
			for _, batch := range []int{1, 4} {
				t.Run(fmt.Sprintf("%#v/ref=%v/batch=%d", loss, fixedRef, batch), func(t *testing.T) {
					train := func(l dpo.GroupLoss) []float32 {
						m := base.Clone()
						o := &dpo.GroupTrainerOptions{Loss: l, BatchSize: batch, Epochs: 2, LearningRate: 0.05, Seed: 7}
						if fixedRef {
							o.Reference = base.Clone()
						}
						tr, err := dpo.NewGroupTrainer(o, nil)
						require.NoError(t, err)
						_, err = tr.FitGroups(t.Context(), m, groups)
						require.NoError(t, err)
						var out []float32
						for _, p := range m.Params() {
							out = append(out, p.Value...)
						}
						return out
					}
					want := train(opaque{loss})
					assert.NotEqual(t, train(opaque{dpo.GRPO{Beta: 1}}), want, "the parameters tell losses apart")
					assert.Equal(t, want, train(loss))
				})
			}
		}
	}
}

// A GroupTrainer states its options as its fingerprint, so a Loop
// directory trained with one setting refuses to continue with another.
func TestGroupTrainerFingerprint(t *testing.T) {
	base := newGroupTrainer(t, nil).Fingerprint()
	assert.Equal(t, base, newGroupTrainer(t, &dpo.GroupTrainerOptions{}).Fingerprint(), "defaults are the zero options")
	for name, o := range map[string]*dpo.GroupTrainerOptions{
		"loss":      {Loss: dpo.RLOO{}},
		"beta":      {Loss: dpo.GRPO{Beta: 0.04}},
		"lr":        {LearningRate: 1e-2},
		"epochs":    {Epochs: 3},
		"batch":     {BatchSize: 64},
		"seed":      {Seed: 9},
		"reference": {Reference: newTabular(completions...)},
		"aspects":   {AspectWeights: map[string]float64{"helpful": 1}},
	} {
		assert.NotEqual(t, base, newGroupTrainer(t, o).Fingerprint(), name)
	}
	a := newGroupTrainer(t, &dpo.GroupTrainerOptions{AspectWeights: map[string]float64{"b": 2, "a": 1}}).Fingerprint()
	assert.Contains(t, a, `aspects={"a":1,"b":2}`)
	assert.NotEqual(t, a, newGroupTrainer(t, &dpo.GroupTrainerOptions{AspectWeights: map[string]float64{"b": 1, "a": 2}}).Fingerprint())
	assert.Contains(t, newGroupTrainer(t, &dpo.GroupTrainerOptions{Loss: dpo.GRPO{Beta: 0.04}}).Fingerprint(), "Beta:0.04")
}
