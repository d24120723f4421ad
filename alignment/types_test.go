package alignment_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/selfalign/selfalign/alignment"
)

func TestPromptText(t *testing.T) {
	chat := alignment.Prompt{ID: "c", Messages: []alignment.Message{
		{Role: alignment.RoleSystem, Content: "Be brief."},
		{Role: alignment.RoleUser, Content: "Hi"},
		{Role: alignment.RoleAssistant, Content: "Hello!"},
	}}
	assert.Equal(t, "Hi", chat.Text(), "the last user message")
	assert.Equal(t, "system: Be brief.\n\nuser: Hi\n\nassistant: Hello!", chat.Transcript())
	one := alignment.NewPrompt("o", "What is 2+2?")
	assert.Equal(t, "What is 2+2?", one.Text())
	assert.Equal(t, "What is 2+2?", one.Transcript(), "a single message is quoted as it is")
	assert.Equal(t, "", alignment.Prompt{}.Text())
	assert.Equal(t, "", alignment.Prompt{}.Transcript())
	c := chat.Clone()
	c.Messages[0].Content = "changed"
	assert.Equal(t, "Be brief.", chat.Messages[0].Content, "Clone copies the messages")
}

func TestResponseLength(t *testing.T) {
	assert.Equal(t, 3, alignment.Response{Text: " one  two\tthree\n"}.Length())
	assert.Equal(t, 7, alignment.Response{Text: "one two", Tokens: 7}.Length(), "token counts win when known")
	assert.Equal(t, 0, alignment.WordCount(""))
}

func TestSampleOptionsClone(t *testing.T) {
	o := alignment.SampleOptions{N: 2, Stop: []string{"x"}, Extra: map[string]any{"top_k": 40}}
	c := o.Clone()
	c.Stop[0], c.Extra["top_k"] = "y", 1
	assert.Equal(t, "x", o.Stop[0])
	assert.Equal(t, 40, o.Extra["top_k"])
	assert.Nil(t, alignment.SampleOptions{}.Clone().Stop, "nil stays nil")
	assert.Nil(t, alignment.SampleOptions{}.Clone().Extra)
}

// MaxMin's MinGap drops a prompt whose best and worst answers a soft judge
// scores less than the gap apart, as MaxMin drops ties.
func TestMaxMinMinGap(t *testing.T) {
	sc := func(xs ...float64) []alignment.Scored {
		var rs []alignment.Scored
		for _, x := range xs {
			rs = append(rs, alignment.Scored{Score: x})
		}
		return rs
	}
	tests := []struct {
		scores        []float64
		chosen, rejec int
		ok            bool
	}{
		{[]float64{3, 4.2, 3.6}, 1, 0, true},
		{[]float64{3, 3.4, 3.2}, 1, 0, false},
		{[]float64{4, 4.5}, 1, 0, true},
		{[]float64{2, 2}, 0, 0, false},
	}
	for _, tt := range tests {
		c, r, ok := alignment.MaxMin{MinGap: 0.5}.Select(sc(tt.scores...))
		assert.Equal(t, tt.ok, ok, "%v", tt.scores)
		if tt.ok {
			assert.Equal(t, [2]int{tt.chosen, tt.rejec}, [2]int{c, r}, "%v", tt.scores)
		}
	}
}

func TestMaxMinFingerprint(t *testing.T) {
	assert.Equal(t, "alignment.MaxMin", alignment.MaxMin{}.Fingerprint(), "unchanged for the default")
	assert.Equal(t, "alignment.MaxMin min_gap=0.5", alignment.MaxMin{MinGap: 0.5}.Fingerprint())
}
