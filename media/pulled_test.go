//go:build linux

package media

import (
	"context"
	"math"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// TestPulledSessionTimesArrivals sends ten packets about 20 ms apart and has the session
// read them all at once: its jitter estimate is that of the times they were sent, as the
// RFC 3550 estimate of those times is, because each packet keeps the time the kernel took
// it in. Timed by the read, it would be about 8.8 ms.
func TestPulledSessionTimesArrivals(t *testing.T) {
	peer := listen(t)
	s := pulledSession(t, listen(t), "PCMU", addrOf(peer))
	timestampsOn(t)
	var sent [10]time.Time
	for seq := range uint16(len(sent)) {
		if seq > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		sent[seq] = time.Now()
		if _, err := peer.WriteToUDPAddrPort(packet(t, 0, seq, make([]byte, 160)), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the packets", func() bool { arrived(s); return s.Stats().PacketsReceived == uint64(len(sent)) })
	// The estimate of RFC 3550 section 6.4.1, of the send times, at 8 kHz.
	var jitter float64
	for i := 1; i < len(sent); i++ {
		d := sent[i].Sub(sent[i-1]) - 20*time.Millisecond
		jitter += (math.Abs(float64(d)) - jitter) / 16
	}
	want := time.Duration(jitter)
	if got := s.Stats().Jitter; got < want-time.Millisecond || got > want+time.Millisecond {
		t.Errorf("jitter estimate %v for packets read at once, want %v (±1 ms), that of their sending: the arrival times are not the kernel's", got, want)
	}
}

// timestampsOn waits until the kernel times datagrams as they arrive. It does so a moment
// after the first socket asks, from a work queue that a busy machine runs late; until then
// it times them as they are read.
func timestampsOn(t *testing.T) {
	t.Helper()
	conn := listen(t)
	p := pull(conn)
	if p == nil {
		t.Fatal("cannot pull a loopback socket")
	}
	defer p.close()
	const wait = 10 * time.Millisecond
	buf, sender := make([]byte, 64), listen(t)
	waitFor(t, "the kernel's timestamps", func() bool {
		if _, err := sender.WriteToUDPAddrPort(buf, addrOf(conn)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait)
		p.fdMu.RLock()
		defer p.fdMu.RUnlock()
		_, _, age, err := p.recv(buf, time.Now())
		return err == nil && age >= wait
	})
}

// TestPulledSessionDoesNotAllocate sends and receives packets through a session whose
// Receive reads the socket: neither allocates.
func TestPulledSessionDoesNotAllocate(t *testing.T) {
	peer := listen(t)
	s := pulledSession(t, listen(t), "PCMU", addrOf(peer))
	frame := make([]int16, s.SamplesPerPacket())
	pkt := packet(t, 0, 0, make([]byte, 160))
	to := addrOf(s.conn)
	buf := make([]byte, 1500)
	seq := uint16(0)
	// The peer's own write and read are measured too; they do not allocate either.
	if n := testing.AllocsPerRun(100, func() {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
		nextPacket(pkt, seq)
		seq++
		if _, err := peer.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		s.Receive(frame)
	}); n != 0 {
		t.Errorf("a packet each way allocates %v times, want 0", n)
	}
	waitFor(t, "the last packets", func() bool { arrived(s); return s.Stats().PacketsReceived == 101 })
}

// TestPulledSessionWatchReads streams RTP, on the test's fake clock, to a session whose
// Receive is never called: the RTP timeout's watch reads the socket itself, so the stream
// keeps the timeout away. Once the stream stops, the timeout comes a timeout after the
// watch's next look, although the socket held three seconds of packets: the watch takes
// them all, not a Receive's share.
func TestPulledSessionWatchReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		peer := listen(t)
		c, _ := CodecByName("PCMU")
		s, err := NewSession(listen(t), SessionConfig{Codec: c, Remote: addrOf(peer), RTPTimeout: timeout, ReadOnReceive: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.pulled == nil {
			t.Fatal("the session does not read on Receive")
		}
		defer s.pulled.close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.watchRTP(ctx)
		pkt := packet(t, 0, 0, make([]byte, 160))
		for seq := range uint16(3 * timeout / (20 * time.Millisecond)) {
			// A look of the watch due at this instant finishes first: else it could take
			// the datagram before waitReadable sees it.
			synctest.Wait()
			nextPacket(pkt, seq)
			if _, err := peer.WriteToUDPAddrPort(pkt, addrOf(s.conn)); err != nil {
				t.Fatal(err)
			}
			waitReadable(t, s.pulled) // a datagram waits for the watch's next look
			time.Sleep(20 * time.Millisecond)
		}
		synctest.Wait()
		if closed(s.TimedOut()) {
			t.Fatal("timed out while the far end streamed")
		}
		if s.Stats().PacketsReceived == 0 {
			t.Fatal("no packet was taken without Receive")
		}
		time.Sleep(2 * timeout)
		synctest.Wait()
		if !closed(s.TimedOut()) {
			t.Errorf("no RTP timeout %v after the stream stopped, with %d of its %d packets taken", 2*timeout, s.Stats().PacketsReceived, 3*timeout/(20*time.Millisecond))
		}
	})
}

// waitReadable waits until a datagram waits on p's socket, at most failsafe: the kernel
// delivers one sent over loopback at once, unless the machine is very busy.
func waitReadable(t *testing.T, p *pulledSocket) {
	t.Helper()
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	const pollIn = 0x1 // POLLIN
	fds := struct {
		fd              int32
		events, revents int16
	}{fd: int32(p.fd), events: pollIn}
	ts := syscall.NsecToTimespec(int64(failsafe))
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 || n != 1 {
		t.Fatalf("ppoll the session's socket: %d ready, %v", n, errno)
	}
}

// TestPulledSessionStops checks that Run closes the socket it read: Send fails after it.
func TestPulledSessionStops(t *testing.T) {
	s := pulledSession(t, listen(t), "PCMU", addrOf(listen(t)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.Send(make([]int16, 160)); err != nil {
		t.Fatalf("Send while running: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if err := s.Send(make([]int16, 160)); err == nil {
		t.Error("Send after Run returned succeeded, want an error: Run closes the socket")
	}
	s.Receive(make([]int16, 160)) // reads nothing, and does not fail
}

// TestPulledSessionBoundsAFlood queues a flood of datagrams from a stranger: one Receive
// takes no more than maxPull of them, so a flood costs a call a bounded time per packet;
// the rest wait in the kernel, which drops what does not fit.
func TestPulledSessionBoundsAFlood(t *testing.T) {
	s := pulledSession(t, listen(t), "PCMU", addrOf(listen(t)))
	stranger, junk := listen(t), make([]byte, 172)
	const flood = 3 * maxPull
	for range flood {
		if _, err := stranger.WriteToUDPAddrPort(junk, addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	pcm := make([]int16, 160)
	waitFor(t, "the flood", func() bool {
		before := s.Stats().Foreign
		s.Receive(pcm)
		if n := s.Stats().Foreign - before; n > maxPull {
			t.Fatalf("one Receive took %d datagrams, want at most %d", n, maxPull)
		}
		return s.Stats().Foreign == flood
	})
}
