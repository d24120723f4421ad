package alignment_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func TestSinksConform(t *testing.T) {
	dir := t.TempDir()
	jsonl, err := alignment.CreateJSONL(filepath.Join(dir, "pairs.jsonl"), nil)
	require.NoError(t, err)
	defer jsonl.Close()
	kto, err := alignment.CreateJSONL(filepath.Join(dir, "kto.jsonl"), &alignment.JSONLOptions{KTO: true, FlushEvery: 1})
	require.NoError(t, err)
	defer kto.Close()
	sinks := map[string]alignment.PreferenceSink{
		"memory":  &alignment.MemorySink{},
		"jsonl":   jsonl,
		"kto":     kto,
		"fan-out": alignment.FanOut(&alignment.MemorySink{}, &alignmenttest.Recorder{}),
		"empty":   alignment.FanOut(),
	}
	for name, s := range sinks {
		assert.NoError(t, alignmenttest.TestSink(t.Context(), s), name)
	}
}

func sinkPair(id string) alignment.Pair {
	return alignment.Pair{
		Prompt:   alignment.NewPrompt(id, "q"),
		Chosen:   alignment.Response{Text: "good", Revisions: []alignment.Revision{{Refiner: "r", Text: "good"}}},
		Rejected: alignment.Response{Text: "bad", TokenLogProbs: []alignment.TokenLogProb{{Token: "bad", LogProb: -1, Top: []alignment.TokenLogProb{{Token: "b", LogProb: -2}}}}},
	}
}

func TestMemorySink(t *testing.T) {
	var m alignment.MemorySink
	in := []alignment.Pair{sinkPair("a"), sinkPair("b")}
	require.NoError(t, m.Write(t.Context(), in))
	in[0].Prompt.Messages[0].Content = "changed"
	in[1].Rejected.TokenLogProbs[0].Top[0].Token = "changed"
	got := m.Pairs()
	assert.Equal(t, []alignment.Pair{sinkPair("a"), sinkPair("b")}, got, "Write copies")
	got[0].Chosen.Revisions[0].Text = "changed"
	assert.Equal(t, sinkPair("a"), m.Pairs()[0], "Pairs copies")
	assert.Equal(t, 2, m.Len())
}

type failingSink struct {
	err     error
	flushes int
	closes  int
}

func (f *failingSink) Write(context.Context, []alignment.Pair) error { return f.err }
func (f *failingSink) Flush(context.Context) error                   { f.flushes++; return f.err }
func (f *failingSink) Close() error                                  { f.closes++; return f.err }

func TestFanOut(t *testing.T) {
	var a, c alignment.MemorySink
	bad := &failingSink{err: errors.New("disk on fire")}
	s := alignment.FanOut(&a, bad, &c)
	err := s.Write(t.Context(), []alignment.Pair{sinkPair("x")})
	assert.ErrorIs(t, err, bad.err)
	assert.ErrorContains(t, err, "fan-out sink 1")
	assert.Equal(t, 1, a.Len(), "sinks before the failing one are written")
	assert.Equal(t, 1, c.Len(), "and so are those after it")

	assert.ErrorContains(t, s.Flush(t.Context()), "fan-out sink 1: flush: disk on fire")
	assert.Equal(t, 1, bad.flushes)
	assert.ErrorContains(t, s.Close(), "fan-out sink 1: close")
	assert.Equal(t, 1, bad.closes)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, s.Write(ctx, []alignment.Pair{sinkPair("y")}), context.Canceled)
	assert.Equal(t, 1, a.Len(), "a cancelled write reaches no sink")

	two := alignment.FanOut(&failingSink{err: errors.New("one")}, &failingSink{err: errors.New("two")})
	err = two.Write(t.Context(), nil)
	assert.ErrorContains(t, err, "fan-out sink 0: one")
	assert.ErrorContains(t, err, "fan-out sink 1: two")
}

func TestFanOutCopiesItsArguments(t *testing.T) {
	var a, b alignment.MemorySink
	sinks := []alignment.PreferenceSink{&a}
	s := alignment.FanOut(sinks...)
	sinks[0] = &b
	require.NoError(t, s.Write(t.Context(), []alignment.Pair{sinkPair("x")}))
	assert.Equal(t, 1, a.Len())
	assert.Equal(t, 0, b.Len())
}

// A JSONL sink writes pairs in TRL's conversational preference format, so
// that the trainer applies the chat template the server sampled through;
// pairs no judge scored have no score columns. ReadPairs reads them back.
func ExampleJSONL() {
	dir, err := os.MkdirTemp("", "pairs")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pairs.jsonl")

	ctx := context.Background()
	sink, err := alignment.CreateJSONL(path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	chat := alignment.Prompt{ID: "q2", Messages: []alignment.Message{
		{Role: alignment.RoleSystem, Content: "Answer in one word."},
		{Role: alignment.RoleUser, Content: "Capital of Italy?"},
	}}
	err = sink.Write(ctx, []alignment.Pair{
		{Prompt: alignment.NewPrompt("q1", "Capital of France?"), Chosen: alignment.Response{Text: "Paris."}, Rejected: alignment.Response{Text: "Lyon."}, ScoreChosen: 5, ScoreRejected: 1.5, Scored: true, Source: "self-rewarding"},
		{Prompt: chat, Chosen: alignment.Response{Text: "Rome."}, Rejected: alignment.Response{Text: "It is Milan."}, Iteration: 1, Source: "sl-cai"},
	})
	if err == nil {
		err = sink.Close()
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(data))
	for p, err := range alignment.ReadPairs(strings.NewReader(string(data))) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %q over %q\n", p.Prompt.ID, p.Chosen.Text, p.Rejected.Text)
	}
	// Output:
	// {"prompt":[{"role":"user","content":"Capital of France?"}],"chosen":[{"role":"assistant","content":"Paris."}],"rejected":[{"role":"assistant","content":"Lyon."}],"prompt_id":"q1","iteration":0,"score_chosen":5,"score_rejected":1.5,"source":"self-rewarding"}
	// {"prompt":[{"role":"system","content":"Answer in one word."},{"role":"user","content":"Capital of Italy?"}],"chosen":[{"role":"assistant","content":"Rome."}],"rejected":[{"role":"assistant","content":"It is Milan."}],"prompt_id":"q2","iteration":1,"source":"sl-cai"}
	// q1: "Paris." over "Lyon."
	// q2: "Rome." over "It is Milan."
}

// Prompts files use TRL's prompt format; lines without an id are named by
// their line number, and a malformed line is an error naming it.
func ExampleOpenJSONLPrompts() {
	dir, err := os.MkdirTemp("", "prompts")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "prompts.jsonl")
	lines := `{"id": "greet", "prompt": "Say hello."}
{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}]}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	src, err := alignment.OpenJSONLPrompts(path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("prompts:", src.Len(0))
	for p, err := range src.Prompts(context.Background(), 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s (%d messages): %s\n", p.ID, len(p.Messages), p.Text())
	}

	bad := lines + `{"prompt": [{"role": "robot", "content": "Beep."}]}` + "\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	_, err = alignment.OpenJSONLPrompts(path, nil)
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "DIR"))
	// Output:
	// prompts: 2
	// greet (1 messages): Say hello.
	// line-2 (2 messages): Why is the sky blue?
	// alignment: DIR/prompts.jsonl:3: prompt "line-3": message 0 has role "robot", want system, user or assistant: invalid input
}
