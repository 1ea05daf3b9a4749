package appliance_test

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"partyline/sip/peertest"
)

// TestDigitsFollowTelephoneEventChanges has SIPp answer with telephone-event on payload
// type 101 and renumber it to 96 with a re-INVITE that moves the media to a socket of the
// test's: digits from the dashboard arrive there as RFC 4733 events on 96, and none on 101.
// Events the far end sends on 96 are heard, on 101 no longer. Then SIPp removes telephone-event with another re-INVITE (sent once the handset held, for
// SIPp cannot see RTP): after the resume, a digit goes as SIP INFO.
func TestDigitsFollowTelephoneEventChanges(t *testing.T) {
	far, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	r := startRig(t, peertest.ScenarioDTMFChange(uint16(far.LocalAddr().(*net.UDPAddr).Port)))
	r.waitFor("the account to register", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.waitForDTMFPayloadType(96)
	r.control("digits", "42")
	got, from := readEvents(t, far, "42")
	if got != "42" {
		t.Errorf("events on payload type 96 at the far end: %q, want %q", got, "42")
	}
	// Back from the far end: the event on 96 is heard, the one on the old 101 is not.
	before := r.app.HeardDigits(0)
	for i, ev := range []struct {
		pt    uint8
		digit byte
	}{{101, 8}, {96, 9}} {
		pkt, err := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: ev.pt, SequenceNumber: uint16(i), Timestamp: uint32(i) * 800, SSRC: 0xfa2},
			Payload: []byte{ev.digit, 0x80 | 10, 0x03, 0x20},
		}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := far.WriteToUDPAddrPort(pkt, from); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(failsafe)
	for r.app.HeardDigits(0) == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if heard := r.app.HeardDigits(0); heard != before+"9" {
		t.Errorf("the call heard %q from the far end, want %q: 9 on 96, not 8 on 101", heard, before+"9")
	}

	r.control("hold", "")
	r.waitFor("the dashboard to hold the call", handsetState(0, "on hold"))
	r.waitForDTMFPayloadType(0)
	r.control("resume", "")
	r.waitFor("the dashboard to resume the call", handsetState(0, "in call"))
	r.control("digits", "7")
	deadline = time.Now().Add(failsafe)
	for len(r.sipp.Received("INFO ")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if infos := r.sipp.Received("INFO "); len(infos) != 1 || !strings.Contains(infos[0], "Signal=7") {
		t.Errorf("SIPp received %d INFOs, want one with Signal=7:\n%s", len(infos), strings.Join(infos, "\n\n"))
	}

	// Our answers mirror telephone-event on 96 (RFC 3264 section 6.1), then leave it out.
	answers := 0
	for _, a := range r.sipp.Received("SIP/2.0 200") {
		switch {
		case strings.Contains(a, "CSeq: 1 INVITE"):
			answers++
			if !strings.Contains(a, " RTP/AVP 0 96\r\n") || !strings.Contains(a, "a=rtpmap:96 telephone-event/8000") {
				t.Errorf("our 200 OK to the re-INVITE renumbering telephone-event does not answer it on 96:\n%s", a)
			}
		case strings.Contains(a, "CSeq: 2 INVITE"):
			answers++
			if strings.Contains(a, "telephone-event") {
				t.Errorf("our 200 OK to the re-INVITE without telephone-event has it:\n%s", a)
			}
		}
	}
	if answers != 2 {
		t.Errorf("SIPp received %d of our 200 OKs to its re-INVITEs, want 2", answers)
	}

	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
}

// control posts action to handset 1's control form of the dashboard, with digits for
// "digits", and fails the test unless it succeeded.
func (r *rig) control(action, digits string) {
	r.t.Helper()
	form := url.Values{"action": {action}}
	if digits != "" {
		form.Set("digits", digits)
	}
	res, err := r.http.PostForm(r.admin+"/handsets/0/control", form)
	if err != nil {
		r.t.Fatalf("%s: %v", action, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("%s: %s", action, res.Status)
	}
}

// waitForDTMFPayloadType waits until handset 1's call has telephone-event on pt (0: none).
func (r *rig) waitForDTMFPayloadType(pt uint8) {
	r.t.Helper()
	deadline := time.Now().Add(failsafe)
	for r.app.CallDTMFPayloadType(0) != pt {
		if time.Now().After(deadline) {
			r.t.Fatalf("the call has telephone-event on %d, want %d", r.app.CallDTMFPayloadType(0), pt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readEvents reads RTP at far until the telephone events on payload type 96 spell want, or
// failsafe passes, and returns the digits they spelled (one per event, at its first end packet)
// and where the RTP came from.
// Any 4-byte payload on another payload type than 96 and PCMU's 0, such as an event on the
// old 101, fails the test.
func readEvents(t *testing.T, far *net.UDPConn, want string) (string, netip.AddrPort) {
	t.Helper()
	if err := far.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var (
		digits string
		last   uint32
		seen   bool
		from   netip.AddrPort
	)
	for range 5000 { // 100 s of packets: more than the deadline lets through
		n, src, err := far.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Errorf("read RTP after the digits %q: %v", digits, err)
			return digits, from
		}
		from = src
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("not RTP at the far end: %v", err)
		}
		switch {
		case p.PayloadType == 0:
		case p.PayloadType != 96:
			t.Fatalf("RTP with payload type %d (%d bytes) at the far end, want 0 or 96", p.PayloadType, len(p.Payload))
		case len(p.Payload) != 4:
			t.Fatalf("an event on 96 has %d bytes, want 4", len(p.Payload))
		case p.Payload[1]&0x80 != 0 && (!seen || p.Timestamp != last):
			seen, last = true, p.Timestamp
			digits += string("0123456789*#ABCD"[p.Payload[0]&0x0f])
			if digits == want {
				return digits, from
			}
		}
	}
	return digits, from
}
