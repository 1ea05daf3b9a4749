package media

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// closed reports whether c is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestRTPTimeout runs the RTP timeout on the test's fake clock: a steady stream keeps it
// away, 30 s of silence brings it, a hold pauses it for as long as it lasts, and the end
// of the hold gives the far end 30 s afresh.
func TestRTPTimeout(t *testing.T) {
	tests := []struct {
		name string
		// play drives the session and returns how long after its end the timeout is due.
		play func(t *testing.T, s *Session, send func()) time.Duration
	}{
		{"no RTP at all", func(t *testing.T, s *Session, send func()) time.Duration {
			return DefaultRTPTimeout
		}},
		{"a stream that stops", func(t *testing.T, s *Session, send func()) time.Duration {
			for range 3000 { // a minute of 20 ms packets
				send()
				time.Sleep(20 * time.Millisecond)
			}
			return DefaultRTPTimeout - 20*time.Millisecond
		}},
		{"a hold", func(t *testing.T, s *Session, send func()) time.Duration {
			send()
			time.Sleep(10 * time.Second)
			s.SetRTPExpected(false)
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			if closed(s.TimedOut()) {
				t.Fatal("timed out on hold")
			}
			s.SetRTPExpected(true)
			s.SetRTPExpected(true) // again, as each media change says: no new wait
			return DefaultRTPTimeout
		}},
		{"a hold that ends at once", func(t *testing.T, s *Session, send func()) time.Duration {
			send()
			time.Sleep(20 * time.Second)
			s.SetRTPExpected(false)
			s.SetRTPExpected(true)
			return DefaultRTPTimeout
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				s := newSession(t, conn, "PCMU", addrOf(conn))
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go s.watchRTP(ctx)
				pkt := packet(t, 0, 0, make([]byte, 160))
				seq := uint16(0)
				send := func() {
					nextPacket(pkt, seq)
					seq++
					s.handlePacket(pkt, time.Now())
				}
				due := tt.play(t, s, send)
				time.Sleep(due - time.Millisecond)
				synctest.Wait()
				if closed(s.TimedOut()) {
					t.Fatalf("timed out %v early", time.Millisecond)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if !closed(s.TimedOut()) {
					t.Fatalf("no timeout after %v without RTP", due)
				}
			})
		})
	}
}

// TestRTPTimeoutNever checks that a negative SessionConfig.RTPTimeout turns the timeout off.
func TestRTPTimeoutNever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		pcmu, _ := CodecByName("PCMU")
		s, err := NewSession(conn, SessionConfig{Codec: pcmu, Remote: addrOf(conn), RTPTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.watchRTP(t.Context()) // returns at once
		time.Sleep(time.Hour)
		if closed(s.TimedOut()) {
			t.Error("timed out with the timeout off")
		}
	})
}

// TestRTPTimeoutOnTheWire runs a session whose peer falls silent while a stranger goes on
// sending RTP from 127.0.0.2 and from another port of the peer's host, as if to keep the
// call up: the session times out all the same.
func TestRTPTimeoutOnTheWire(t *testing.T) {
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	peer, neighbour := listen(t), listen(t)
	pcmu, _ := CodecByName("PCMU")
	s, err := NewSession(listen(t), SessionConfig{Codec: pcmu, Remote: addrOf(peer), RTPTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	for seq := range uint16(5) {
		if _, err := peer.WriteToUDPAddrPort(packet(t, 0, seq, make([]byte, 160)), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the peer's packets", func() bool { return s.Stats().PacketsReceived == 5 })

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	failsafe := time.After(10 * time.Second)
	for seq := uint16(5); ; seq++ {
		select {
		case <-s.TimedOut():
			if st := s.Stats(); st.PacketsReceived != 5 || st.Foreign == 0 {
				t.Errorf("took %d packets and dropped %d as foreign, want the peer's 5 taken and the stranger's dropped", st.PacketsReceived, st.Foreign)
			}
			return
		case <-failsafe:
			t.Fatal("no RTP timeout 10 s after the peer fell silent")
		case <-tick.C:
			for _, c := range []*net.UDPConn{stranger, neighbour} {
				if _, err := c.WriteToUDPAddrPort(packet(t, 0, seq, make([]byte, 160)), addrOf(s.conn)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
