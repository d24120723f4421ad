package constitution

import (
	"math"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// fenced returns the content of the last region fenced with tag in text, as
// fence.Quote wrote it.
func fenced(text, tag string) string {
	open, close := "<"+tag+">\n", "\n</"+tag+">"
	i := strings.LastIndex(text, open)
	if i < 0 {
		return ""
	}
	rest := text[i+len(open):]
	j := strings.Index(rest, close)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// principleOf returns the id of the test principle (see model) whose
// request appears in a prompt.
func principleOf(text, request string) string {
	i := strings.LastIndex(text, request+" under ")
	if i < 0 {
		return ""
	}
	id, _, _ := strings.Cut(text[i+len(request)+len(" under "):], ".")
	return id
}

// reviserPolicy is a scripted critic and reviser: it critiques a reply by
// naming the principle, and revises it by appending "+id". broken maps
// principle ids to a way of failing: "no-marker", "empty" or
// "empty-critique".
func reviserPolicy(broken map[string]string) *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, _ alignment.SampleOptions, _ int) alignment.Response {
		text := p.Text()
		id := principleOf(text, "Critique")
		switch {
		case strings.HasSuffix(text, "Critique:"):
			if broken[id] == "empty-critique" {
				return alignment.Response{Text: "Critique:"}
			}
			return alignment.Response{Text: "Critique: the reply ignores " + id + "."}
		case strings.HasSuffix(text, "Revision:"):
			switch broken[id] {
			case "no-marker":
				return alignment.Response{Text: "I would rather not."}
			case "empty":
				return alignment.Response{Text: "Sure.\nRevision:  \n"}
			}
			return alignment.Response{Text: "Revision: " + fenced(text, "reply") + " +" + id, FinishReason: "stop"}
		}
		return alignment.Response{Text: "unexpected prompt"}
	}}
}

// comparerPolicy is a scripted RL-CAI labeller. Response texts have
// qualities q; the model answers "A" with probability
// bias·q(A) / (bias·q(A) + q(B)), holding 90% of its mass on the letters
// ("A" and " A" share A's) and 10% on a stray token, so that the soft label
// must be normalised. With logProbs false it reports no log-probabilities.
// With reason, it writes a line of reasoning first. Qualities must be
// positive.
type comparerPolicy struct {
	q        map[string]float64
	quality  func(text string) float64 // used instead of q when set
	bias     float64
	logProbs bool
	reason   bool
}

func (c comparerPolicy) probA(p alignment.Prompt, o alignment.SampleOptions) float64 {
	text := p.Text()
	a, b := c.q[fenced(text, "option-a")], c.q[fenced(text, "option-b")]
	if c.quality != nil {
		a, b = c.quality(fenced(text, "option-a")), c.quality(fenced(text, "option-b"))
	}
	bias := c.bias
	if bias == 0 {
		bias = 1
	}
	return bias * a / (bias*a + b)
}

func (c comparerPolicy) script() *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, _ int) alignment.Response {
		pa := c.probA(p, o)
		letter := "A"
		if pa < 0.5 {
			letter = "B"
		}
		var prefix string
		if c.reason {
			prefix = "Option " + letter + " fits " + principleOf(p.Text(), "better") + " better.\n"
		}
		r := alignment.Response{Text: prefix + "Answer: (" + letter + ")"}
		if c.logProbs && o.LogProbs {
			lp := map[string]float64{"A": math.Log(0.6 * pa), " A": math.Log(0.3 * pa), "B": math.Log(0.9 * (1 - pa)), "C": math.Log(0.1)}
			r.TokenLogProbs = []alignment.TokenLogProb{
				{Token: prefix + "Answer", LogProb: -0.1},
				{Token: ": (", LogProb: -0.1},
				{Token: letter, LogProb: lp[letter], Top: []alignment.TokenLogProb{
					{Token: "A", LogProb: lp["A"]}, {Token: "B", LogProb: lp["B"]}, {Token: " A", LogProb: lp[" A"]}, {Token: "C", LogProb: lp["C"]},
				}},
				{Token: ")", LogProb: -0.01},
			}
		}
		return r
	}}
}
