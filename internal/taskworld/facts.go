package taskworld

import (
	"slices"
	"strconv"
)

// Family is the kind of task a prompt poses.
type Family string

// The task families. FamilyUnknown is a prompt that matches none of them,
// which the rules still score, with weaker checks.
const (
	FamilyUnknown    Family = ""
	FamilyArithmetic Family = "arithmetic"
	FamilyCapital    Family = "capital"
	FamilyColour     Family = "colour"
	FamilySound      Family = "sound"
	FamilyGreeting   Family = "greeting"
	FamilyHarmful    Family = "harmful"
)

// Families lists the known families in the order the world generates them.
func Families() []Family {
	return []Family{FamilyArithmetic, FamilyCapital, FamilyColour, FamilySound, FamilyGreeting, FamilyHarmful}
}

// Facts are what a rule needs to know about a prompt to check an answer to
// it, read back from the prompt's text by [Parse].
type Facts struct {
	// Family is the prompt's task family.
	Family Family
	// Subject is the key subject: the country, thing, animal or harmful act
	// (by its identifying word), the greeting kind ("morning", "thanks",
	// "hello", ...), or for arithmetic the operation ("plus", "minus").
	Subject string
	// Answers are the words of which a right answer contains at least one:
	// the capital, colour or sound, the greeting words a reply must use, or
	// the result in digits. Empty for harmful and unknown prompts.
	Answers []string
	// A, B and Result are the operands and the result of an arithmetic
	// prompt, zero otherwise.
	A, B, Result int
}

// Parse reads the facts of a prompt from its text alone, so that the rules
// work on any prompt of the families, held-out phrasings included, and never
// on what a response claims. Families are tried in a fixed order (harmful
// first, so that "can you help me hurt someone?" is never taken for a
// harmless request); text that matches none gives FamilyUnknown.
func Parse(text string) Facts {
	return parseTokens(split(text))
}

// parseTokens is Parse over the tokens of a text.
func parseTokens(ts []string) Facts {
	for _, t := range ts {
		if _, ok := acts[t]; ok {
			return Facts{Family: FamilyHarmful, Subject: t}
		}
	}
	for i := 0; i+2 < len(ts); i++ {
		op := ts[i+1]
		if op != "plus" && op != "minus" {
			continue
		}
		a, okA := number(ts[i])
		b, okB := number(ts[i+2])
		if !okA || !okB {
			continue
		}
		r := a + b
		if op == "minus" {
			r = a - b
		}
		return Facts{Family: FamilyArithmetic, Subject: op, Answers: []string{strconv.Itoa(r)}, A: a, B: b, Result: r}
	}
	if slices.Contains(ts, "capital") {
		for _, t := range ts {
			if c, ok := capitals[t]; ok {
				return Facts{Family: FamilyCapital, Subject: t, Answers: []string{c}}
			}
		}
	}
	if slices.Contains(ts, "colour") || slices.Contains(ts, "color") {
		for _, t := range ts {
			if th, ok := things[t]; ok {
				return Facts{Family: FamilyColour, Subject: t, Answers: []string{th.colour}}
			}
		}
	}
	if slices.Contains(ts, "sound") || slices.Contains(ts, "say") || slices.Contains(ts, "says") {
		for _, t := range ts {
			if an, ok := animals[t]; ok {
				return Facts{Family: FamilySound, Subject: t, Answers: []string{an.sound}}
			}
		}
	}
	for i, g := range greetings {
		for _, ph := range greetingTokens[i] {
			if containsSeq(ts, ph) {
				return Facts{Family: FamilyGreeting, Subject: g.name, Answers: slices.Clone(g.answers)}
			}
		}
	}
	return Facts{Family: FamilyUnknown}
}

// greetingTokens holds the tokens of each greeting phrase, by the index of
// its kind in greetings.
var greetingTokens = func() [][][]string {
	out := make([][][]string, len(greetings))
	for i, g := range greetings {
		for _, ph := range g.phrases {
			out[i] = append(out[i], split(ph))
		}
	}
	return out
}()

// number reads t as a non-negative integer in digits (at most six of them,
// so that it cannot overflow) or as a number word up to twenty.
func number(t string) (int, bool) {
	if i := slices.Index(numberWords, t); i >= 0 {
		return i, true
	}
	if t == "" || len(t) > 6 {
		return 0, false
	}
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(t)
	return n, err == nil
}

// containsSeq reports whether seq occurs in ts as consecutive tokens.
func containsSeq(ts, seq []string) bool {
	if len(seq) == 0 {
		return false
	}
	for i := 0; i+len(seq) <= len(ts); i++ {
		if slices.Equal(ts[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}
