//go:build !amd64 && !arm64

package media

import "unsafe"

// dotSums adds c[i]*x[i], for i < n, into the eight partial sums s (dotSumsGo); n is a
// multiple of 4 and c and x hold at least n values.
func dotSums(c, x *float32, n int, s *[8]float32) {
	dotSumsGo(unsafe.Slice(c, n), unsafe.Slice(x, n), s)
}
