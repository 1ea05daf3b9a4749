//go:build amd64 || arm64

package media

// dotSums adds c[i]*x[i], for i < n, into the eight partial sums s as dotSumsGo does; n is
// a multiple of 4 and c and x hold at least n values. It is written in assembly, with
// four-lane vector instructions (SSE on amd64, NEON on arm64).
//
//go:noescape
func dotSums(c, x *float32, n int, s *[8]float32)

// dotRows sets s to eight dot products of one window x[:taps] at once, as dotRowsGo does:
// c holds taps rows of 8 coefficients, and taps is even. It is written in assembly, the
// window's samples broadcast to four lanes.
//
//go:noescape
func dotRows(c, x *float32, taps int, s *[16]float32)
