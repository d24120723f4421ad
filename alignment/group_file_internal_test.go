package alignment

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullGroup sets every field a group line holds, non-finite numbers
// included.
func fullGroup() Group {
	resp := Response{Text: "answer \"quoted\" <b>\u2028", Source: "model/a", FinishReason: "length", Tokens: 7,
		LogProb: math.Inf(-1), HasLogProb: true,
		TokenLogProbs: []TokenLogProb{{Token: "answer", LogProb: -0.25, Top: []TokenLogProb{{Token: "reply", LogProb: -1.5}}}},
		Revisions:     []Revision{{Refiner: "critic", Principle: "be brief", Critique: "too long", Text: "answer", Failed: true}}}
	revised := resp.Clone()
	revised.Text = "revised"
	return Group{
		Prompt:    Prompt{ID: "p\n1", Messages: []Message{{Role: RoleSystem, Content: "sys"}, {Role: RoleUser, Content: "q"}}},
		Iteration: 3,
		Responses: []Scored{
			{Response: revised, Unrefined: resp, Score: 0.1 + 0.2, Judgments: []Judgment{
				{Score: 1e-300, Aspects: map[string]float64{"help": math.NaN(), "harm": math.Inf(1), "len": -0}, Rationale: "why", Samples: []float64{1, 2.5}, Unparsed: 2},
				{Score: 3},
			}},
			{Response: resp, Unrefined: resp, Score: -1e21},
		},
	}
}

func TestGroupLineRoundTrip(t *testing.T) {
	// A field added to one of these types must be added to the groups
	// file too, or a resumed run would train on less than an
	// uninterrupted one.
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[Group](): 3, reflect.TypeFor[Scored](): 4, reflect.TypeFor[Response](): 8,
		reflect.TypeFor[Judgment](): 5, reflect.TypeFor[TokenLogProb](): 3, reflect.TypeFor[Revision](): 5,
		reflect.TypeFor[Prompt](): 2, reflect.TypeFor[Message](): 2,
	} {
		assert.Equal(t, n, typ.NumField(), "fields of %v", typ)
	}
	g := fullGroup()
	line, err := encodeGroup(nil, &g)
	require.NoError(t, err)
	require.True(t, bytes.HasSuffix(line, []byte("\n")))
	assert.Equal(t, 1, bytes.Count(line, []byte("\n")), "one line")
	assert.Contains(t, string(line), `"help":"NaN"`)
	assert.Contains(t, string(line), `"logprob":"-Inf"`)
	assert.Contains(t, string(line), `<b>`, "no HTML escaping")
	var got []Group
	for g, err := range ReadGroups(bytes.NewReader(append(line, line...))) {
		require.NoError(t, err)
		got = append(got, g)
	}
	require.Len(t, got, 2)
	again, err := encodeGroup(nil, &got[0])
	require.NoError(t, err)
	assert.Equal(t, string(line), string(again))
	// NaN is not equal to itself: compare the rest field by field.
	nan := got[0].Responses[0].Judgments[0].Aspects["help"]
	assert.True(t, math.IsNaN(nan))
	delete(got[0].Responses[0].Judgments[0].Aspects, "help")
	delete(g.Responses[0].Judgments[0].Aspects, "help")
	assert.Equal(t, g, got[0])
	assert.Equal(t, got[1].Responses[1].Response, got[1].Responses[1].Unrefined, "an unrefined response equal to the response is not repeated")
}

func TestReadGroupsErrors(t *testing.T) {
	good := `{"prompt":{"id":"a","messages":null},"iteration":0,"responses":[{"text":"x","score":1}]}`
	tests := []struct{ name, in, want string }{
		{"torn", good, "line 1: line has no newline"},
		{"not json", "{\n", "line 1: not a group"},
		{"unknown field", `{"prompt":{"id":"a"},"extra":1}` + "\n", `line 1: not a group: json: unknown field "extra"`},
		{"no prompt", `{"iteration":0}` + "\n", "line 1: group without a \"prompt\""},
		{"negative iteration", `{"prompt":{"id":"a"},"iteration":-1}` + "\n", "line 1: group of iteration -1"},
		{"bad score", `{"prompt":{"id":"a"},"responses":[{"score":"high"}]}` + "\n", `line 1: not a group: "high" is not a number, "NaN", "+Inf" or "-Inf"`},
		{"two values", good + " {}\n", "line 1: not a group: more than one JSON value"},
		{"second line", good + "\n[]\n", "line 2: not a group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for _, e := range ReadGroups(strings.NewReader(tt.in)) {
				if e != nil {
					err = e
				}
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			if tt.name == "torn" {
				assert.ErrorIs(t, err, ErrTorn)
			} else {
				assert.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
}

// Whatever a line holds, reading it never panics, and a line that reads
// as a group encodes to a line that reads back to the same encoding.
func FuzzReadGroups(f *testing.F) {
	g := fullGroup()
	line, err := encodeGroup(nil, &g)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(line)
	f.Add([]byte(`{"prompt":{"id":"a","messages":[{"role":"user","content":"q"}]},"responses":[{"text":"x","score":"+Inf","unrefined":{"text":"y"}}]}` + "\n"))
	f.Add([]byte("{}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for g, err := range ReadGroups(bytes.NewReader(data)) {
			if err != nil {
				return
			}
			once, err := encodeGroup(nil, &g)
			if err != nil {
				t.Fatalf("a group read from a line does not encode: %v", err)
			}
			var back Group
			for b, err := range ReadGroups(bytes.NewReader(once)) {
				if err != nil {
					t.Fatalf("%s does not read back: %v", once, err)
				}
				back = b
			}
			twice, err := encodeGroup(nil, &back)
			if err != nil || !bytes.Equal(once, twice) {
				t.Fatalf("encodings differ:\n%s\n%s", once, twice)
			}
		}
	})
}
