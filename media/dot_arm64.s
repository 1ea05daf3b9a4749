#include "textflag.h"

// func dotSums(c, x *float32, n int, s *[8]float32)
// Two accumulators of four lanes (V0, V1) take blocks of 8 with fused multiply-adds; a
// last block of 4 goes to V0.
TEXT ·dotSums(SB), NOSPLIT, $0-32
	MOVD c+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	MOVD s+24(FP), R3
	VLD1 (R3), [V0.S4, V1.S4]

blocks:
	CMP  $8, R2
	BLT  last
	VLD1.P 32(R0), [V2.S4, V3.S4]
	VLD1.P 32(R1), [V4.S4, V5.S4]
	VFMLA V2.S4, V4.S4, V0.S4
	VFMLA V3.S4, V5.S4, V1.S4
	SUB  $8, R2
	B    blocks

last:
	CMP  $4, R2
	BLT  done
	VLD1 (R0), [V2.S4]
	VLD1 (R1), [V4.S4]
	VFMLA V2.S4, V4.S4, V0.S4

done:
	VST1 [V0.S4, V1.S4], (R3)
	RET
