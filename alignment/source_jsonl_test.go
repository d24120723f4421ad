package alignment

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONLSource(t *testing.T) {
	s, err := OpenJSONLPrompts("testdata/prompts.jsonl", nil)
	require.NoError(t, err)
	want := []Prompt{
		NewPrompt("capital", "What is the capital of France?"),
		NewPrompt("line-2", "Name a prime number."),
		{ID: "17", Messages: []Message{{Role: RoleSystem, Content: "Answer in one word."}, {Role: RoleUser, Content: "Colour of the sky?"}}},
		{ID: "chat", Messages: []Message{{Role: RoleUser, Content: "Hi!"}, {Role: RoleAssistant, Content: "Hello."}, {Role: RoleUser, Content: "Übersetze «café» — 日本語で？"}}},
		NewPrompt("line-7", "Say \"ok\".\nThen stop."),
	}
	for it := range 3 {
		got, err := collect(t, s, t.Context(), it)
		require.NoError(t, err)
		assert.Equal(t, want, got, "iteration %d reads the file again", it)
		assert.Equal(t, len(want), s.Len(it))
	}
	assert.Equal(t, "testdata/prompts.jsonl", s.Path())

	crlf, err := OpenJSONLPrompts("testdata/prompts_crlf.jsonl", nil)
	require.NoError(t, err)
	got, err := collect(t, crlf, t.Context(), 0)
	require.NoError(t, err)
	assert.Equal(t, []Prompt{NewPrompt("crlf", "Windows line"), NewPrompt("line-2", "no newline at the end")}, got)
}

// Prompt ids come from "prompt_id", the name this library's pairs files
// and UltraFeedback-style sets use, or "id"; only lines with neither are
// numbered, so that moving lines keeps each prompt's id.
func TestJSONLSourcePromptID(t *testing.T) {
	path := writeFile(t, `{"prompt_id":"uf-9","prompt":"a"}`+"\n"+`{"prompt":"b"}`+"\n"+`{"prompt_id":7,"id":7,"prompt":"c"}`+"\n")
	s, err := OpenJSONLPrompts(path, nil)
	require.NoError(t, err)
	got, err := collect(t, s, t.Context(), 0)
	require.NoError(t, err)
	assert.Equal(t, []Prompt{NewPrompt("uf-9", "a"), NewPrompt("line-2", "b"), NewPrompt("7", "c")}, got)
}

// A prompts file saved by a Windows editor starts with a UTF-8 byte order
// mark.
func TestJSONLSourceBOM(t *testing.T) {
	s, err := OpenJSONLPrompts("testdata/prompts_bom.jsonl", nil)
	require.NoError(t, err)
	got, err := collect(t, s, t.Context(), 0)
	require.NoError(t, err)
	assert.Equal(t, []Prompt{NewPrompt("bom", "Café?"), NewPrompt("line-2", "Second line.")}, got)
}

// The datasets people have: raw hh-rlhf (implicit prompt), Alpaca and
// self-instruct seeds (named fields).
func TestJSONLSourceDatasets(t *testing.T) {
	for _, tt := range []struct {
		file   string
		fields []string
		want   []Prompt
	}{
		{"testdata/prompts_hh_rlhf.jsonl", nil, []Prompt{
			NewPrompt("line-1", "What are some cuss words in english?"),
			{ID: "line-2", Messages: []Message{
				{Role: RoleUser, Content: "What kind of noises did dinosaurs make?"},
				{Role: RoleAssistant, Content: "Humans and dinosaurs didn’t live at the same time, so it’s really hard to say."},
				{Role: RoleUser, Content: "yes they did"},
			}},
		}},
		{"testdata/prompts_alpaca.jsonl", []string{"instruction", "input"}, []Prompt{
			NewPrompt("line-1", "Give three tips for staying healthy."),
			NewPrompt("line-2", "Evaluate this sentence for spelling and grammar mistakes\n\nHe finnished his meal and left the resturant"),
		}},
		{"testdata/prompts_self_instruct.jsonl", []string{"instruction", "instances.0.input"}, []Prompt{
			NewPrompt("seed_task_0", "Is there anything I can eat for a breakfast that doesn't include eggs, yet includes protein, and has roughly 700-1000 calories?"),
			NewPrompt("seed_task_1", "What is the relation between the given pairs?\n\nNight : Day :: Right : Left"),
		}},
	} {
		s, err := OpenJSONLPrompts(tt.file, &PromptsOptions{Fields: tt.fields})
		require.NoError(t, err, tt.file)
		got, err := collect(t, s, t.Context(), 0)
		require.NoError(t, err, tt.file)
		assert.Equal(t, tt.want, got, tt.file)
	}

	_, err := OpenJSONLPrompts("testdata/prompts_alpaca.jsonl", &PromptsOptions{Fields: []string{"instruction", ""}})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = OpenJSONLPrompts("testdata/prompts_alpaca.jsonl", &PromptsOptions{Fields: []string{"question"}})
	assert.ErrorContains(t, err, `prompts_alpaca.jsonl:1: missing "question"`)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prompts.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestJSONLSourceErrors(t *testing.T) {
	good := `{"id":"a","prompt":"fine"}` + "\n"
	tests := []struct {
		name    string
		content string
		line    int
		want    string
	}{
		{"bad JSON", good + `{"prompt": "unterminated}` + "\n", 2, "invalid JSON object"},
		{"torn last line", good + `{"prompt": "x"`, 2, "invalid JSON object"},
		{"not an object", good + good + `["prompt"]` + "\n", 3, "invalid JSON object"},
		{"trailing garbage", `{"prompt":"x"} {}` + "\n", 1, "invalid JSON object"},
		{"missing prompt", `{"id":"a","text":"x"}` + "\n", 1, `missing "prompt"`},
		{"null prompt", `{"prompt":null}` + "\n", 1, `missing "prompt"`},
		{"number prompt", `{"prompt":5}` + "\n", 1, `"prompt" must be a string or a list of messages`},
		{"empty prompt", `{"prompt":""}` + "\n", 1, "message 0 (user) is empty"},
		{"blank prompt", `{"prompt":"  \t"}` + "\n", 1, "message 0 (user) is empty"},
		{"empty list", `{"prompt":[]}` + "\n", 1, "prompt has no messages"},
		{"wrong role", `{"prompt":[{"role":"bot","content":"x"}]}` + "\n", 1, `message 0 has role "bot"`},
		{"missing role", `{"prompt":[{"content":"x"}]}` + "\n", 1, `message 0 has role ""`},
		{"ends with assistant", `{"prompt":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}` + "\n", 1, "last message has role"},
		{"content not a string", `{"prompt":[{"role":"user","content":5}]}` + "\n", 1, `prompt: message 0: "content" is a number, want a string`},
		{"message not an object", `{"prompt":["hi"]}` + "\n", 1, "prompt: message 0 is a string, want an object"},
		{"JSON array", `[{"prompt":"x"},` + "\n" + `{"prompt":"y"}]` + "\n", 1, "this is a JSON array, not JSON Lines"},
		{"JSON array after a BOM", "\ufeff[\n", 1, "this is a JSON array, not JSON Lines"},
		{"Alpaca without Fields", `{"instruction":"Add.","input":"1+1","output":"2"}` + "\n", 1, `missing "prompt"; for an instruction set, name the fields`},
		{"duplicate prompt_id", `{"prompt_id":"a","prompt":"x"}` + "\n" + `{"prompt_id":"a","prompt":"y"}` + "\n", 2, `id "a" already used on line 1`},
		{"prompt_id against id", `{"prompt_id":"a","id":"a","prompt":"x"}` + "\n" + `{"id":"a","prompt":"y"}` + "\n", 2, `id "a" already used on line 1`},
		{"prompt_id and id differ", `{"prompt_id":"a","id":"b","prompt":"x"}` + "\n", 1, `prompt_id "a" and id "b" differ`},
		{"hh-rlhf row ending with a human turn", `{"chosen":"\n\nHuman: q\n\nAssistant: a\n\nHuman: r","rejected":"\n\nHuman: q\n\nAssistant: b"}` + "\n", 1, `"chosen" has 2 messages after the prompt it shares`},
		{"empty id", `{"id":"","prompt":"x"}` + "\n", 1, "empty id"},
		{"bool id", `{"id":true,"prompt":"x"}` + "\n", 1, "id is true, want a string or a number"},
		{"object id", `{"id":{},"prompt":"x"}` + "\n", 1, "want a string or a number"},
		{"duplicate id", good + "\n" + `{"id":"b","prompt":"y"}` + "\n" + `{"id":"a","prompt":"z"}` + "\n", 4, `id "a" already used on line 1`},
		{"duplicate numeric id", `{"id":7,"prompt":"x"}` + "\n" + `{"id":"7","prompt":"y"}` + "\n", 2, `id "7" already used on line 1`},
		{"clash with a generated id", `{"prompt":"x"}` + "\n" + `{"id":"line-1","prompt":"y"}` + "\n", 2, `id "line-1" already used on line 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := OpenJSONLPrompts(path, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			var le *LineError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, path, le.File)
			assert.Equal(t, tt.line, le.Line)
			assert.Contains(t, err.Error(), fmt.Sprintf("%s:%d: ", path, tt.line))
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	_, err := OpenJSONLPrompts(filepath.Join(t.TempDir(), "missing.jsonl"), nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestJSONLSourceEmptyFile(t *testing.T) {
	s, err := OpenJSONLPrompts(writeFile(t, "\n  \n"), nil)
	require.NoError(t, err)
	assert.Equal(t, 0, s.Len(0))
	got, err := collect(t, s, t.Context(), 0)
	assert.NoError(t, err)
	assert.Empty(t, got)
}

func TestJSONLSourceFileChanged(t *testing.T) {
	path := writeFile(t, `{"prompt":"a"}`+"\n")
	s, err := OpenJSONLPrompts(path, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(`{"prompt":"a"}`+"\n"+`{"prompt":"b"}`+"\n"), 0o644))
	_, err = collect(t, s, t.Context(), 1)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "changed since it was opened")

	// Same size, new time: still a change.
	path = writeFile(t, `{"prompt":"a"}`+"\n")
	s, err = OpenJSONLPrompts(path, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(`{"prompt":"b"}`+"\n"), 0o644))
	require.NoError(t, os.Chtimes(path, time.Time{}, time.Now().Add(time.Hour)))
	_, err = collect(t, s, t.Context(), 1)
	assert.ErrorContains(t, err, "changed since it was opened")

	require.NoError(t, os.Remove(path))
	_, err = collect(t, s, t.Context(), 1)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestJSONLSourceCancel(t *testing.T) {
	s, err := OpenJSONLPrompts("testdata/prompts.jsonl", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []Prompt
	var gotErr error
	for p, err := range s.Prompts(ctx, 0) {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, p)
		cancel()
	}
	assert.Len(t, got, 1)
	assert.ErrorIs(t, gotErr, context.Canceled)
}

// Streaming: the live heap while iterating over many prompts stays that of
// a few prompts. Loading the file whole would keep about 3 MB here.
func TestJSONLSourceStreams(t *testing.T) {
	const n = 20_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"p%d","prompt":"Write a short poem about the number %d and the sea."}`+"\n", i, i)
	}
	s, err := OpenJSONLPrompts(writeFile(t, b.String()), nil)
	require.NoError(t, err)
	assert.Equal(t, n, s.Len(0))
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := live()
	var peak uint64
	i := 0
	for p, err := range s.Prompts(t.Context(), 0) {
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("p", i), p.ID)
		if i%5_000 == 2_500 {
			peak = max(peak, live())
		}
		i++
	}
	assert.Equal(t, n, i)
	assert.Less(t, int64(peak)-int64(base), int64(1<<20), "live heap grew by %d bytes while streaming", int64(peak)-int64(base))
}

func FuzzParsePromptLine(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"x"}`, `{"id":3,"prompt":"x"}`, `{"id":"a","prompt":[{"role":"user","content":"q"}]}`,
		`{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"q"}]}`, `{"prompt":null}`, `[]`, `{"id":-1.5e3,"prompt":"\u00e9"}`,
		`{"prompt_id":"a","prompt":"x"}`, `{"prompt_id":"a","id":"b","prompt":"x"}`, `null`,
		`{"chosen":"\n\nHuman: q\n\nAssistant: a","rejected":"\n\nHuman: q\n\nAssistant: b"}`,
		`{"chosen":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"rejected":[{"role":"user","content":"q"},{"role":"assistant","content":"b"}]}`,
		`{"chosen":"Q: x A: y","rejected":"Q: x A: z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePromptLine(data, 9, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := ValidatePrompt(p); err != nil {
			t.Fatalf("parsed an invalid prompt %+v: %v", p, err)
		}
		// What we read, written back in the same format, reads the same.
		line := []byte(`{"id":`)
		line = appendString(line, p.ID)
		line = append(line, `,"prompt":`...)
		line = appendPrompt(line, p, false)
		line = append(line, '}')
		q, err := parsePromptLine(line, 9, nil)
		if err != nil {
			t.Fatalf("re-encoded line %s: %v", line, err)
		}
		if !equalPrompts(p, q) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

// FuzzFieldsPrompt fuzzes the field mapping of instruction sets.
func FuzzFieldsPrompt(f *testing.F) {
	for _, s := range []string{
		`{"instruction":"Add.","input":"1+1"}`, `{"instruction":"Add.","input":""}`, `{"instruction":"Add."}`,
		`{"instruction":"Sum.","instances":[{"input":"2 3","output":"5"}]}`, `{"instruction":5}`, `{"instances":{"0":{"input":"x"}}}`,
	} {
		f.Add([]byte(s))
	}
	fields := [][]string{{"instruction", "input"}, {"instruction", "instances.0.input"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fs := range fields {
			p, err := parsePromptLine(data, 1, fs)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				continue
			}
			if err := ValidatePrompt(p); err != nil || len(p.Messages) != 1 {
				t.Fatalf("parsed an invalid prompt %+v: %v", p, err)
			}
		}
	})
}

func equalPrompts(a, b Prompt) bool {
	if a.ID != b.ID || len(a.Messages) != len(b.Messages) {
		return false
	}
	for i := range a.Messages {
		if a.Messages[i] != b.Messages[i] {
			return false
		}
	}
	return true
}
