package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/png"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
	"github.com/selfalign/selfalign/internal/taskworld"
	"github.com/selfalign/selfalign/judge"
)

// small makes a run that takes seconds, for tests: few prompts, one
// iteration.
func small(out string, more ...string) []string {
	return append([]string{"-out", out}, smallHere(more...)...)
}

// smallHere is small into the default output directory.
func smallHere(more ...string) []string {
	return append([]string{"-iterations", "1", "-prompts", "24", "-held-out", "12", "-concurrency", "2", "-sft-epochs", "2"}, more...)
}

// -h prints what the program does, its flags and what its output means,
// and runs nothing.
func TestHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-h"}, &out))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "Quickstart fine-tunes the embedded tiny language model"), text)
	for _, want := range []string{"-seed", "-out", "-backend", "policy N: held-out score", "ties", "before iteration N trained", "retried calls", "the model stays the same"} {
		assert.Contains(t, text, want)
	}
	assert.NotRegexp(t, `task world: \d`, text, "nothing ran")
	assert.NoDirExists(t, "quickstart-out")
}

// Without -out, each setting that changes the run has its own directory,
// so that the README's "-seed S" runs never meet one another.
func TestDefaultOut(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "quickstart-out/seed-1"},
		{[]string{"-seed", "4", "-iterations", "5", "-concurrency", "1"}, "quickstart-out/seed-4"},
		{[]string{"-prompts", "24", "-held-out", "12", "-sft-epochs", "2"}, "quickstart-out/seed-1-prompts-24-held-out-12-sft-epochs-2"},
		{[]string{"-held-out", "150", "-prompts", "0"}, "quickstart-out/seed-1"},
		{[]string{"-backend", "http://u:KEY@h/v1", "-model", "Qwen/Qwen2.5-7B"}, "quickstart-out/Qwen_Qwen2.5-7B-" + urlHash(redactedBackend("http://u:KEY@h/v1")) + "-seed-1"},
		{[]string{"-out", "mine", "-seed", "2"}, "mine"},
		{[]string{"-judge", "self", "-seed", "3"}, "quickstart-out/seed-3"},
		{[]string{"-judge", "rules"}, "quickstart-out/seed-1-judge-rules"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, ok, err := parseFlags(tt.args, &bytes.Buffer{})
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, filepath.FromSlash(tt.want), c.out)
			assert.NotContains(t, c.out, "KEY")
		})
	}
}

func TestDefaultOutPerSeed(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, run(t.Context(), smallHere(), &bytes.Buffer{}))
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), smallHere("-seed", "2"), &out), "a default run, then another seed")
	dir := filepath.FromSlash("quickstart-out/seed-2-prompts-24-held-out-12-sft-epochs-2")
	assert.Contains(t, out.String(), "wrote "+dir)
	assert.FileExists(t, filepath.Join(dir, alignment.PairsFile))
	assert.FileExists(t, filepath.FromSlash("quickstart-out/seed-1-prompts-24-held-out-12-sft-epochs-2/")+alignment.PairsFile)
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-iterations", "0"}, "-iterations is 0"},
		{[]string{"-concurrency", "0"}, "-concurrency is 0"},
		{[]string{"-out", ""}, "-out is empty"},
		{[]string{"-backend", "http://localhost:1"}, "-backend needs -model"},
		{[]string{"-model", "m"}, "need -backend"},
		{[]string{"-train-cmd", "true"}, "need -backend"},
		{[]string{"-serve", "vllm-lora"}, "-serve needs -train-cmd"},
		{[]string{"-backend", "http://localhost:1", "-model", "m", "-train-cmd", "true", "-serve", "vllm"}, `-serve is "vllm", want none, vllm-lora`},
		{[]string{"-prompts", "-1"}, "-prompts must not be negative"},
		{[]string{"-held-out", "0"}, "-held-out must be positive"},
		{[]string{"-sft-epochs", "0"}, "-sft-epochs is 0"},
		{[]string{"-judge", "gpt"}, `-judge is "gpt", want rules or self`},
		{[]string{"-backend", "http://localhost:1", "-model", "m", "-judge", "rules"}, "-judge rules needs the embedded model"},
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

func TestQuickstartOutputs(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), small(dir, "-judge", "rules"), &out))
	assert.Contains(t, out.String(), "fine-tuned model")
	for _, r := range readRows(t, dir) {
		require.Len(t, r.RulePass, 5, "iteration %d: a pass rate per rule of the world", r.Iteration)
		mean := 0.0
		for name, v := range r.RulePass {
			assert.True(t, v >= 0 && v <= 1, "%s: %v", name, v)
			mean += v
		}
		// The rule judge scores 5·passed/5: its mean is the mean pass count.
		assert.InDelta(t, r.MeanScore, mean, 1e-9, "iteration %d", r.Iteration)
	}
	assert.Contains(t, out.String(), "| iteration |")
	assert.Contains(t, out.String(), "iteration 0: training with DPO")
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, files, 8)
	for _, f := range files {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(f.Name())+`/?  +\S`, out.String(), "the last lines name every file written, and what it is")
	}

	n := 0
	f, err := os.Open(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	defer f.Close()
	for p, err := range alignment.ReadPairs(f) {
		require.NoError(t, err)
		assert.Equal(t, 0, p.Iteration)
		assert.Equal(t, "verifier", p.Source, "the rules judged: not self-rewarding")
		assert.Greater(t, p.ScoreChosen, p.ScoreRejected)
		n++
	}
	assert.Positive(t, n)

	var rep struct {
		Judge      string           `json:"judge"`
		Iterations []map[string]any `json:"iterations"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, "rules", rep.Judge)
	require.Len(t, rep.Iterations, 2, "the fine-tuned policy and the one after one iteration")
	assert.NotContains(t, rep.Iterations[0], "judge_accuracy", "a verifier run does not measure the model as a judge")
	for i, it := range rep.Iterations {
		assert.EqualValues(t, i, it["iteration"])
		for _, k := range []string{"mean_score", "pairs", "mean_length"} {
			assert.Contains(t, it, k)
		}
		assert.GreaterOrEqual(t, it["mean_score"], 0.0)
		assert.LessOrEqual(t, it["mean_score"], 5.0)
	}
	assert.EqualValues(t, n, rep.Iterations[0]["pairs"])

	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| iteration | held-out score")
	assert.Contains(t, string(md), "judged by the task world's rules (on-policy DPO with a rule verifier)")

	// Three panels: score, pair yield and length; no judge panel.
	assertPNG(t, dir, 3)
}

// assertPNG checks that dir's report.png decodes, as a PNG of the given
// number of panels.
func assertPNG(t *testing.T, dir string, panels int) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "report.png"))
	require.NoError(t, err)
	defer f.Close()
	img, format, err := image.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, "png", format)
	assert.Equal(t, image.Rect(0, 0, panels*panelWidth, panelHeight), img.Bounds())
}

// A report the chart cannot draw is an error naming the panel, not a
// panic nor a chart of NaN.
func TestChartBadInput(t *testing.T) {
	nan := math.NaN()
	err := drawChart(report{Iterations: []row{{Iteration: 0, MeanScore: 2, Prompts: 3, PairYield: 1}, {Iteration: 1, MeanScore: nan}}}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Held-out judge score")
	assert.Contains(t, err.Error(), "NaN")
	acc := nan
	err = drawChart(report{Iterations: []row{{Iteration: 0, MeanScore: 2, JudgeAccuracy: &acc}}}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "The policy as a judge")
	assert.Error(t, drawChart(report{}, io.Discard), "a report without iterations has nothing to draw")
}

func TestQuickstartResumes(t *testing.T) {
	ref := t.TempDir()
	require.NoError(t, run(t.Context(), small(ref, "-iterations", "2"), &bytes.Buffer{}))
	want, err := os.ReadFile(filepath.Join(ref, alignment.PairsFile))
	require.NoError(t, err)
	wantReport := readRows(t, ref)

	dir := t.TempDir()
	var interrupted int
	for delay := 20 * time.Millisecond; ; delay *= 2 {
		ctx, cancel := context.WithTimeout(t.Context(), delay)
		err := run(ctx, small(dir, "-iterations", "2"), &bytes.Buffer{})
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
		interrupted++
		require.Less(t, interrupted, 16)
	}
	got, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	assert.Positive(t, interrupted)
	assert.Equal(t, string(want), string(got), "the resumed run wrote exactly the uninterrupted run's pairs")
	assert.Equal(t, wantReport, readRows(t, dir))

	err = run(t.Context(), small(dir, "-seed", "2"), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir+" holds a run made with -seed 1, and this one has -seed 2", "only the settings that differ")
	assert.Contains(t, err.Error(), "add -out "+filepath.FromSlash("quickstart-out/seed-2-prompts-24-held-out-12-sft-epochs-2"), "the command that works")
}

// A self-judging run resumes too, to the same pairs and the same figures
// of each policy as a judge.
func TestQuickstartSelfResumes(t *testing.T) {
	args := func(dir string) []string { return small(dir, "-iterations", "2", "-judge", "self") }
	ref := t.TempDir()
	require.NoError(t, run(t.Context(), args(ref), &bytes.Buffer{}))
	want, err := os.ReadFile(filepath.Join(ref, alignment.PairsFile))
	require.NoError(t, err)
	dir := t.TempDir()
	interrupted := 0
	for delay := 40 * time.Millisecond; ; delay *= 2 {
		ctx, cancel := context.WithTimeout(t.Context(), delay)
		err := run(ctx, args(dir), &bytes.Buffer{})
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
		interrupted++
		require.Less(t, interrupted, 16)
	}
	assert.Positive(t, interrupted)
	got, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	wantRows, gotRows := readRows(t, ref), readRows(t, dir)
	require.Len(t, gotRows, 3)
	assert.NotNil(t, gotRows[2].JudgeAccuracy)
	assert.Equal(t, wantRows, gotRows)
}

func readRows(t *testing.T, dir string) []row {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(data, &rep))
	return rep.Iterations
}

// The iteration line shows failed prompts and retried calls when there
// are any, and the training line what really happens between iterations.
func TestProgressLines(t *testing.T) {
	training := alignment.Event{Kind: alignment.TrainingStarted, Iteration: 1}
	done := func(r alignment.Report) alignment.Event {
		return alignment.Event{Kind: alignment.IterationDone, Iteration: 1, Report: &r}
	}
	tests := []struct {
		name     string
		training func(int) string
		events   []alignment.Event
		want     string
	}{
		{"clean", nil, []alignment.Event{training, done(alignment.Report{Prompts: 10, Pairs: 8, Ties: 2})},
			"iteration 1: training with DPO\niteration 1: 8 pairs from 10 prompts (2 ties), judge score 0.00, 0s\n"},
		{"faults", nil, []alignment.Event{training, done(alignment.Report{Prompts: 10, Pairs: 5, Ties: 2, Failed: 3, Retries: 1700})},
			"iteration 1: training with DPO\niteration 1: 5 pairs from 10 prompts (2 ties, 3 failed, 1700 retried calls), judge score 0.00, 0s\n"},
		{"retries only", func(int) string { return "nothing" }, []alignment.Event{training, done(alignment.Report{Prompts: 1, Retries: 2})},
			"iteration 1: nothing\niteration 1: 0 pairs from 1 prompts (0 ties, 2 retried calls), judge score 0.00, 0s\n"},
		{"progress", nil, []alignment.Event{
			{Kind: alignment.ItemDone, Iteration: 1, Done: 5, Total: 10},
			{Kind: alignment.ItemFailed, Iteration: 1, Done: 8, Failed: 2, Total: 10},
		}, "iteration 1: 5/10 prompts sampled and judged\niteration 1: 10/10 prompts sampled and judged (2 failed)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newProgress(&out)
			if tt.training != nil {
				p.training = tt.training
			}
			for _, e := range tt.events {
				p.Observe(e)
			}
			assert.Equal(t, tt.want, out.String())
		})
	}
}

// TestQuickstartBackend runs the quickstart against a fake vLLM server
// whose model answers prompts and, asked with the rubric, judges them.
func TestQuickstartBackend(t *testing.T) {
	// One chat request in 40 fails with a 503, which the Loop retries
	// (the HTTP client leaves retries to it): the output must count them.
	var calls atomic.Int64
	flaky := func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") && calls.Add(1)%40 == 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "tiny", Intercept: flaky, Reply: func(r openaitest.Request, i int) string {
		last := r.Messages[len(r.Messages)-1].Content
		h := fnv.New32a()
		fmt.Fprint(h, last, i, *r.Seed)
		if strings.Contains(last, "Score:") {
			return fmt.Sprintf("The answer is relevant.\nScore: %d", h.Sum32()%6)
		}
		return fmt.Sprintf("answer %d .", h.Sum32()%100)
	}})
	tests := []struct {
		trainCmd, training string
	}{
		{`test -s "$SELFALIGN_PAIRS"`, "iteration 0: writing its pairs to iteration-0.jsonl and running -train-cmd\n"},
		{"", "iteration 0: writing its pairs to iteration-0.jsonl; nothing trains without -train-cmd\n"},
	}
	for _, tt := range tests {
		t.Run(tt.trainCmd, func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			args := small(dir, "-backend", srv.URL(), "-model", "tiny")
			if tt.trainCmd != "" {
				args = append(args, "-train-cmd", tt.trainCmd)
			}
			require.NoError(t, run(t.Context(), args, &out), out.String())
			assert.Contains(t, out.String(), `model "tiny"`)
			assert.Contains(t, out.String(), tt.training)
			assert.NotContains(t, out.String(), "DPO", "nothing trains with DPO in backend mode")
			_, err := os.Stat(filepath.Join(dir, "iteration-0.jsonl"))
			assert.NoError(t, err, "the iteration's pairs are written for the training command")
			assert.Contains(t, out.String(), "\n  iteration-0.jsonl ")
			assert.Contains(t, out.String(), "\n  policy-0/ ")
			assert.NotContains(t, out.String(), "sft.bin")
			assert.Regexp(t, `iteration 0: \d+ pairs from 24 prompts \(\d+ ties, [1-9]\d* retried calls\)`, out.String(), "the Loop owns the retries and counts them")
			assert.NotEmpty(t, srv.Requests())
			rows := readRows(t, dir)
			require.Len(t, rows, 2)
			assert.Positive(t, rows[0].Pairs)
		})
	}
}

// With -serve vllm-lora, the adapter -train-cmd writes is loaded into
// vLLM after an iteration and the next policy is asked for by its name
// (the held-out evaluation of policy 1 here: the fake's adapter answers
// as the base does, so the plateau check stops the run there).
func TestQuickstartServeVLLMLoRA(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "tiny", LoRA: true, Reply: func(r openaitest.Request, i int) string {
		last := r.Messages[len(r.Messages)-1].Content
		h := fnv.New32a()
		fmt.Fprint(h, last, i, *r.Seed)
		if strings.Contains(last, "Score:") {
			return fmt.Sprintf("The answer is relevant.\nScore: %d", h.Sum32()%6)
		}
		return fmt.Sprintf("answer %d .", h.Sum32()%100)
	}})
	dir := t.TempDir()
	var out bytes.Buffer
	args := small(dir, "-iterations", "2", "-backend", srv.URL(), "-model", "tiny", "-serve", "vllm-lora",
		"-train-cmd", `printf '{}' > "$SELFALIGN_OUTPUT/adapter_config.json"; echo "trained $SELFALIGN_ITERATION"`)
	require.NoError(t, run(t.Context(), args, &out), out.String())
	assert.Contains(t, out.String(), "trained 0\n")
	assert.Contains(t, out.String(), "then -serve vllm-lora")
	assert.Len(t, srv.Adapters(), 1)
	models := map[string]bool{}
	for _, r := range srv.Requests() {
		models[r.Model] = true
	}
	for name, path := range srv.Adapters() {
		assert.True(t, models[name], "requests ask for adapter %s", name)
		assert.Equal(t, filepath.Join(dir, "iteration-0"), path)
	}
	// Self-Rewarding: the judge is built from each iteration's policy, the
	// model the Handoff serves after training, not fixed to the base model.
	journal, err := os.ReadFile(filepath.Join(dir, alignment.ProgressFile))
	require.NoError(t, err)
	header, _, _ := strings.Cut(string(journal), "\n")
	assert.Contains(t, header, `"judge":"self-judge judge.Rubric`)
	assert.Contains(t, out.String(), "\n  iteration-0/ ")
}

// TestQuickstartDeadBackendThenKeyInURL replays issue 14's items 7 and 17:
// a dead -backend fails at once, naming the URL without its key, and leaves
// nothing in the output directory that would make the next run refuse; the
// next run, with a key in its URL's user information and query, shows and
// stores the URL with both redacted.
func TestQuickstartDeadBackendThenKeyInURL(t *testing.T) {
	const key = "sk-quickstart-secret-0123456789"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	dir := filepath.Join(t.TempDir(), "out")

	var out bytes.Buffer
	start := time.Now()
	err = run(t.Context(), small(dir, "-backend", "http://user:"+key+"@"+dead+"/v1?api-key="+key, "-model", "tiny"), &out)
	require.ErrorIs(t, err, openai.ErrUnreachable)
	assert.Less(t, time.Since(start), openai.CheckTimeout+time.Second)
	assert.Contains(t, err.Error(), "http://REDACTED@"+dead+"/v1")
	assert.NotContains(t, err.Error()+out.String(), key)
	_, statErr := os.Stat(dir)
	assert.ErrorIs(t, statErr, os.ErrNotExist, "a failed start writes nothing")

	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "tiny", Reply: func(r openaitest.Request, i int) string {
		if strings.Contains(r.Messages[len(r.Messages)-1].Content, "Score:") {
			return fmt.Sprintf("Relevant.\nScore: %d", (i+int(*r.Seed))%6)
		}
		return fmt.Sprintf("answer %d .", (i+int(*r.Seed))%100)
	}})
	withKey := strings.Replace(srv.URL(), "http://", "http://user:"+key+"@", 1) + "?api-key=" + key
	out.Reset()
	require.NoError(t, run(t.Context(), small(dir, "-backend", withKey, "-model", "tiny"), &out), out.String())
	assert.Contains(t, out.String(), "http://REDACTED@")
	assert.NotContains(t, out.String(), key)
	for _, f := range []string{runFile, "report.json", "report.md"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.NotContains(t, string(data), key, f)
		assert.Contains(t, string(data), "api-key=REDACTED", f)
	}
}

// Running a finished directory again says so and keeps the reports as the
// run wrote them, timings included.
func TestQuickstartRerunFinished(t *testing.T) {
	dir := t.TempDir()
	var first bytes.Buffer
	require.NoError(t, run(t.Context(), small(dir), &first))
	assert.NotContains(t, first.String(), "already complete")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	md, js := read("report.md"), read("report.json")

	var again bytes.Buffer
	require.NoError(t, run(t.Context(), small(dir), &again))
	assert.Contains(t, again.String(), "the run in "+dir+" was already complete: its iterations were read back from progress.jsonl, not run again")
	assert.Equal(t, md, read("report.md"), "the run time is the original run's")
	assert.Equal(t, js, read("report.json"))
}

// The report counts failed prompts, and its yield is over all prompts.
func TestReportCountsFailures(t *testing.T) {
	ev := func(it int, score float64) *alignment.EvalReport {
		return &alignment.EvalReport{Iteration: it, MeanScore: score, MeanLength: 3, Elapsed: time.Second}
	}
	res := alignment.Result{
		Reports: []alignment.Report{{Iteration: 0, Prompts: 10, Failed: 2, Pairs: 4, Elapsed: 2 * time.Second, Eval: ev(0, 1)}},
		Final:   ev(1, 2),
	}
	rep := newReport(7, "test", res)
	require.Len(t, rep.Iterations, 2)
	assert.Equal(t, row{Iteration: 0, MeanScore: 1, MeanLength: 3, Pairs: 4, Prompts: 10, Failed: 2, PairYield: 0.4}, rep.Iterations[0])
	assert.Equal(t, 3.0, rep.ElapsedSec, "the iteration's and the final evaluation's time, from the journal")
	assert.Equal(t, 1.0, rep.Gain)

	js, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"failed":2`)
	assert.Contains(t, string(js), `"pair_yield":0.4`)
	assert.Contains(t, markdown(rep), "| 0 | 1.000 | 3.00 | 4 | 0.40 | 2 |")
	assert.Contains(t, markdown(rep), "Run time: 3s")
}

// With -judge self the model judges its own answers: the world's rules
// score the held-out evaluation and nothing else. The rule judge here
// fails the test when it is asked about any prompt that is not held out,
// which is what judging a training answer would take; the same judge in
// a rules run shows that it catches such calls.
func TestSelfJudgeNeverAsksTheRules(t *testing.T) {
	spy := func(t *testing.T, fail bool, training *atomic.Int64) {
		held := map[string]bool{}
		w, err := taskworld.New(1, &taskworld.Options{Train: 24, HeldOut: 12})
		require.NoError(t, err)
		for _, x := range w.HeldOut() {
			held[x.Prompt.ID] = true
		}
		orig := rulesJudge
		t.Cleanup(func() { rulesJudge = orig })
		rulesJudge = func() (alignment.Judge, error) {
			rules, err := orig()
			if err != nil {
				return nil, err
			}
			return judge.Func(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
				if !held[p.ID] {
					training.Add(1)
					if fail {
						t.Errorf("the rules were asked about %q, a training prompt, in a self-judging run", p.ID)
						return alignment.Judgment{}, errors.New("the rules must not judge training answers")
					}
				}
				return rules.Judge(ctx, p, r)
			}), nil
		}
	}

	var rulesCalls atomic.Int64
	spy(t, false, &rulesCalls)
	require.NoError(t, run(t.Context(), small(t.TempDir(), "-judge", "rules"), &bytes.Buffer{}))
	assert.Positive(t, rulesCalls.Load(), "in a rules run the spy sees the rules judge training answers")

	var selfCalls atomic.Int64
	spy(t, true, &selfCalls)
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), small(dir, "-judge", "self"), &out))
	assert.Zero(t, selfCalls.Load())
	assert.Contains(t, out.String(), "judge: the model itself, after evaluation fine-tuning on 300 judgments labelled by the rules")

	f, err := os.Open(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	defer f.Close()
	n := 0
	for p, err := range alignment.ReadPairs(f) {
		require.NoError(t, err)
		assert.Equal(t, "self-rewarding", p.Source)
		n++
	}
	assert.Positive(t, n)

	var rep report
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, "self", rep.Judge)
	assert.Equal(t, 300, rep.EFTJudgments, "the budget of labelled judgments is reported")
	require.Len(t, rep.Iterations, 2)
	for i, r := range rep.Iterations {
		require.NotNil(t, r.JudgeAccuracy, "row %d", i)
		require.NotNil(t, r.JudgeSpearman, "row %d", i)
		assert.InDelta(t, 0.5, *r.JudgeAccuracy, 0.5)
		assert.InDelta(t, 0, *r.JudgeSpearman, 1)
	}
	require.NotNil(t, rep.Iterations[0].SelfScoreMean)
	require.NotNil(t, rep.Iterations[0].SelfScoreSaturation)
	assert.InDelta(t, rep.Iterations[0].TrainScore, *rep.Iterations[0].SelfScoreMean, 1e-12)
	assert.InDelta(t, 0.5, *rep.Iterations[0].SelfScoreSaturation, 0.5)
	assert.Nil(t, rep.Iterations[1].SelfScoreMean, "the final policy judges no training samples")
	require.NotNil(t, rep.Iterations[0].PairAgreement)
	assert.InDelta(t, 0.5, *rep.Iterations[0].PairAgreement, 0.5)
	assert.Nil(t, rep.Iterations[1].PairAgreement)
	assert.Contains(t, out.String(), "policy 0 as a judge: gold accuracy")
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "judged by the model itself (Self-Rewarding)")
	assert.Contains(t, string(md), "\n- policy 1 as a judge: gold accuracy")
	// Four panels: the judge figures per iteration are the fourth.
	assertPNG(t, dir, 4)
}

// Row 0 is the fine-tuned model as a judge, measured from its saved copy,
// not from the policy object, which DPO trains in place.
func TestJudgeFiguresPerPolicy(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, run(t.Context(), small(dir, "-judge", "self", "-iterations", "2"), &bytes.Buffer{}))
	var rep report
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Iterations, 3)
	w, err := taskworld.New(1, &taskworld.Options{Train: 24, HeldOut: 12, EFT: taskworld.MaxEFT})
	require.NoError(t, err)
	m, err := loadModel(filepath.Join(dir, sftFile))
	require.NoError(t, err)
	j, err := judge.NewExpected(m, w.JudgeFormat())
	require.NoError(t, err)
	c, err := judge.Calibrate(t.Context(), j, w.Gold())
	require.NoError(t, err)
	assert.Equal(t, c.PairwiseAccuracy, *rep.Iterations[0].JudgeAccuracy)
	assert.Equal(t, c.Spearman, *rep.Iterations[0].JudgeSpearman)
}
