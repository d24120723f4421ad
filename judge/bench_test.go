package judge

import (
	"context"
	"strings"
	"testing"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// typicalOutput is a judge output of about 100 words ending in a score.
const typicalOutput = `The response addresses the user's question about why the sky is blue and gives relevant information, so it earns the first point. It covers most of the question, explaining Rayleigh scattering and why shorter wavelengths scatter more, which earns the second point. It answers the core of the question usefully, earning the third. It is written clearly from an assistant's perspective and is well organised, earning the fourth. It does not fully reach expert level: it omits why the sky is not violet and adds an unneeded aside about sunsets, so it does not earn the fifth point.

**Score: 4**`

func BenchmarkParseScore(b *testing.B) {
	if n := alignment.WordCount(typicalOutput); n < 90 || n > 120 {
		b.Fatalf("typical output has %d words, want about 100", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseScore(typicalOutput, 0, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseScoreEcho parses a judge output that echoes its ~100-word
// prompt and response (two fences) before the same judgment.
func BenchmarkParseScoreEcho(b *testing.B) {
	j, err := NewRubric(fixed(""), nil)
	if err != nil {
		b.Fatal(err)
	}
	out := echoText(j.Prompt(alignment.NewPrompt("p", "Why is the sky blue?"), alignment.Response{Text: strings.Repeat("Light scatters. ", 20)})) + typicalOutput
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseScore(out, 0, 5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerdict(b *testing.B) {
	out := strings.Replace(typicalOutput, "**Score: 4**", "Verdict: A", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVerdict(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRubric measures the judge's own overhead per judgment (prompt
// building, fencing, sampling bookkeeping, parsing) on a model that costs
// nothing.
func BenchmarkRubric(b *testing.B) {
	for _, k := range []int{1, 4} {
		b.Run("k="+string(rune('0'+k)), func(b *testing.B) {
			j, err := NewRubric(fixed(typicalOutput), &RubricOptions{Votes: k})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			p := alignment.NewPrompt("p", "Why is the sky blue?")
			r := alignment.Response{Text: strings.Repeat("Air scatters short wavelengths more than long ones. ", 10)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Judge(ctx, p, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAudit1000 audits a judge and a comparer (zero-cost fakes) over
// 1,000 responses (334 prompts of three): 2,000 judge calls and about 3,300
// comparer calls per op.
func BenchmarkAudit1000(b *testing.B) {
	items := auditItems(334)[:334]
	items[333].Responses = items[333].Responses[:1] // 1,000 responses in all
	j := lengthJudge()
	var c alignment.Comparer = alignmenttest.ComparerFunc(positionBiased(0.2))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Audit(ctx, j, c, items, nil)
		if err != nil || rep.Responses != 1000 {
			b.Fatal(rep.Responses, err)
		}
	}
}
