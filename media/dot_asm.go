//go:build amd64 || arm64

package media

// dotSums adds c[i]*x[i], for i < n, into the eight partial sums s as dotSumsGo does; n is
// a multiple of 4 and c and x hold at least n values. It is written in assembly, with
// four-lane vector instructions (SSE on amd64, NEON on arm64).
//
//go:noescape
func dotSums(c, x *float32, n int, s *[8]float32)
