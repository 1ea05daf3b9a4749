package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// srtpPeers returns the pairs of the two ends of a call: what one protects, the other
// unprotects.
func srtpPeers(t testing.TB) (a, b *srtpPair) {
	t.Helper()
	ka, kb := NewSRTPKey(), NewSRTPKey()
	a, err := newSRTPPair(SRTPKeys{Local: ka, Remote: kb})
	if err != nil {
		t.Fatal(err)
	}
	b, err = newSRTPPair(SRTPKeys{Local: kb, Remote: ka})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func rtpPacket(t testing.TB, seq uint16, payload []byte) ([]byte, rtp.Header) {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x1234}
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

// TestSRTPRoundTrip protects packets at one end and unprotects them at the other: the
// payload on the wire is not the plain one, what comes out is, and a tampered, replayed
// or foreign-keyed packet is refused.
func TestSRTPRoundTrip(t *testing.T) {
	a, b := srtpPeers(t)
	payload := bytes.Repeat([]byte{0x55, 0xd5}, 80)
	var wire, plain [maxDatagram + srtpOverhead]byte
	var h rtp.Header
	for seq := uint16(65530); seq != 5; seq++ { // across the sequence number's wrap
		pkt, hdr := rtpPacket(t, seq, payload)
		enc, err := a.protectRTP(wire[:], pkt, &hdr)
		if err != nil {
			t.Fatalf("protect %d: %v", seq, err)
		}
		if len(enc) != len(pkt)+10 || bytes.Contains(enc, payload[:16]) {
			t.Fatalf("packet %d on the wire: %d bytes holding the plain payload %v; want %d bytes, encrypted",
				seq, len(enc), bytes.Contains(enc, payload[:16]), len(pkt)+10)
		}
		dec, err := b.unprotectRTP(plain[:], enc, &h)
		if err != nil {
			t.Fatalf("unprotect %d: %v", seq, err)
		}
		if !bytes.Equal(dec, pkt) || h.SequenceNumber != seq {
			t.Fatalf("packet %d came out as %x, header %+v", seq, dec, h)
		}
		if seq == 2 {
			if _, err := b.unprotectRTP(plain[:], enc, &h); err == nil {
				t.Error("a replayed packet was taken")
			}
			pkt, hdr := rtpPacket(t, seq+1, payload)
			next, _ := a.protectRTP(wire[:], pkt, &hdr)
			bad := bytes.Clone(next)
			bad[20] ^= 1
			if _, err := b.unprotectRTP(plain[:], bad, &h); err == nil {
				t.Error("a tampered packet was taken")
			}
			if _, err := a.unprotectRTP(plain[:], next, &h); err == nil {
				t.Error("a packet was taken under the wrong key")
			}
			seq++ // its number is spent
		}
	}

	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
	enc, err := a.protectRTCP(wire[:], rtcp)
	if err != nil {
		t.Fatalf("protect RTCP: %v", err)
	}
	dec, err := b.unprotectRTCP(plain[:], enc)
	if err != nil || !bytes.Equal(dec, rtcp) {
		t.Fatalf("RTCP came out as %x, %v", dec, err)
	}
	if _, err := newSRTPPair(SRTPKeys{Local: NewSRTPKey(), Remote: []byte("short")}); err == nil {
		t.Error("a short key was taken")
	}
}

// BenchmarkSRTP protects and unprotects a 20 ms G.711 packet: no allocation per packet.
func BenchmarkSRTP(b *testing.B) {
	x, y := srtpPeers(b)
	pkt, hdr := rtpPacket(b, 1, make([]byte, 160))
	var wire, plain [maxDatagram + srtpOverhead]byte
	var h rtp.Header
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hdr.SequenceNumber = uint16(i)
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		enc, err := x.protectRTP(wire[:], pkt, &hdr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := y.unprotectRTP(plain[:], enc, &h); err != nil {
			b.Fatal(err)
		}
	}
}
