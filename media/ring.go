package media

import "sync/atomic"

// A Ring is a fixed-capacity FIFO of samples between exactly one producer goroutine and
// exactly one consumer goroutine, such as a real-time audio callback and an RTP pump. It is
// lock-free: Write and Read never block and never allocate, so the audio callback can call
// them. Write must only be called by the producer and Read only by the consumer; Len may be
// called from anywhere.
type Ring struct {
	buf []int16
	// w counts every sample ever written; only the producer stores it.
	w atomic.Uint64
	// The padding keeps the two counters on separate cache lines, so the producer and the
	// consumer do not invalidate each other's line on every call.
	_ [56]byte
	// r counts every sample ever read; only the consumer stores it.
	r atomic.Uint64
	_ [56]byte
}

// NewRing returns an empty Ring that holds up to capacity samples. It panics if capacity is
// less than 1, as make does for a negative length.
func NewRing(capacity int) *Ring {
	if capacity < 1 {
		panic("media: NewRing: capacity must be at least 1")
	}
	return &Ring{buf: make([]int16, capacity)}
}

// Write appends as many samples of p as fit and drops the rest. It returns the number of
// samples written.
func (q *Ring) Write(p []int16) int {
	w := q.w.Load()
	// The load of r synchronises with the consumer's store, so the slots it freed are ours.
	free := len(q.buf) - int(w-q.r.Load())
	n := min(len(p), free)
	if n <= 0 {
		return 0
	}
	i := int(w % uint64(len(q.buf)))
	c := copy(q.buf[i:], p[:n])
	copy(q.buf, p[c:n])
	// The store publishes the samples copied above to the consumer.
	q.w.Store(w + uint64(n))
	return n
}

// Read moves up to len(p) of the oldest samples into p and returns how many it moved.
func (q *Ring) Read(p []int16) int {
	r := q.r.Load()
	n := min(len(p), int(q.w.Load()-r))
	if n <= 0 {
		return 0
	}
	i := int(r % uint64(len(q.buf)))
	c := copy(p[:n], q.buf[i:])
	copy(p[c:n], q.buf)
	q.r.Store(r + uint64(n))
	return n
}

// Len returns the number of samples buffered. Called by neither the producer nor the
// consumer it is a snapshot that may be stale by the time it returns.
func (q *Ring) Len() int {
	// r first: w only grows, so w-r cannot go negative; it can briefly exceed the capacity
	// if the consumer read and the producer refilled between the two loads.
	r := q.r.Load()
	return min(int(q.w.Load()-r), len(q.buf))
}

// Cap returns the capacity given to NewRing.
func (q *Ring) Cap() int { return len(q.buf) }
