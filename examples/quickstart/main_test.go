package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// small makes a run that takes seconds, for tests: few prompts, one
// iteration.
func small(out string, more ...string) []string {
	return append([]string{"-out", out, "-iterations", "1", "-prompts", "24", "-held-out", "12", "-concurrency", "2", "-sft-epochs", "2"}, more...)
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
		{[]string{"-prompts", "-1"}, "-prompts must not be negative"},
		{[]string{"-held-out", "0"}, "-held-out must be positive"},
		{[]string{"-sft-epochs", "0"}, "-sft-epochs is 0"},
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
	require.NoError(t, run(t.Context(), small(dir), &out))
	assert.Contains(t, out.String(), "fine-tuned model")
	assert.Contains(t, out.String(), "| iteration |")

	n := 0
	f, err := os.Open(filepath.Join(dir, alignment.PairsFile))
	require.NoError(t, err)
	defer f.Close()
	for p, err := range alignment.ReadPairs(f) {
		require.NoError(t, err)
		assert.Equal(t, 0, p.Iteration)
		assert.Equal(t, "self-rewarding", p.Source)
		assert.Greater(t, p.ScoreChosen, p.ScoreRejected)
		n++
	}
	assert.Positive(t, n)

	var rep struct {
		Iterations []map[string]any `json:"iterations"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Iterations, 2, "the fine-tuned policy and the one after one iteration")
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

	img, err := os.Open(filepath.Join(dir, "report.png"))
	require.NoError(t, err)
	defer img.Close()
	cfg, err := png.DecodeConfig(img)
	require.NoError(t, err)
	assert.Greater(t, cfg.Width, 600)
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
	assert.Contains(t, err.Error(), "other settings")
}

func readRows(t *testing.T, dir string) []row {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(data, &rep))
	return rep.Iterations
}

// TestQuickstartBackend runs the quickstart against a fake vLLM server
// whose model answers prompts and, asked with the rubric, judges them.
func TestQuickstartBackend(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "tiny", Reply: func(r openaitest.Request, i int) string {
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
	err := run(t.Context(), small(dir, "-backend", srv.URL(), "-model", "tiny", "-train-cmd", "test -s \"$SELFALIGN_PAIRS\""), &out)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), `model "tiny"`)
	_, err = os.Stat(filepath.Join(dir, "iteration-0.jsonl"))
	assert.NoError(t, err, "the iteration's pairs are written for the training command")
	assert.NotEmpty(t, srv.Requests())
	rows := readRows(t, dir)
	require.Len(t, rows, 2)
	assert.Positive(t, rows[0].Pairs)
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
