//go:build !purego

package tinylm

// Assembly kernels for amd64 with AVX2 and FMA (kernels_amd64.s). The Go
// toolchain assembles them; no cgo is involved. useAVX2 is decided once from
// CPUID, and tests switch it off to check the portable kernels against them.

//go:noescape
func kernel6x16AVX2(k int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, acc bool)

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expSumAVX2(dst, src *float32, n int, shift float32) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func tanhAVX2(x *float32, n int)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, c *[8]float32)

//go:noescape
func pack16AVX2(dst, src *float32, rows, ld int)

func cpuid(eax, ecx uint32) (a, b, c, d uint32)

func xgetbv() (eax, edx uint32)

// useAVX2 selects the assembly kernels; tests clear it to run the portable
// ones on the same inputs.
var useAVX2 = detectAVX2()

func kernel(k int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if !useAVX2 {
		kernelGo(k, a, rs, cs, b, ldb, c, ldc, acc)
		return
	}
	if k > 0 {
		// Bounds checks here turn a driver bug into a panic instead of
		// memory corruption in the assembly.
		_, _ = a[(mr-1)*rs+(k-1)*cs], b[(k-1)*ldb+nr-1]
	}
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x16AVX2(k, &a[0], rs, cs, &b[0], ldb, &c[0], ldc, acc)
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
		s = expSumAVX2(&dst[0], &src[0], n, shift)
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

// pack16 copies rows rows of sixteen floats from src (row stride ld) to dst.
func pack16(dst, src []float32, rows, ld int) {
	if rows == 0 {
		return
	}
	if !useAVX2 {
		pack16Go(dst, src, rows, ld)
		return
	}
	_, _ = dst[rows*nr-1], src[(rows-1)*ld+nr-1]
	pack16AVX2(&dst[0], &src[0], rows, ld)
}
