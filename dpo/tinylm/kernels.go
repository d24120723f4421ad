package tinylm

import (
	"math"
	"runtime"
	"sync/atomic"
)

// The matrix products of the model, in float32. One micro-kernel computes a
// tile of mr×nr elements of C (6×16 with AVX2 or in Go, 8×32 with
// AVX-512) from mr rows of A, read in place when they are rows or columns of
// a row-major matrix and packed otherwise, and a panel of nr columns of B
// packed contiguously, which keeps the panel in the L1 cache (and in few
// pages of the TLB) while the rows of A stream past it. sgemm tiles any
// product with it, in blocks of kc along the inner dimension. A product
// large enough to pay for more cores is cut into units of a block of strips
// of A by one panel of B, shared out by parallelFor to the crew of helpers
// (parallel.go) in one fork per product; the first unit to need a panel
// packs it for all. Packing B from a transposed view is how the backward
// pass multiplies by a transposed weight without a transposed copy.
//
// Every kernel sums each element of C from zero over its block of the inner
// dimension in order, with fused multiply-adds in the assembly, and then
// adds it to C, and every unit runs the blocks of its elements in order, so
// the result of an element depends neither on the tile shape nor on the
// rest of its tile, nor on how the units are shared out: the AVX2 and
// AVX-512 kernels give the same bits, and so does any number of cores.
const (
	kc = 256 // inner-dimension block

	// maxMR and maxNR bound the tile of any kernel.
	maxMR, maxNR = 8, 32

	// parallelWork is the number of multiply-adds above which a product is
	// split over the cores; below it handing out the units costs more than
	// it saves.
	parallelWork = 1 << 20

	// l2Floats is the share of the L2 cache, in floats, that the rows of
	// A multiplied by one panel may fill (256 KiB).
	l2Floats = 1 << 16
)

// matrix is a read-only view of a matrix: element (i, p) is
// data[i*rs + p*cs]. A row-major matrix has cs = 1; its transpose is the
// same data with the strides swapped.
type matrix struct {
	data   []float32
	rs, cs int
}

func (m matrix) at(i, p int) float32 { return m.data[i*m.rs+p*m.cs] }

// gemmBuf holds the packing buffers of sgemm, reused across calls by one
// goroutine (whose products parallelFor may share out).
type gemmBuf struct {
	packA  []float32
	packB  []float32       // B packed as packAll lays it out
	packed []atomic.Uint32 // per panel of packB: 0 to pack, 1 packing, 2 packed
}

// sgemm sets C to op(A)·B, adds op(A)·B to C when acc is true, or sets C
// to bias + op(A)·B, bias (n floats) added to every row, when bias is not
// nil (acc is then false). op(A) is the m×k view a, B the k×n view b, C is
// m×n row-major with row stride ldc. B may come packed by packAll in bp
// instead (b is then ignored), which saves repacking a weight that many
// products share. Adding the bias in the kernel gives the bits of copying
// it to C and accumulating, without the copy.
func sgemm(buf *gemmBuf, m, n, k int, a, b matrix, bp []float32, c []float32, ldc int, acc bool, bias []float32) {
	mr, nr := tileSize()
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			switch {
			case bias != nil:
				copy(c[i*ldc:i*ldc+n], bias[:n])
			case !acc:
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	// Full strips of a row-major A, or of the transpose of one, are read
	// in place with their strides; the others (the last partial strip, all
	// of a general view) are packed, zero-padded, as rows of mr: strip s,
	// inner index p, row r at packA[s*mr*k + p*mr + r]. Reading a
	// transposed A in place costs the kernel little (its mr elements of
	// each inner index are consecutive) and saves a pass over A whose
	// strided writes to the strips conflict in the cache.
	strips := (m + mr - 1) / mr
	inPlace := 0
	if a.cs == 1 || a.rs == 1 {
		inPlace = m / mr
	}
	buf.packA = grow(buf.packA, (strips-inPlace)*mr*k)
	for s := inPlace; s < strips; s++ {
		dst := buf.packA[(s-inPlace)*mr*k : (s-inPlace+1)*mr*k]
		rows := min(mr, m-s*mr)
		for p := range k {
			d := dst[p*mr : p*mr+mr]
			for r := range rows {
				d[r] = a.at(s*mr+r, p)
			}
			clear(d[rows:])
		}
	}
	strip := func(s, kb int) (data []float32, rs, cs int) {
		if s < inPlace {
			return a.data[s*mr*a.rs+kb*a.cs:], a.rs, a.cs
		}
		return buf.packA[(s-inPlace)*mr*k+kb*mr:], 1, mr
	}

	// Packing B pays when many strips reuse a panel; for the few rows of
	// token-by-token sampling a row-major B is read in place, all but a
	// partial last panel, which is packed zero-padded.
	packB := b.cs != 1 || strips >= 4
	panels := (n + nr - 1) / nr
	needPack := func(jp int) bool { return bp == nil && (packB || n-jp*nr < nr) }
	packed := bp
	if needPack(panels - 1) {
		buf.packB = grow(buf.packB, k*panels*nr)
		packed = buf.packB
		if cap(buf.packed) < panels {
			buf.packed = make([]atomic.Uint32, panels)
		}
		buf.packed = buf.packed[:panels]
		for i := range buf.packed {
			buf.packed[i].Store(0)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if m*n*k < parallelWork {
		workers = 1
	}
	// The work is split into units of a block of sb strips by one panel,
	// each summed over the whole inner dimension, block of kc by block of
	// kc, so every element of C is summed in the same order whatever the
	// number of workers. The strips of a block fit in a share of the L2
	// cache and are reused across panels by the worker that takes the
	// next unit; with several workers there are at least four units each
	// when there are strips enough.
	sb := max(1, l2Floats/(mr*k))
	if workers > 1 {
		blocks := (4*workers + panels - 1) / panels
		sb = min(sb, (strips+blocks-1)/blocks)
	}
	sb = min(sb, strips)
	blocks := (strips + sb - 1) / sb
	parallelFor(blocks*panels, workers, func(u int) {
		var tile [maxMR * maxNR]float32
		rb, jp := u/panels, u%panels
		j := jp * nr
		cols := min(nr, n-j)
		if needPack(jp) {
			// The first unit of a panel packs it for all of them.
			state := &buf.packed[jp]
			switch {
			case state.CompareAndSwap(0, 1):
				for kb := 0; kb < k; kb += kc {
					kl := min(kc, k-kb)
					off := kb*panels*nr + jp*kl*nr
					packPanel(packed[off:off+kl*nr], b, kb, kl, j, cols)
				}
				state.Store(2)
			default:
				for state.Load() != 2 {
					runtime.Gosched()
				}
			}
		}
		for kb := 0; kb < k; kb += kc {
			kl := min(kc, k-kb)
			add := acc || kb > 0
			panel, ldb := b.data[kb*b.rs+j:], b.rs
			if bp != nil || needPack(jp) {
				panel, ldb = packed[kb*panels*nr+jp*kl*nr:], nr
			}
			for s := rb * sb; s < min(strips, rb*sb+sb); s++ {
				i := s * mr
				rows := min(mr, m-i)
				ad, rs, cs := strip(s, kb)
				// What the sums are added to: C itself, the bias (row
				// stride 0) or nothing.
				var d []float32
				ldd := 0
				switch {
				case add:
					d, ldd = c[i*ldc+j:], ldc
				case bias != nil:
					d = bias[j:]
				}
				switch {
				case rows == mr && cols == nr:
					kernel(kl, ad, rs, cs, panel, ldb, c[i*ldc+j:], ldc, d, ldd)
					continue
				case rows == 1 && cols == nr:
					kernelRow(kl, ad, cs, panel, ldb, c[i*ldc+j:], d)
					continue
				case rows == 1:
					kernelRow(kl, ad, cs, panel, ldb, tile[:], nil)
				default:
					kernel(kl, ad, rs, cs, panel, ldb, tile[:], nr, nil, 0)
				}
				for r := range rows {
					ci := c[(i+r)*ldc+j : (i+r)*ldc+j+cols]
					ti := tile[r*nr : r*nr+cols]
					switch {
					case add:
						for q := range ci {
							ci[q] += ti[q]
						}
					case bias != nil:
						for q := range ci {
							ci[q] = bias[j+q] + ti[q]
						}
					default:
						copy(ci, ti)
					}
				}
			}
		}
	})
}

// packAll returns the k×n view b packed, as sgemm's bp argument takes it:
// for each block of kc rows, its panels of nr columns one after the
// other, each as packPanel lays it out.
func packAll(dst []float32, b matrix, k, n int) []float32 {
	_, nr := tileSize()
	panels := (n + nr - 1) / nr
	dst = grow(dst, k*panels*nr)
	for kb := 0; kb < k; kb += kc {
		kl := min(kc, k-kb)
		for jp := range panels {
			off := kb*panels*nr + jp*kl*nr
			packPanel(dst[off:off+kl*nr], b, kb, kl, jp*nr, min(nr, n-jp*nr))
		}
	}
	return dst
}

// packPanel copies rows kb…kb+kl−1 and columns j…j+cols−1 of b into dst as
// kl rows of nr, zero-padded on the right.
func packPanel(dst []float32, b matrix, kb, kl, j, cols int) {
	_, nr := tileSize()
	switch {
	case b.cs == 1 && cols == nr:
		packRows(dst, b.data[kb*b.rs+j:], kl, b.rs, nr)
	case b.cs == 1:
		for p := range kl {
			row := dst[p*nr : (p+1)*nr]
			src := b.data[(kb+p)*b.rs+j:]
			copy(row[:cols], src[:cols])
			clear(row[cols:])
		}
	case b.rs == 1:
		// A transposed row-major matrix: each column of the panel is
		// contiguous in memory.
		if cols < nr {
			clear(dst)
		}
		q := 0
		for ; q+8 <= cols; q += 8 {
			transpose8(dst[q:], nr, b.data[(j+q)*b.cs+kb:], b.cs, kl)
		}
		for ; q < cols; q++ {
			src := b.data[(j+q)*b.cs+kb:]
			src = src[:kl]
			for p, v := range src {
				dst[p*nr+q] = v
			}
		}
	default:
		for p := range kl {
			row := dst[p*nr : (p+1)*nr]
			for q := range cols {
				row[q] = b.at(kb+p, j+q)
			}
			clear(row[cols:])
		}
	}
}

// grow returns s resliced to n elements, reallocated when too short. The
// contents are unspecified.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// kernelGo is the portable micro-kernel of an mr×nr tile: the same
// arithmetic as the assembly kernels without fused multiply-adds.
func kernelGo(mr, nr, k int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, add []float32, ldadd int) {
	var t [maxMR][maxNR]float32
	for p := range k {
		bp := b[p*ldb : p*ldb+nr]
		for i := range mr {
			ai := a[i*rs+p*cs]
			ti := t[i][:nr]
			for j, bj := range bp {
				ti[j] += ai * bj
			}
		}
	}
	for i := range mr {
		ci := c[i*ldc : i*ldc+nr]
		if add != nil {
			di := add[i*ldadd : i*ldadd+nr]
			for j := range ci {
				ci[j] = di[j] + t[i][j]
			}
		} else {
			copy(ci, t[i][:nr])
		}
	}
}

func packRowsGo(dst, src []float32, rows, ld, w int) {
	for p := range rows {
		copy(dst[p*w:(p+1)*w], src[p*ld:p*ld+w])
	}
}

func transpose8Go(dst []float32, ldd int, src []float32, lds, n int) {
	for q := range 8 {
		for p, v := range src[q*lds : q*lds+n] {
			dst[p*ldd+q] = v
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

func tanhGo(x []float32) {
	for i, v := range x {
		x[i] = tanhf(v)
	}
}

// tanhf is a float32 hyperbolic tangent with absolute error below 1e-6: the
// (13, 6) rational approximation of Eigen's generic_fast_tanh_float on
// inputs clamped to ±9, where tanh is 1 in float32.
func tanhf(x float32) float32 {
	x = min(max(x, -9), 9)
	if x > -0.0004 && x < 0.0004 {
		return x
	}
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = p*x2 + 2.00018790482477e-13
	p = p*x2 + -8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	q := float32(1.19825839466702e-06)
	q = q*x2 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return x * p / q
}

// adamGo is the portable Adam update; c is as for adamAVX2.
func adamGo(p, g, m, v []float32, c *[8]float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	b1, omb1, b2, omb2, step, invSqrtC2, eps := c[0], c[1], c[2], c[3], c[4], c[5], c[6]
	for j, gj := range g {
		mj := b1*m[j] + omb1*gj
		vj := b2*v[j] + omb2*(gj*gj)
		m[j], v[j] = mj, vj
		p[j] -= step * mj / (float32(math.Sqrt(float64(vj)))*invSqrtC2 + eps)
	}
}
