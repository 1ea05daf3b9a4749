package media

import (
	"net/netip"
	"sync/atomic"
	"testing"
)

// countingTap counts the datagrams it is told of, each way, while on.
type countingTap struct {
	on         atomic.Bool
	sent, recv atomic.Int64
}

func (c *countingTap) Datagram(sent bool, local, remote netip.AddrPort, b []byte) {
	if !c.on.Load() {
		return
	}
	if sent {
		c.sent.Add(1)
		return
	}
	c.recv.Add(1)
}

// TestSessionTapDoesNotAllocate sends with a tap that records nothing, as the appliance's
// capture is while off, and then with one that counts: neither allocates, and the tap sees
// every packet sent, with the session's own address.
func TestSessionTapDoesNotAllocate(t *testing.T) {
	peer := listen(t)
	conn := listen(t)
	c, _ := CodecByName("PCMU")
	tap := &countingTap{}
	s, err := NewSession(conn, SessionConfig{Codec: c, PayloadType: c.PayloadType(), Remote: addrOf(peer), Tap: tap})
	if err != nil {
		t.Fatal(err)
	}
	if s.local != addrOf(conn) {
		t.Errorf("the tap is told local address %v, want the socket's %v", s.local, addrOf(conn))
	}
	frame := make([]int16, s.SamplesPerPacket())
	for _, on := range []bool{false, true} {
		tap.on.Store(on)
		if n := testing.AllocsPerRun(100, func() {
			if err := s.Send(frame); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Send with a tap (recording %v) allocates %v times per packet, want 0", on, n)
		}
	}
	if got := tap.sent.Load(); got != 101 {
		t.Errorf("the tap saw %d packets sent while on, want 101", got)
	}
}
