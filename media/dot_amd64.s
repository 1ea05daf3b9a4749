#include "textflag.h"

// func dotSums(c, x *float32, n int, s *[8]float32)
// Two accumulators of four lanes (X0, X1) take blocks of 8; a last block of 4 goes to X0.
TEXT ·dotSums(SB), NOSPLIT, $0-32
	MOVQ  c+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  n+16(FP), CX
	MOVQ  s+24(FP), DX
	MOVUPS (DX), X0
	MOVUPS 16(DX), X1

blocks:
	CMPQ  CX, $8
	JLT   last
	MOVUPS (SI), X2
	MOVUPS (DI), X3
	MULPS X3, X2
	ADDPS X2, X0
	MOVUPS 16(SI), X4
	MOVUPS 16(DI), X5
	MULPS X5, X4
	ADDPS X4, X1
	ADDQ  $32, SI
	ADDQ  $32, DI
	SUBQ  $8, CX
	JMP   blocks

last:
	CMPQ  CX, $4
	JLT   done
	MOVUPS (SI), X2
	MOVUPS (DI), X3
	MULPS X3, X2
	ADDPS X2, X0

done:
	MOVUPS X0, (DX)
	MOVUPS X1, 16(DX)
	RET

// func dotRows(c, x *float32, taps int, s *[16]float32)
// Each sample of x, broadcast to four lanes, multiplies a row of 8 coefficients: even
// samples into X0 and X1, odd ones into X2 and X3, so that two chains of additions overlap.
TEXT ·dotRows(SB), NOSPLIT, $0-32
	MOVQ  c+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  taps+16(FP), CX
	MOVQ  s+24(FP), DX
	XORPS X0, X0
	XORPS X1, X1
	XORPS X2, X2
	XORPS X3, X3

pairs:
	CMPQ  CX, $2
	JLT   stored
	MOVSS (DI), X4
	SHUFPS $0, X4, X4
	MOVUPS (SI), X5
	MULPS X4, X5
	ADDPS X5, X0
	MOVUPS 16(SI), X6
	MULPS X4, X6
	ADDPS X6, X1
	MOVSS 4(DI), X7
	SHUFPS $0, X7, X7
	MOVUPS 32(SI), X8
	MULPS X7, X8
	ADDPS X8, X2
	MOVUPS 48(SI), X9
	MULPS X7, X9
	ADDPS X9, X3
	ADDQ  $64, SI
	ADDQ  $8, DI
	SUBQ  $2, CX
	JMP   pairs

stored:
	MOVUPS X0, (DX)
	MOVUPS X1, 16(DX)
	MOVUPS X2, 32(DX)
	MOVUPS X3, 48(DX)
	RET
