package tinylm

import (
	"math"
	"runtime"
	"sync"
)

// The matrix products of the model, in float32. One micro-kernel computes a
// 6×16 tile of C from a packed strip of six rows of A and sixteen columns of
// B read in place; sgemm tiles any product with it, in blocks of kc along the
// inner dimension so that a panel of B stays in the L1 cache while the strips
// of A stream past it, and splits the panels of B over the cores when the
// product is large enough to pay for the goroutines.
const (
	mr = 6   // rows of a micro-kernel tile
	nr = 16  // columns of a micro-kernel tile: two ymm registers
	kc = 256 // inner-dimension block

	// parallelWork is the number of multiply-adds above which a product is
	// split over the cores; below it goroutine start-up costs more than it
	// saves.
	parallelWork = 1 << 20
)

// matrix is a read-only view of a row-major matrix: element (i, p) is
// data[i*rs + p*cs]. A transposed view swaps the strides, so no product needs
// a transposed copy of its left operand.
type matrix struct {
	data   []float32
	rs, cs int
}

// gemmBuf holds the packing buffers of sgemm, reused across calls by one
// goroutine.
type gemmBuf struct {
	packA []float32
	edgeB []float32
}

// sgemm sets C to op(A)·B, or adds op(A)·B to C when acc is true. op(A) is
// m×k, B is k×n row-major with row stride ldb, C is m×n row-major with row
// stride ldc.
func sgemm(buf *gemmBuf, m, n, k int, a matrix, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !acc {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	if m < 4 {
		// Row by row is faster for the few rows of token-by-token sampling,
		// which would waste most of a six-row tile.
		for i := range m {
			ci := c[i*ldc : i*ldc+n]
			if !acc {
				clear(ci)
			}
			for p := range k {
				if v := a.data[i*a.rs+p*a.cs]; v != 0 {
					axpy(v, b[p*ldb:p*ldb+n], ci)
				}
			}
		}
		return
	}

	strips := (m + mr - 1) / mr
	buf.packA = grow(buf.packA, strips*mr*k)
	pack := buf.packA
	for s := range strips {
		dst := pack[s*mr*k : (s+1)*mr*k]
		rows := min(mr, m-s*mr)
		for r := range rows {
			src := a.data[(s*mr+r)*a.rs:]
			for p := range k {
				dst[p*mr+r] = src[p*a.cs]
			}
		}
		for r := rows; r < mr; r++ {
			for p := range k {
				dst[p*mr+r] = 0
			}
		}
	}

	panels := (n + nr - 1) / nr
	if w := n % nr; w != 0 {
		// The last panel is narrower than the kernel: copy it, zero-padded.
		buf.edgeB = grow(buf.edgeB, k*nr)
		j := (panels - 1) * nr
		for p := range k {
			row := buf.edgeB[p*nr : (p+1)*nr]
			copy(row, b[p*ldb+j:p*ldb+j+w])
			clear(row[w:])
		}
	}

	run := func(j0, j1 int) {
		var tile [mr * nr]float32
		for kb := 0; kb < k; kb += kc {
			kl := min(kc, k-kb)
			add := acc || kb > 0
			for jp := j0; jp < j1; jp++ {
				j := jp * nr
				w := min(nr, n-j)
				bp, lb := b[kb*ldb+j:], ldb
				if w < nr {
					bp, lb = buf.edgeB[kb*nr:], nr
				}
				for s := range strips {
					i := s * mr
					h := min(mr, m-i)
					ap := pack[s*mr*k+kb*mr:]
					if h == mr && w == nr {
						kernel(kl, ap, bp, lb, c[i*ldc+j:], ldc, add)
						continue
					}
					kernel(kl, ap, bp, lb, tile[:], nr, false)
					for r := range h {
						ci := c[(i+r)*ldc+j : (i+r)*ldc+j+w]
						ti := tile[r*nr : r*nr+w]
						if add {
							for q := range ci {
								ci[q] += ti[q]
							}
						} else {
							copy(ci, ti)
						}
					}
				}
			}
		}
	}

	workers := min(runtime.GOMAXPROCS(0), panels)
	if workers < 2 || m*n*k < parallelWork {
		run(0, panels)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		j0, j1 := w*panels/workers, (w+1)*panels/workers
		wg.Go(func() { run(j0, j1) })
	}
	wg.Wait()
}

// parallelRows calls f over consecutive ranges of [0, n) that together cover
// it, on up to GOMAXPROCS goroutines when work (an operation count) is large.
func parallelRows(n, work int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 || work < parallelWork/4 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// grow returns s resliced to n elements, reallocated when too short. The
// contents are unspecified.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// kernelGo is the portable micro-kernel: the same arithmetic as
// kernel6x16AVX2 without fused multiply-adds.
func kernelGo(k int, a, b []float32, ldb int, c []float32, ldc int, acc bool) {
	var t [mr][nr]float32
	for p := range k {
		ap := a[p*mr : p*mr+mr]
		bp := b[p*ldb : p*ldb+nr]
		for i, ai := range ap {
			ti := &t[i]
			for j, bj := range bp {
				ti[j] += ai * bj
			}
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr]
		if acc {
			for j := range ci {
				ci[j] += t[i][j]
			}
		} else {
			copy(ci, t[i][:])
		}
	}
}

func axpyGo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}

func vmaxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

func scaleGo(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

func expSumGo(dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	var s float32
	for i, v := range src {
		e := expf(v - shift)
		dst[i] = e
		s += e
	}
	return s
}

// Constants of Cephes' expf, shared with the assembly.
const (
	expLog2e = 1.44269504088896341
	expLn2Hi = 0.693359375
	expLn2Lo = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 0.5
	// expMin is the least argument whose exponential is a normal float32.
	expMin = -87.33654
)

// expf is Cephes' single-precision exponential (relative error below 2e-7 on
// [expMin, 88]): n = round(x·log2 e), r = x − n·ln 2 in two parts so the
// reduction is exact, a degree-5 polynomial in r, then a scaling by 2ⁿ built
// in the exponent bits. Arguments below expMin give exp(expMin).
func expf(x float32) float32 {
	x = max(x, expMin)
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - n*expLn2Hi
	r -= n * expLn2Lo
	y := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	y = y*(r*r) + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}
