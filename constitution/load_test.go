package constitution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadFileFormatsAgree(t *testing.T) {
	fromJSON, err := LoadFile("testdata/small.json")
	require.NoError(t, err)
	fromMD, err := LoadFile("testdata/small.md")
	require.NoError(t, err)
	assert.Equal(t, fromJSON.Principles(), fromMD.Principles())
	require.Equal(t, 2, fromJSON.Len())
	p, ok := fromJSON.Principle("helpful-steps")
	require.True(t, ok)
	assert.Equal(t, "Which steps of the task\ndoes the reply skip?", p.Critique)
	p, ok = fromJSON.Principle("honest-limits")
	require.True(t, ok)
	require.Len(t, p.Examples, 1)
	assert.Equal(t, "Yes, it will rain all day.", p.Examples[0].Response)
}

func TestLoadFileErrors(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{\"principles\": []}"), 0o600))
	_, err = LoadFile(bad)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Equal(t, "constitution: "+bad+":1:16: principles: no principles", err.Error())
}

func TestLoadJSONErrors(t *testing.T) {
	valid := `{"id": "a", "critique": "c", "revision": "r", "comparison": "q"}`
	tests := []struct {
		name, in string
		want     []string // every error message expected, in order
	}{
		{"empty input", "  \n", []string{"constitution: 1:1: empty input"}},
		{"syntax", "{\n  \"principles\": [\n    {\"id\" \"a\"}\n  ]\n}", []string{
			"constitution: 3:11: invalid character '\"' after object key"}},
		{"unexpected end", "{\"principles\": [" + valid, []string{
			"constitution: 1:81: principles: unexpected end of input"}},
		{"not an object", `["x"]`, []string{
			`constitution: 1:1: expected a JSON object with a "principles" list, found a list`}},
		{"missing principles", `{}`, []string{"constitution: 1:1: principles: missing"}},
		{"principles not a list", `{"principles": {}}`, []string{
			"constitution: 1:16: principles: expected a list of principles, found an object"}},
		{"no principles", `{"principles": []}`, []string{"constitution: 1:16: principles: no principles"}},
		{"unknown top field", `{"principle": []}`, []string{
			`constitution: 1:2: principle: unknown field (want "principles")`}},
		{"unknown principle field", "{\"principles\": [\n{\"id\": \"a\", \"critque\": \"c\"}]}", []string{
			"constitution: 2:13: principles[0].critque: unknown field (want id, critique, revision, comparison or examples)"}},
		{"repeated key", `{"principles": [{"id": "a", "id": "b"}]}`, []string{
			"constitution: 1:29: principles[0].id: repeated key"}},
		{"wrong type", `{"principles": [{"id": 7}]}`, []string{
			"constitution: 1:24: principles[0].id: expected a string, found a number"}},
		{"principle not an object", `{"principles": ["a"]}`, []string{
			"constitution: 1:17: principles[0]: expected a principle object, found a string"}},
		{"trailing data", "{\"principles\": [" + valid + "]}\n{}", []string{
			"constitution: 2:1: unexpected text after the constitution"}},
		{"empty and missing fields", "{\"principles\": [\n  {\"id\": \"a\", \"critique\": \" \", \"revision\": \"r\"}\n]}", []string{
			"constitution: 2:27: principles[0].critique: empty",
			"constitution: 2:3: principles[0].comparison: empty"}},
		{"duplicate ids", "{\"principles\": [\n  " + valid + ",\n  " + valid + "\n]}", []string{
			`constitution: 3:10: principles[1].id: duplicate id "a" (first at principles[0])`}},
		{"bad id", `{"principles": [{"id": "a b", "critique": "c", "revision": "r", "comparison": "q"}]}`, []string{
			`constitution: 1:24: principles[0].id: id "a b" has ' '; use letters, digits, '.', '_' and '-'`}},
		{"example fields", `{"principles": [{"id": "a", "critique": "c", "revision": "r", "comparison": "q", "examples": [{"prompt": "p", "response": "", "critique": "c"}]}]}`, []string{
			"constitution: 1:123: principles[0].examples[0].response: empty",
			"constitution: 1:95: principles[0].examples[0].revision: empty"}},
		{"unknown example field", `{"principles": [{"id": "a", "examples": [{"answer": "x"}]}]}`, []string{
			"constitution: 1:43: principles[0].examples[0].answer: unknown field (want prompt, response, critique or revision)"}},
		{"non-ASCII column", "{\"principles\": [{\"id\": \"é\", \"critique\": \"c\", \"revision\": \"r\", \"comparison\": \"q\"}]}", []string{
			`constitution: 1:24: principles[0].id: id "é" has 'é'; use letters, digits, '.', '_' and '-'`}},
		{"bad escape", `{"principles": [{"id": "\u12"}]}`, []string{
			`constitution: 1:24: invalid character '"' in \u hexadecimal character escape`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, ErrInvalid)
			var got []string
			for _, e := range unjoin(err) {
				var ce *Error
				require.ErrorAs(t, e, &ce)
				got = append(got, ce.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadJSONByteOrderMark(t *testing.T) {
	c, err := Load(strings.NewReader("\ufeff{\"principles\": [{\"id\": \"a\", \"critique\": \"c\", \"revision\": \"r\", \"comparison\": \"q\"}]}"))
	require.NoError(t, err)
	assert.Equal(t, 1, c.Len())
	_, err = Load(strings.NewReader("\ufeff{\"principles\": 1}"))
	assert.EqualError(t, err, "constitution: 1:16: principles: expected a list of principles, found a number")
}

func TestLoadTooLarge(t *testing.T) {
	_, err := Load(strings.NewReader(strings.Repeat(" ", maxInput+1)))
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "larger than")
}

func TestMarshalJSONRoundTrip(t *testing.T) {
	rule := Principle{ID: "rule", Check: alwaysPass}
	c, err := New(append(Default().Principles(), rule)...)
	require.NoError(t, err)
	data, err := json.Marshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(data), `"rule"`, "principles with checks are not serialised")
	back, err := Load(strings.NewReader(string(data)))
	require.NoError(t, err)
	assert.Equal(t, Default().Principles(), stripChecks(back.Principles()))

	rulesOnly, err := json.Marshal(Rules())
	require.NoError(t, err)
	assert.JSONEq(t, `{"principles": []}`, string(rulesOnly))
}

func TestMarkdownRoundTrip(t *testing.T) {
	c, err := LoadFile("testdata/small.json")
	require.NoError(t, err)
	back, err := LoadMarkdown(strings.NewReader(c.Markdown()))
	require.NoError(t, err)
	assert.Equal(t, c.Principles(), back.Principles())

	d := Default()
	back, err = LoadMarkdown(strings.NewReader(d.Markdown()))
	require.NoError(t, err)
	assert.Equal(t, d.Principles(), stripChecks(back.Principles()))
}

func TestMarkdownContinuation(t *testing.T) {
	in := "## a\nCritique: first line\n  second line\n\n\tafter a blank line\n\nRevision: r\ncomparison: q\n"
	c, err := LoadMarkdown(strings.NewReader(in))
	require.NoError(t, err)
	p, _ := c.Principle("a")
	assert.Equal(t, "first line\nsecond line\n\nafter a blank line", p.Critique)
	assert.Equal(t, "q", p.Comparison, "field names are case-insensitive")
}

func TestLoadMarkdownErrors(t *testing.T) {
	ok := "Critique: c\nRevision: r\nComparison: q\n"
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "# Title only\n", []string{"constitution: principles: no principles"}},
		{"text before heading", "# T\nIntro prose.\n## a\n" + ok, []string{
			`constitution: 2: text before the first "## id" heading`}},
		{"continuation without field", "## a\n  orphan\n", []string{
			"constitution: 2: indented line continues no field"}},
		{"unknown field", "## a\nCritique: c\nRevison: r\n", []string{
			"constitution: 3: principles[0].revison: unknown field (want Critique, Revision or Comparison)"}},
		{"no colon", "## a\nCritique: c\nsome prose\n", []string{
			`constitution: 3: expected a field like "Critique: …" or an indented continuation line`}},
		{"repeated field", "## a\n" + ok + "Critique: again\n", []string{
			"constitution: 5: principles[0].critique: repeated field"}},
		{"unknown heading", "## a\n" + ok + "### Notes\n", []string{
			`constitution: 5: unknown heading "Notes" (want "### Example")`}},
		{"example before principle", "### Example\n", []string{
			`constitution: 1: example before the first "## id" heading`}},
		{"title after principle", "## a\n" + ok + "# Late title\n", []string{
			`constitution: 5: title heading after the first principle (use "## id" or "### Example")`}},
		{"unknown example field", "## a\n" + ok + "### Example\nQuestion: x\n", []string{
			"constitution: 6: principles[0].examples[0].question: unknown example field (want Prompt, Response, Critique or Revision)"}},
		{"invalid UTF-8", "## a\n" + ok + "\xff\n", []string{"constitution: 5: invalid UTF-8"}},
		{"validation names lines", "## a\n" + ok + "\n## a\nCritique: c\n\n## b c\n" + ok + "### Example\nPrompt: p\n", []string{
			`constitution: 6: principles[1].id: duplicate id "a" (first at principles[0])`,
			"constitution: 6: principles[1].revision: empty",
			"constitution: 6: principles[1].comparison: empty",
			`constitution: 9: principles[2].id: id "b c" has ' '; use letters, digits, '.', '_' and '-'`,
			"constitution: 13: principles[2].examples[0].response: empty",
			"constitution: 13: principles[2].examples[0].critique: empty",
			"constitution: 13: principles[2].examples[0].revision: empty",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadMarkdown(strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, ErrInvalid)
			var got []string
			for _, e := range unjoin(err) {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// stripChecks returns ps without their Check functions, which
// assert.Equal cannot compare.
func stripChecks(ps []Principle) []Principle {
	for i := range ps {
		ps[i].Check = nil
	}
	return ps
}
