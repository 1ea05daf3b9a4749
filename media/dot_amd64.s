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
