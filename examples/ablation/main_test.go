package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-seeds", "0-x"}, `-seeds: item 1, "0-x", is not a range`},
		{[]string{"-seeds", "1,,2"}, `-seeds: item 2, "", is not a seed`},
		{[]string{"-iterations", "0"}, "-iterations is 0"},
		{[]string{"-concurrency", "0"}, "-concurrency is 0"},
		{[]string{"-out", ""}, "-out is empty"},
		{[]string{"-arms", "on-policy,nope"}, `-arms: item 2 is "nope"`},
		{[]string{"-arms", "offline, offline"}, `-arms: item 2, "offline", is given twice`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error()+out.String(), tt.want)
		})
	}
}

func TestShortDefaults(t *testing.T) {
	tests := []struct {
		args       []string
		seeds      []uint64
		iterations int
		arms       int
	}{
		{nil, []uint64{1, 2, 3, 4, 5, 6, 7, 8}, 5, len(allArms())},
		{[]string{"-short"}, []uint64{1}, 2, len(allArms())},
		{[]string{"-short", "-iterations", "3", "-seeds", "2"}, []uint64{2}, 3, len(allArms())},
		{[]string{"-arms", "offline,on-policy", "-seeds", "3,9-10"}, []uint64{3, 9, 10}, 5, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, ok, err := parseFlags(tt.args, &bytes.Buffer{})
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tt.seeds, c.seeds)
			assert.Equal(t, tt.iterations, c.iterations)
			assert.Len(t, c.arms, tt.arms)
		})
	}
}

// TestShortRun runs the whole comparison at CI size and checks its outputs
// and the properties the design promises: every arm starts from the same
// evaluation of the same fine-tuned model, and the offline arm's first
// iteration, trained on the fine-tuned model's pairs as the on-policy
// arm's is, gives the same policy.
func TestShortRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-short", "-out", dir, "-concurrency", "2"}, &out))
	text := out.String()
	assert.Contains(t, text, "| arm | 0 (SFT) | 1 | 2 | final length | pairs | RM gold acc. |")
	for _, a := range allArms() {
		assert.Contains(t, text, "| "+a.Name+" |")
	}

	var rep report
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, []uint64{1}, rep.Seeds)
	assert.Equal(t, world{Train: 24, HeldOut: 12, Examples: 200}, rep.World)
	require.Len(t, rep.Arms, len(allArms()))
	for _, a := range rep.Arms {
		require.Len(t, a.Iterations, 3, a.Name)
		require.Len(t, a.Runs, 1, a.Name)
		first, this := rep.Arms[0].Runs[0].Points[0], a.Runs[0].Points[0]
		first.Pairs, this.Pairs = 0, 0 // the arms make pairs their own ways
		assert.Equal(t, first, this, "%s starts from the same evaluation", a.Name)
		for _, p := range a.Runs[0].Points {
			require.NotNil(t, p.Capability, "%s iteration %d: the capability suite is evaluated", a.Name, p.Iteration)
		}
		assert.Equal(t, a.Name == armSelf, a.Runs[0].Points[2].Kept != nil, "%s: only self-rewarding keeps the best policy", a.Name)
		switch a.Name {
		case armRMGRPO, armGRPOVer, armRLOOVer:
			p0, p2 := a.Runs[0].Points[0], a.Runs[0].Points[2]
			assert.False(t, p0.Score == p2.Score && p0.Length == p2.Length, "%s: training on the groups changed the policy", a.Name)
		}
		if a.Name == armRMGRPO {
			// The reward model, trained on soft labels of the fine-tuned
			// model's answers, orders held-out answers better than chance.
			acc := a.Runs[0].Points[2].RMAccuracy
			require.NotNil(t, acc, "the reward model's accuracy is on its arm's last point")
			assert.Greater(t, *acc, 0.5)
			assert.LessOrEqual(t, *acc, 1.0)
		} else {
			assert.Nil(t, a.Runs[0].Points[2].RMAccuracy, "%s has no reward model", a.Name)
		}
		for _, it := range a.Iterations {
			assert.True(t, it.Score.Mean >= 0 && it.Score.Mean <= taskworld.MaxScore, "%s iteration %d: %v", a.Name, it.Iteration, it.Score)
			assert.Positive(t, it.Length.Mean)
		}
		if a.Name != armSPaR {
			// SPaR judged by the rules pairs only the answers one-token
			// edits make pass every rule: none, on this small world
			// (TestEditSearchFindsMinimalRefinements tests the search).
			assert.Positive(t, a.Pairs, a.Name)
		}
		assert.Zero(t, a.Runs[0].Points[2].Pairs, "nothing trains on the last policy's samples")
	}
	on, off := rep.Arms[0], rep.Arms[1]
	require.Equal(t, armOnPolicy, on.Name)
	require.Equal(t, armOffline, off.Name)
	// Iteration 1's policies differ in what they sample next, not in what
	// they are.
	on1, off1 := on.Runs[0].Points[1], off.Runs[0].Points[1]
	on1.Pairs, off1.Pairs = 0, 0
	assert.Equal(t, on1, off1, "both arms train iteration 1 on the fine-tuned model's pairs")

	for _, a := range rep.Arms {
		switch a.Name {
		case armOnPolicy, armSelf, armMeta, armMixed, armAnchor:
			// The first and the last policy are measured as judges, and
			// every policy of the arms whose model judges itself.
			for i, p := range a.Runs[0].Points {
				if i == 0 || i == 2 || a.Name != armOnPolicy {
					require.NotNil(t, p.JudgeAccuracy, "%s iteration %d", a.Name, i)
					assert.True(t, *p.JudgeAccuracy >= 0 && *p.JudgeAccuracy <= 1)
				}
			}
		}
	}
	require.Len(t, rep.Findings, 19)
	assert.Contains(t, text, "- reward model (rm-grpo): held-out gold pairwise accuracy 0.")
	for _, name := range []string{armRMGRPO, armGRPOVer, armRLOOVer} {
		assert.Contains(t, text, "- "+name+" vs on-policy DPO: ")
	}
	for _, f := range rep.Findings {
		assert.Contains(t, text, "- "+f+"\n")
	}
	assert.Positive(t, rep.ElapsedSec)

	f, err := os.Open(filepath.Join(dir, "report.png"))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 2*panelWidth, 100+legendRow*len(allArms())), img.Bounds(), "two panels, score and length, tall enough for every arm in the legend")
}

// The chart of a report over seeds decodes as two panels, and a report it
// cannot draw is an error naming the panel, not a panic.
func TestChart(t *testing.T) {
	arms := []arm{{Name: armOnPolicy}, {Name: armOffline}}
	rep := report{Seeds: []uint64{1, 2}}
	rep.Arms = summarise(arms, [][]trialResult{
		results([][]float64{{3.1, 4.0, 4.3}, {3.3, 4.1, 4.3}}, 7, nil),
		results([][]float64{{3.1, 4.0, 4.0}, {3.3, 4.1, 3.9}}, 11, nil),
	})
	var buf bytes.Buffer
	require.NoError(t, drawChart(rep, &buf))
	if p := os.Getenv("ABLATION_PNG"); p != "" {
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	}
	img, format, err := image.Decode(&buf)
	require.NoError(t, err)
	assert.Equal(t, "png", format)
	assert.Equal(t, image.Rect(0, 0, 2*panelWidth, panelHeight), img.Bounds())

	rep.Arms[1].Iterations[2].Length.Mean = math.NaN()
	err = drawChart(rep, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Held-out answer length")
	assert.Contains(t, err.Error(), `"offline"`)
	assert.Error(t, drawChart(report{Seeds: []uint64{1}}, io.Discard), "a report without arms has nothing to draw")
}

// results builds one arm's trial results from per-seed score curves, with
// the length and win rate given for every point.
func results(seedScores [][]float64, length float64, win []float64) []trialResult {
	var out []trialResult
	for s, scores := range seedScores {
		r := trialResult{Seed: uint64(s + 1)}
		for i, x := range scores {
			p := point{Iteration: i, Score: x, Length: length}
			if i < len(scores)-1 {
				p.Pairs = 10
			}
			if i > 0 && win != nil {
				w := win[i-1]
				p.WinRate = &w
			}
			r.Points = append(r.Points, p)
		}
		out = append(out, r)
	}
	return out
}

func TestFindings(t *testing.T) {
	arms := []arm{{Name: armOnPolicy}, {Name: armOffline}, {Name: armLength}}
	sums := summarise(arms, [][]trialResult{
		results([][]float64{{3, 4, 4.1, 4.1}, {3, 4.2, 4.3, 4.3}}, 8, []float64{0.8, 0.55, 0.5}),
		results([][]float64{{3, 4, 3.9, 3.5}, {3, 4.2, 4.1, 3.9}}, 12, nil),
		results([][]float64{{3, 3.9, 4.0, 4.0}, {3, 4.1, 4.2, 4.2}}, 6, nil),
	})
	assert.InDelta(t, 30, sums[0].Pairs, 1e-12, "10 pairs in each of 3 iterations")
	got := findings(sums)
	require.Len(t, got, 3)
	// on-policy leads by 0.6 and 0.4 at iteration 3: +0.50, sd √0.02.
	assert.Equal(t, "on-policy vs offline: on-policy beats offline by +0.50 at iteration 3 (sd 0.14 over seeds; ahead on 2 of 2; sign test p = 0.5)", got[0])
	assert.Contains(t, got[1], "held-out score gain per iteration +1.10, +0.10, +0.00")
	assert.Contains(t, got[1], "win rate over the previous policy 0.80, 0.55, 0.50")
	assert.Contains(t, got[1], "iteration 1 makes 92% of the gain of 3, and from iteration 2 on each adds under a tenth of iteration 1's")
	assert.Contains(t, got[1], "iteration 3's policy wins only 0.50")
	assert.True(t, strings.HasSuffix(got[1], "would stop the run: seed 1 at iteration 3, seed 2 at iteration 3"), got[1])
	assert.Equal(t, "length control: at iteration 3, length -2.0 tokens (8.0 → 6.0), held-out score -0.10 (4.20 → 4.10) against max/min pairs", got[2])

	assert.Empty(t, findings(sums[1:2]), "no sentence without the arms it compares")
}

// The reinforcement-learning arms are compared with on-policy DPO, and the
// reward model's accuracy is read over seeds, on every seed or not at all.
func TestRLFindings(t *testing.T) {
	withRM := func(rs []trialResult, acc ...float64) []trialResult {
		for s := range rs {
			rs[s].Points[len(rs[s].Points)-1].RMAccuracy = &acc[s]
		}
		return rs
	}
	sums := summarise([]arm{{Name: armOnPolicy}, {Name: armRMGRPO}, {Name: armRLOOVer}}, [][]trialResult{
		results([][]float64{{3, 4, 4.2}, {3, 4, 4.0}}, 7, nil),
		withRM(results([][]float64{{3, 3.8, 3.9}, {3, 3.9, 4.1}}, 9, nil), 0.8, 0.9),
		results([][]float64{{3, 4, 4.2}, {3, 4, 4.0}}, 7, nil),
	})
	find := func(name string) *summary {
		for i := range sums {
			if sums[i].Name == name {
				return &sums[i]
			}
		}
		return nil
	}
	got := rlFindings(find)
	require.Len(t, got, 3)
	// rm-grpo: -0.3 and +0.1 at iteration 2, mean -0.10, sd √0.08.
	assert.Equal(t, "rm-grpo vs on-policy DPO: RL-CAI (reward model + GRPO) trails iterative DPO by -0.10 at iteration 2 (sd 0.28 over seeds; ahead on 1 of 2; sign test p = 1); the gap was widest at iteration 1 (-0.15); held-out gain +1.00 against +1.10", got[0])
	assert.Equal(t, "rloo-verifier vs on-policy DPO: RLOO on the rules ties with iterative DPO at iteration 2 (+0.00) (sd 0.00 over seeds; ahead on 0 of 2; sign test p = 1); held-out gain +1.10 against +1.10", got[1])
	assert.Equal(t, "reward model (rm-grpo): held-out gold pairwise accuracy 0.850 (sd 0.071, range 0.800–0.900 over 2 seeds: 0.800, 0.900)", got[2])

	rep := report{Seeds: []uint64{1, 2}, Arms: sums}
	tab := table(rep)
	assert.Contains(t, tab, "| rm-grpo | 3.00 ± 0.00 | 3.85 ± 0.07 | 4.00 ± 0.14 | 9.0 ± 0.0 | 20 | 0.850 ± 0.071 |\n")
	assert.Contains(t, tab, "| on-policy | 3.00 ± 0.00 | 4.00 ± 0.00 | 4.10 ± 0.14 | 7.0 ± 0.0 | 20 | – |\n")

	sums[1].Runs[1].Points[2].RMAccuracy = nil
	assert.Len(t, rlFindings(find), 2, "no accuracy unless every seed has one")
	assert.NotContains(t, table(rep), "RM gold acc.", "nor a column")
	assert.Empty(t, rlFindings(func(string) *summary { return nil }))
}

func TestVersus(t *testing.T) {
	sums := summarise([]arm{{Name: "a"}, {Name: "b"}}, [][]trialResult{
		results([][]float64{{3, 3.5, 3.9}}, 7, nil),
		results([][]float64{{3, 4.0, 4.0}}, 7, nil),
	})
	assert.Equal(t, "A trails B by -0.10 at iteration 2; the gap was widest at iteration 1 (-0.50)", versus(sums[0], sums[1], "A", "B"))
	assert.Equal(t, "B beats A by +0.10 at iteration 2; the gap was widest at iteration 1 (+0.50)", versus(sums[1], sums[0], "B", "A"))
	assert.Equal(t, "A ties with A' at iteration 2 (+0.00)", versus(sums[0], sums[0], "A", "A'"))
}

func TestParseSeeds(t *testing.T) {
	tests := []struct {
		in   string
		want []uint64
		err  string
	}{
		{"1-8", []uint64{1, 2, 3, 4, 5, 6, 7, 8}, ""},
		{"5", []uint64{5}, ""},
		{" 3 , 1-2,10 ", []uint64{3, 1, 2, 10}, ""},
		{"0", []uint64{0}, ""},
		{"18446744073709551615", []uint64{18446744073709551615}, ""},
		{"", nil, `item 1, "", is not a seed`},
		{"1,x", nil, `item 2, "x", is not a seed`},
		{"4-2", nil, `item 1, "4-2", is not a range a-b with a ≤ b`},
		{"1-3,2", nil, `item 2, "2", repeats seed 2`},
		{"-1", nil, `item 1, "-1", is not a seed`},
		{"1-1001", nil, "more than 1000 seeds"},
		{"0-18446744073709551615", nil, "more than 1000 seeds"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSeeds(tt.in)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, "1-8,10,12-13", formatSeeds([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 13}))
}

func FuzzParseSeeds(f *testing.F) {
	for _, s := range []string{"1-8", "3,1-2", "4-2", "1,1", "18446744073709551615", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSeeds(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, got)
		require.LessOrEqual(t, len(got), maxSeeds)
		again, err := parseSeeds(formatSeeds(got))
		require.NoError(t, err, "a parsed list reads back")
		seen := map[uint64]bool{}
		for _, x := range got {
			require.False(t, seen[x], "seed %d twice", x)
			seen[x] = true
		}
		assert.ElementsMatch(t, got, again)
	})
}

// The sign test's p-values are those of the exact binomial test
// (R: binom.test(k, n)$p.value).
func TestSignTest(t *testing.T) {
	tests := []struct {
		wins, losses int
		p            float64
	}{
		{8, 0, 0.0078125},
		{0, 8, 0.0078125},
		{7, 1, 0.0703125},
		{6, 2, 0.2890625},
		{4, 4, 1},
		{2, 0, 0.5},
		{0, 0, 1},
		{10, 2, 0.0385742},
	}
	for _, tt := range tests {
		assert.InDelta(t, tt.p, signTest(tt.wins, tt.losses), 1e-6, "%d-%d", tt.wins, tt.losses)
	}
}

// Judge accuracy is read for the arms that have it on every seed, from
// the fine-tuned model to the last iteration.
func TestJudging(t *testing.T) {
	withAcc := func(rs []trialResult, acc ...[2]float64) []trialResult {
		for s := range rs {
			a, b := acc[s][0], acc[s][1]
			rs[s].Points[0].JudgeAccuracy = &a
			rs[s].Points[len(rs[s].Points)-1].JudgeAccuracy = &b
		}
		return rs
	}
	sums := summarise([]arm{{Name: armSelf}, {Name: armMeta}, {Name: armOffline}}, [][]trialResult{
		withAcc(results([][]float64{{3, 4}, {3, 4}}, 7, nil), [2]float64{0.9, 0.8}, [2]float64{0.9, 0.95}),
		withAcc(results([][]float64{{3, 4}, {3, 4}}, 7, nil), [2]float64{0.9, 0.92}, [2]float64{0.8, 0.9}),
		results([][]float64{{3, 4}, {3, 4}}, 7, nil),
	})
	assert.Equal(t, "the policy as a judge (gold pairwise accuracy of judge.Expected, M1 → last iteration): self-rewarding 0.900 → 0.875 (rose on 1 of 2); meta-rewarding 0.850 → 0.910 (rose on 2 of 2)", judging(sums))
	assert.Empty(t, judging(sums[2:]))
}

// The judge builder measures the policy of the iteration the Loop
// announced, and nothing before the first: a Loop with a directory builds
// a judge of the first policy to fingerprint it.
func TestJudgeAccuracyBuilder(t *testing.T) {
	w, err := taskworld.New(1, &taskworld.Options{Train: 24, HeldOut: 12, Examples: 100, EFT: 30})
	require.NoError(t, err)
	sft, _, err := taskworld.FineTune(t.Context(), w, tinylm.Config{Seed: 1, Context: taskworld.JudgeContext, Embed: 8, Hidden: 16}, 1, 1)
	require.NoError(t, err)
	tr := trial{World: w, SFT: sft}
	var acc judgeAccuracy
	builds := 0
	b := acc.builder(t.Context(), tr, func(alignment.Policy) (alignment.Judge, error) { builds++; return nil, nil })
	_, err = b(sft)
	require.NoError(t, err)
	assert.Empty(t, acc.acc, "a build before the first iteration is not measured")
	acc.observe(alignment.Event{Kind: alignment.IterationStarted, Iteration: 2})
	acc.observe(alignment.Event{Kind: alignment.IterationDone, Iteration: 3})
	_, err = b(sft)
	require.NoError(t, err)
	assert.Equal(t, 2, builds)
	require.Len(t, acc.acc, 1)
	assert.Contains(t, acc.acc, 2)
}

func TestCheckPoints(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		pts  []point
		want string
	}{
		{"too few", []point{{Iteration: 0}}, "returned 1 evaluations, want 3"},
		{"out of order", []point{{Iteration: 0}, {Iteration: 2}, {Iteration: 1}}, "evaluation 1 is of iteration 2"},
		{"NaN score", []point{{Iteration: 0}, {Iteration: 1, Score: nan}, {Iteration: 2}}, "evaluation of iteration 1 is not finite"},
		{"NaN win rate", []point{{Iteration: 0}, {Iteration: 1}, {Iteration: 2, WinRate: &nan}}, "evaluation of iteration 2 is not finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPoints(tt.pts, 2)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.NoError(t, checkPoints([]point{{Iteration: 0}, {Iteration: 1}, {Iteration: 2}}, 2))
}

func TestTableOneSeed(t *testing.T) {
	rep := report{Seeds: []uint64{1}, World: world{HeldOut: 12}, Budget: budget{EvalSamples: 4},
		Arms: summarise([]arm{{Name: armOnPolicy}}, [][]trialResult{results([][]float64{{3, 3.5}}, 7.3, nil)})}
	got := table(rep)
	assert.True(t, strings.HasPrefix(got, `| arm | 0 (SFT) | 1 | final length | pairs |
|---|---:|---:|---:|---:|
| on-policy | 3.00 | 3.50 | 7.3 | 10 |

`), got)
	assert.Contains(t, got, "4 samples of each of 12 held-out prompts")
	assert.Contains(t, got, "one seed")
}

func TestNoisyRules(t *testing.T) {
	n := newNoisy("x")
	require.NoError(t, alignmenttest.TestJudge(t.Context(), n))

	// A good answer passes all five rules, so its noisy score counts the
	// checks left unflipped: 5·(1 − flipRate) on average.
	p := alignment.NewPrompt("p", "what is 2 plus 2?")
	r := alignment.Response{Text: "2 plus 2 is 4."}
	require.Equal(t, float64(taskworld.MaxScore), taskworld.Score(p, r), "the fixture is a perfect answer")
	var sum float64
	const calls = 4000
	for i := range calls {
		j, err := n.Judge(alignment.WithSeed(t.Context(), uint64(i)), p, r)
		require.NoError(t, err)
		sum += j.Score
	}
	// The mean of 4000 sums of five Bernoulli(0.7) has sd √(5·0.21/4000) ≈ 0.016.
	assert.InDelta(t, 5*(1-flipRate), sum/calls, 0.08)

	ctx := alignment.WithSeed(t.Context(), 7)
	a, err := n.Judge(ctx, p, r)
	require.NoError(t, err)
	b, err := n.Judge(ctx, p, r)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same seed gives the same judgment")

	differ := 0
	for i := range 50 {
		ctx := alignment.WithSeed(t.Context(), uint64(i))
		a, err := newNoisy("one").Judge(ctx, p, r)
		require.NoError(t, err)
		b, err := newNoisy("two").Judge(ctx, p, r)
		require.NoError(t, err)
		if a.Score != b.Score {
			differ++
		}
	}
	assert.Greater(t, differ, 10, "judges with different salts err independently")
}

func TestJury(t *testing.T) {
	j, err := newJury()
	require.NoError(t, err)
	require.NoError(t, alignmenttest.TestJudge(t.Context(), j))
}

func TestRuleComparer(t *testing.T) {
	rules, err := taskworld.Constitution()
	require.NoError(t, err)
	c := judge.Pointwise{Judge: rules}
	require.NoError(t, alignmenttest.TestComparer(t.Context(), c))
	p := alignment.NewPrompt("p", "what is 2 plus 2?")
	good, bad := alignment.Response{Text: "2 plus 2 is 4."}, alignment.Response{Text: "ugh, 5."}
	for _, tt := range []struct {
		a, b alignment.Response
		want float64
	}{{good, bad, 1}, {bad, good, 0}, {good, good, 0.5}} {
		got, err := c.Compare(t.Context(), p, tt.a, tt.b)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.ProbA, "%q vs %q", tt.a.Text, tt.b.Text)
	}
}

// TestBehaviour checks the offline arm's policy: training prompts go to the
// frozen sampler, others to the learner, and training changes the learner
// only.
func TestBehaviour(t *testing.T) {
	w, err := taskworld.New(1, &taskworld.Options{Train: 24, HeldOut: 12, Examples: 200})
	require.NoError(t, err)
	sft, _, err := taskworld.FineTune(t.Context(), w, tinylm.Config{Seed: 1}, 1, 1)
	require.NoError(t, err)
	train := map[string]bool{}
	for _, task := range w.Train() {
		train[task.Prompt.ID] = true
	}
	orig := sft.Clone()
	b := behaviour{sampler: sft, learner: sft.Clone(), train: train}
	require.NoError(t, alignmenttest.TestPolicy(t.Context(), b))

	tr := trial{Seed: 1, Budget: budget{DPOEpochs: 2, LearningRate: 0.05, Beta: 0.1}}
	inner, err := tr.trainer(sft)
	require.NoError(t, err)
	pairs := []alignment.Pair{{Prompt: w.HeldOut()[0].Prompt, Chosen: alignment.Response{Text: "paris ."}, Rejected: alignment.Response{Text: "ugh , i do not know ."}}}
	next, err := learnerTrainer{inner}.Train(t.Context(), b, pairs)
	require.NoError(t, err)

	o := alignment.SampleOptions{N: 4, Temperature: 1, MaxTokens: 12, Seed: 3}
	texts := func(pol alignment.Policy, p alignment.Prompt) []string {
		rs, err := pol.Generate(t.Context(), p, o)
		require.NoError(t, err)
		var out []string
		for _, r := range rs {
			out = append(out, r.Text)
		}
		return out
	}
	trainP, heldP := w.Train()[0].Prompt, w.HeldOut()[0].Prompt
	assert.Equal(t, texts(sft, trainP), texts(next, trainP), "training prompts are still the fine-tuned model's")
	learner := next.(behaviour).learner
	assert.Equal(t, texts(learner, heldP), texts(next, heldP), "held-out prompts are the learner's")
	seq := []dpo.Sequence{{Prompt: pairs[0].Prompt, Completion: pairs[0].Chosen.Text}}
	logp := func(m dpo.Model) float64 {
		lp, _, err := m.LogProbs(t.Context(), seq)
		require.NoError(t, err)
		return lp[0]
	}
	assert.Equal(t, logp(orig), logp(sft), "training leaves the sampler as it was")
	assert.Greater(t, logp(learner.(dpo.Model)), logp(orig), "the learner learned to prefer the chosen answer")

	_, err = learnerTrainer{inner}.Train(t.Context(), sft, pairs)
	assert.ErrorContains(t, err, "want the behaviour policy")
}

// -h prints one line saying what the program does, its flags and what its
// output lines mean, and runs nothing.
func TestHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Ablation runs variants (arms) of the iterative DPO loop on the embedded tiny model, with the same seeds and budget, and prints a table of their held-out scores."+"\n\nUsage: go run ./examples/"), text)
	for _, want := range []string{"-arms", "-seeds", "-short", "after each iteration's training", "mean ± sd over seeds"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `arms × \d`, text, "nothing ran")
	assert.NoDirExists(t, "ablation-out")
}

// The per-seed plateau reading applies the Loop's rule, which knows the
// evaluation's noise: a win rate of 0.55 with a standard error of 0.05 has
// not shown a gain, one of 0.8 with the same error has.
func TestPlateauReadsTheLowerBound(t *testing.T) {
	runs := results([][]float64{{3, 4, 4.1}}, 8, []float64{0.8, 0.55})
	for i := range runs[0].Points[1:] {
		se := 0.05
		runs[0].Points[i+1].WinRateSE = &se
	}
	sums := summarise([]arm{{Name: armOnPolicy}}, [][]trialResult{runs})
	assert.True(t, strings.HasSuffix(plateau(sums[0]), "would stop the run: seed 1 at iteration 2"), plateau(sums[0]))
}
