package reward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// toyPairs prefer a polite, finished answer to a rude or unfinished one.
func toyPairs() []alignment.Pair {
	var out []alignment.Pair
	for i, q := range []struct{ prompt, good, bad string }{
		{"what is the capital of france?", "the capital of france is paris.", "ugh, paris."},
		{"what colour is the sky?", "the sky is blue.", "the sky is"},
		{"hello!", "hello to you!", "ugh, go away."},
		{"what does a cat say?", "a cat says meow.", "a cat says"},
		{"what is the capital of spain?", "the capital of spain is madrid.", "ugh, madrid."},
		{"good morning!", "good morning to you!", "good morning to"},
	} {
		out = append(out, alignment.Pair{
			Prompt: alignment.NewPrompt(fmt.Sprintf("p%d", i), q.prompt),
			Chosen: alignment.Response{Text: q.good}, Rejected: alignment.Response{Text: q.bad},
		})
	}
	return out
}

func TestFitLearnsAndGeneralises(t *testing.T) {
	pairs := toyPairs()
	m, err := New(&Options{Seed: 1})
	require.NoError(t, err)
	before, err := m.Evaluate(pairs)
	require.NoError(t, err)
	assert.Zero(t, before.Accuracy, "an untrained model ties every pair, and ties count as wrong")

	rep, err := m.Fit(t.Context(), pairs[:4])
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Pairs)
	assert.Equal(t, DefaultEpochs, len(rep.Loss))
	assert.Equal(t, DefaultEpochs, rep.Steps, "4 pairs are one batch")
	assert.Less(t, rep.Loss[len(rep.Loss)-1], rep.Loss[0])
	assert.Equal(t, 1.0, rep.Train.Accuracy)

	held, err := m.Evaluate(pairs[4:])
	require.NoError(t, err)
	assert.Equal(t, 1.0, held.Accuracy, "rudeness and unfinished answers are marked alike in new prompts")
	assert.Positive(t, held.Margin)
	assert.LessOrEqual(t, held.MinReward, held.MeanReward)
	assert.LessOrEqual(t, held.MeanReward, held.MaxReward)
}

// A soft label is the target of σ(Δ): Prob 0.5 leaves an untrained model
// where it is, and a lone pair's margin converges to logit(Prob).
func TestFitSoftLabels(t *testing.T) {
	pairs := toyPairs()[:1]
	for _, tc := range []struct {
		prob, want float64
	}{{0.5, 0}, {0.8, math.Log(4)}, {0.2, -math.Log(4)}, {0, math.Inf(1)}} {
		t.Run(fmt.Sprint(tc.prob), func(t *testing.T) {
			m, err := New(&Options{L2: -1, Epochs: 400, LearningRate: 0.01})
			require.NoError(t, err)
			pairs[0].Prob = tc.prob
			_, err = m.Fit(t.Context(), pairs)
			require.NoError(t, err)
			mt, err := m.Evaluate(pairs)
			require.NoError(t, err)
			if math.IsInf(tc.want, 1) {
				assert.Greater(t, mt.Margin, 5.0, "a hard label pushes the margin up without bound")
				return
			}
			assert.InDelta(t, tc.want, mt.Margin, 0.01)
		})
	}
}

func TestFitIsSeeded(t *testing.T) {
	fit := func(seed uint64) []byte {
		m, err := New(&Options{Seed: seed, BatchSize: 2})
		require.NoError(t, err)
		_, err = m.Fit(t.Context(), toyPairs())
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, m.Save(&b))
		return b.Bytes()
	}
	assert.Equal(t, fit(1), fit(1))
	assert.NotEqual(t, fit(1), fit(2))
}

func TestBadPairsAreNamed(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*alignment.Pair)
		want string
	}{
		"NaN prob":      {func(p *alignment.Pair) { p.Prob = math.NaN() }, "Prob = NaN"},
		"negative prob": {func(p *alignment.Pair) { p.Prob = -0.1 }, "Prob = -0.1"},
		"prob above 1":  {func(p *alignment.Pair) { p.Prob = 1.5 }, "Prob = 1.5"},
		"same text":     {func(p *alignment.Pair) { p.Rejected.Text = p.Chosen.Text }, "same text"},
	} {
		t.Run(name, func(t *testing.T) {
			pairs := toyPairs()
			tc.edit(&pairs[2])
			m, err := New(nil)
			require.NoError(t, err)
			_, err = m.Fit(t.Context(), pairs)
			require.ErrorIs(t, err, ErrInvalid)
			var pe *PairError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 2, pe.Index)
			assert.Equal(t, "p2", pe.Prompt)
			assert.Contains(t, err.Error(), `pair 2 (prompt "p2")`)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 0.0, m.Reward(pairs[0].Prompt, pairs[0].Chosen.Text), "a bad pair trains nothing")
			_, err = m.Evaluate(pairs)
			assert.ErrorAs(t, err, &pe)
		})
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"Dim":          {Dim: -1},
		"Epochs":       {Epochs: -1},
		"BatchSize":    {BatchSize: -2},
		"LearningRate": {LearningRate: math.NaN()},
		"L2":           {L2: math.Inf(1)},
	} {
		_, err := New(&o)
		require.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), "Options."+name)
	}
	m, err := New(nil)
	require.NoError(t, err)
	assert.Equal(t, Options{Dim: DefaultDim, Epochs: DefaultEpochs, BatchSize: DefaultBatchSize, LearningRate: DefaultLearningRate, L2: DefaultL2}, m.Options())
}

// A step too large to stay finite is refused, and the weights stay finite.
func TestDivergenceLeavesFiniteWeights(t *testing.T) {
	m, err := New(&Options{Dim: 256, LearningRate: 1e308, L2: 1, Epochs: 50})
	require.NoError(t, err)
	_, err = m.Fit(t.Context(), toyPairs())
	require.ErrorIs(t, err, ErrDiverged)
	for i, w := range m.w {
		require.False(t, math.IsNaN(w) || math.IsInf(w, 0), "weight %d is %v", i, w)
	}
}

func TestFitStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m, err := New(nil)
	require.NoError(t, err)
	rep, err := m.Fit(ctx, toyPairs())
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, rep.Steps)
	_, err = m.Judge(ctx, toyPairs()[0].Prompt, toyPairs()[0].Chosen)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestJudge(t *testing.T) {
	m, err := New(&Options{Seed: 1})
	require.NoError(t, err)
	_, err = m.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	require.NoError(t, alignmenttest.TestJudge(t.Context(), m))
	p := toyPairs()[0]
	j, err := m.Judge(t.Context(), p.Prompt, p.Chosen)
	require.NoError(t, err)
	r := m.Reward(p.Prompt, p.Chosen.Text)
	assert.Equal(t, r, j.Aspects[AspectReward])
	assert.InDelta(t, 1/(1+math.Exp(-r)), j.Score, 1e-15)
	lo, hi := m.ScoreRange()
	assert.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
}

func TestEvaluateMetrics(t *testing.T) {
	m, err := New(&Options{Dim: 1 << 10})
	require.NoError(t, err)
	pairs := toyPairs()[:3]
	pairs[1].Chosen, pairs[1].Rejected = pairs[1].Rejected, pairs[1].Chosen
	for i := range m.w {
		m.w[i] = math.Sin(float64(i))
	}
	rs := [][2]float64{
		{m.Reward(pairs[0].Prompt, pairs[0].Chosen.Text), m.Reward(pairs[0].Prompt, pairs[0].Rejected.Text)},
		{m.Reward(pairs[1].Prompt, pairs[1].Chosen.Text), m.Reward(pairs[1].Prompt, pairs[1].Rejected.Text)},
		{m.Reward(pairs[2].Prompt, pairs[2].Chosen.Text), m.Reward(pairs[2].Prompt, pairs[2].Rejected.Text)},
	}
	mt, err := m.Evaluate(pairs)
	require.NoError(t, err)
	var correct, margin, sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		if r[0] > r[1] {
			correct++
		}
		margin += r[0] - r[1]
		sum += r[0] + r[1]
		lo, hi = min(lo, r[0], r[1]), max(hi, r[0], r[1])
	}
	assert.Equal(t, Metrics{Pairs: 3, Accuracy: correct / 3, Margin: margin / 3, MinReward: lo, MeanReward: sum / 6, MaxReward: hi}, mt)
	assert.Equal(t, 2.0, correct, "these weights order the two pairs not swapped right")
	empty, err := m.Evaluate(nil)
	require.NoError(t, err)
	assert.Equal(t, Metrics{}, empty)
}

func TestTokensAndFeatures(t *testing.T) {
	for in, want := range map[string][]string{
		"What is 3 plus 4?": {"what", "is", "3", "plus", "4", "?"},
		"  ugh,  don't!! ":  {"ugh", ",", "don't", "!", "!"},
		"":                  nil,
		"Élan vital.":       {"élan", "vital", "."},
		"a\tb\nc":           {"a", "b", "c"},
	} {
		assert.Equal(t, want, Tokens(in), in)
	}
	fs := Features("what is 3 plus 4?", "it is 7.", 1<<20)
	for i := 1; i < len(fs); i++ {
		assert.Less(t, fs[i-1].Index, fs[i].Index, "sorted, one entry per bucket")
	}
	var total float64
	for _, f := range fs {
		total += f.Value
	}
	// 4 words, 5 bigrams with the marks, 1 length, 1 end, 1 overlap, 3
	// response words × (5 prompt words + 5 prompt bigrams that start with
	// a word).
	assert.Equal(t, 4+5+1+1+1+3*(5+5), int(total))
	small := Features("what is 3 plus 4?", "it is 7.", 4)
	total = 0
	for _, f := range small {
		assert.Less(t, f.Index, 4)
		total += f.Value
	}
	assert.Equal(t, 4+5+1+1+1+3*(5+5), int(total), "collisions add up")
	assert.NotEqual(t, Features("", "ab c", 1<<20), Features("", "a bc", 1<<20))
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := New(&Options{Dim: 1 << 12, Seed: 3, L2: -1})
	require.NoError(t, err)
	_, err = m.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, m.Save(&b))
	got, err := Load(bytes.NewReader(b.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, m.Options(), got.Options())
	assert.Equal(t, m.w, got.w)
	p := toyPairs()[5]
	assert.Equal(t, m.Reward(p.Prompt, p.Chosen.Text), got.Reward(p.Prompt, p.Chosen.Text))
}

func TestLoadErrors(t *testing.T) {
	m, err := New(&Options{Dim: 64})
	require.NoError(t, err)
	_, err = m.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, m.Save(&b))
	good := b.Bytes()
	flip := func(i int) []byte { c := bytes.Clone(good); c[i] ^= 1; return c }
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "truncated"},
		"magic":     {append([]byte("TINYLMCK"), good[8:]...), "not a reward model checkpoint"},
		"version":   {flip(8), "version"},
		"corrupt":   {flip(len(good) - 20), "checksum"},
		"truncated": {good[:len(good)-5], "checksum"},
		"trailing":  {append(bytes.Clone(good), 0), "checksum"},
	} {
		_, err := Load(bytes.NewReader(tc.data))
		require.ErrorIs(t, err, ErrCheckpoint, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
	_, err = Load(errReader{})
	assert.ErrorIs(t, err, errRead)
	assert.NotErrorIs(t, err, ErrCheckpoint)
}

var errRead = errors.New("read failed")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errRead }

func FuzzLoad(f *testing.F) {
	m, err := New(&Options{Dim: 32})
	require.NoError(f, err)
	_, err = m.Fit(context.Background(), toyPairs())
	require.NoError(f, err)
	var b bytes.Buffer
	require.NoError(f, m.Save(&b))
	f.Add(b.Bytes())
	f.Add([]byte("SARWMODL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Load(bytes.NewReader(data))
		if err != nil {
			require.ErrorIs(t, err, ErrCheckpoint)
			return
		}
		for _, w := range got.w {
			require.False(t, math.IsNaN(w) || math.IsInf(w, 0))
		}
		var again bytes.Buffer
		require.NoError(t, got.Save(&again))
		require.Equal(t, data, again.Bytes(), "a checkpoint that loads saves back to the same bytes")
	})
}

// A model saved to a file and loaded back judges every response exactly
// as before, and has the same fingerprint; a model trained otherwise has
// another.
func TestSaveFileLoadFile(t *testing.T) {
	m, err := New(&Options{Dim: 1 << 12, Seed: 3})
	require.NoError(t, err)
	untrained := m.Fingerprint()
	_, err = m.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "reward.bin")
	require.NoError(t, m.SaveFile(path))
	got, err := LoadFile(path)
	require.NoError(t, err)
	for _, p := range toyPairs() {
		for _, r := range []string{p.Chosen.Text, p.Rejected.Text, "something else entirely", ""} {
			want, err := m.Judge(t.Context(), p.Prompt, alignment.Response{Text: r})
			require.NoError(t, err)
			have, err := got.Judge(t.Context(), p.Prompt, alignment.Response{Text: r})
			require.NoError(t, err)
			assert.Equal(t, want, have, "prompt %s, response %q", p.Prompt.ID, r)
		}
	}
	assert.Equal(t, m.Fingerprint(), got.Fingerprint())
	assert.True(t, strings.HasPrefix(m.Fingerprint(), "reward.Model sha256:"), m.Fingerprint())
	assert.NotEqual(t, untrained, m.Fingerprint(), "training changes the fingerprint")
	other, err := New(&Options{Dim: 1 << 12, Seed: 4})
	require.NoError(t, err)
	_, err = other.Fit(t.Context(), toyPairs()[:5])
	require.NoError(t, err)
	assert.NotEqual(t, m.Fingerprint(), other.Fingerprint(), "other pairs, another model")
	again, err := New(&Options{Dim: 1 << 12, Seed: 3})
	require.NoError(t, err)
	_, err = again.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	assert.Equal(t, m.Fingerprint(), again.Fingerprint(), "the same training gives the same model")
}

// A damaged or missing file is a clear error naming it, as is a save
// that fails.
func TestLoadFileErrors(t *testing.T) {
	m, err := New(&Options{Dim: 64})
	require.NoError(t, err)
	_, err = m.Fit(t.Context(), toyPairs())
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "reward.bin")
	require.NoError(t, m.SaveFile(path))
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = LoadFile(filepath.Join(dir, "missing.bin"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"a flipped byte": {func() []byte { c := bytes.Clone(good); c[len(c)/2] ^= 0x10; return c }(), "checksum mismatch"},
		"cut short":      {good[:len(good)-7], "checksum mismatch"},
		"empty":          {nil, "checkpoint truncated at 0 bytes"},
		"another file":   {[]byte("{\"prompt\": \"not a model\"}\n0123456789012345678901234567890123456789012345678901234567890"), "not a reward model checkpoint"},
	} {
		bad := filepath.Join(dir, "bad.bin")
		require.NoError(t, os.WriteFile(bad, tc.data, 0o644))
		_, err := LoadFile(bad)
		require.ErrorIs(t, err, ErrCheckpoint, name)
		assert.ErrorContains(t, err, bad+": reward: load: "+tc.want, name)
	}

	err = m.SaveFile(filepath.Join(dir, "no such dir", "reward.bin"))
	assert.ErrorContains(t, err, "reward: save "+filepath.Join(dir, "no such dir", "reward.bin"))
}
