package dpo

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLoss times a loss and its gradient through the batch API, which
// validates the batch, evaluates every pair and computes TRL's metrics. One
// op is one batch; ns/pair divides by the batch size. Dimensions: pairs of
// four float64 log-probabilities and two lengths, so that a side-by-side
// PyTorch timing is of the loss on four float64 tensors of shape (batch,).
func BenchmarkLoss(b *testing.B) {
	losses := []struct {
		name string
		loss Loss
	}{
		{"Sigmoid", Sigmoid{Beta: 0.1}},
		{"Sigmoid/cDPO", Sigmoid{Beta: 0.1, LabelSmoothing: 0.1}},
		{"Robust", Robust{Beta: 0.1, LabelSmoothing: 0.1}},
		{"Hinge", Hinge{Beta: 0.1}},
		{"IPO", IPO{Beta: 0.1}},
		{"SimPO", SimPO{Beta: 2, Gamma: 0.5}},
		{"NCA", NCA{Beta: 0.1}},
	}
	for _, l := range losses {
		for _, n := range []int{1, 32, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", l.name, n), func(b *testing.B) {
				pairs := benchPairs(n)
				var r BatchResult
				if err := r.Eval(l.loss, pairs); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := r.Eval(l.loss, pairs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pair")
			})
		}
	}
	for _, n := range []int{1, 32, 1024} {
		b.Run(fmt.Sprintf("KTO/batch=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 2))
			xs := make([]Unpaired, n)
			for i := range xs {
				xs[i] = Unpaired{LogP: -r.Float64() * 40, RefLogP: -r.Float64() * 40, Desirable: i%2 == 0}
			}
			k := KTO{Beta: 0.1}
			var res KTOResult
			if err := res.Eval(k, xs, 0.5); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := res.Eval(k, xs, 0.5); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pair")
		})
	}
}

func benchPairs(n int) []Pair {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	ps := make([]Pair, n)
	for i := range ps {
		ps[i] = randomPair(r)
	}
	return ps
}
