package media

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// readPackets reads n RTP packets from peer.
func readPackets(t *testing.T, peer interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}, n int) []rtp.Packet {
	t.Helper()
	if err := peer.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	got := make([]rtp.Packet, 0, n)
	for i := range n {
		m, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("read packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:m]...)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		got = append(got, p)
	}
	return got
}

// TestSessionSwitchesDTMFPayloadTypeOnSend sends a digit on telephone-event 101, one on 96
// after SetDTMFPayloadType(96), and none once it is 0: SendDTMF then says
// ErrNoTelephoneEvent, and the digits queued before are dropped, the one sounding too.
func TestSessionSwitchesDTMFPayloadTypeOnSend(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	frame := make([]int16, s.SamplesPerPacket())
	// sendDigit sends digit as 60 ms events with 20 ms gaps: 3 packets, 2 more end
	// packets and 1 of audio; it returns their payload types.
	sendDigit := func(digit string) []uint8 {
		t.Helper()
		if err := s.SendDTMF(digit, 60*time.Millisecond, 20*time.Millisecond); err != nil {
			t.Fatalf("SendDTMF(%q): %v", digit, err)
		}
		for range 6 {
			if err := s.Send(frame); err != nil {
				t.Fatal(err)
			}
		}
		var pts []uint8
		for _, p := range readPackets(t, peer, 6) {
			pts = append(pts, p.PayloadType)
		}
		return pts
	}
	want := func(what string, got []uint8, pt uint8) {
		t.Helper()
		for i, g := range got {
			w := uint8(0) // the audio after the gap
			if i < 5 {
				w = pt
			}
			if g != w {
				t.Errorf("%s: packet %d has PT %d, want %d (PTs %v)", what, i, g, w, got)
				return
			}
		}
	}
	want("on 101", sendDigit("1"), 101)
	if err := s.SetDTMFPayloadType(96); err != nil {
		t.Fatal(err)
	}
	if got := s.DTMFPayloadType(); got != 96 {
		t.Errorf("DTMFPayloadType() = %d, want 96", got)
	}
	want("renumbered to 96", sendDigit("2"), 96)

	// Digits queued, the first sounding, when telephone-event goes away.
	if err := s.SendDTMF("345", 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(frame); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDTMFPayloadType(0); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF("6", 0, 0); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("SendDTMF without telephone-event = %v, want ErrNoTelephoneEvent", err)
	}
	for range 40 {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	got := readPackets(t, peer, 41)
	if got[0].PayloadType != 96 {
		t.Errorf("the packet before the switch has PT %d, want 96", got[0].PayloadType)
	}
	for i, p := range got[1:] {
		if p.PayloadType != 0 {
			t.Fatalf("packet %d after telephone-event went away has PT %d, want 0", i, p.PayloadType)
		}
	}
	// Telephone-event comes back: the dropped digits stay dropped.
	if err := s.SetDTMFPayloadType(101); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range readPackets(t, peer, 10) {
		if p.PayloadType != 0 {
			t.Fatalf("packet %d after telephone-event came back has PT %d, want 0: an old digit", i, p.PayloadType)
		}
	}
}

// TestSessionSwitchesDTMFPayloadTypeOnReceive hears events on 101 until
// SetDTMFPayloadType(96); then those on 101 are other payload, those on 96 digits; with 0,
// none are.
func TestSessionSwitchesDTMFPayloadTypeOnReceive(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	run(t, s)
	seq := uint16(0)
	// send sends the end packet of digit (an event number) on pt and waits until the
	// session took it, as an event or as another payload.
	send := func(pt uint8, digit byte) {
		t.Helper()
		seq++
		before := s.Stats()
		if _, err := peer.WriteToUDPAddrPort(packet(t, pt, seq, []byte{digit, 0x80 | 10, 0x03, 0x20}), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the event packet", func() bool {
			st := s.Stats()
			return st.Events+st.OtherPayload > before.Events+before.OtherPayload
		})
	}
	send(101, 1)
	if err := s.SetDTMFPayloadType(96); err != nil {
		t.Fatal(err)
	}
	send(101, 2)
	send(96, 3)
	if err := s.SetDTMFPayloadType(0); err != nil {
		t.Fatal(err)
	}
	send(96, 4)
	send(101, 5)
	if got := s.HeardDigits(); got != "13" {
		t.Errorf("heard %q, want %q: 1 on 101, then 3 on 96 only", got, "13")
	}
	if st := s.Stats(); st.Events != 2 || st.OtherPayload != 3 {
		t.Errorf("%d events and %d packets of other payload, want 2 and 3", st.Events, st.OtherPayload)
	}
}

// TestSetDTMFPayloadTypeValidates refuses a payload type out of range or the codec's, and
// SetCodec refuses telephone-event's new one.
func TestSetDTMFPayloadTypeValidates(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	if err := s.SetDTMFPayloadType(128); err == nil {
		t.Error("SetDTMFPayloadType(128) = nil, want an error")
	}
	g722, _ := CodecByName("G722")
	if err := s.SetCodec(g722, 9); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDTMFPayloadType(9); err == nil {
		t.Error("SetDTMFPayloadType(9) on G.722's payload type = nil, want an error")
	}
	if err := s.SetDTMFPayloadType(96); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCodec(g722, 96); err == nil {
		t.Error("SetCodec on telephone-event's new payload type 96 = nil, want an error")
	}
	if got := s.DTMFPayloadType(); got != 96 {
		t.Errorf("DTMFPayloadType() = %d after refusals, want 96", got)
	}
}

// TestSetDTMFPayloadTypeWhileRunning switches telephone-event's payload type while digits
// go out and events come in, for the race detector; Send stays allocation-free.
func TestSetDTMFPayloadTypeWhileRunning(t *testing.T) {
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
	run(t, s)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		frame := make([]int16, s.SamplesPerPacket())
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.SendDTMF("1", 20*time.Millisecond, 20*time.Millisecond) // refused while 0
			_ = s.Send(frame)
			s.Receive(frame)
		}
	}()
	for i := range 100 {
		pt := []uint8{101, 96, 0}[i%3]
		if err := s.SetDTMFPayloadType(pt); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(packet(t, 96, uint16(i), []byte{1, 0x80, 0, 160}), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	frame := make([]int16, s.SamplesPerPacket())
	for _, pt := range []uint8{96, 0} {
		if err := s.SetDTMFPayloadType(pt); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() { _ = s.Send(frame) }); n != 0 {
			t.Errorf("Send allocates %.1f times per packet with telephone-event on %d", n, pt)
		}
	}
}
