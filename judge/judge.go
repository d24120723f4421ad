package judge

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Errors of the judge package; messages that wrap them say what was wrong
// and where. They are the alignment package's sentinels under the names
// this package's docs use, so that errors.Is(err, alignment.ErrInvalid)
// holds for every invalid input of every package.
var (
	// ErrUnparsable says a judge model's output holds no readable score or
	// verdict, or an ambiguous one. It is alignment.ErrUnparsable.
	ErrUnparsable = alignment.ErrUnparsable
	// ErrInvalid says an option or an input is malformed: a template with an
	// unknown placeholder, an empty scale, mismatched lengths, a NaN. It is
	// alignment.ErrInvalid.
	ErrInvalid = alignment.ErrInvalid
)

// Aggregate says how several scores of one response (samples of one judge,
// or the members of a jury) become one.
type Aggregate int

const (
	// Mean is the arithmetic mean, the default.
	Mean Aggregate = iota
	// Median is the middle score, or the mean of the two middle ones; it
	// resists one wild sample.
	Median
	// Majority is the most common score; among equally common scores, their
	// median. It suits judges on a small integer scale.
	Majority
)

// String returns the aggregate's name.
func (a Aggregate) String() string {
	switch a {
	case Mean:
		return "mean"
	case Median:
		return "median"
	case Majority:
		return "majority"
	}
	return "Aggregate(" + strconv.Itoa(int(a)) + ")"
}

// aggregate combines xs, which must not be empty; it does not modify xs.
func (a Aggregate) aggregate(xs []float64) float64 {
	switch a {
	case Median:
		return median(xs)
	case Majority:
		s := slices.Clone(xs)
		slices.Sort(s)
		var modes []float64
		best := 0
		for i := 0; i < len(s); {
			j := i
			for j < len(s) && s[j] == s[i] {
				j++
			}
			switch n := j - i; {
			case n > best:
				best, modes = n, append(modes[:0], s[i])
			case n == best:
				modes = append(modes, s[i])
			}
			i = j
		}
		return median(modes)
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func (a Aggregate) valid() bool { return a >= Mean && a <= Majority }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// template is a judge prompt with {{name}} placeholders, filled by plain
// substitution: the values are never scanned for placeholders themselves.
type template struct {
	text string
}

// parseTemplate checks that text uses only allowed placeholders and every
// required one. A placeholder is "{{" and "}}" around letters, digits,
// underscores or spaces.
func parseTemplate(what, text string, allowed, required []string) (template, error) {
	if strings.TrimSpace(text) == "" {
		return template{}, fmt.Errorf("judge: %s template is empty: %w", what, ErrInvalid)
	}
	seen := map[string]bool{}
	for i := 0; ; {
		open := strings.Index(text[i:], "{{")
		if open < 0 {
			break
		}
		open += i
		end := strings.Index(text[open+2:], "}}")
		if end < 0 {
			break
		}
		name := text[open+2 : open+2+end]
		i = open + 2
		if strings.IndexFunc(name, func(r rune) bool {
			return !(r == '_' || r == ' ' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 || name == "" {
			continue
		}
		if !slices.Contains(allowed, name) {
			line := 1 + strings.Count(text[:open], "\n")
			return template{}, fmt.Errorf("judge: %s template line %d: unknown placeholder {{%s}} (known: {{%s}}): %w",
				what, line, name, strings.Join(allowed, "}}, {{"), ErrInvalid)
		}
		seen[name] = true
		i = open + 2 + end + 2
	}
	for _, r := range required {
		if !seen[r] {
			return template{}, fmt.Errorf("judge: %s template lacks the placeholder {{%s}}: %w", what, r, ErrInvalid)
		}
	}
	return template{text: text}, nil
}

// fill replaces each {{name}} by its value; kv alternates names and values.
func (t template) fill(kv ...string) string {
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{{"+kv[i]+"}}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(t.text)
}

// judgePrompt wraps a filled template in a prompt for the judge model.
func judgePrompt(id, system, text string) alignment.Prompt {
	p := alignment.Prompt{ID: id}
	if system != "" {
		p.Messages = append(p.Messages, alignment.Message{Role: alignment.RoleSystem, Content: system})
	}
	p.Messages = append(p.Messages, alignment.Message{Role: alignment.RoleUser, Content: text})
	return p
}

// callSeed is the seed of a judge's model call: the context's when set,
// otherwise one derived from what is judged, so that judging is repeatable
// without one.
func callSeed(ctx context.Context, labels ...string) uint64 {
	if s, ok := alignment.SeedFrom(ctx); ok {
		return s
	}
	return seeds.Derive(0, labels...)
}

// sampleOptions copies o so that later changes by the caller cannot reach
// a judge, and so that no two calls share its slices and maps.
func sampleOptions(o alignment.SampleOptions) alignment.SampleOptions {
	o.Stop = slices.Clone(o.Stop)
	if o.Extra != nil {
		extra := make(map[string]any, len(o.Extra))
		for k, v := range o.Extra {
			extra[k] = v
		}
		o.Extra = extra
	}
	return o
}

// scale returns the range of a Ranged judge, or the 0–5 range the Loop
// assumes, or the explicit range when min < max.
func scale(j alignment.Judge, lo, hi float64) (float64, float64) {
	if lo < hi {
		return lo, hi
	}
	if r, ok := j.(alignment.Ranged); ok {
		return r.ScoreRange()
	}
	return 0, 5
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// fenceTags are the tags of every fence a judge prompt of this package may
// hold. Each quoted text has all of them neutralised, not only its own, so
// that a response cannot even appear, to the model, to close the prompt's
// fence or a neighbour's.
var fenceTags = []string{"prompt", "response", "response_a", "response_b", "rubric", "judgment_a", "judgment_b"}

// quote fences text under tag for a judge prompt.
func quote(tag, text string) string { return fence.Quote(tag, text, fenceTags...) }

// shown returns the texts a judge prompt quotes, as written before
// quoting: the user's request p (the transcript, and each message of a
// conversation) and the judged texts. A judgment is read ignoring their
// echoes (see fence.Mask). The prompt's own text is not among them: its
// fences are recognised as such, and a prompt may end with the very marker
// ("Score:") that the model's answer continues.
func shown(p alignment.Prompt, texts ...string) []string {
	out := make([]string, 0, len(p.Messages)+len(texts)+1)
	out = append(out, p.Transcript())
	if len(p.Messages) > 1 {
		for _, m := range p.Messages {
			out = append(out, m.Content)
		}
	}
	return append(out, texts...)
}
