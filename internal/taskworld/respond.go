package taskworld

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Kind is the kind of a corpus response: good, or one of the systematic
// flaws that the same rule catches in every family.
type Kind string

// The kinds of response. Each bad kind is built to fail the rule its Target
// names; some fail others too (a ramble is also unfinished, an evasion is
// also wrong).
const (
	// KindGood is correct, on topic, polite, concise and well formed.
	KindGood Kind = "good"
	// KindWrong states a wrong number or fact, greets back in the wrong
	// kind, or complies with a harmful request in a polite tone.
	KindWrong Kind = "wrong"
	// KindRude is a good answer with a rude word, or a rude dismissal.
	KindRude Kind = "rude"
	// KindRamble repeats itself past the length limit and trails off.
	KindRamble Kind = "ramble"
	// KindEvasive answers "i do not know." or the like.
	KindEvasive Kind = "evasive"
	// KindUnfinished is a good answer cut before its last word and mark.
	KindUnfinished Kind = "unfinished"
	// KindMisjudged refuses a harmless request or complies with a harmful
	// one: the harm of the request was misjudged.
	KindMisjudged Kind = "misjudged"
)

// BadKinds lists the bad kinds in the order the corpus cycles through them.
func BadKinds() []Kind {
	return []Kind{KindWrong, KindRude, KindRamble, KindEvasive, KindUnfinished, KindMisjudged}
}

// Target returns the ID of the rule that k is built to fail, or "" for
// KindGood and unknown kinds.
func (k Kind) Target() string {
	switch k {
	case KindWrong, KindMisjudged:
		return RuleCorrect
	case KindRude:
		return RulePolite
	case KindRamble:
		return RuleConcise
	case KindEvasive:
		return RuleOnTopic
	case KindUnfinished:
		return RuleWellFormed
	}
	return ""
}

// respond writes a response of kind k to a prompt with facts f, drawing its
// phrasing from r. f must be of a known family.
func respond(f Facts, k Kind, r *rand.Rand) string {
	var s string
	switch k {
	case KindGood:
		s = good(f, r)
	case KindWrong:
		s = wrong(f, r)
	case KindRude:
		switch r.IntN(4) {
		case 0, 1:
			s = pick(r, rudePrefixes) + " " + good(f, r)
		case 2:
			s = strings.Join(trimEnd(split(good(f, r))), " ") + ", idiot!"
		default:
			s = pick(r, dismissals)
		}
	case KindRamble:
		if r.IntN(2) == 0 {
			s = mumble
			break
		}
		key := "no"
		if len(f.Answers) > 0 {
			key = f.Answers[0]
		}
		s = "well, " + strings.Join(trimEnd(split(good(f, r))), " ") + strings.Repeat(", "+key, 3) + " and so on and so on"
	case KindEvasive:
		s = pick(r, evasions)
	case KindUnfinished:
		ts := trimEnd(split(good(f, r)))
		s = strings.Join(trimEnd(ts[:len(ts)-1]), " ")
	case KindMisjudged:
		if f.Family == FamilyHarmful {
			s = fill(pick(r, misjudgedCompliances), "{x}", acts[f.Subject].reply)
		} else {
			s = pick(r, refusals)
		}
	}
	return render(split(s))
}

// good writes a right, polite, concise and well-formed answer.
func good(f Facts, r *rand.Rand) string {
	return answer(f, r, f.Answers)
}

// wrong writes an answer in a good answer's form with a wrong value, or a
// polite how-to answer to a harmful request.
func wrong(f Facts, r *rand.Rand) string {
	switch f.Family {
	case FamilyArithmetic:
		d := []int{-2, -1, 1, 2}[r.IntN(4)]
		if f.Result+d < 0 {
			d = -d
		}
		return answer(f, r, []string{strconv.Itoa(f.Result + d)})
	case FamilyCapital:
		return answer(f, r, []string{other(r, capitalNames, f.Answers[0])})
	case FamilyColour:
		return answer(f, r, []string{other(r, colours, f.Answers[0])})
	case FamilySound:
		return answer(f, r, []string{other(r, soundNames, f.Answers[0])})
	case FamilyGreeting:
		var kinds []int
		for i, g := range greetings {
			if g.name != f.Subject {
				kinds = append(kinds, i)
			}
		}
		return pick(r, greetings[pick(r, kinds)].replies)
	}
	return fill(pick(r, wrongCompliances), "{x}", acts[f.Subject].reply)
}

// answer writes an answer to f in a good answer's form, giving the first
// of values as the answer; harmful requests get a refusal.
func answer(f Facts, r *rand.Rand, values []string) string {
	v := ""
	if len(values) > 0 {
		v = values[0]
	}
	switch f.Family {
	case FamilyArithmetic:
		e := strconv.Itoa(f.A) + " " + f.Subject + " " + strconv.Itoa(f.B)
		return pick(r, []string{e + " is " + v + ".", "the answer is " + v + "."})
	case FamilyCapital:
		return pick(r, []string{"the capital of " + f.Subject + " is " + v + ".", "it is " + v + "."})
	case FamilyColour:
		return pick(r, []string{things[f.Subject].phrase + " is " + v + ".", "it is " + v + "."})
	case FamilySound:
		a := animals[f.Subject].phrase
		return pick(r, []string{a + " says " + v + ".", "it says " + v + "."})
	case FamilyGreeting:
		for _, g := range greetings {
			if g.name == f.Subject {
				return pick(r, g.replies)
			}
		}
	}
	return pick(r, refusals)
}

// trimEnd returns ts without its trailing punctuation marks.
func trimEnd(ts []string) []string {
	for len(ts) > 0 && isPunct(ts[len(ts)-1]) {
		ts = ts[:len(ts)-1]
	}
	return ts
}

// fill replaces every placeholder in s by value. The world's own phrases
// are the only text it ever sees.
func fill(s, placeholder, value string) string {
	return strings.ReplaceAll(s, placeholder, value)
}

// other returns a word of set other than not.
func other(r *rand.Rand, set []string, not string) string {
	rest := slices.DeleteFunc(slices.Clone(set), func(s string) bool { return s == not })
	return pick(r, rest)
}

// pick returns a uniformly drawn element of s, which must not be empty.
func pick[T any](r *rand.Rand, s []T) T {
	return s[r.IntN(len(s))]
}
