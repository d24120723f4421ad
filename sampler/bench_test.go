package sampler

import (
	"strconv"
	"testing"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

func BenchmarkDedup(b *testing.B) {
	for _, n := range []int{1, 32, 1024} {
		rs := make([]alignment.Response, n)
		for i := range rs {
			// A quarter of the texts repeat an earlier one in another case.
			if i%4 == 3 {
				rs[i].Text = "RESPONSE  number " + strconv.Itoa(i-1)
			} else {
				rs[i].Text = "response number " + strconv.Itoa(i) + " with a few more words in it"
			}
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Dedup(rs)
			}
		})
	}
}

func BenchmarkEnsembleSplit(b *testing.B) {
	e, err := NewEnsemble(member("a", 0.5), member("b", 0.3), member("c", 0.2))
	if err != nil {
		b.Fatal(err)
	}
	rng := seeds.Rand(1)
	for _, n := range []int{1, 32, 1024} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.split(n, rng.Float64)
			}
		})
	}
}
