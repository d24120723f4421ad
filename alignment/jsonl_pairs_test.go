package alignment

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// textPairs are pairs whose responses carry only what a preference file
// keeps, so that they survive a round trip unchanged.
func textPairs() []Pair {
	chat := Prompt{ID: "chat-1", Messages: []Message{
		{Role: RoleSystem, Content: "You are terse."},
		{Role: RoleUser, Content: "Capital of France?"},
		{Role: RoleAssistant, Content: "Paris."},
		{Role: RoleUser, Content: "And of Japan? 日本"},
	}}
	return []Pair{
		{Prompt: NewPrompt("p1", "Name a prime number."), Chosen: Response{Text: "2 is prime."}, Rejected: Response{Text: "9"},
			ScoreChosen: 4.5, ScoreRejected: 1, Source: "self-rewarding"},
		{Prompt: chat, Chosen: Response{Text: "Tokyo (東京)."}, Rejected: Response{Text: "Kyoto, \"I think\"\n\t— maybe"},
			ScoreChosen: 0.875, ScoreRejected: -1e-7, Iteration: 2, Source: "rl-cai"},
		{Prompt: Prompt{ID: "sys-only-user", Messages: []Message{{Role: RoleSystem, Content: "Rules."}, {Role: RoleUser, Content: "<b>&</b>"}}},
			Chosen: Response{Text: ""}, Rejected: Response{Text: "\u2028"}, ScoreChosen: 3, ScoreRejected: 3, Iteration: 1},
	}
}

func encodePairs(t testing.TB, ps []Pair, kto bool) []byte {
	var b []byte
	for i := range ps {
		var err error
		if kto {
			b, err = appendKTO(b, &ps[i])
		} else {
			b, err = appendPair(b, &ps[i])
		}
		require.NoError(t, err)
	}
	return b
}

func readAll(r *bytes.Reader) ([]Pair, error) {
	var out []Pair
	for p, err := range ReadPairs(r) {
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func TestPairsGolden(t *testing.T) {
	for _, tt := range []struct {
		file string
		kto  bool
	}{{"testdata/pairs.jsonl", false}, {"testdata/pairs_kto.jsonl", true}} {
		got := encodePairs(t, textPairs(), tt.kto)
		if *update {
			require.NoError(t, os.WriteFile(tt.file, got, 0o644))
		}
		want, err := os.ReadFile(tt.file)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), tt.file)

		back, err := readAll(bytes.NewReader(want))
		require.NoError(t, err)
		assert.Equal(t, textPairs(), back, "%s reads back", tt.file)
	}
}

// The hand-written encoder must write exactly what encoding/json writes for
// the same fields in the same order.
type (
	refStandard struct {
		Prompt        string  `json:"prompt"`
		Chosen        string  `json:"chosen"`
		Rejected      string  `json:"rejected"`
		PromptID      string  `json:"prompt_id"`
		Iteration     int     `json:"iteration"`
		ScoreChosen   float64 `json:"score_chosen"`
		ScoreRejected float64 `json:"score_rejected"`
		Source        string  `json:"source"`
	}
	refChat struct {
		Prompt        []Message `json:"prompt"`
		Chosen        []Message `json:"chosen"`
		Rejected      []Message `json:"rejected"`
		PromptID      string    `json:"prompt_id"`
		Iteration     int       `json:"iteration"`
		ScoreChosen   float64   `json:"score_chosen"`
		ScoreRejected float64   `json:"score_rejected"`
		Source        string    `json:"source"`
	}
	refKTO struct {
		Prompt     any     `json:"prompt"`
		Completion any     `json:"completion"`
		Label      bool    `json:"label"`
		PromptID   string  `json:"prompt_id"`
		Iteration  int     `json:"iteration"`
		Score      float64 `json:"score"`
		Source     string  `json:"source"`
	}
)

func referenceLines(t testing.TB, p Pair, kto bool) string {
	chat := isChat(p.Prompt)
	assistant := func(s string) []Message { return []Message{{Role: RoleAssistant, Content: s}} }
	if kto {
		var prompt, c, r any = p.Prompt.Messages, assistant(p.Chosen.Text), assistant(p.Rejected.Text)
		if !chat {
			prompt, c, r = p.Prompt.Messages[0].Content, p.Chosen.Text, p.Rejected.Text
		}
		return jsonRef(t, refKTO{prompt, c, true, p.Prompt.ID, p.Iteration, p.ScoreChosen, p.Source}) + "\n" +
			jsonRef(t, refKTO{prompt, r, false, p.Prompt.ID, p.Iteration, p.ScoreRejected, p.Source}) + "\n"
	}
	if chat {
		return jsonRef(t, refChat{p.Prompt.Messages, assistant(p.Chosen.Text), assistant(p.Rejected.Text), p.Prompt.ID, p.Iteration, p.ScoreChosen, p.ScoreRejected, p.Source}) + "\n"
	}
	return jsonRef(t, refStandard{p.Prompt.Messages[0].Content, p.Chosen.Text, p.Rejected.Text, p.Prompt.ID, p.Iteration, p.ScoreChosen, p.ScoreRejected, p.Source}) + "\n"
}

func TestPairsMatchEncodingJSON(t *testing.T) {
	for _, kto := range []bool{false, true} {
		for _, p := range textPairs() {
			assert.Equal(t, referenceLines(t, p, kto), string(encodePairs(t, []Pair{p}, kto)))
		}
	}
}

func TestAppendPairRejects(t *testing.T) {
	base := textPairs()[0]
	tests := []struct {
		name   string
		modify func(*Pair)
		want   string
	}{
		{"NaN chosen score", func(p *Pair) { p.ScoreChosen = math.NaN() }, "score_chosen is NaN"},
		{"Inf rejected score", func(p *Pair) { p.ScoreRejected = math.Inf(-1) }, "score_rejected is -Inf"},
		{"no messages", func(p *Pair) { p.Prompt.Messages = nil }, "has no messages"},
		{"unknown role", func(p *Pair) { p.Prompt.Messages = []Message{{Role: "tool", Content: "x"}} }, `role "tool"`},
		{"negative iteration", func(p *Pair) { p.Iteration = -1 }, "iteration -1 < 0"},
	}
	for _, tt := range tests {
		for _, kto := range []bool{false, true} {
			p := base
			p.Prompt = p.Prompt.Clone()
			tt.modify(&p)
			b := []byte("kept")
			var err error
			if kto {
				b, err = appendKTO(b, &p)
			} else {
				b, err = appendPair(b, &p)
			}
			assert.ErrorIs(t, err, ErrInvalid, tt.name)
			assert.ErrorContains(t, err, tt.want, tt.name)
			assert.Equal(t, "kept", string(b), "%s: nothing appended", tt.name)
		}
	}
}

func TestReadPairsErrors(t *testing.T) {
	std := `{"prompt":"q","chosen":"a","rejected":"b","prompt_id":"p","iteration":0}` + "\n"
	yes := `{"prompt":"q","completion":"a","label":true,"prompt_id":"p","iteration":0,"score":1}` + "\n"
	no := `{"prompt":"q","completion":"b","label":false,"prompt_id":"p","iteration":0,"score":0}` + "\n"
	tests := []struct {
		name  string
		in    string
		pairs int // read before the error
		line  int
		torn  bool
		want  string
	}{
		{"torn last line", std + std[:30], 1, 2, true, "line has no newline"},
		{"valid but unterminated", std + strings.TrimSuffix(std, "\n"), 1, 2, true, "no newline"},
		{"bad JSON", std + "{\n", 1, 2, false, "invalid JSON object"},
		{"missing prompt", `{"chosen":"a","rejected":"b"}` + "\n", 0, 1, false, `missing "prompt"`},
		{"missing rejected", `{"prompt":"q","chosen":"a"}` + "\n", 0, 1, false, `missing "rejected"`},
		{"neither", `{"prompt":"q"}` + "\n", 0, 1, false, "neither"},
		{"both", `{"prompt":"q","chosen":"a","rejected":"b","label":true}` + "\n", 0, 1, false, "both"},
		{"list chosen with string prompt", `{"prompt":"q","chosen":[{"role":"assistant","content":"a"}],"rejected":"b"}` + "\n", 0, 1, false, `"chosen" must be a string`},
		{"string chosen with chat prompt", `{"prompt":[{"role":"user","content":"q"}],"chosen":"a","rejected":[]}` + "\n", 0, 1, false, `"chosen" must be a list`},
		{"two-message chosen", `{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}],"rejected":[{"role":"assistant","content":"b"}]}` + "\n", 0, 1, false, "exactly one assistant message, has 2"},
		{"user chosen", `{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"user","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}` + "\n", 0, 1, false, "exactly one assistant message"},
		{"bad role", `{"prompt":[{"role":"robot","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}` + "\n", 0, 1, false, `role "robot"`},
		{"empty prompt list", `{"prompt":[],"chosen":[],"rejected":[]}` + "\n", 0, 1, false, "prompt has no messages"},
		{"fractional iteration", `{"prompt":"q","chosen":"a","rejected":"b","iteration":1.5}` + "\n", 0, 1, false, "invalid JSON object"},
		{"negative iteration", `{"prompt":"q","chosen":"a","rejected":"b","iteration":-2}` + "\n", 0, 1, false, "iteration -2 < 0"},
		{"string score", `{"prompt":"q","chosen":"a","rejected":"b","score_chosen":"1"}` + "\n", 0, 1, false, "invalid JSON object"},
		{"null score", std + `{"prompt":"q","chosen":"a","rejected":"b","score_chosen":null}` + "\n" + "{", 2, 3, true, "no newline"},
		{"missing label", `{"prompt":"q","completion":"a"}` + "\n", 0, 1, false, `missing "label"`},
		{"rejected row first", no, 0, 1, false, "no chosen row before it"},
		{"chosen row twice", yes + yes, 0, 2, false, "row with label true after the one of line 1"},
		{"chosen row at the end", std + yes, 1, 2, false, "has no rejected row after it"},
		{"paired row inside a KTO pair", yes + std, 0, 2, false, "paired row after the unpaired row of line 1"},
		{"mismatched KTO rows", yes + strings.Replace(no, `"p"`, `"other"`, 1), 0, 2, false, "not about the prompt of the chosen row on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(bytes.NewReader([]byte(tt.in)))
			assert.Len(t, got, tt.pairs)
			var le *LineError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tt.line, le.Line)
			if tt.torn {
				assert.ErrorIs(t, err, ErrTorn)
				assert.Equal(t, int64(strings.LastIndexByte(tt.in, '\n')+1), le.Offset, "offset of the torn line")
			} else {
				assert.ErrorIs(t, err, ErrInvalid)
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestReadPairsLenient(t *testing.T) {
	// A TRL dataset without our fields, with blank lines and extra columns.
	in := "\n" + `{"prompt":"q","chosen":"a","rejected":"b","extra":[1,2]}` + "\n  \n" +
		`{"prompt":"q","completion":"a","label":true}` + "\n" + `{"prompt":"q","completion":"b","label":false}` + "\n"
	got, err := readAll(bytes.NewReader([]byte(in)))
	require.NoError(t, err)
	want := Pair{Prompt: NewPrompt("", "q"), Chosen: Response{Text: "a"}, Rejected: Response{Text: "b"}}
	assert.Equal(t, []Pair{want, want}, got)
}

func TestReadPairsStopsEarly(t *testing.T) {
	in := encodePairs(t, textPairs(), false)
	n := 0
	for _, err := range ReadPairs(bytes.NewReader(in)) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
}

func FuzzReadPairs(f *testing.F) {
	f.Add(encodePairs(f, textPairs(), false))
	f.Add(encodePairs(f, textPairs(), true))
	f.Add([]byte(`{"prompt":"q","chosen":"a","rejected":"b"}` + "\n" + `{"prompt":"q","chosen":"a"`))
	f.Add([]byte(`{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"a"}],"label":true}` + "\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Pair
		for p, err := range ReadPairs(bytes.NewReader(data)) {
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTorn)) {
					t.Fatalf("error %v is not a LineError wrapping ErrInvalid or ErrTorn", err)
				}
				if le.Line < 1 || le.Offset < 0 || le.Offset > int64(len(data)) {
					t.Fatalf("error %v has line %d, offset %d", err, le.Line, le.Offset)
				}
				break
			}
			got = append(got, p)
		}
		// Whatever reads back must write and read back the same, in both
		// formats.
		for _, kto := range []bool{false, true} {
			var b []byte
			for i := range got {
				var err error
				if kto {
					b, err = appendKTO(b, &got[i])
				} else {
					b, err = appendPair(b, &got[i])
				}
				if err != nil {
					t.Fatalf("pair %+v read back cannot be written: %v", got[i], err)
				}
			}
			again, err := readAll(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("re-reading %s: %v", b, err)
			}
			if len(got) == 0 && len(again) == 0 {
				continue
			}
			if !assert.ObjectsAreEqual(got, again) {
				t.Fatalf("round trip changed %+v into %+v", got, again)
			}
		}
	})
}

// BenchmarkEncodePair compares the hand-written encoder with encoding/json
// writing the same line into a reused buffer.
func BenchmarkEncodePair(b *testing.B) {
	p := benchPair(1)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendPair(buf[:0], &p)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			if err := e.Encode(refStandard{p.Prompt.Messages[0].Content, p.Chosen.Text, p.Rejected.Text, p.Prompt.ID, p.Iteration, p.ScoreChosen, p.ScoreRejected, p.Source}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}
