package openai_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/openai"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// trainCmd "trains" as a TRL command with PEFT would: it reads the pairs
// and writes an adapter directory to $SELFALIGN_OUTPUT.
const trainCmd = `test -s "$SELFALIGN_PAIRS" && printf '{"r": 8}' > "$SELFALIGN_OUTPUT/adapter_config.json" && echo "trained iteration $SELFALIGN_ITERATION of $SELFALIGN_BASE_MODEL from ${SELFALIGN_SERVED_ADAPTER:-the base}"`

// replyJudge scores the fake's canned replies by their choice index
// ("Reply 1 from ..." scores 1), so that every prompt makes a pair.
var replyJudge = alignmenttest.JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	var i int
	if _, err := fmt.Sscanf(r.Text, "Reply %d", &i); err != nil {
		return alignment.Judgment{}, err
	}
	return alignment.Judgment{Score: float64(i)}, nil
})

func handoffLoop(t *testing.T, pol *openai.Policy, h *openai.Handoff, iterations int) alignment.Loop {
	t.Helper()
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("a", "Name a prime."), alignment.NewPrompt("b", "Name a colour.")})
	require.NoError(t, err)
	return alignment.Loop{Policy: pol, Prompts: src, Judge: replyJudge, Trainer: h, Iterations: iterations, Samples: 2, Concurrency: 2, Dir: h.Dir}
}

// chatModels lists the model of every chat request a server received, in
// order, with "load <name>" for every adapter load.
func chatModels(srv *openaitest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		switch r.Path {
		case "/v1/chat/completions":
			out = append(out, r.Model)
		case "/v1/load_lora_adapter", "/load_lora_adapter":
			out = append(out, "load "+strings.Trim(string(r.Body["lora_name"]), `"`))
		}
	}
	return out
}

func newPolicy(t *testing.T, model string, srv *openaitest.Server) *openai.Policy {
	t.Helper()
	pol, err := openai.New(model, []string{srv.URL()}, &openai.Options{APIKeyEnv: "-"})
	require.NoError(t, err)
	return pol
}

// A two-iteration Loop against vLLM: after each iteration the command
// trains an adapter, the Handoff loads it, and the next iteration asks
// for it by name.
func TestHandoffVLLMLoop(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base", LoRA: true})
	pol := newPolicy(t, "base", srv)
	var stdout bytes.Buffer
	dir := t.TempDir()
	h := &openai.Handoff{Policy: pol, Dir: dir, Command: trainCmd, Load: openai.LoadVLLMLoRA, Stdout: &stdout,
		AdapterName: func(i int) string { return "round-" + strconv.Itoa(i+1) }}
	loop := handoffLoop(t, pol, h, 2)
	res, err := loop.Run(context.Background())
	require.NoError(t, err)

	assert.Equal(t, []string{"base", "base", "load round-1", "round-1", "round-1", "load round-2"}, chatModels(srv))
	assert.Equal(t, map[string]string{"round-1": filepath.Join(dir, "iteration-0"), "round-2": filepath.Join(dir, "iteration-1")}, srv.Adapters())
	require.IsType(t, &openai.Policy{}, res.Policy)
	assert.Equal(t, "round-2", res.Policy.(*openai.Policy).Model())
	assert.Equal(t, "trained iteration 0 of base from the base\ntrained iteration 1 of base from "+filepath.Join(dir, "iteration-0")+"\n", stdout.String())
	pairs, err := os.ReadFile(filepath.Join(dir, "iteration-1.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(pairs), `"prompt":[{"role":"user","content":"Name a prime."}]`, "conversational form")
}

// A run killed between training and the next iteration resumes with the
// trained model, on a server restarted in between (it lost the adapter):
// the checkpoint loads it again, and the command does not run again for
// the iteration already trained.
func TestHandoffResume(t *testing.T) {
	dir := t.TempDir()
	first := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base", LoRA: true})
	pol := newPolicy(t, "base", first)
	h := &openai.Handoff{Policy: pol, Dir: dir, Command: trainCmd, Load: openai.LoadVLLMLoRA}
	loop := handoffLoop(t, pol, h, 1)
	_, err := loop.Run(context.Background())
	require.NoError(t, err)
	first.Close()

	restarted := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base", LoRA: true})
	pol = newPolicy(t, "base", restarted)
	var stdout bytes.Buffer
	h = &openai.Handoff{Policy: pol, Dir: dir, Command: trainCmd, Load: openai.LoadVLLMLoRA, Stdout: &stdout}
	loop = handoffLoop(t, pol, h, 2)
	res, err := loop.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Restored)

	models := chatModels(restarted)
	require.NotEmpty(t, models)
	adapter := strings.TrimPrefix(models[0], "load ")
	assert.Regexp(t, `^selfalign-[0-9a-f]{8}-1$`, adapter, "the checkpoint's adapter is loaded first")
	assert.Equal(t, []string{"load " + adapter, adapter, adapter}, models[:3], "iteration 1 asks for the trained model")
	assert.Equal(t, "trained iteration 1 of base from "+filepath.Join(dir, "iteration-0")+"\n", stdout.String(), "only iteration 1 is trained, from the checkpoint's adapter")
}

func onePair(it int) []alignment.Pair {
	p := alignment.NewPrompt("p", "Hi!")
	return []alignment.Pair{{Prompt: p, Chosen: alignment.Response{Text: "Hello!"}, Rejected: alignment.Response{Text: "Go away."}, Iteration: it}}
}

// Each way of serving the trained model makes the next Policy ask for the
// right name, and has the server load the right directory.
func TestHandoffLoads(t *testing.T) {
	tests := []struct {
		name    string
		flavor  openaitest.Flavor
		load    openai.Load
		command string
		want    string
		check   func(t *testing.T, srv *openaitest.Server, out string)
	}{
		{"vllm adapter named by the command", openaitest.VLLM, openai.LoadVLLMLoRA, trainCmd + "; echo SELFALIGN_MODEL=first; echo SELFALIGN_MODEL=mine", "mine",
			func(t *testing.T, srv *openaitest.Server, out string) {
				assert.Equal(t, map[string]string{"mine": out}, srv.Adapters())
			}},
		{"sglang adapter", openaitest.SGLang, openai.LoadSGLangLoRA, trainCmd, "base:a-1",
			func(t *testing.T, srv *openaitest.Server, out string) {
				assert.Equal(t, map[string]string{"a-1": out}, srv.Adapters())
			}},
		{"sglang weights", openaitest.SGLang, openai.LoadSGLangWeights, trainCmd, "base",
			func(t *testing.T, srv *openaitest.Server, out string) {
				assert.Equal(t, out, srv.Weights())
			}},
		{"a name the command reports", openaitest.VLLM, openai.LoadNone, "printf 'SELFALIGN_MODEL=base'", "base", nil},
		{"no name reported", openaitest.VLLM, openai.LoadNone, "true", "base", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Options{Flavor: tt.flavor, Model: "base", LoRA: true})
			dir := t.TempDir()
			h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: dir, Command: tt.command, Load: tt.load,
				AdapterName: func(i int) string { return "a-" + strconv.Itoa(i+1) }}
			next, err := h.Train(context.Background(), h.Policy, onePair(0))
			require.NoError(t, err)
			assert.Equal(t, tt.want, next.(*openai.Policy).Model())
			if tt.check != nil {
				tt.check(t, srv, filepath.Join(dir, "iteration-0"))
			}
			_, err = next.Generate(context.Background(), alignment.NewPrompt("q", "Hi!"), alignment.SampleOptions{})
			assert.NoError(t, err, "the server serves the next model")
		})
	}
}

// A failed command's error gives its exit status and the end of its
// standard error; its output also reaches the caller's writers.
func TestHandoffCommandFails(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base", LoRA: true})
	var stdout, stderr bytes.Buffer
	h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: t.TempDir(), Load: openai.LoadVLLMLoRA, Stdout: &stdout, Stderr: &stderr,
		Command: `echo loading; i=0; while [ $i -lt 400 ]; do echo "warning line $i" >&2; i=$((i+1)); done; echo "torch.OutOfMemoryError: CUDA out of memory" >&2; exit 3`}
	_, err := h.Train(context.Background(), h.Policy, onePair(2))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "training command after iteration 2 failed (exit status 3)")
	assert.Contains(t, err.Error(), "CUDA out of memory")
	assert.NotContains(t, err.Error(), "warning line 0\n", "only the end of standard error")
	assert.Less(t, len(err.Error()), 2300)
	assert.Equal(t, "loading\n", stdout.String())
	assert.Contains(t, stderr.String(), "warning line 0\n")
	assert.Empty(t, srv.Adapters(), "nothing is loaded after a failure")
}

// A server that cannot load the trained model fails the training with an
// error naming what is missing.
func TestHandoffServerCannotLoad(t *testing.T) {
	tests := []struct {
		name   string
		o      openaitest.Options
		load   openai.Load
		want   []string
		unsupp bool
	}{
		{"vllm without runtime lora updating", openaitest.Options{Flavor: openaitest.VLLM, Model: "base"}, openai.LoadVLLMLoRA,
			[]string{"has no POST", "/load_lora_adapter (404 Not Found)", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"}, true},
		{"ollama", openaitest.Options{Flavor: openaitest.Ollama, Model: "base"}, openai.LoadVLLMLoRA,
			[]string{"has no POST", "/v1/load_lora_adapter"}, true},
		{"sglang without --enable-lora", openaitest.Options{Flavor: openaitest.SGLang, Model: "base"}, openai.LoadSGLangLoRA,
			[]string{"400 Bad Request", "LoRA is not enabled. Please set `--enable-lora` to enable LoRA."}, false},
		{"llama.cpp cannot reload weights", openaitest.Options{Flavor: openaitest.LlamaCpp}, openai.LoadSGLangWeights,
			[]string{"has no POST", "/update_weights_from_disk"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.o)
			h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: t.TempDir(), Command: trainCmd, Load: tt.load}
			_, err := h.Train(context.Background(), h.Policy, onePair(0))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, tt.unsupp, errors.Is(err, alignment.ErrUnsupported), "ErrUnsupported: %v", err)
		})
	}
}

// A model the command reports but the server does not serve fails the
// training at once, naming it.
func TestHandoffReportedModelNotServed(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base"})
	h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: t.TempDir(), Command: "echo SELFALIGN_MODEL=trained-1"}
	_, err := h.Train(context.Background(), h.Policy, onePair(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `does not serve model "trained-1" (it lists base)`)
}

// A resumed run whose server still holds the adapter (only the host was
// killed) loads it again over the old one: SGLang refuses a name already
// loaded, so the Handoff unloads it first.
func TestHandoffReloadsLoadedAdapter(t *testing.T) {
	for _, o := range []openaitest.Options{
		{Flavor: openaitest.SGLang, Model: "base", LoRA: true},
		{Flavor: openaitest.VLLM, Model: "base", LoRA: true, OldLoRA: true},
	} {
		t.Run(o.Flavor.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, o)
			load := openai.LoadVLLMLoRA
			if o.Flavor == openaitest.SGLang {
				load = openai.LoadSGLangLoRA
			}
			dir := t.TempDir()
			h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: dir, Command: trainCmd, Load: load}
			next, err := h.Train(context.Background(), h.Policy, onePair(0))
			require.NoError(t, err)
			ckpt := t.TempDir()
			require.NoError(t, h.SaveCheckpoint(context.Background(), next, ckpt))

			h2 := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: dir, Command: trainCmd, Load: load}
			back, err := h2.LoadCheckpoint(context.Background(), ckpt)
			require.NoError(t, err)
			assert.Equal(t, next.(*openai.Policy).Model(), back.(*openai.Policy).Model())
			assert.Len(t, srv.Adapters(), 1)
		})
	}
}

// Cancelling the context kills the command's whole process group, not
// only its shell.
func TestHandoffCancelKillsGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	dir := t.TempDir()
	h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: dir,
		Command: `sh -c 'echo $$ > "$SELFALIGN_OUTPUT/child.tmp"; mv "$SELFALIGN_OUTPUT/child.tmp" "$SELFALIGN_OUTPUT/child"; exec sleep 60' & wait`}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.Train(ctx, h.Policy, onePair(0))
		done <- err
	}()
	pidFile := filepath.Join(dir, "iteration-0", "child")
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 10*time.Millisecond, "the grandchild %d was killed", pid)
}

// gone reports whether process pid has exited (a zombie counts).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// Without a command or function the Handoff writes the pairs for an
// external trainer and keeps the policy.
func TestHandoffPairsOnly(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	dir := t.TempDir()
	h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: dir, Pairs: &alignment.JSONLOptions{Standard: true}}
	next, err := h.Train(context.Background(), h.Policy, onePair(4))
	require.NoError(t, err)
	assert.Same(t, h.Policy, next)
	b, err := os.ReadFile(filepath.Join(dir, "iteration-4.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"prompt":"Hi!"`, "standard form when asked")
}

// A Func trains in process; its name switches the model, and an iteration
// without pairs trains nothing.
func TestHandoffFunc(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	var jobs []openai.TrainJob
	h := &openai.Handoff{Policy: newPolicy(t, "base", srv), Dir: t.TempDir(), Func: func(_ context.Context, job openai.TrainJob) (string, error) {
		jobs = append(jobs, job)
		return "trained-" + strconv.Itoa(job.Iteration), nil
	}}
	next, err := h.Train(context.Background(), h.Policy, onePair(0))
	require.NoError(t, err)
	assert.Equal(t, "trained-0", next.(*openai.Policy).Model())
	same, err := h.Train(context.Background(), next, nil)
	require.NoError(t, err)
	assert.Equal(t, "trained-0", same.(*openai.Policy).Model())
	require.Len(t, jobs, 1, "no training without pairs")
	assert.Equal(t, openai.TrainJob{Iteration: 0, Pairs: filepath.Join(h.Dir, "iteration-0.jsonl"), Output: filepath.Join(h.Dir, "iteration-0"), BaseModel: "base", Model: "base"}, jobs[0])

	h.Func = func(context.Context, openai.TrainJob) (string, error) { return "", errors.New("no GPU") }
	_, err = h.Train(context.Background(), same, onePair(2))
	assert.ErrorContains(t, err, "training after iteration 2: no GPU")
}

func TestHandoffInvalid(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM})
	pol := newPolicy(t, "base", srv)
	f := func(context.Context, openai.TrainJob) (string, error) { return "", nil }
	for _, h := range []*openai.Handoff{
		{Dir: "x"},
		{Policy: pol},
		{Policy: pol, Dir: "x", Command: "true", Func: f},
		{Policy: pol, Dir: "x", Load: openai.Load(9)},
	} {
		_, err := h.Train(context.Background(), pol, nil)
		assert.ErrorIs(t, err, alignment.ErrInvalid)
	}
	h := &openai.Handoff{Policy: pol, Dir: t.TempDir(), Load: openai.LoadSGLangWeights, Command: trainCmd + "; echo SELFALIGN_MODEL=x"}
	_, err := h.Train(context.Background(), pol, onePair(0))
	assert.ErrorIs(t, err, alignment.ErrInvalid, "a name with a weights update")
}

func TestParseLoad(t *testing.T) {
	for _, l := range []openai.Load{openai.LoadNone, openai.LoadVLLMLoRA, openai.LoadSGLangLoRA, openai.LoadSGLangWeights} {
		got, err := openai.ParseLoad(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
	_, err := openai.ParseLoad("vllm")
	assert.ErrorIs(t, err, alignment.ErrInvalid)
	assert.ErrorContains(t, err, "none, vllm-lora, sglang-lora, sglang-weights")
}

// WithModel asks for another model on the same server with the same key,
// and counts its usage with its parent's.
func TestWithModel(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, APIKey: "sk-test"})
	pol, err := openai.New("base", []string{srv.URL()}, &openai.Options{APIKey: "sk-test"})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = pol.Generate(ctx, alignment.NewPrompt("a", "Hi!"), alignment.SampleOptions{})
	require.NoError(t, err)
	next, err := pol.WithModel("adapter-1")
	require.NoError(t, err)
	rs, err := next.Generate(ctx, alignment.NewPrompt("a", "Hi!"), alignment.SampleOptions{})
	require.NoError(t, err)
	assert.Equal(t, "adapter-1", rs[0].Source)
	assert.Equal(t, "adapter-1", srv.Requests()[1].Model)
	assert.Equal(t, int64(2), pol.Usage().Requests, "one total for the run")
	assert.Equal(t, pol.Usage(), next.Usage())
	_, err = pol.WithModel(" ")
	assert.ErrorIs(t, err, alignment.ErrInvalid)
}

// A training that succeeded is not run again for the same pairs: a run
// resumed after the load failed (vLLM started without runtime LoRA
// updating) only loads; other pairs train again.
func TestHandoffTrainsOnce(t *testing.T) {
	dir := t.TempDir()
	cmd := `echo run >> "$SELFALIGN_OUTPUT.runs"; ` + trainCmd
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "iteration-0.runs"))
		return strings.Count(string(b), "run")
	}
	noRoute := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base"})
	h := &openai.Handoff{Policy: newPolicy(t, "base", noRoute), Dir: dir, Command: cmd, Load: openai.LoadVLLMLoRA}
	_, err := h.Train(context.Background(), h.Policy, onePair(0))
	require.ErrorIs(t, err, alignment.ErrUnsupported)
	require.Equal(t, 1, runs())

	fixed := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.VLLM, Model: "base", LoRA: true})
	h = &openai.Handoff{Policy: newPolicy(t, "base", fixed), Dir: dir, Command: cmd, Load: openai.LoadVLLMLoRA}
	next, err := h.Train(context.Background(), h.Policy, onePair(0))
	require.NoError(t, err)
	assert.Equal(t, 1, runs(), "the same pairs are not trained again")
	assert.Len(t, fixed.Adapters(), 1)

	other := onePair(0)
	other[0].Chosen.Text = "Hello there!"
	_, err = h.Train(context.Background(), next, other)
	require.NoError(t, err)
	assert.Equal(t, 2, runs(), "other pairs train again")
}
