//go:build !purego

package tinylm

// Assembly kernels for amd64 with AVX2 and FMA, and a matrix micro-kernel
// for AVX-512 (kernels_amd64.s). The Go toolchain assembles them; no cgo is
// involved. useAVX2 and useAVX512 are decided once from CPUID, and tests
// switch them off to check the other kernels against them.

//go:noescape
func kernel6x16AVX2(k int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, add *float32, ldadd int)

//go:noescape
func kernel8x32AVX512(k int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, add *float32, ldadd int)

//go:noescape
func kernel1x16AVX2(k int, a *float32, cs int, b *float32, ldb int, c, add *float32)

//go:noescape
func kernel1x32AVX512(k int, a *float32, cs int, b *float32, ldb int, c, add *float32)

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expSumAVX2(dst, src *float32, n int, shift float32) float32

//go:noescape
func expSumAVX512(dst, src *float32, n int, shift float32) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func tanhAVX2(x *float32, n int)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, c *[8]float32)

//go:noescape
func packRowsAVX2(dst, src *float32, rows, ld, w int)

//go:noescape
func transposeAVX2(dst *float32, ldd int, src *float32, lds int, blocks int)

func cpuid(eax, ecx uint32) (a, b, c, d uint32)

func xgetbv() (eax, edx uint32)

// useAVX2 selects the assembly kernels, and useAVX512 (which implies
// useAVX2) the AVX-512 forms of the matrix kernels and of expSum among them;
// tests clear them to run the other kernels on the same inputs.
var (
	useAVX2   = detectAVX2()
	useAVX512 = useAVX2 && detectAVX512()
)

// tileSize returns the rows and columns of the tile of the matrix kernel in
// use.
func tileSize() (mr, nr int) {
	if useAVX512 {
		return 8, 32
	}
	return 6, 16
}

// kernel computes one tile of sgemm with the kernel in use, as
// kernel6x16AVX2 documents: c = add + a·b, add (row stride ldadd) nil for
// none, c itself to accumulate.
func kernel(k int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, add []float32, ldadd int) {
	mr, nr := tileSize()
	if !useAVX2 {
		kernelGo(mr, nr, k, a, rs, cs, b, ldb, c, ldc, add, ldadd)
		return
	}
	if k > 0 {
		// Bounds checks here turn a driver bug into a panic instead of
		// memory corruption in the assembly.
		_, _ = a[(mr-1)*rs+(k-1)*cs], b[(k-1)*ldb+nr-1]
	}
	_ = c[(mr-1)*ldc+nr-1]
	var ap *float32
	if add != nil {
		_ = add[(mr-1)*ldadd+nr-1]
		ap = &add[0]
	}
	if useAVX512 {
		kernel8x32AVX512(k, &a[0], rs, cs, &b[0], ldb, &c[0], ldc, ap, ldadd)
		return
	}
	kernel6x16AVX2(k, &a[0], rs, cs, &b[0], ldb, &c[0], ldc, ap, ldadd)
}

// kernelRow computes one row of a tile, c[0:nr] = add[0:nr] + Σ_p
// a[p*cs]·b[p*ldb:] (add nil for none), with the arithmetic of kernel: the
// single rows of token-by-token sampling cost one row's work instead of a
// whole tile's.
func kernelRow(k int, a []float32, cs int, b []float32, ldb int, c, add []float32) {
	_, nr := tileSize()
	if !useAVX2 {
		kernelGo(1, nr, k, a, 0, cs, b, ldb, c, nr, add, 0)
		return
	}
	if k > 0 {
		_, _ = a[(k-1)*cs], b[(k-1)*ldb+nr-1]
	}
	_ = c[nr-1]
	var ap *float32
	if add != nil {
		_ = add[nr-1]
		ap = &add[0]
	}
	if useAVX512 {
		kernel1x32AVX512(k, &a[0], cs, &b[0], ldb, &c[0], ap)
		return
	}
	kernel1x16AVX2(k, &a[0], cs, &b[0], ldb, &c[0], ap)
}

func axpy(alpha float32, x, y []float32) {
	x = x[:len(y)]
	n := 0
	if useAVX2 && len(y) >= 8 {
		n = len(y) &^ 7
		axpyAVX2(alpha, &x[0], &y[0], n)
	}
	axpyGo(alpha, x[n:], y[n:])
}

func vmax(x []float32) float32 {
	if !useAVX2 || len(x) < 8 {
		return vmaxGo(x)
	}
	n := len(x) &^ 7
	m := maxAVX2(&x[0], n)
	if n < len(x) {
		m = max(m, vmaxGo(x[n:]))
	}
	return m
}

func expSum(dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	n := 0
	var s float32
	if useAVX2 && len(src) >= 8 {
		n = len(src) &^ 7
		if useAVX512 {
			s = expSumAVX512(&dst[0], &src[0], n, shift)
		} else {
			s = expSumAVX2(&dst[0], &src[0], n, shift)
		}
	}
	return s + expSumGo(dst[n:], src[n:], shift)
}

func scale(x []float32, s float32) {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		scaleAVX2(&x[0], n, s)
	}
	scaleGo(x[n:], s)
}

// detectAVX2 reports whether the CPU has AVX2 and FMA and the operating
// system saves the ymm registers across context switches.
func detectAVX2() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&fma == 0 || c1&osxsave == 0 || c1&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}

// detectAVX512 reports whether the CPU has AVX-512 Foundation and the
// operating system saves the opmask and all 512 bits of the 32 vector
// registers (XCR0 bits 5–7 as well as 1–2). Called only when detectAVX2
// holds.
func detectAVX512() bool {
	if xcr0, _ := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<16) != 0
}

func tanh32(x []float32) {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		tanhAVX2(&x[0], n)
	}
	tanhGo(x[n:])
}

func adamUpdate(p, g, m, v []float32, c *[8]float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	n := 0
	if useAVX2 && len(p) >= 8 {
		n = len(p) &^ 7
		adamAVX2(&p[0], &g[0], &m[0], &v[0], n, c)
	}
	adamGo(p[n:], g[n:], m[n:], v[n:], c)
}

// packRows copies rows rows of w floats (w a multiple of 16) from src (row
// stride ld) to dst, one after the other.
func packRows(dst, src []float32, rows, ld, w int) {
	if rows == 0 {
		return
	}
	if !useAVX2 {
		packRowsGo(dst, src, rows, ld, w)
		return
	}
	_, _ = dst[rows*w-1], src[(rows-1)*ld+w-1]
	packRowsAVX2(&dst[0], &src[0], rows, ld, w)
}

// transpose8 sets dst[p*ldd + q] = src[q*lds + p] for q < 8 and p < n: it
// writes the transpose of 8 rows of n floats (row stride lds) as n rows of 8
// (row stride ldd).
func transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	if n == 0 {
		return
	}
	_, _ = dst[(n-1)*ldd+7], src[7*lds+n-1]
	p := 0
	if useAVX2 && n >= 8 {
		p = n &^ 7
		transposeAVX2(&dst[0], ldd, &src[0], lds, p/8)
	}
	if p < n {
		transpose8Go(dst[p*ldd:], ldd, src[p:], lds, n-p)
	}
}
