//go:build !amd64 || purego

package tinylm

// useAVX2 is false where the amd64 assembly is not built; every kernel runs
// its portable Go version.
var useAVX2 = false

// useAVX512 is false where the amd64 assembly is not built.
var useAVX512 = false

// tileSize returns the rows and columns of the tile of the matrix kernel.
func tileSize() (mr, nr int) { return 6, 16 }

func kernel(k int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int, add []float32, ldadd int) {
	kernelGo(6, 16, k, a, rs, cs, b, ldb, c, ldc, add, ldadd)
}

func kernelRow(k int, a []float32, cs int, b []float32, ldb int, c, add []float32) {
	kernelGo(1, 16, k, a, 0, cs, b, ldb, c, 16, add, 0)
}

func axpy(alpha float32, x, y []float32) { axpyGo(alpha, x, y) }

func vmax(x []float32) float32 { return vmaxGo(x) }

func expSum(dst, src []float32, shift float32) float32 { return expSumGo(dst, src, shift) }

func scale(x []float32, s float32) { scaleGo(x, s) }

func tanh32(x []float32) { tanhGo(x) }

func adamUpdate(p, g, m, v []float32, c *[8]float32) { adamGo(p, g, m, v, c) }

func packRows(dst, src []float32, rows, ld, w int) { packRowsGo(dst, src, rows, ld, w) }

func transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	transpose8Go(dst, ldd, src, lds, n)
}
