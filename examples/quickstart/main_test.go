package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai"
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
