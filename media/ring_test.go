package media

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	q := NewRing(5)
	if got := q.Write([]int16{1, 2, 3}); got != 3 {
		t.Fatalf("Write 3 into empty ring of 5 = %d, want 3", got)
	}
	out := make([]int16, 2)
	if got := q.Read(out); got != 2 || !slices.Equal(out, []int16{1, 2}) {
		t.Fatalf("Read 2 = %d %v, want 2 [1 2]", got, out)
	}
	// Wraps: slots 3 and 4 then 0 and 1; the fifth sample does not fit.
	if got := q.Write([]int16{4, 5, 6, 7, 8}); got != 4 {
		t.Fatalf("Write 5 into ring holding 1 of 5 = %d, want 4", got)
	}
	if got := q.Len(); got != 5 {
		t.Fatalf("Len = %d, want 5", got)
	}
	if got := q.Write([]int16{9}); got != 0 {
		t.Fatalf("Write into full ring = %d, want 0", got)
	}
	out = make([]int16, 8)
	if got := q.Read(out); got != 5 || !slices.Equal(out[:got], []int16{3, 4, 5, 6, 7}) {
		t.Fatalf("Read 8 = %d %v, want 5 [3 4 5 6 7]", got, out[:got])
	}
	if got := q.Read(out); got != 0 || q.Len() != 0 {
		t.Fatalf("Read from empty ring = %d (Len %d), want 0", got, q.Len())
	}
	if got := q.Cap(); got != 5 {
		t.Fatalf("Cap = %d, want 5", got)
	}
}

func TestNewRingRejectsZeroCapacity(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewRing(0) did not panic")
		}
	}()
	NewRing(0)
}

// TestRingConcurrent streams a counting sequence through a small ring between two
// goroutines, in uneven chunks, and checks that every sample arrives once and in order.
// Run it with -race.
func TestRingConcurrent(t *testing.T) {
	const total = 50_000
	q := NewRing(97)
	deadline := time.Now().Add(failsafe)
	var wg sync.WaitGroup
	wg.Go(func() {
		chunk := make([]int16, 31)
		for next := 0; next < total && time.Now().Before(deadline); {
			n := min(len(chunk), total-next)
			for i := range n {
				chunk[i] = int16(next + i)
			}
			w := q.Write(chunk[:n])
			if w == 0 {
				runtime.Gosched() // full: let the consumer run
			}
			next += w
		}
	})
	buf := make([]int16, 23)
	got := 0
	for got < total && time.Now().Before(deadline) {
		n := q.Read(buf)
		if n == 0 {
			runtime.Gosched() // empty: let the producer run
		}
		for i, v := range buf[:n] {
			if want := int16(got + i); v != want {
				wg.Wait()
				t.Fatalf("sample %d = %d, want %d", got+i, v, want)
			}
		}
		got += n
	}
	wg.Wait()
	if got != total {
		t.Fatalf("read %d samples before the deadline, want %d", got, total)
	}
}

func TestRingDoesNotAllocate(t *testing.T) {
	q := NewRing(1024)
	p := make([]int16, 240)
	if n := testing.AllocsPerRun(100, func() {
		q.Write(p)
		q.Read(p)
	}); n != 0 {
		t.Errorf("Write and Read allocate %v times, want 0", n)
	}
}

// BenchmarkRing moves one 5 ms period at 48 kHz in and out per op.
func BenchmarkRing(b *testing.B) {
	q := NewRing(4096)
	p := make([]int16, 240)
	b.ReportAllocs()
	for b.Loop() {
		q.Write(p)
		q.Read(p)
	}
}
