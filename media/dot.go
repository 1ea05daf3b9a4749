package media

// dot returns the dot product of c and x[:len(c)]; len(c) must be a multiple of 4. It is
// the inner loop of every Resampler. dotSums adds the products up in eight partial sums,
// with the processor's vector instructions where there is an assembly version (amd64,
// arm64), which are then added up pairwise.
func dot(c, x []float32) float32 {
	if len(c)%4 != 0 || len(x) < len(c) {
		panic("media: dot of lengths that are not a multiple of 4 or do not match")
	}
	if len(c) == 0 {
		return 0
	}
	var s [8]float32
	dotSums(&c[0], &x[0], len(c), &s)
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))
}

// dotSumsGo is dotSums in Go: the version of processors without an assembly one, and the
// reference the assembly versions are tested against. Products i of each block of 8 go to
// sum i mod 8; a last block of 4 goes to sums 0 to 3.
func dotSumsGo(c, x []float32, s *[8]float32) {
	i := 0
	for ; i+8 <= len(c); i += 8 {
		cc, xx := c[i:i+8:i+8], x[i:i+8:i+8]
		for j := range 8 {
			s[j] += cc[j] * xx[j]
		}
	}
	if i+4 <= len(c) {
		cc, xx := c[i:i+4:i+4], x[i:i+4:i+4]
		for j := range 4 {
			s[j] += cc[j] * xx[j]
		}
	}
}

// dotRowsGo is dotRows in Go: the version of processors without an assembly one, and the
// reference the assembly versions are tested against. c holds len(x) rows of 8
// coefficients, c[j*8+p] multiplying x[j] into output p; len(x) is even. The products of
// even j go to s[p], those of odd j to s[8+p].
func dotRowsGo(c, x []float32, s *[16]float32) {
	*s = [16]float32{}
	for j := 0; j+2 <= len(x); j += 2 {
		even, odd := c[j*8:j*8+8:j*8+8], c[j*8+8:j*8+16:j*8+16]
		for p := range 8 {
			s[p] += even[p] * x[j]
			s[8+p] += odd[p] * x[j+1]
		}
	}
}
