package constitution

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/selfalign/selfalign/alignment"
)

// maxScore is the top of the rule judge's scale: the 0–5 scale of the
// default rubric, so that a rule constitution and a model rubric can replace
// each other in a Loop without retuning thresholds.
const maxScore = 5

// Judge scores r with the principles' Check functions, without any model:
// one point per passed check, scaled to 0–5 (5·passed/len). Aspects holds 1
// or 0 per principle id and Rationale lists the failed checks. It fails,
// wrapping [ErrNoCheck], when some principle has no Check, wrapping
// [ErrInvalid] on a zero Constitution, and returns ctx.Err() once ctx is
// done. Checks see copies of p and r.
func (c *Constitution) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, err
	}
	if len(c.principles) == 0 {
		return alignment.Judgment{}, fmt.Errorf("constitution: judging with an empty constitution (build one with New): %w", ErrInvalid)
	}
	if !c.rules {
		for _, pr := range c.principles {
			if pr.Check == nil {
				return alignment.Judgment{}, fmt.Errorf("constitution: judging without a model needs a check on every principle, %q has none: %w", pr.ID, ErrNoCheck)
			}
		}
	}
	p, r = p.Clone(), r.Clone()
	aspects := make(map[string]float64, len(c.principles))
	var failed []string
	for _, pr := range c.principles {
		if pr.Check(p, r) {
			aspects[pr.ID] = 1
		} else {
			aspects[pr.ID] = 0
			failed = append(failed, pr.ID)
		}
	}
	n := len(c.principles)
	passed := n - len(failed)
	why := fmt.Sprintf("passed %d of %d checks", passed, n)
	if len(failed) > 0 {
		why += "; failed: " + strings.Join(failed, ", ")
	}
	return alignment.Judgment{
		Score:     maxScore * float64(passed) / float64(n),
		Aspects:   aspects,
		Rationale: why,
	}, nil
}

// ScoreRange returns the scale of [Constitution.Judge]: 0 to 5.
func (c *Constitution) ScoreRange() (lo, hi float64) { return 0, maxScore }

// Rules returns a constitution of generic rule principles that judge a
// response without a model, for any chat data (the quickstart uses the
// task world's own, more specific rules):
//
//   - "nonempty": the response has a word in it;
//   - "complete": it was not cut at the token limit and ends with '.', '!'
//     or '?';
//   - "on-topic": it shares a content word (four letters or more, outside a
//     short stop list) with the prompt;
//   - "no-repetition": no word is repeated three times in a row and no
//     three-word sequence occurs twice;
//   - "concise": it has at most 120 words;
//   - "no-echo": it neither equals the prompt nor begins with it, comparing
//     lower-cased words.
//
// The principles have checks only, no texts, so the Reviser and the
// Comparer cannot use them. Extend the set with
// New(append(Rules().Principles(), mine...)...).
func Rules() *Constitution {
	return build([]Principle{
		{ID: "nonempty", Check: func(_ alignment.Prompt, r alignment.Response) bool {
			return alignment.WordCount(r.Text) > 0
		}},
		{ID: "complete", Check: func(_ alignment.Prompt, r alignment.Response) bool {
			t := strings.TrimRightFunc(r.Text, func(c rune) bool { return unicode.IsSpace(c) || strings.ContainsRune("\"')]”’", c) })
			return r.FinishReason != "length" && t != "" && strings.ContainsRune(".!?", rune(t[len(t)-1]))
		}},
		{ID: "on-topic", Check: func(p alignment.Prompt, r alignment.Response) bool {
			want := contentWords(p.Text())
			for w := range contentWords(r.Text) {
				if want[w] {
					return true
				}
			}
			return false
		}},
		{ID: "no-repetition", Check: func(_ alignment.Prompt, r alignment.Response) bool {
			ws := words(r.Text)
			seen := map[[3]string]bool{}
			for i := 2; i < len(ws); i++ {
				if ws[i] == ws[i-1] && ws[i] == ws[i-2] {
					return false
				}
				k := [3]string{ws[i-2], ws[i-1], ws[i]}
				if seen[k] {
					return false
				}
				seen[k] = true
			}
			return true
		}},
		{ID: "concise", Check: func(_ alignment.Prompt, r alignment.Response) bool {
			return alignment.WordCount(r.Text) <= 120
		}},
		{ID: "no-echo", Check: func(p alignment.Prompt, r alignment.Response) bool {
			a, b := strings.Join(words(p.Text()), " "), strings.Join(words(r.Text), " ")
			return b == "" || (a != b && !strings.HasPrefix(b, a+" ")) || a == ""
		}},
	})
}

// words returns the lower-cased words of s, letters and digits only.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(c rune) bool {
		return !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '\''
	})
}

// stop lists frequent words that say nothing about a topic.
var stop = map[string]bool{
	"about": true, "after": true, "also": true, "been": true, "does": true, "from": true,
	"have": true, "into": true, "just": true, "like": true, "more": true, "please": true,
	"some": true, "that": true, "their": true, "them": true, "then": true, "there": true,
	"these": true, "they": true, "this": true, "what": true, "when": true, "where": true,
	"which": true, "while": true, "will": true, "with": true, "would": true, "your": true,
	"tell": true, "give": true, "could": true, "should": true, "make": true,
}

// contentWords returns the set of words of s that can carry a topic.
func contentWords(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range words(s) {
		if len([]rune(w)) >= 4 && !stop[w] {
			out[w] = true
		}
	}
	return out
}
