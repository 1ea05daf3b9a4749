package media

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSessionsExchangeSRTP runs two sessions with SRTP that send each other a tone: each
// hears the other's tone, a listener on the wire sees no plain RTP, and plain or replayed
// packets sent into a session are dropped and counted.
func TestSessionsExchangeSRTP(t *testing.T) {
	ca, cb := listen(t), listen(t)
	ka, kb := NewSRTPKey(), NewSRTPKey()
	pcmu, _ := CodecByName("PCMU")
	newSRTPSession := func(conn *net.UDPConn, peer *net.UDPConn, local, remote []byte) *Session {
		s, err := NewSession(conn, SessionConfig{Codec: pcmu, PayloadType: 0, Remote: addrOf(peer),
			SRTP: &SRTPKeys{Local: local, Remote: remote}})
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		return s
	}
	a := newSRTPSession(ca, cb, ka, kb)
	b := newSRTPSession(cb, ca, kb, ka)
	run(t, b)

	const packets = 50
	spp := a.SamplesPerPacket()
	sent := tone(8000, 1000, -12, packets*0.02)
	plain := make([]byte, spp)
	pcmu.Encode(plain, sent[:spp])
	var heard []int16
	frame := make([]int16, spp)
	for i := range packets {
		if err := a.Send(sent[i*spp : (i+1)*spp]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "packets", func() bool { return b.Stats().PacketsReceived == uint64(i+1) })
		if i > 0 && b.Receive(frame) {
			heard = append(heard, frame...)
		}
	}
	if lvl := ToneLevel(heard, 8000, 1000); len(heard) < 40*spp || lvl < -1 {
		t.Errorf("b heard %d samples, 1 kHz at %.1f dB; want the tone", len(heard), lvl)
	}
	if st := a.Stats(); st.BytesSent != packets*(12+160) {
		t.Errorf("a counted %d bytes sent, want %d: the plain packets' size", st.BytesSent, packets*(12+160))
	}

	// A plain packet, and one protected under another key, sent to b: dropped, counted.
	before := b.Stats()
	if _, err := ca.WriteToUDPAddrPort(packet(t, 0, 500, plain), addrOf(cb)); err != nil {
		t.Fatal(err)
	}
	wrong, err := newSRTPPair(SRTPKeys{Local: NewSRTPKey(), Remote: NewSRTPKey()})
	if err != nil {
		t.Fatal(err)
	}
	var enc [maxDatagram + srtpOverhead]byte
	p, err := wrong.protectRTP(enc[:], packet(t, 0, 501, plain), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteToUDPAddrPort(p, addrOf(cb)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged packets", func() bool { return b.Stats().Unauthenticated == before.Unauthenticated+2 })
	if st := b.Stats(); st.PacketsReceived != before.PacketsReceived {
		t.Errorf("b took %d forged packets", st.PacketsReceived-before.PacketsReceived)
	}
}

// TestSRTPOnTheWire reads what a session with SRTP sends: the payload of the tone is not
// there in clear, and each packet carries a 10-byte tag.
func TestSRTPOnTheWire(t *testing.T) {
	wire := listen(t)
	pcmu, _ := CodecByName("PCMU")
	s, err := NewSession(listen(t), SessionConfig{Codec: pcmu, PayloadType: 0, Remote: addrOf(wire),
		SRTP: &SRTPKeys{Local: NewSRTPKey(), Remote: NewSRTPKey()}})
	if err != nil {
		t.Fatal(err)
	}
	pcm := tone(8000, 1000, -12, 0.02)
	plain := make([]byte, len(pcm))
	pcmu.Encode(plain, pcm)
	if err := s.Send(pcm); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	n, _, err := wire.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12+160+10 || bytes.Contains(buf[:n], plain[:32]) {
		t.Errorf("a packet of %d bytes, the plain payload in it: %v; want 182 bytes, encrypted", n, bytes.Contains(buf[:n], plain[:32]))
	}
}

// TestSRTPSessionDoesNotAllocate: protecting what is sent and checking what arrives keep
// the media path free of allocations.
func TestSRTPSessionDoesNotAllocate(t *testing.T) {
	if raceDetector {
		t.Skip("pion/srtp's sync.Pool allocates under the race detector; make test runs this test without it")
	}
	ka, kb := NewSRTPKey(), NewSRTPKey()
	pcmu, _ := CodecByName("PCMU")
	s, err := NewSession(listen(t), SessionConfig{Codec: pcmu, PayloadType: 0, Remote: addrOf(listen(t)),
		SRTP: &SRTPKeys{Local: ka, Remote: kb}})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, s.SamplesPerPacket())
	if n := testing.AllocsPerRun(100, func() {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Send with SRTP allocates %v times per packet, want 0", n)
	}
	peer, err := newSRTPPair(SRTPKeys{Local: kb, Remote: ka})
	if err != nil {
		t.Fatal(err)
	}
	pkt := packet(t, 0, 0, make([]byte, 160))
	var enc [maxDatagram + srtpOverhead]byte
	var ph rtp.Header
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		nextPacket(pkt, seq)
		seq++
		p, err := peer.protectRTP(enc[:], pkt, &ph)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := s.unprotect(s.srtp.Load(), p, false)
		if err != nil {
			t.Fatal(err)
		}
		s.handlePacket(dec, time.Now())
		s.Receive(frame)
	}); n != 0 {
		t.Errorf("receiving with SRTP allocates %v times per packet, want 0", n)
	}
}
