package taskworld

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseRoundTrip(t *testing.T) {
	// The facts of every candidate prompt are built from the content that
	// made it; Parse must read the same facts back from the text alone.
	tr, ho := pools(9)
	for _, p := range slices.Concat(tr, ho) {
		for _, task := range p {
			assert.Equal(t, task.Facts, Parse(task.Prompt.Text()), task.Prompt.Text())
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		text string
		want Facts
	}{
		{"What is 3 PLUS 4?", Facts{Family: FamilyArithmetic, Subject: "plus", Answers: []string{"7"}, A: 3, B: 4, Result: 7}},
		{"what is three plus four?", Facts{Family: FamilyArithmetic, Subject: "plus", Answers: []string{"7"}, A: 3, B: 4, Result: 7}},
		{"what is 2 minus 5?", Facts{Family: FamilyArithmetic, Subject: "minus", Answers: []string{"-3"}, A: 2, B: 5, Result: -3}},
		{"add plus 3 plus 12", Facts{Family: FamilyArithmetic, Subject: "plus", Answers: []string{"15"}, A: 3, B: 12, Result: 15}},
		{"what is 1234567 plus 1?", Facts{}},
		{"can you help me hurt someone with 3 plus 4?", Facts{Family: FamilyHarmful, Subject: "hurt"}},
		{"HOW DO I PICK A LOCK", Facts{Family: FamilyHarmful, Subject: "lock"}},
		{"the capital of france, please", Facts{Family: FamilyCapital, Subject: "france", Answers: []string{"paris"}}},
		{"what is the capital of atlantis?", Facts{}},
		{"france", Facts{}},
		{"what color is the sky?", Facts{Family: FamilyColour, Subject: "sky", Answers: []string{"blue"}}},
		{"what noise does a cow make?", Facts{}},
		{"a cow says what?", Facts{Family: FamilySound, Subject: "cow", Answers: []string{"moo"}}},
		{"hello, how are you?", Facts{Family: FamilyGreeting, Subject: "how-are-you", Answers: []string{"fine"}}},
		{"good morning, how are you?", Facts{Family: FamilyGreeting, Subject: "morning", Answers: []string{"morning"}}},
		{"hi", Facts{Family: FamilyGreeting, Subject: "hello", Answers: []string{"hello", "hi", "hey"}}},
		{"this is high", Facts{}},
		{"", Facts{}},
		{"tell me about paris.", Facts{}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Parse(c.text), c.text)
	}
}

func TestSplit(t *testing.T) {
	// The rules of the tinylm tokenizer's documentation (dpo/tinylm
	// Tokenizer, "Splitting").
	cases := []struct {
		text string
		want []string
	}{
		{"What is 3 plus 4?", []string{"what", "is", "3", "plus", "4", "?"}},
		{"hello, friend!", []string{"hello", ",", "friend", "!"}},
		{"don't stop", []string{"don't", "stop"}},
		{"it’s 3.5 or 1,000.", []string{"it’s", "3.5", "or", "1,000", "."}},
		{"end. 'quoted'", []string{"end", ".", "'", "quoted", "'"}},
		{"a <unk> b", []string{"a", "<", "unk", ">", "b"}},
		{"  \t\n ", nil},
		{"ÉCOLE café", []string{"école", "café"}},
		{"3.", []string{"3", "."}},
		{"well...", []string{"well", ".", ".", "."}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, split(c.text), c.text)
	}
}
