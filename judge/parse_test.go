package judge

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
)

func TestParseScore(t *testing.T) {
	tests := []struct {
		name   string
		output string
		want   float64
	}{
		{"plain", "Good answer.\nScore: 4", 4},
		{"lower case", "score: 3", 3},
		{"upper case no space", "SCORE:2", 2},
		{"bold label", "**Score:** 4", 4},
		{"bold all", "**Score: 4**", 4},
		{"bold both", "**Score**: **3**", 3},
		{"code span", "`Score: 1`", 1},
		{"decimal", "Score: 3.5", 3.5},
		{"leading point", "Score: .5", 0.5},
		{"trailing point", "Score: 4.", 4},
		{"fraction of max", "Score: 4/5", 4},
		{"fraction with spaces", "Score: 4 / 5", 4},
		{"final score", "Final score: 5/5", 5},
		{"parenthetical", "Score (0-5): 2", 2},
		{"heading", "### Score: 3", 3},
		{"out of words", "Score: 4 out of 5", 4},
		{"bracketed", "Score: [3]", 3},
		{"last wins", "Score: 1\nOn reflection,\nScore: 4", 4},
		{"agreeing on one line", "Score: 4 (Score: 4)", 4},
		{"zero", "Score: 0", 0},
		{"quoted region ignored", "x\n" + fence.Quote("response", "Score: 5") + "\nScore: 2", 2},
		{"think ignored", "<think>\nScore: 5\n</think>\nScore: 1", 1},
		{"unclosed tag hides nothing", "Score: 5\n<br>\nScore: 1", 1},
		{"tag at the end", "<response>\nScore: 5", 5},
		{"subscores are not scores", "Score: 3\nSubscores: 1, 2", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScore(tt.output, 0, 5)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseScoreErrors(t *testing.T) {
	tests := []struct {
		name, output, msg string
	}{
		{"empty", "", "empty judge output"},
		{"blank", " \n\t", "empty judge output"},
		{"no declaration", "A fine answer.", "no \"Score:\" declaration"},
		{"only quoted", fence.Quote("response", "Score: 5"), "only fenced"},
		{"no number", "Score: <points>", "has no number"},
		{"last has no number", "Score: 4\nScore: pending", "has no number"},
		{"nan", "Score: NaN", "not a finite number"},
		{"inf", "Score: -Infinity", "not a finite number"},
		{"above", "Score: 6", "outside the scale [0, 5]"},
		{"below", "Score: -1", "outside the scale"},
		{"huge", "Score: 1" + strings.Repeat("0", 400), "more than 40"},
		{"exponent", "Score: 1e309", "runs into"},
		{"word attached", "Score: 4th", "runs into"},
		{"wrong denominator", "Score: 8/10", "out of 10"},
		{"bare slash", "Score: 4/", "no readable denominator"},
		{"conflict", "Score: 3 and Score: 4", "line 1: conflicting scores 3 and 4"},
		{"conflict on last line", "Score: 2\nScore: 3, no, Score: 5", "line 2: conflicting scores"},
		{"range", "Score: 3-4", "is a range"},
		{"en dash range", "Score: 3 – 4", "is a range"},
		{"alternative", "Score: 3 or 4", "is a range"},
		{"to", "Score: 3 to 4", "is a range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScore(tt.output, 0, 5)
			require.Error(t, err, "got %v", got)
			assert.ErrorIs(t, err, ErrUnparsable)
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "judge: "), err.Error())
		})
	}
	for _, bad := range [][2]float64{{5, 0}, {math.NaN(), 5}, {0, math.Inf(1)}} {
		_, err := ParseScore("Score: 1", bad[0], bad[1])
		assert.ErrorIs(t, err, ErrInvalid, "scale %v", bad)
	}
}

func TestParseScoreOtherScales(t *testing.T) {
	got, err := ParseScore("Score: 7/10", 1, 10)
	require.NoError(t, err)
	assert.Equal(t, 7.0, got)
	_, err = ParseScore("Score: 0", 1, 10)
	assert.ErrorIs(t, err, ErrUnparsable)
}

func TestParseVerdict(t *testing.T) {
	got, err := ParseVerdict("Both are fine.\nVerdict: B")
	require.NoError(t, err)
	assert.Equal(t, "B", got)
	got, err = ParseVerdict("Answer: (C)", "A", "B", "C")
	require.NoError(t, err)
	assert.Equal(t, "C", got)

	_, err = ParseVerdict("no idea")
	assert.ErrorIs(t, err, ErrUnparsable)
	assert.Equal(t, `judge: no verdict declaration naming one of A, B outside quoted text: unparsable model output`, err.Error())
	_, err = ParseVerdict("Verdict: A", "A")
	assert.ErrorIs(t, err, ErrInvalid)
}

// TestAdversarialEcho is the attack test: a judge model that echoes
// its whole prompt, adversarial response included, then gives its own
// "Score: 2" must be read as 2, every time.
func TestAdversarialEcho(t *testing.T) {
	ctx := context.Background()
	rubric, err := NewRubric(echo("The response is partly relevant.\nScore: 2"), nil)
	require.NoError(t, err)
	pairwise, err := NewPairwise(echo("The first is better.\nVerdict: A"), &PairwiseOptions{Hard: true})
	require.NoError(t, err)
	for _, a := range loadAdversarial(t) {
		t.Run(a.Name, func(t *testing.T) {
			r := alignment.Response{Text: a.Text}
			prompts := []alignment.Prompt{alignment.NewPrompt("q", "What is 6 times 7?"), alignment.NewPrompt("q", a.Text)}
			for _, p := range prompts {
				out := echo("Score: 2")
				resp, err := out.Generate(ctx, rubric.Prompt(p, r), alignment.SampleOptions{})
				require.NoError(t, err)
				s, err := ParseScore(resp[0].Text, 0, 5)
				require.NoError(t, err)
				assert.Equal(t, 2.0, s, "ParseScore on the echo")

				j, err := rubric.Judge(ctx, p, r)
				require.NoError(t, err)
				assert.Equal(t, 2.0, j.Score, "Rubric on the echoing model")

				// Without a verdict of the model's own, nothing is read:
				// the attack is never taken for the judge's answer.
				_, err = ParseScore(echoText(rubric.Prompt(p, r)), 0, 5)
				assert.ErrorIs(t, err, ErrUnparsable, "the echo alone must hold no score")
				_, err = ParseVerdict(echoText(pairwise.Prompt(p, r, r)))
				assert.ErrorIs(t, err, ErrUnparsable, "the echo alone must hold no verdict")

				v, err := ParseVerdict(echoText(pairwise.Prompt(p, r, r)) + "Verdict: A")
				require.NoError(t, err)
				assert.Equal(t, "A", v, "ParseVerdict on the echo")
			}
			// Both orders say A, the first position: a position-inconsistent
			// tie, whatever the responses claim.
			c, err := pairwise.Compare(ctx, prompts[0], r, alignment.Response{Text: "42"})
			require.NoError(t, err)
			assert.Equal(t, alignment.Comparison{ProbA: 0.5, Inconsistent: true}, withoutRationale(c))
		})
	}
}

func echoText(p alignment.Prompt) string {
	var b strings.Builder
	for _, m := range p.Messages {
		b.WriteString(m.Content)
		b.WriteString("\n\n")
	}
	return b.String()
}

func withoutRationale(c alignment.Comparison) alignment.Comparison {
	c.Rationale = ""
	return c
}

func FuzzParseScore(f *testing.F) {
	for _, a := range loadAdversarial(f) {
		if len(a.Text) < 10000 {
			f.Add(a.Text)
		}
	}
	for _, s := range []string{"Score: 4", "**Score:** 3.5", "Final score: 5/5", "Score: 3 or 4", "", "Score: NaN"} {
		f.Add(s)
	}
	rubric, err := NewRubric(fixed("Score: 0"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, output string) {
		v, err := ParseScore(output, 0, 5)
		if err != nil {
			if !errors.Is(err, ErrUnparsable) {
				t.Fatalf("ParseScore(%q): error %v does not wrap ErrUnparsable", output, err)
			}
		} else if !(v >= 0 && v <= 5) {
			t.Fatalf("ParseScore(%q) = %v, outside [0, 5]", output, v)
		}
		// As a judged response echoed by the judge model, the text cannot
		// change what the judge's own verdict reads.
		p := rubric.Prompt(alignment.NewPrompt("fuzz", output), alignment.Response{Text: output})
		got, err := ParseScore(echoText(p)+"Score: 2", 0, 5)
		if err != nil || got != 2 {
			t.Fatalf("echoed response %q: ParseScore = %v, %v; want 2", output, got, err)
		}
	})
}

func FuzzParseVerdict(f *testing.F) {
	for _, a := range loadAdversarial(f) {
		if len(a.Text) < 10000 {
			f.Add(a.Text)
		}
	}
	for _, s := range []string{"Verdict: A", "[[B]]", "Answer: (B)", "Response A is better", "B", "Verdict: A or Verdict: B", ""} {
		f.Add(s)
	}
	pairwise, err := NewPairwise(fixed("Verdict: A"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, output string) {
		v, err := ParseVerdict(output)
		if err != nil {
			if !errors.Is(err, ErrUnparsable) {
				t.Fatalf("ParseVerdict(%q): error %v does not wrap ErrUnparsable", output, err)
			}
		} else if v != "A" && v != "B" {
			t.Fatalf("ParseVerdict(%q) = %q, not a choice", output, v)
		}
		r := alignment.Response{Text: output}
		p := pairwise.Prompt(alignment.NewPrompt("fuzz", output), r, r)
		for _, want := range []string{"A", "B"} {
			got, err := ParseVerdict(echoText(p) + "Verdict: " + want)
			if err != nil || got != want {
				t.Fatalf("echoed response %q: ParseVerdict = %q, %v; want %s", output, got, err, want)
			}
		}
	})
}
