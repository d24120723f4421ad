package tinylm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveGemm is the reference product in float64, from the definition.
func naiveGemm(m, n, k int, a, b matrix, c []float64, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a.at(i, p)) * float64(b.at(p, j))
			}
			c[i*ldc+j] += s
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// detectedAVX2 and detectedAVX512 are what the CPU offers, before any test
// switches kernels.
var detectedAVX2, detectedAVX512 = useAVX2, useAVX512

// withKernels runs f with each set of kernels the CPU has: the AVX-512
// matrix kernel, the AVX2 kernels and the portable ones.
func withKernels(t *testing.T, f func(t *testing.T)) {
	saved2, saved512 := useAVX2, useAVX512
	t.Cleanup(func() { useAVX2, useAVX512 = saved2, saved512 })
	for _, k := range []struct {
		name         string
		avx2, avx512 bool
	}{{"avx512", true, true}, {"avx2", true, false}, {"go", false, false}} {
		if (k.avx2 && !saved2) || (k.avx512 && !saved512) {
			continue
		}
		t.Run("kernels="+k.name, func(t *testing.T) {
			useAVX2, useAVX512 = k.avx2, k.avx512
			f(t)
		})
	}
}

func TestSgemm(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		var buf gemmBuf
		for _, d := range [][3]int{{1, 1, 1}, {1, 64, 300}, {3, 5, 7}, {6, 16, 4}, {7, 17, 3}, {9, 33, 300}, {13, 33, 300}, {20, 40, 600}, {97, 70, 160}, {5, 1000, 0}} {
			m, n, k := d[0], d[1], d[2]
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, mode := range []string{"set", "acc", "bias"} {
					acc := mode == "acc"
					name := fmt.Sprintf("m=%d,n=%d,k=%d,transA=%v,transB=%v,%s", m, n, k, tr[0], tr[1], mode)
					a := matrix{data: randSlice(r, m*(k+1)), rs: k + 1, cs: 1}
					if tr[0] {
						a = matrix{data: randSlice(r, k*(m+1)), rs: 1, cs: m + 1}
					}
					b := matrix{data: randSlice(r, k*(n+3)), rs: n + 3, cs: 1}
					if tr[1] {
						b = matrix{data: randSlice(r, n*(k+2)), rs: 1, cs: k + 2}
					}
					ldc := n + 2
					c := randSlice(r, m*ldc)
					var bias []float32
					if mode == "bias" {
						bias = randSlice(r, n)
					}
					want := make([]float64, len(c))
					for i, v := range c {
						switch {
						case acc || i%ldc >= n:
							want[i] = float64(v)
						case bias != nil:
							want[i] = float64(bias[i%ldc])
						default:
							want[i] = 0
						}
					}
					naiveGemm(m, n, k, a, b, want, ldc)
					var bp []float32
					if mode != "set" && !tr[0] {
						bp = packAll(nil, b, k, n) // the prepacked path
					}
					sgemm(&buf, m, n, k, a, b, bp, c, ldc, acc, bias)
					for i := range c {
						// float32 products summed over k terms: error grows like √k·ε.
						tol := 1e-5 * (1 + math.Sqrt(float64(k))) * (1 + math.Abs(want[i]))
						if !assert.InDelta(t, want[i], float64(c[i]), tol, "%s: element %d", name, i) {
							break
						}
					}
				}
			}
		}
	})
}

func TestExpSum(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range []int{1, 7, 8, 9, 100, 1003} {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(r.Float64()*120 - 100)
			}
			src[0] = -200 // underflow region
			dst := make([]float32, n)
			shift := float32(5)
			got := expSum(dst, src, shift)
			var want float64
			for i, v := range src {
				e := math.Exp(float64(v - shift))
				if float64(v-shift) < expMin {
					e = math.Exp(expMin)
				}
				want += e
				assert.InDelta(t, e, float64(dst[i]), 3e-7*e+1e-45, "n=%d: exp(%v)", n, v-shift)
			}
			assert.InDelta(t, want, float64(got), 1e-5*want, "n=%d: sum", n)
			m := vmax(src)
			want32 := src[0]
			for _, v := range src {
				want32 = max(want32, v)
			}
			assert.Equal(t, want32, m, "n=%d: max", n)
			s := append([]float32(nil), src...)
			scale(s, 0.5)
			y := append([]float32(nil), src...)
			axpy(2, src, y)
			for i := range s {
				assert.Equal(t, src[i]*0.5, s[i])
				assert.InDelta(t, 3*float64(src[i]), float64(y[i]), 1e-4*math.Abs(float64(src[i])))
			}
		}
	})
}

func TestExpfAgainstMath(t *testing.T) {
	worst := 0.0
	for x := -87.0; x < 88; x += 0.001 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = max(worst, math.Abs(got-want)/want)
	}
	assert.Less(t, worst, 2.5e-7, "relative error of expf against math.Exp")
}

func BenchmarkSgemm(b *testing.B) {
	const n, h, v = 384, 128, 1000
	r := rand.New(rand.NewPCG(1, 2))
	A, W, Z := randSlice(r, n*h), randSlice(r, h*v), randSlice(r, n*v)
	var buf gemmBuf
	b.Run("fwd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sgemm(&buf, n, v, h, matrix{A, h, 1}, matrix{W, v, 1}, nil, Z, v, false, nil)
		}
	})
	b.Run("dA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sgemm(&buf, n, h, v, matrix{Z, v, 1}, matrix{W, 1, v}, nil, A, h, false, nil)
		}
	})
	b.Run("dW", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sgemm(&buf, h, v, n, matrix{A, 1, h}, matrix{Z, v, 1}, nil, W, v, true, nil)
		}
	})
}

// TestSgemmKernelsAgree checks that the AVX-512 and AVX2 matrix kernels give
// the same bits, as the arithmetic they share promises, on every addressing
// sgemm uses (A in place or packed, B packed, read in place or prepacked,
// partial tiles, several inner blocks).
func TestSgemmKernelsAgree(t *testing.T) {
	if !detectedAVX512 {
		t.Skip("the CPU has no AVX-512")
	}
	saved := useAVX512
	t.Cleanup(func() { useAVX512 = saved })
	r := rand.New(rand.NewPCG(5, 6))
	for _, d := range [][3]int{{1, 1000, 128}, {3, 40, 7}, {8, 32, 256}, {9, 40, 300}, {13, 33, 300}, {384, 1000, 128}, {128, 1000, 384}, {384, 128, 1000}, {97, 70, 600}} {
		m, n, k := d[0], d[1], d[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			for _, pre := range []bool{false, true} {
				if pre && tr[1] {
					continue
				}
				a := matrix{data: randSlice(r, m*(k+1)), rs: k + 1, cs: 1}
				if tr[0] {
					a = matrix{data: randSlice(r, k*(m+1)), rs: 1, cs: m + 1}
				}
				b := matrix{data: randSlice(r, k*(n+3)), rs: n + 3, cs: 1}
				if tr[1] {
					b = matrix{data: randSlice(r, n*(k+2)), rs: 1, cs: k + 2}
				}
				c0, bias := randSlice(r, m*n), randSlice(r, n)
				for _, mode := range []string{"set", "acc", "bias"} {
					var got [2][]float32
					for i, wide := range []bool{false, true} {
						useAVX512 = wide
						var bp []float32
						if pre {
							bp = packAll(nil, b, k, n)
						}
						c := append([]float32(nil), c0...)
						var buf gemmBuf
						var bs []float32
						if mode == "bias" {
							bs = bias
						}
						sgemm(&buf, m, n, k, a, b, bp, c, n, mode == "acc", bs)
						got[i] = c
					}
					require.Equal(t, got[0], got[1], "m=%d,n=%d,k=%d,trans=%v,prepacked=%v,%s", m, n, k, tr, pre, mode)
				}
			}
		}
	}
}

// TestExpSumKernelsAgree checks that the AVX-512 expSum gives the bits of
// the AVX2 one, exponentials and sum, whatever the length's remainder.
func TestExpSumKernelsAgree(t *testing.T) {
	if !detectedAVX512 {
		t.Skip("the CPU has no AVX-512")
	}
	saved := useAVX512
	t.Cleanup(func() { useAVX512 = saved })
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{8, 15, 16, 24, 100, 1000, 1003} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r.Float64()*120 - 100)
		}
		var dst [2][]float32
		var sum [2]float32
		for i, wide := range []bool{false, true} {
			useAVX512 = wide
			dst[i] = make([]float32, n)
			sum[i] = expSum(dst[i], src, 3)
		}
		assert.Equal(t, dst[0], dst[1], "n=%d: exponentials", n)
		assert.Equal(t, math.Float32bits(sum[0]), math.Float32bits(sum[1]), "n=%d: sum", n)
	}
}

// TestTranspose8 checks the transpose of 8 rows that packs B panels of a
// transposed weight against its definition, at lengths on and off the
// assembly's blocks of 8 and with padded strides on both sides.
func TestTranspose8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 9, 16, 31, 256} {
		for _, pad := range []int{0, 5} {
			lds, ldd := n+pad, 8+2*pad
			src := make([]float32, 7*lds+n)
			for i := range src {
				src[i] = r.Float32()
			}
			dst := make([]float32, (n-1)*ldd+8)
			transpose8(dst, ldd, src, lds, n)
			for q := range 8 {
				for p := range n {
					if dst[p*ldd+q] != src[q*lds+p] {
						t.Fatalf("n=%d pad=%d: dst[%d][%d] = %v, want src[%d][%d] = %v", n, pad, p, q, dst[p*ldd+q], q, p, src[q*lds+p])
					}
				}
			}
		}
	}
}
