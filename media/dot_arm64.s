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

// func dotRows(c, x *float32, taps int, s *[16]float32)
// Each sample of x, loaded into all four lanes, multiplies a row of 8 coefficients: even
// samples into V0 and V1, odd ones into V2 and V3, so that two chains of additions overlap.
TEXT ·dotRows(SB), NOSPLIT, $0-32
	MOVD c+0(FP), R0
	MOVD x+8(FP), R1
	MOVD taps+16(FP), R2
	MOVD s+24(FP), R3
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

pairs:
	CMP  $2, R2
	BLT  stored
	VLD1R.P 4(R1), [V4.S4]
	VLD1R.P 4(R1), [V5.S4]
	VLD1.P 64(R0), [V6.S4, V7.S4, V8.S4, V9.S4]
	VFMLA V6.S4, V4.S4, V0.S4
	VFMLA V7.S4, V4.S4, V1.S4
	VFMLA V8.S4, V5.S4, V2.S4
	VFMLA V9.S4, V5.S4, V3.S4
	SUB  $2, R2
	B    pairs

stored:
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R3)
	RET
