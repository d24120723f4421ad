package taskworld

import (
	"testing"

	"github.com/selfalign/selfalign/alignment"
)

func BenchmarkScore(b *testing.B) {
	p := alignment.NewPrompt("p", "can you tell me the capital of france?")
	r := alignment.Response{Text: "well, the capital of france is paris, paris, paris, paris and so on and so on"}
	b.ReportAllocs()
	for b.Loop() {
		Score(p, r)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(1, nil); err != nil {
			b.Fatal(err)
		}
	}
}
