package media

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestIsRTCP(t *testing.T) {
	tests := []struct {
		name   string
		second byte // the second octet
		want   bool
	}{
		{"SR", 200, true},
		{"RR", 201, true},
		{"SDES", 202, true},
		{"BYE", 203, true},
		{"APP", 204, true},
		{"RTP PCMU", 0, false},
		{"RTP PCMU with marker", 0x80, false},
		{"RTP G.722 with marker", 0x80 | 9, false},
		{"RTP telephone-event", 101, false},
		{"RTP telephone-event with marker", 0x80 | 101, false},
		{"RTP PT 127 with marker", 0xff, false},
	}
	for _, tt := range tests {
		if got := isRTCP([]byte{0x80, tt.second, 0, 1}); got != tt.want {
			t.Errorf("%s: isRTCP = %v, want %v", tt.name, got, tt.want)
		}
	}
	if isRTCP([]byte{0x80, 200}) || isRTCP([]byte{0x40, 200, 0, 1}) {
		t.Error("isRTCP took a truncated or version 1 datagram for RTCP")
	}
}

// TestRTCPReports exchanges reports between two sessions by hand, at chosen times, and
// checks what each learns: the sender report's counts, the loss the receiver saw, and the
// round-trip time from LSR and DLSR.
func TestRTCPReports(t *testing.T) {
	a := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	b := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	a.rtcp.cname = "a@test"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	frame := make([]int16, a.SamplesPerPacket())
	for i := range 10 {
		pkt, err := a.packetize(frame)
		if err != nil {
			t.Fatal(err)
		}
		a.sent(len(pkt))
		if i != 4 { // lost
			b.handlePacket(pkt, t0.Add(time.Duration(i)*20*time.Millisecond))
		}
	}

	sr, err := a.report(t0, false)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(sr)
	if err != nil {
		t.Fatalf("our report does not parse: %v", err)
	}
	if len(pkts) != 2 {
		t.Fatalf("report of %d packets, want an SR and an SDES", len(pkts))
	}
	if s, ok := pkts[0].(*rtcp.SenderReport); !ok || s.SSRC != a.ssrc || s.PacketCount != 10 || s.OctetCount != 1600 || s.NTPTime != a.ntpTime(t0) {
		t.Errorf("first packet %v, want an SR of SSRC %x for 10 packets of 1600 octets at %x", pkts[0], a.ssrc, a.ntpTime(t0))
	}
	if cname, err := (rtcp.CompoundPacket(pkts)).CNAME(); err != nil || cname != "a@test" {
		t.Errorf("CNAME %q, %v; want a@test", cname, err)
	}

	b.handleRTCP(sr, t0.Add(10*time.Millisecond))
	rr, err := b.report(t0.Add(30*time.Millisecond), false)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err = rtcp.Unmarshal(rr)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := pkts[0].(*rtcp.ReceiverReport)
	if !ok || len(r.Reports) != 1 {
		t.Fatalf("b, which has sent nothing, reported %v, want an RR with one block", pkts[0])
	}
	block := r.Reports[0]
	if block.SSRC != a.ssrc || block.FractionLost != 25 || block.TotalLost != 1 || block.LastSenderReport != uint32(a.ntpTime(t0)>>16) {
		t.Errorf("report block %+v, want SSRC %x, 1 of 10 lost (fraction 25/256), LSR from the SR", block, a.ssrc)
	}

	a.handleRTCP(rr, t0.Add(50*time.Millisecond))
	st := a.Stats()
	// 50 ms from SR to RR, of which b held the SR for 20 ms.
	if d := st.RTT - 30*time.Millisecond; d < -50*time.Microsecond || d > 50*time.Microsecond {
		t.Errorf("RTT %v, want 30ms to within the 15 µs resolution of LSR and DLSR", st.RTT)
	}
	if st.RemoteLost != 1 || math.Abs(st.RemoteFractionLost-25.0/256) > 1e-9 || st.RTCPReceived != 1 {
		t.Errorf("remote lost %d, fraction %.3f, reports %d; want 1, %.3f, 1", st.RemoteLost, st.RemoteFractionLost, st.RTCPReceived, 25.0/256)
	}

	// The next interval has no loss.
	next, err := b.report(t0.Add(5*time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	pkts, _ = rtcp.Unmarshal(next)
	if r := pkts[0].(*rtcp.ReceiverReport); r.Reports[0].FractionLost != 0 || r.Reports[0].TotalLost != 1 {
		t.Errorf("second report block %+v, want nothing lost since the first and 1 in all", r.Reports[0])
	}
}

func TestRTCPDelay(t *testing.T) {
	for range 1000 {
		if d := rtcpDelay(5*time.Second, false); d < 2500*time.Millisecond || d >= 7500*time.Millisecond {
			t.Fatalf("interval %v, want 2.5 s to 7.5 s for a mean of 5 s", d)
		}
		if d := rtcpDelay(5*time.Second, true); d < 1250*time.Millisecond || d >= 3750*time.Millisecond {
			t.Fatalf("first interval %v, want 1.25 s to 3.75 s", d)
		}
	}
}

// TestSessionsExchangeRTCP runs two sessions on loopback with a short RTCP interval and
// checks that each hears the other's reports, on the RTP socket.
func TestSessionsExchangeRTCP(t *testing.T) {
	ca, cb := listen(t), listen(t)
	pcmu, _ := CodecByName("PCMU")
	cfg := SessionConfig{Codec: pcmu, PayloadType: 0, RTCPInterval: 20 * time.Millisecond}
	cfg.Remote = addrOf(cb)
	a, err := NewSession(ca, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Remote = addrOf(ca)
	b, err := NewSession(cb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- b.Run(ctx) }()
	frame := make([]int16, 160)
	waitFor(t, "RTCP both ways", func() bool {
		if err := a.Send(frame); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(frame); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // packet pacing, not a measurement
		return a.Stats().RTCPReceived >= 3 && b.Stats().RTCPReceived >= 3
	})
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	for name, s := range map[string]*Session{"a": a, "b": b} {
		st := s.Stats()
		if st.RTCPErrors != 0 || st.RTCPSent < 3 || st.RemoteLost != 0 || st.RTT < 0 || st.RTT > failsafe {
			t.Errorf("%s: RTCP sent %d, errors %d, remote lost %d, RTT %v; want reports, no errors, no loss, a loopback RTT",
				name, st.RTCPSent, st.RTCPErrors, st.RemoteLost, st.RTT)
		}
		if st.Malformed != 0 || st.OtherPayload != 0 {
			t.Errorf("%s: RTCP taken for RTP: malformed %d, other payload %d", name, st.Malformed, st.OtherPayload)
		}
	}
}

func FuzzHandleRTCP(f *testing.F) {
	conn := listen(f)
	pcmu, _ := CodecByName("PCMU")
	cfg := SessionConfig{Codec: pcmu, Remote: addrOf(listen(f))}
	s, err := NewSession(conn, cfg)
	if err != nil {
		f.Fatal(err)
	}
	sr, err := s.report(time.Now(), true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sr)
	f.Add([]byte{0x80, 201, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewSession(conn, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.handleRTCP(b, time.Now())
		st := s.Stats()
		if st.RTCPReceived+st.RTCPErrors != 1 {
			t.Errorf("received %d + errors %d, want the 1 datagram handled", st.RTCPReceived, st.RTCPErrors)
		}
		if _, err := s.report(time.Now(), false); err != nil {
			t.Errorf("report after %x: %v", b, err)
		}
	})
}
