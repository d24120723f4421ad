// Package seeds derives independent, repeatable random seeds from a parent
// seed and labels, so that the randomness of each work item depends only on
// what the item is, never on goroutine scheduling.
package seeds

import "math/rand/v2"

// Derive returns a seed that depends on seed and every label, in order.
// Different label lists give unrelated seeds (FNV-1a over the labels with
// length prefixes, then a SplitMix64 finaliser).
func Derive(seed uint64, labels ...string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	word := func(x uint64) {
		for range 8 {
			h = (h ^ (x & 0xff)) * prime
			x >>= 8
		}
	}
	word(seed)
	for _, l := range labels {
		word(uint64(len(l)))
		for i := 0; i < len(l); i++ {
			h = (h ^ uint64(l[i])) * prime
		}
	}
	return mix(h)
}

// Rand returns a generator seeded from seed.
func Rand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, mix(seed^0x9e3779b97f4a7c15)))
}

// mix is the SplitMix64 finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
