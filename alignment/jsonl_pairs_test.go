package alignment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
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
			ScoreChosen: 4.5, ScoreRejected: 1, Scored: true, Source: "self-rewarding"},
		{Prompt: chat, Chosen: Response{Text: "Tokyo (東京)."}, Rejected: Response{Text: "Kyoto, \"I think\"\n\t— maybe"},
			ScoreChosen: 0.875, ScoreRejected: -1e-7, Scored: true, Iteration: 2, Source: "rl-cai"},
		{Prompt: Prompt{ID: "sys-only-user", Messages: []Message{{Role: RoleSystem, Content: "Rules."}, {Role: RoleUser, Content: "<b>&</b>"}}},
			Chosen: Response{Text: ""}, Rejected: Response{Text: "\u2028"}, Iteration: 1, Source: "sl-cai"},
	}
}

// singleTurn are pairs whose prompts the standard form can hold.
func singleTurn() []Pair {
	return []Pair{
		{Prompt: NewPrompt("p1", "Name a prime number."), Chosen: Response{Text: "2 is prime."}, Rejected: Response{Text: "9"},
			ScoreChosen: 4.5, ScoreRejected: 1, Scored: true, Source: "self-rewarding"},
		{Prompt: NewPrompt("p2", "Say \"hi\" — 日本"), Chosen: Response{Text: "hi"}, Rejected: Response{Text: ""}, Iteration: 3, Source: "sl-cai"},
	}
}

// encodePairs encodes ps in the order given, KTO rows of a pair next to
// each other.
func encodePairs(t testing.TB, ps []Pair, kto, std bool) []byte {
	var b []byte
	for i := range ps {
		var err error
		if kto {
			b, _, err = appendKTO(b, &ps[i], std)
		} else {
			b, err = appendPair(b, &ps[i], std)
		}
		require.NoError(t, err)
	}
	return b
}

// encodeBlock encodes ps as a JSONL sink writes them in one flush, without
// a file.
func encodeBlock(t testing.TB, ps []Pair, o JSONLOptions) []byte {
	if !o.KTO {
		return encodePairs(t, ps, false, o.Standard)
	}
	var k ktoRows
	for i := range ps {
		require.NoError(t, k.add(&ps[i], o.Standard))
	}
	return k.order(nil)
}

// sinkBytes writes ps through a JSONL sink in one Write and returns the
// file.
func sinkBytes(t testing.TB, ps []Pair, o *JSONLOptions) []byte {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	s, err := CreateJSONL(path, o)
	require.NoError(t, err)
	require.NoError(t, s.Write(context.Background(), ps))
	require.NoError(t, s.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
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
		file  string
		pairs []Pair
		o     JSONLOptions
	}{
		{"testdata/pairs.jsonl", textPairs(), JSONLOptions{}},
		{"testdata/pairs_kto.jsonl", textPairs(), JSONLOptions{KTO: true}},
		{"testdata/pairs_standard.jsonl", singleTurn(), JSONLOptions{Standard: true}},
		{"testdata/pairs_standard_kto.jsonl", singleTurn(), JSONLOptions{Standard: true, KTO: true}},
	} {
		got := sinkBytes(t, tt.pairs, &tt.o)
		if *update {
			require.NoError(t, os.WriteFile(tt.file, got, 0o644))
		}
		want, err := os.ReadFile(tt.file)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), tt.file)

		back, err := readAll(bytes.NewReader(want))
		require.NoError(t, err)
		assert.Equal(t, tt.pairs, back, "%s reads back", tt.file)
	}
}

// TRL takes a file's form from its first row (is_conversational in
// trl/data_utils.py), and renders only the conversational form through the
// chat template (maybe_apply_chat_template); so every row of a file must
// be in one form, the conversational one unless Standard is asked for,
// whatever the prompts.
func TestPairsOneFormPerFile(t *testing.T) {
	conversational := func(line string) bool {
		var row map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(line), &row))
		for _, f := range []string{"prompt", "chosen", "rejected", "completion"} {
			if v, ok := row[f]; ok && v[0] != '[' {
				return false
			}
		}
		return true
	}
	for _, kto := range []bool{false, true} {
		data := sinkBytes(t, textPairs(), &JSONLOptions{KTO: kto})
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		require.Len(t, lines, 3*map[bool]int{false: 1, true: 2}[kto])
		for i, l := range lines {
			assert.True(t, conversational(l), "kto=%v: line %d of a default file is conversational: %s", kto, i+1, l)
		}
	}
	std := sinkBytes(t, singleTurn(), &JSONLOptions{Standard: true})
	for l := range strings.Lines(string(std)) {
		assert.False(t, conversational(l), "Standard writes strings: %s", l)
	}

	// The standard form cannot hold a multi-turn or system prompt: it is
	// refused, never written in the other form.
	s, err := CreateJSONL(filepath.Join(t.TempDir(), "std.jsonl"), &JSONLOptions{Standard: true})
	require.NoError(t, err)
	err = s.Write(t.Context(), textPairs())
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, `pair 1: prompt "chat-1" has 4 messages (system, user, assistant, user), but the standard form holds one user message`)
	require.NoError(t, s.Close())

	// A file mixing the forms, as the sink wrote them before, is refused
	// naming both lines.
	mixed := append(encodePairs(t, textPairs()[:1], false, true), encodePairs(t, textPairs()[1:2], false, false)...)
	_, err = readAll(bytes.NewReader(mixed))
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 2, le.Line)
	assert.ErrorContains(t, err, "row in the conversational (message list) form after line 1's row in the standard (string) form")
}

// Score columns hold only judge scores: a pair no judge scored has none,
// and reads back unscored; scores on an unscored pair are refused rather
// than dropped.
// A soft label (Pair.Prob, RL-CAI's comparer probability) survives the
// file in both kinds, and a file cannot carry one that is not a
// probability, or two different ones for the rows of one KTO pair.
func TestPairsSoftLabel(t *testing.T) {
	for _, o := range []JSONLOptions{{}, {KTO: true}} {
		p := textPairs()[0]
		p.Prob = 0.62
		data := sinkBytes(t, []Pair{p}, &o)
		assert.Contains(t, string(data), `"chosen_prob":0.62`, "kto=%v", o.KTO)
		back, err := readAll(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, []Pair{p}, back, "kto=%v", o.KTO)
	}
	std := `{"prompt":"q","chosen":"a","rejected":"b"`
	for _, tt := range []struct{ in, want string }{
		{std + `,"chosen_prob":0}`, `"chosen_prob" is 0, want a probability in (0, 1]`},
		{std + `,"chosen_prob":1.2}`, `"chosen_prob" is 1.2`},
		{`{"prompt":"q","completion":"a","label":true,"chosen_prob":0.6}` + "\n" + `{"prompt":"q","completion":"b","label":false,"chosen_prob":0.7}`, `has "chosen_prob" 0.7 but its partner on line 1 has 0.6`},
	} {
		_, err := readAll(bytes.NewReader([]byte(tt.in + "\n")))
		assert.ErrorIs(t, err, ErrInvalid, tt.in)
		assert.ErrorContains(t, err, tt.want, tt.in)
	}
}

func TestPairsScoreColumns(t *testing.T) {
	for _, o := range []JSONLOptions{{}, {KTO: true}} {
		unscored := textPairs()[2]
		data := sinkBytes(t, []Pair{unscored}, &o)
		assert.NotContains(t, string(data), "score", "kto=%v", o.KTO)
		back, err := readAll(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, []Pair{unscored}, back)

		scored := textPairs()[0]
		data = sinkBytes(t, []Pair{scored}, &o)
		back, err = readAll(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, []Pair{scored}, back)
	}
	std := `{"prompt":"q","chosen":"a","rejected":"b"`
	for _, tt := range []struct {
		in   string
		want string
	}{
		{std + `,"score_chosen":1}`, `only one of "score_chosen" and "score_rejected"`},
		{std + `,"score_rejected":1}`, `only one of "score_chosen" and "score_rejected"`},
		{`{"prompt":"q","completion":"a","label":true,"score":1}` + "\n" + `{"prompt":"q","completion":"b","label":false}`, `row has no "score" but its partner on line 1 has one`},
	} {
		_, err := readAll(bytes.NewReader([]byte(tt.in + "\n")))
		assert.ErrorIs(t, err, ErrInvalid, tt.in)
		assert.ErrorContains(t, err, tt.want, tt.in)
	}
}

// The hand-written encoder must write exactly what encoding/json writes for
// the same fields in the same order.
type (
	refPaired struct {
		Prompt        any      `json:"prompt"`
		Chosen        any      `json:"chosen"`
		Rejected      any      `json:"rejected"`
		PromptID      string   `json:"prompt_id"`
		Iteration     int      `json:"iteration"`
		ChosenProb    *float64 `json:"chosen_prob,omitempty"`
		ScoreChosen   *float64 `json:"score_chosen,omitempty"`
		ScoreRejected *float64 `json:"score_rejected,omitempty"`
		Source        string   `json:"source"`
	}
	refKTO struct {
		Prompt     any      `json:"prompt"`
		Completion any      `json:"completion"`
		Label      bool     `json:"label"`
		PromptID   string   `json:"prompt_id"`
		Iteration  int      `json:"iteration"`
		ChosenProb *float64 `json:"chosen_prob,omitempty"`
		Score      *float64 `json:"score,omitempty"`
		Source     string   `json:"source"`
	}
)

func referenceLines(t testing.TB, p Pair, kto, std bool) string {
	assistant := func(s string) []Message { return []Message{{Role: RoleAssistant, Content: s}} }
	var prompt, c, r any = p.Prompt.Messages, assistant(p.Chosen.Text), assistant(p.Rejected.Text)
	if std {
		prompt, c, r = p.Prompt.Messages[0].Content, p.Chosen.Text, p.Rejected.Text
	}
	var sc, sr *float64
	if p.Scored {
		sc, sr = &p.ScoreChosen, &p.ScoreRejected
	}
	var prob *float64
	if p.Prob != 0 {
		prob = &p.Prob
	}
	if kto {
		return jsonRef(t, refKTO{prompt, c, true, p.Prompt.ID, p.Iteration, prob, sc, p.Source}) + "\n" +
			jsonRef(t, refKTO{prompt, r, false, p.Prompt.ID, p.Iteration, prob, sr, p.Source}) + "\n"
	}
	return jsonRef(t, refPaired{prompt, c, r, p.Prompt.ID, p.Iteration, prob, sc, sr, p.Source}) + "\n"
}

func TestPairsMatchEncodingJSON(t *testing.T) {
	soft := textPairs()[0]
	soft.Prob = 0.73
	for _, kto := range []bool{false, true} {
		for _, p := range append(textPairs(), soft) {
			assert.Equal(t, referenceLines(t, p, kto, false), string(encodePairs(t, []Pair{p}, kto, false)))
		}
		for _, p := range singleTurn() {
			assert.Equal(t, referenceLines(t, p, kto, true), string(encodePairs(t, []Pair{p}, kto, true)))
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
		{"scores on an unscored pair", func(p *Pair) { p.Scored = false }, "scores 4.5 and 1 are set but Scored is false"},
		{"soft label above 1", func(p *Pair) { p.Prob = 1.5 }, "chosen_prob (Pair.Prob) is 1.5"},
		{"NaN soft label", func(p *Pair) { p.Prob = math.NaN() }, "chosen_prob (Pair.Prob) is NaN"},
	}
	for _, tt := range tests {
		for _, kto := range []bool{false, true} {
			p := base
			p.Prompt = p.Prompt.Clone()
			tt.modify(&p)
			b := []byte("kept")
			var err error
			if kto {
				b, _, err = appendKTO(b, &p, false)
			} else {
				b, err = appendPair(b, &p, false)
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
		{"rejected row alone", no, 0, 1, false, `unpaired row with label false has no row with label true for the same prompt_id "p"`},
		{"chosen row twice", yes + yes + no, 1, 2, false, "unpaired row with label true has no row with label false"},
		{"KTO row after a paired row", std + yes, 1, 2, false, "unpaired (completion/label) row after line 1's paired (chosen/rejected) row"},
		{"paired row after a KTO row", yes + std, 0, 2, false, "paired (chosen/rejected) row after line 1's unpaired (completion/label) row"},
		{"mismatched KTO rows", yes + strings.Replace(no, `"p"`, `"other"`, 1), 0, 1, false, `label true has no row with label false for the same prompt_id "p"`},
		{"JSON array", `[{"prompt":"q","chosen":"a","rejected":"b"}]` + "\n", 0, 1, false, "this is a JSON array, not JSON Lines"},
		{"pretty-printed JSON array", "[\n" + `{"prompt":"q","chosen":"a","rejected":"b"},` + "\n]\n", 0, 1, false, "this is a JSON array, not JSON Lines"},
		{"fractional iteration names no Go type", `{"prompt":"q","chosen":"a","rejected":"b","iteration":1.5}` + "\n", 0, 1, false, `"iteration" is number 1.5, want an integer`},
		{"content not a string", `{"prompt":[{"role":"user","content":5}],"chosen":[],"rejected":[]}` + "\n", 0, 1, false, `prompt: message 0: "content" is a number, want a string`},
		{"implicit prompt, nothing shared", `{"chosen":"a","rejected":"b"}` + "\n", 0, 1, false, `missing "prompt", and "chosen" and "rejected" share no prefix`},
		{"implicit prompt, no difference", `{"chosen":"same","rejected":"same"}` + "\n", 0, 1, false, "starts with the whole other"},
		{"implicit prompt, two turns left", `{"chosen":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},{"role":"user","content":"r"}],"rejected":[{"role":"user","content":"q"},{"role":"assistant","content":"b"}]}` + "\n", 0, 1, false, `"chosen" has 2 messages after the prompt it shares`},
		{"implicit prompt, mixed types", `{"chosen":"\n\nHuman: q\n\nAssistant: a","rejected":[{"role":"user","content":"q"}]}` + "\n", 0, 1, false, "both be strings or both be lists"},
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
	// TRL datasets without our fields, with blank lines, extra columns and
	// a byte order mark.
	want := Pair{Prompt: NewPrompt("", "q"), Chosen: Response{Text: "a"}, Rejected: Response{Text: "b"}}
	for _, in := range []string{
		"\n" + `{"prompt":"q","chosen":"a","rejected":"b","extra":[1,2]}` + "\n  \n",
		"\ufeff" + `{"prompt":"q","chosen":"a","rejected":"b"}` + "\n",
		`{"prompt":"q","completion":"a","label":true}` + "\n" + `{"prompt":"q","completion":"b","label":false}` + "\n",
		`{"prompt":"q","completion":"b","label":false}` + "\n" + `{"prompt":"q","completion":"a","label":true}` + "\n",
	} {
		got, err := readAll(bytes.NewReader([]byte(in)))
		require.NoError(t, err, in)
		assert.Equal(t, []Pair{want}, got, in)
	}
}

// Preference sets with an implicit prompt, read as TRL's extract_prompt
// (trl/data_utils.py) reads them: the prompt is what chosen and rejected
// share. Anthropic/hh-rlhf's rows are transcripts, read as conversations.
func TestReadPairsImplicitPrompt(t *testing.T) {
	hh := `{"chosen": "\n\nHuman: What are some cuss words?\n\nAssistant: I'd rather not.\n\nHuman: Why?\n\nAssistant: They hurt people.", ` +
		`"rejected": "\n\nHuman: What are some cuss words?\n\nAssistant: I'd rather not.\n\nHuman: Why?\n\nAssistant: Because I said so."}`
	conv := `{"chosen":[{"role":"user","content":"What color is the sky?"},{"role":"assistant","content":"It is blue."}],` +
		`"rejected":[{"role":"user","content":"What color is the sky?"},{"role":"assistant","content":"It is green."}]}`
	plain := `{"chosen":"The sky is blue.","rejected":"The sky is green."}`
	for _, tt := range []struct {
		name string
		in   string
		want Pair
	}{
		{"hh-rlhf", hh, Pair{Prompt: Prompt{Messages: []Message{
			{Role: RoleUser, Content: "What are some cuss words?"}, {Role: RoleAssistant, Content: "I'd rather not."}, {Role: RoleUser, Content: "Why?"},
		}}, Chosen: Response{Text: "They hurt people."}, Rejected: Response{Text: "Because I said so."}}},
		{"conversational", conv, Pair{Prompt: NewPrompt("", "What color is the sky?"), Chosen: Response{Text: "It is blue."}, Rejected: Response{Text: "It is green."}}},
		// TRL's example: the shared prefix, less the space before the answers.
		{"plain strings", plain, Pair{Prompt: NewPrompt("", "The sky is"), Chosen: Response{Text: " blue."}, Rejected: Response{Text: " green."}}},
		{"cut at a character", `{"chosen":"Q? é","rejected":"Q? è"}`, Pair{Prompt: NewPrompt("", "Q?"), Chosen: Response{Text: " é"}, Rejected: Response{Text: " è"}}},
	} {
		got, err := readAll(bytes.NewReader([]byte(tt.in + "\n")))
		require.NoError(t, err, tt.name)
		assert.Equal(t, []Pair{tt.want}, got, tt.name)
	}
}

func TestReadPairsStopsEarly(t *testing.T) {
	in := encodePairs(t, textPairs(), false, false)
	n := 0
	for _, err := range ReadPairs(bytes.NewReader(in)) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
}

func FuzzReadPairs(f *testing.F) {
	f.Add(encodePairs(f, textPairs(), false, false))
	f.Add(encodePairs(f, textPairs(), true, false))
	f.Add(encodePairs(f, singleTurn(), false, true))
	f.Add(encodePairs(f, singleTurn(), true, true))
	f.Add([]byte(`{"prompt":"q","chosen":"a","rejected":"b"}` + "\n" + `{"prompt":"q","chosen":"a"`))
	f.Add([]byte(`{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"a"}],"label":true}` + "\n"))
	f.Add([]byte(`{"chosen":"\n\nHuman: q\n\nAssistant: a","rejected":"\n\nHuman: q\n\nAssistant:b"}` + "\n"))
	f.Add([]byte(`{"chosen":"ab c","rejected":"ab d"}` + "\n"))
	f.Add([]byte("\ufeff[{}]\n"))
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
				if strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "alignment.") {
					t.Fatalf("error %v names a Go type", err)
				}
				got = nil
				break
			}
			got = append(got, p)
		}
		// Whatever reads back must write and read back the same through
		// the sink, in each form that can hold it.
		for _, o := range []JSONLOptions{{}, {KTO: true}, {Standard: true}, {Standard: true, KTO: true}} {
			ok := true
			for i := range got {
				if checkPair(&got[i], o.Standard) != nil {
					if !o.Standard {
						t.Fatalf("pair %+v read back cannot be written: %v", got[i], checkPair(&got[i], false))
					}
					ok = false
				}
			}
			if !ok || len(got) == 0 {
				continue
			}
			again, err := readAll(bytes.NewReader(encodeBlock(t, got, o)))
			if err != nil {
				t.Fatalf("re-reading %+v: %v", o, err)
			}
			if o.KTO {
				// Rows are reordered; pairs come back in another order.
				sortPairs(got)
				sortPairs(again)
			}
			if !assert.ObjectsAreEqual(got, again) {
				t.Fatalf("%+v: round trip changed %+v into %+v", o, got, again)
			}
		}
	})
}

// sortPairs orders pairs by their encoding.
func sortPairs(ps []Pair) {
	slices.SortStableFunc(ps, func(a, b Pair) int {
		x, _ := appendPair(nil, &a, false)
		y, _ := appendPair(nil, &b, false)
		return bytes.Compare(x, y)
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
			buf, _ = appendPair(buf[:0], &p, false)
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
			if err := e.Encode(refPaired{p.Prompt.Messages, []Message{{Role: RoleAssistant, Content: p.Chosen.Text}}, []Message{{Role: RoleAssistant, Content: p.Rejected.Text}},
				p.Prompt.ID, p.Iteration, nil, &p.ScoreChosen, &p.ScoreRejected, p.Source}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}
