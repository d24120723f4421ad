package promptgen_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/promptgen"
)

func BenchmarkParseInstruction(b *testing.B) {
	for _, out := range []string{
		"Task 9: What is the capital of Peru?",
		"**Prompt:** \"Explain how vaccines train the immune system.\"\nTask 10: more",
		strings.Repeat("word ", 200),
	} {
		b.Run(fmt.Sprintf("bytes=%d", len(out)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := promptgen.ParseInstruction(out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSelfInstruct measures the generator's own work, the requests
// and the near-duplicate filter against a growing pool, with a policy that
// costs nothing.
func BenchmarkSelfInstruct(b *testing.B) {
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa")
	pol := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		s := o.Seed
		var out []string
		for range 8 {
			out = append(out, words[s%uint64(len(words))])
			s /= uint64(len(words))
		}
		return alignment.Response{Text: "Task 9: " + strings.Join(out, " ") + "?"}
	}}
	var seeds []alignment.Prompt
	for i := range 64 {
		seeds = append(seeds, alignment.NewPrompt(fmt.Sprint(i), fmt.Sprintf("seed prompt number %d about %s", i, words[i%len(words)])))
	}
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprintf("prompts=%d", n), func(b *testing.B) {
			si, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: pol, Count: n}, seeds, 8)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for _, err := range si.Prompts(context.Background(), 0) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("got %d prompts, want %d", got, n)
				}
			}
		})
	}
}
