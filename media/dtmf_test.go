package media

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSendDTMFOnTheWire sends "1#" with 100 ms digits and 40 ms gaps at 20 ms packets and
// checks every packet on the wire against RFC 4733: the events in place of audio, their
// timestamps, markers, growing durations and three end packets, one sequence throughout.
func TestSendDTMFOnTheWire(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	if err := s.SendDTMF("1#", 100*time.Millisecond, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Per digit: 5 packets with a growing duration, the 5th ending it, then 2 more end
	// packets; then 2 packets of audio. One packet of audio after the last gap.
	const packets = 2*(5+2+2) + 1
	frame := tone(8000, 1000, -12, 0.02)
	for range packets {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := peer.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var got []rtp.Packet
	for i := range packets {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("read packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		got = append(got, p)
	}
	ts0, seq0 := got[0].Timestamp, got[0].SequenceNumber
	type want struct {
		pt       uint8
		marker   bool
		ts       uint32
		event    byte
		end      bool
		duration uint16
	}
	var wants []want
	for d, event := range []byte{1, 11} { // '1' and '#'
		start := ts0 + uint32(d*9*160)
		for k := 1; k <= 5; k++ {
			wants = append(wants, want{101, k == 1, start, event, k == 5, uint16(k * 160)})
		}
		wants = append(wants, want{101, false, start, event, true, 800}, want{101, false, start, event, true, 800})
		for k := 7; k < 9; k++ {
			wants = append(wants, want{pt: 0, ts: start + uint32(k*160)})
		}
	}
	wants = append(wants, want{pt: 0, ts: ts0 + 18*160})
	for i, p := range got {
		w := wants[i]
		if p.SequenceNumber != seq0+uint16(i) {
			t.Errorf("packet %d: sequence %d, want %d", i, p.SequenceNumber, seq0+uint16(i))
		}
		if p.PayloadType != w.pt || p.Timestamp != w.ts || (w.pt == 101 && p.Marker != w.marker) {
			t.Errorf("packet %d: PT %d, timestamp %d, marker %v; want PT %d, timestamp %d, marker %v",
				i, p.PayloadType, p.Timestamp-ts0, p.Marker, w.pt, w.ts-ts0, w.marker)
			continue
		}
		if w.pt != 101 {
			if len(p.Payload) != 160 {
				t.Errorf("packet %d: %d bytes of audio, want 160", i, len(p.Payload))
			}
			continue
		}
		pl := p.Payload
		if len(pl) != 4 {
			t.Fatalf("packet %d: event payload of %d bytes, want 4", i, len(pl))
		}
		duration := uint16(pl[2])<<8 | uint16(pl[3])
		if pl[0] != w.event || (pl[1]&0x80 != 0) != w.end || pl[1]&0x3f != dtmfVolume || duration != w.duration {
			t.Errorf("packet %d: event %d end %v volume %d duration %d; want event %d end %v volume %d duration %d",
				i, pl[0], pl[1]&0x80 != 0, pl[1]&0x3f, duration, w.event, w.end, dtmfVolume, w.duration)
		}
	}
}

// TestDTMFRoundTrip sends a PIN from one session to another over loopback and checks the
// receiver hears each digit once, although every end packet is sent three times.
func TestDTMFRoundTrip(t *testing.T) {
	aConn, bConn := listen(t), listen(t)
	a := newSession(t, aConn, "PCMA", addrOf(bConn))
	b := newSession(t, bConn, "PCMA", addrOf(aConn))
	run(t, b)
	const pin = "2580#*"
	if err := a.SendDTMF(strings.ToLower(pin), 60*time.Millisecond, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, a.SamplesPerPacket())
	for range len(pin) * (3 + 2 + 1) {
		if err := a.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Every digit is 3 packets, the last of them the end, then 2 more end packets.
	waitFor(t, "the PIN to arrive", func() bool { return b.Stats().Events >= uint64(len(pin)*(3+2)) })
	if got := b.HeardDigits(); got != pin {
		t.Errorf("heard %q, want %q", got, pin)
	}
	if st := b.Stats(); st.Events != uint64(len(pin)*(3+2)) {
		t.Errorf("%d event packets arrived, want %d", st.Events, len(pin)*5)
	}
}

func TestSendDTMFRefusesWhatItCannotSend(t *testing.T) {
	c, _ := CodecByName("PCMU")
	conn := listen(t)
	s, err := NewSession(conn, SessionConfig{Codec: c, PayloadType: 0, Remote: addrOf(listen(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF("1", 0, 0); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("without telephone-event: err = %v, want ErrNoTelephoneEvent", err)
	}
	s2 := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	for _, bad := range []string{"12x", "1 2", "#E"} {
		if err := s2.SendDTMF(bad, 0, 0); err == nil || !strings.Contains(err.Error(), "not a DTMF digit") {
			t.Errorf("SendDTMF(%q) = %v, want an error naming the digit", bad, err)
		}
	}
	if err := s2.SendDTMF("1", time.Minute, 0); err == nil {
		t.Error("a digit of a minute was accepted")
	}
	if err := s2.SendDTMF(strings.Repeat("1", dtmfQueue+1), 0, 0); err == nil {
		t.Error("more digits than the queue holds were accepted")
	}
}

// TestSendWithDTMFDoesNotAllocate keeps the hot path allocation-free while digits go out.
func TestSendWithDTMFDoesNotAllocate(t *testing.T) {
	peer := listen(t)
	go func() { // drain
		buf := make([]byte, 1500)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	if err := s.SendDTMF("123456789", 0, 0); err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, s.SamplesPerPacket())
	if n := testing.AllocsPerRun(50, func() { _ = s.Send(frame) }); n != 0 {
		t.Errorf("Send allocates %.1f times per packet while sending DTMF", n)
	}
}
