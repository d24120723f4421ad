//go:build !purego

#include "textflag.h"

// func cpuid(eax, ecx uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eax+0(FP), AX
	MOVL ecx+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func kernel6x16AVX2(k int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, add *float32, ldadd int)
//
// C[i][j] = D[i][j] + Σ_p A[i][p] · B[p][j] for i < 6, j < 16, where
// A[i][p] is a[i*rs + p*cs] (a row-major matrix, rs = its stride and cs =
// 1, or a packed strip, rs = 1 and cs = 6), B[p][j] is b[p*ldb + j] (a
// packed panel, ldb = 16, or a row-major matrix read in place), C is
// row-major with row stride ldc and D[i][j] is add[i*ldadd + j] (C itself
// to accumulate, a bias row with ldadd = 0) or 0 when add is nil. Every
// element is summed from zero in the order of p with fused multiply-adds
// and then added to D, whatever the addressing, so a row's result does not
// depend on the other rows of its tile. Twelve ymm
// accumulators keep both FMA pipes busy past their four-cycle latency; rows
// 3–5 are addressed from a second base register because x86 scales an index
// by at most 8.
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rs+16(FP), R9
	SHLQ $2, R9
	MOVQ cs+24(FP), R11
	SHLQ $2, R11
	MOVQ b+32(FP), BX
	MOVQ ldb+40(FP), DX
	SHLQ $2, DX
	LEAQ (AX)(R9*2), R10
	ADDQ R9, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JEQ   store

loop:
	VMOVUPS      (BX), Y12
	VMOVUPS      32(BX), Y13
	VBROADCASTSS (AX), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS (AX)(R9*1), Y15
	VFMADD231PS  Y12, Y15, Y2
	VFMADD231PS  Y13, Y15, Y3
	VBROADCASTSS (AX)(R9*2), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS (R10), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VBROADCASTSS (R10)(R9*1), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS (R10)(R9*2), Y15
	VFMADD231PS  Y12, Y15, Y10
	VFMADD231PS  Y13, Y15, Y11
	ADDQ         R11, AX
	ADDQ         R11, R10
	ADDQ         DX, BX
	DECQ         CX
	JNZ          loop

store:
	MOVQ  add+64(FP), R8
	TESTQ R8, R8
	JEQ   put
	MOVQ  ldadd+72(FP), R13
	SHLQ  $2, R13
	VADDPS (R8), Y0, Y0
	VADDPS 32(R8), Y1, Y1
	ADDQ   R13, R8
	VADDPS (R8), Y2, Y2
	VADDPS 32(R8), Y3, Y3
	ADDQ   R13, R8
	VADDPS (R8), Y4, Y4
	VADDPS 32(R8), Y5, Y5
	ADDQ   R13, R8
	VADDPS (R8), Y6, Y6
	VADDPS 32(R8), Y7, Y7
	ADDQ   R13, R8
	VADDPS (R8), Y8, Y8
	VADDPS 32(R8), Y9, Y9
	ADDQ   R13, R8
	VADDPS (R8), Y10, Y10
	VADDPS 32(R8), Y11, Y11

put:
	MOVQ    c+48(FP), DI
	MOVQ    ldc+56(FP), SI
	SHLQ    $2, SI
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET

// func axpyAVX2(alpha float32, x, y *float32, n int)
//
// y[i] += alpha·x[i] for i < n, n a multiple of 8.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JEQ          axdone

axloop:
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axloop

axdone:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[0:n], n a positive multiple of 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	SHRQ    $3, CX
	VMOVUPS (SI), Y0
	ADDQ    $32, SI
	DECQ    CX
	JEQ     mxreduce

mxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JNZ    mxloop

mxreduce:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET

DATA expc<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+4(SB)/4, $0x3f318000  // ln2 high part 0.693359375
DATA expc<>+8(SB)/4, $0xb95e8083  // ln2 low part -2.12194440e-4
DATA expc<>+12(SB)/4, $0x39506967 // 1.9875691500e-4
DATA expc<>+16(SB)/4, $0x3ab743ce // 1.3981999507e-3
DATA expc<>+20(SB)/4, $0x3c088908 // 8.3334519073e-3
DATA expc<>+24(SB)/4, $0x3d2aa9c1 // 4.1665795894e-2
DATA expc<>+28(SB)/4, $0x3e2aaaaa // 1.6666665459e-1
DATA expc<>+32(SB)/4, $0x3f000000 // 0.5
DATA expc<>+36(SB)/4, $0x3f800000 // 1
DATA expc<>+40(SB)/4, $0xc2aeac4f // -87.33654: below it exp underflows float32
DATA expc<>+44(SB)/4, $0x0000007f // exponent bias
GLOBL expc<>(SB), RODATA|NOPTR, $48

// func expSumAVX2(dst, src *float32, n int, shift float32) float32
//
// dst[i] = exp(src[i] − shift) for i < n (a multiple of 8), and returns the
// sum of dst. Cephes' expf: n = round(x·log2 e), r = x − n·ln 2 in two
// parts, a degree-5 polynomial, then 2ⁿ built in the exponent bits.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y15
	VXORPS       Y14, Y14, Y14
	VBROADCASTSS expc<>+0(SB), Y13
	VBROADCASTSS expc<>+4(SB), Y12
	VBROADCASTSS expc<>+8(SB), Y11
	VBROADCASTSS expc<>+40(SB), Y10
	VPBROADCASTD expc<>+44(SB), Y9
	VBROADCASTSS expc<>+36(SB), Y8
	SHRQ         $3, CX
	JEQ          exdone

exloop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y15, Y0, Y0
	VMAXPS       Y10, Y0, Y0
	VMULPS       Y13, Y0, Y1
	VROUNDPS     $0, Y1, Y1
	VFNMADD231PS Y12, Y1, Y0
	VFNMADD231PS Y11, Y1, Y0
	VBROADCASTSS expc<>+12(SB), Y2
	VBROADCASTSS expc<>+16(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+20(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+24(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+28(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+32(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VMULPS       Y0, Y0, Y4
	VFMADD213PS  Y0, Y4, Y2
	VADDPS       Y8, Y2, Y2
	VCVTPS2DQ    Y1, Y1
	VPADDD       Y9, Y1, Y1
	VPSLLD       $23, Y1, Y1
	VMULPS       Y1, Y2, Y2
	VMOVUPS      Y2, (DI)
	VADDPS       Y2, Y14, Y14
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          exloop

exdone:
	VEXTRACTF128 $1, Y14, X1
	VADDPS       X1, X14, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, ret+32(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, s float32)
//
// x[i] *= s for i < n, n a multiple of 8.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS s+16(FP), Y0
	SHRQ         $3, CX
	JEQ          scdone

scloop:
	VMULPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     scloop

scdone:
	VZEROUPPER
	RET

DATA tanhc<>+0(SB)/4, $0xa59f25c0  // α13
DATA tanhc<>+4(SB)/4, $0x2a61337e  // α11
DATA tanhc<>+8(SB)/4, $0xaebd37ff  // α9
DATA tanhc<>+12(SB)/4, $0x335c0041 // α7
DATA tanhc<>+16(SB)/4, $0x3779434a // α5
DATA tanhc<>+20(SB)/4, $0x3a270ded // α3
DATA tanhc<>+24(SB)/4, $0x3ba059dc // α1
DATA tanhc<>+28(SB)/4, $0x35a0d3d8 // β6
DATA tanhc<>+32(SB)/4, $0x38f895d6 // β4
DATA tanhc<>+36(SB)/4, $0x3b14aa05 // β2
DATA tanhc<>+40(SB)/4, $0x3ba059dd // β0
DATA tanhc<>+44(SB)/4, $0x41100000 // 9
DATA tanhc<>+48(SB)/4, $0xc1100000 // -9
DATA tanhc<>+52(SB)/4, $0x39d1b717 // 0.0004
DATA tanhc<>+56(SB)/4, $0x7fffffff // abs mask
GLOBL tanhc<>(SB), RODATA|NOPTR, $60

// func tanhAVX2(x *float32, n int)
//
// x[i] = tanh(x[i]) for i < n, n a multiple of 8: the rational
// approximation of tanhf, with x returned as is where |x| < 0.0004.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-16
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS tanhc<>+44(SB), Y13
	VBROADCASTSS tanhc<>+48(SB), Y12
	VBROADCASTSS tanhc<>+52(SB), Y11
	VBROADCASTSS tanhc<>+56(SB), Y10
	SHRQ         $3, CX
	JEQ          thdone

thloop:
	VMOVUPS      (DI), Y0
	VMINPS       Y13, Y0, Y1
	VMAXPS       Y12, Y1, Y1
	VMULPS       Y1, Y1, Y2
	VBROADCASTSS tanhc<>+0(SB), Y3
	VBROADCASTSS tanhc<>+4(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VBROADCASTSS tanhc<>+8(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VBROADCASTSS tanhc<>+12(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VBROADCASTSS tanhc<>+16(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VBROADCASTSS tanhc<>+20(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VBROADCASTSS tanhc<>+24(SB), Y4
	VFMADD213PS  Y4, Y2, Y3
	VMULPS       Y1, Y3, Y3
	VBROADCASTSS tanhc<>+28(SB), Y5
	VBROADCASTSS tanhc<>+32(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VBROADCASTSS tanhc<>+36(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VBROADCASTSS tanhc<>+40(SB), Y4
	VFMADD213PS  Y4, Y2, Y5
	VDIVPS       Y5, Y3, Y3
	VANDPS       Y10, Y0, Y6
	VCMPPS       $1, Y11, Y6, Y6
	VBLENDVPS    Y6, Y0, Y3, Y3
	VMOVUPS      Y3, (DI)
	ADDQ         $32, DI
	DECQ         CX
	JNZ          thloop

thdone:
	VZEROUPPER
	RET

// func adamAVX2(p, grad, m, v *float32, n int, c *[8]float32)
//
// One Adam update of n parameters (a multiple of 8) with the constants
// c = {β₁, 1−β₁, β₂, 1−β₂, step size, 1/√(1−β₂ᵗ), ε}:
// m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², p −= step·m/(√v/√(1−β₂ᵗ) + ε).
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), R8
	MOVQ         v+24(FP), R9
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), AX
	VBROADCASTSS 0(AX), Y15
	VBROADCASTSS 4(AX), Y14
	VBROADCASTSS 8(AX), Y13
	VBROADCASTSS 12(AX), Y12
	VBROADCASTSS 16(AX), Y11
	VBROADCASTSS 20(AX), Y10
	VBROADCASTSS 24(AX), Y9
	SHRQ         $3, CX
	JEQ          addone

adloop:
	VMOVUPS     (SI), Y0
	VMULPS      (R8), Y15, Y1
	VFMADD231PS Y0, Y14, Y1
	VMOVUPS     Y1, (R8)
	VMULPS      Y0, Y0, Y2
	VMULPS      (R9), Y13, Y3
	VFMADD231PS Y2, Y12, Y3
	VMOVUPS     Y3, (R9)
	VSQRTPS     Y3, Y3
	VMULPS      Y10, Y3, Y3
	VADDPS      Y9, Y3, Y3
	VMULPS      Y11, Y1, Y1
	VDIVPS      Y3, Y1, Y1
	VMOVUPS     (DI), Y4
	VSUBPS      Y1, Y4, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	ADDQ        $32, R8
	ADDQ        $32, R9
	DECQ        CX
	JNZ         adloop

addone:
	VZEROUPPER
	RET

// func packRowsAVX2(dst, src *float32, rows, ld, w int)
//
// Copies rows rows of w floats (w a positive multiple of 16),
// src[p*ld:p*ld+w] to dst[p*w:].
TEXT ·packRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), CX
	MOVQ  ld+24(FP), DX
	SHLQ  $2, DX
	MOVQ  w+32(FP), R8
	SHRQ  $4, R8
	TESTQ CX, CX
	JEQ   pkdone

pkrow:
	MOVQ SI, AX
	MOVQ R8, BX

pkloop:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, AX
	ADDQ    $64, DI
	DECQ    BX
	JNZ     pkloop
	ADDQ    DX, SI
	DECQ    CX
	JNZ     pkrow

pkdone:
	VZEROUPPER
	RET

// func kernel8x32AVX512(k int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int, add *float32, ldadd int)
//
// The AVX-512 form of kernel6x16AVX2 for a tile of eight rows and 32
// columns, with the same arithmetic per element (so the same bits):
// C[i][j] = D[i][j] + Σ_p A[i][p] · B[p][j] for i < 8, j < 32, addressed
// as there. Sixteen zmm accumulators
// (Z16–Z31) keep both FMA pipes busy; rows are addressed from three base
// registers, a, a+3rs and a+6rs, because x86 scales an index by at most 8.
TEXT ·kernel8x32AVX512(SB), NOSPLIT, $0-80
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), AX
	MOVQ   rs+16(FP), R9
	SHLQ   $2, R9
	MOVQ   cs+24(FP), R11
	SHLQ   $2, R11
	MOVQ   b+32(FP), BX
	MOVQ   ldb+40(FP), DX
	SHLQ   $2, DX
	LEAQ   (AX)(R9*2), R10
	ADDQ   R9, R10
	LEAQ   (R10)(R9*2), R12
	ADDQ   R9, R12
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	TESTQ  CX, CX
	JEQ    zstore

zloop:
	VMOVUPS      (BX), Z0
	VMOVUPS      64(BX), Z1
	VBROADCASTSS (AX), Z2
	VBROADCASTSS (AX)(R9*1), Z3
	VFMADD231PS  Z0, Z2, Z16
	VFMADD231PS  Z1, Z2, Z17
	VFMADD231PS  Z0, Z3, Z18
	VFMADD231PS  Z1, Z3, Z19
	VBROADCASTSS (AX)(R9*2), Z4
	VBROADCASTSS (R10), Z5
	VFMADD231PS  Z0, Z4, Z20
	VFMADD231PS  Z1, Z4, Z21
	VFMADD231PS  Z0, Z5, Z22
	VFMADD231PS  Z1, Z5, Z23
	VBROADCASTSS (AX)(R9*4), Z2
	VBROADCASTSS (R10)(R9*2), Z3
	VFMADD231PS  Z0, Z2, Z24
	VFMADD231PS  Z1, Z2, Z25
	VFMADD231PS  Z0, Z3, Z26
	VFMADD231PS  Z1, Z3, Z27
	VBROADCASTSS (R12), Z4
	VBROADCASTSS (R10)(R9*4), Z5
	VFMADD231PS  Z0, Z4, Z28
	VFMADD231PS  Z1, Z4, Z29
	VFMADD231PS  Z0, Z5, Z30
	VFMADD231PS  Z1, Z5, Z31
	ADDQ         R11, AX
	ADDQ         R11, R10
	ADDQ         R11, R12
	ADDQ         DX, BX
	DECQ         CX
	JNZ          zloop

zstore:
	MOVQ  add+64(FP), R8
	TESTQ R8, R8
	JEQ   zput
	MOVQ  ldadd+72(FP), R13
	SHLQ  $2, R13
	VADDPS (R8), Z16, Z16
	VADDPS 64(R8), Z17, Z17
	ADDQ   R13, R8
	VADDPS (R8), Z18, Z18
	VADDPS 64(R8), Z19, Z19
	ADDQ   R13, R8
	VADDPS (R8), Z20, Z20
	VADDPS 64(R8), Z21, Z21
	ADDQ   R13, R8
	VADDPS (R8), Z22, Z22
	VADDPS 64(R8), Z23, Z23
	ADDQ   R13, R8
	VADDPS (R8), Z24, Z24
	VADDPS 64(R8), Z25, Z25
	ADDQ   R13, R8
	VADDPS (R8), Z26, Z26
	VADDPS 64(R8), Z27, Z27
	ADDQ   R13, R8
	VADDPS (R8), Z28, Z28
	VADDPS 64(R8), Z29, Z29
	ADDQ   R13, R8
	VADDPS (R8), Z30, Z30
	VADDPS 64(R8), Z31, Z31

zput:
	MOVQ    c+48(FP), DI
	MOVQ    ldc+56(FP), SI
	SHLQ    $2, SI
	VMOVUPS Z16, (DI)
	VMOVUPS Z17, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z18, (DI)
	VMOVUPS Z19, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z20, (DI)
	VMOVUPS Z21, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z22, (DI)
	VMOVUPS Z23, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z24, (DI)
	VMOVUPS Z25, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z26, (DI)
	VMOVUPS Z27, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z28, (DI)
	VMOVUPS Z29, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z30, (DI)
	VMOVUPS Z31, 64(DI)
	VZEROUPPER
	RET

// func kernel1x16AVX2(k int, a *float32, cs int, b *float32, ldb int, c, add *float32)
//
// One row of kernel6x16AVX2, with the same arithmetic per element (so the
// same bits): c[j] = add[j] + Σ_p a[p*cs] · b[p*ldb + j] for j < 16 (add
// nil counting as zeros), for the single
// rows of token-by-token sampling, which the six-row kernel would compute
// six times over.
TEXT ·kernel1x16AVX2(SB), NOSPLIT, $0-56
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), AX
	MOVQ   cs+16(FP), R11
	SHLQ   $2, R11
	MOVQ   b+24(FP), BX
	MOVQ   ldb+32(FP), DX
	SHLQ   $2, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ  CX, CX
	JEQ    r1store

r1loop:
	VBROADCASTSS (AX), Y2
	VFMADD231PS  (BX), Y2, Y0
	VFMADD231PS  32(BX), Y2, Y1
	ADDQ         R11, AX
	ADDQ         DX, BX
	DECQ         CX
	JNZ          r1loop

r1store:
	MOVQ   c+40(FP), DI
	MOVQ   add+48(FP), R8
	TESTQ  R8, R8
	JEQ    r1put
	VADDPS (R8), Y0, Y0
	VADDPS 32(R8), Y1, Y1

r1put:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

// func kernel1x32AVX512(k int, a *float32, cs int, b *float32, ldb int, c, add *float32)
//
// One row of kernel8x32AVX512, with the same arithmetic per element:
// c[j] = add[j] + Σ_p a[p*cs] · b[p*ldb + j] for j < 32.
TEXT ·kernel1x32AVX512(SB), NOSPLIT, $0-56
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), AX
	MOVQ   cs+16(FP), R11
	SHLQ   $2, R11
	MOVQ   b+24(FP), BX
	MOVQ   ldb+32(FP), DX
	SHLQ   $2, DX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	TESTQ  CX, CX
	JEQ    z1store

z1loop:
	VBROADCASTSS (AX), Z2
	VFMADD231PS  (BX), Z2, Z16
	VFMADD231PS  64(BX), Z2, Z17
	ADDQ         R11, AX
	ADDQ         DX, BX
	DECQ         CX
	JNZ          z1loop

z1store:
	MOVQ   c+40(FP), DI
	MOVQ   add+48(FP), R8
	TESTQ  R8, R8
	JEQ    z1put
	VADDPS (R8), Z16, Z16
	VADDPS 64(R8), Z17, Z17

z1put:
	VMOVUPS Z16, (DI)
	VMOVUPS Z17, 64(DI)
	VZEROUPPER
	RET

// func expSumAVX512(dst, src *float32, n int, shift float32) float32
//
// expSumAVX2 sixteen elements at a time, with the same arithmetic and so
// the same bits: each exponential as there, and the sum accumulated in
// eight lanes, lane j adding elements j, j+8, j+16, … in order (the low
// half of each zmm before its high half), then reduced as there. n is a
// multiple of 8; a last block of eight runs the AVX2 loop body.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Z15
	VXORPS       Y14, Y14, Y14
	VBROADCASTSS expc<>+0(SB), Z13
	VBROADCASTSS expc<>+4(SB), Z12
	VBROADCASTSS expc<>+8(SB), Z11
	VBROADCASTSS expc<>+40(SB), Z10
	VPBROADCASTD expc<>+44(SB), Z9
	VBROADCASTSS expc<>+36(SB), Z8
	MOVQ         CX, DX
	SHRQ         $4, CX
	JEQ          ex5tail

ex5loop:
	VMOVUPS      (SI), Z0
	VSUBPS       Z15, Z0, Z0
	VMAXPS       Z10, Z0, Z0
	VMULPS       Z13, Z0, Z1
	VRNDSCALEPS  $0, Z1, Z1
	VFNMADD231PS Z12, Z1, Z0
	VFNMADD231PS Z11, Z1, Z0
	VBROADCASTSS expc<>+12(SB), Z2
	VBROADCASTSS expc<>+16(SB), Z3
	VFMADD213PS  Z3, Z0, Z2
	VBROADCASTSS expc<>+20(SB), Z3
	VFMADD213PS  Z3, Z0, Z2
	VBROADCASTSS expc<>+24(SB), Z3
	VFMADD213PS  Z3, Z0, Z2
	VBROADCASTSS expc<>+28(SB), Z3
	VFMADD213PS  Z3, Z0, Z2
	VBROADCASTSS expc<>+32(SB), Z3
	VFMADD213PS  Z3, Z0, Z2
	VMULPS       Z0, Z0, Z4
	VFMADD213PS  Z0, Z4, Z2
	VADDPS       Z8, Z2, Z2
	VCVTPS2DQ    Z1, Z1
	VPADDD       Z9, Z1, Z1
	VPSLLD       $23, Z1, Z1
	VMULPS       Z1, Z2, Z2
	VMOVUPS      Z2, (DI)
	VEXTRACTF64X4 $1, Z2, Y3
	VADDPS       Y2, Y14, Y14
	VADDPS       Y3, Y14, Y14
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          ex5loop

ex5tail:
	TESTQ        $8, DX
	JEQ          ex5done
	VMOVUPS      (SI), Y0
	VSUBPS       Y15, Y0, Y0
	VMAXPS       Y10, Y0, Y0
	VMULPS       Y13, Y0, Y1
	VROUNDPS     $0, Y1, Y1
	VFNMADD231PS Y12, Y1, Y0
	VFNMADD231PS Y11, Y1, Y0
	VBROADCASTSS expc<>+12(SB), Y2
	VBROADCASTSS expc<>+16(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+20(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+24(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+28(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VBROADCASTSS expc<>+32(SB), Y3
	VFMADD213PS  Y3, Y0, Y2
	VMULPS       Y0, Y0, Y4
	VFMADD213PS  Y0, Y4, Y2
	VADDPS       Y8, Y2, Y2
	VCVTPS2DQ    Y1, Y1
	VPADDD       Y9, Y1, Y1
	VPSLLD       $23, Y1, Y1
	VMULPS       Y1, Y2, Y2
	VMOVUPS      Y2, (DI)
	VADDPS       Y2, Y14, Y14

ex5done:
	VEXTRACTF128 $1, Y14, X1
	VADDPS       X1, X14, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, ret+32(FP)
	VZEROUPPER
	RET

// func transposeAVX2(dst *float32, ldd int, src *float32, lds int, blocks int)
//
// Transposes blocks 8×8 blocks: the 8 rows src[q*lds + 8b : q*lds + 8b+8]
// (q < 8) of block b become the rows dst[(8b+i)*ldd : (8b+i)*ldd+8]
// (i < 8), dst[(8b+i)*ldd + q] = src[q*lds + 8b+i].
TEXT ·transposeAVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  ldd+8(FP), DX
	SHLQ  $2, DX
	MOVQ  src+16(FP), SI
	MOVQ  lds+24(FP), R8
	SHLQ  $2, R8
	MOVQ  blocks+32(FP), CX
	LEAQ  (R8)(R8*2), R9  // 3·lds
	LEAQ  (SI)(R8*4), R10 // rows 4…7 of src
	LEAQ  (DX)(DX*2), R11 // 3·ldd
	LEAQ  (DI)(DX*4), R12 // rows 4…7 of a dst block
	MOVQ  DX, R13
	SHLQ  $3, R13         // 8·ldd
	TESTQ CX, CX
	JEQ   trdone

trloop:
	VMOVUPS    (SI), Y0
	VMOVUPS    (SI)(R8*1), Y1
	VMOVUPS    (SI)(R8*2), Y2
	VMOVUPS    (SI)(R9*1), Y3
	VMOVUPS    (R10), Y4
	VMOVUPS    (R10)(R8*1), Y5
	VMOVUPS    (R10)(R8*2), Y6
	VMOVUPS    (R10)(R9*1), Y7
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y14, Y12, Y4
	VSHUFPS    $0xEE, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, (DI)
	VMOVUPS    Y9, (DI)(DX*1)
	VMOVUPS    Y10, (DI)(DX*2)
	VMOVUPS    Y11, (DI)(R11*1)
	VMOVUPS    Y12, (R12)
	VMOVUPS    Y13, (R12)(DX*1)
	VMOVUPS    Y14, (R12)(DX*2)
	VMOVUPS    Y15, (R12)(R11*1)
	ADDQ       $32, SI
	ADDQ       $32, R10
	ADDQ       R13, DI
	ADDQ       R13, R12
	DECQ       CX
	JNZ        trloop

trdone:
	VZEROUPPER
	RET
