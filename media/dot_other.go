//go:build !amd64 && !arm64

package media

import "unsafe"

// dotSums adds c[i]*x[i], for i < n, into the eight partial sums s (dotSumsGo); n is a
// multiple of 4 and c and x hold at least n values.
func dotSums(c, x *float32, n int, s *[8]float32) {
	dotSumsGo(unsafe.Slice(c, n), unsafe.Slice(x, n), s)
}

// dotRows sets s to eight dot products of one window x[:taps] at once (dotRowsGo): c holds
// taps rows of 8 coefficients, and taps is even.
func dotRows(c, x *float32, taps int, s *[16]float32) {
	dotRowsGo(unsafe.Slice(c, taps*8), unsafe.Slice(x, taps), s)
}
