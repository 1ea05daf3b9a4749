package media

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// listen opens a UDP socket on a free loopback port, closed when the test ends.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// A sessionMaker returns a Session on conn for codec, sending to remote: newSession or
// pulledSession.
type sessionMaker func(t testing.TB, conn *net.UDPConn, codec string, remote netip.AddrPort) *Session

// newSession returns a Session on conn for codec, with telephone-event on PT 101.
func newSession(t testing.TB, conn *net.UDPConn, codec string, remote netip.AddrPort) *Session {
	t.Helper()
	return sessionReading(t, conn, codec, remote, false)
}

// sessionReading returns newSession's Session, whose Receive reads the socket if
// onReceive (SessionConfig.ReadOnReceive).
func sessionReading(t testing.TB, conn *net.UDPConn, codec string, remote netip.AddrPort, onReceive bool) *Session {
	t.Helper()
	c, ok := CodecByName(codec)
	if !ok {
		t.Fatalf("no codec %s", codec)
	}
	s, err := NewSession(conn, SessionConfig{Codec: c, PayloadType: c.PayloadType(), DTMFPayloadType: 101, Remote: remote, ReadOnReceive: onReceive})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

// run runs s until the test ends, and then checks that Run returned nil.
func run(t *testing.T, s *Session) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// failsafe bounds the waits for packets to cross the loopback interface: only a packet
// that never comes takes that long, however busy the machine is.
const failsafe = time.Minute

// waitFor polls cond until it holds, failing the test after failsafe. It waits for packets
// to cross the loopback interface; it does not measure time.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// packet marshals an RTP packet of SSRC 0xcafe.
func packet(t testing.TB, pt uint8, seq uint16, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0xcafe},
		Payload: payload,
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal RTP: %v", err)
	}
	return b
}

// pulledSession returns a Session on conn for codec, with telephone-event on PT 101,
// whose Receive reads the socket (SessionConfig.ReadOnReceive).
func pulledSession(t testing.TB, conn *net.UDPConn, codec string, remote netip.AddrPort) *Session {
	t.Helper()
	s := sessionReading(t, conn, codec, remote, true)
	if s.pulled == nil {
		t.Fatal("the session does not read on Receive")
	}
	return s
}

// arrived has s take what waits on its socket, as its Receive would first, if it reads on
// Receive; otherwise Run's reader takes it.
func arrived(s *Session) {
	if s.pulled != nil {
		s.pulled.read(s, maxPull)
	}
}

// TestSessionsExchangeTone runs two sessions that send each other a 1 kHz tone in lockstep
// and checks what each decodes: sessions whose Run reads, and sessions whose Receive does.
func TestSessionsExchangeTone(t *testing.T) {
	for _, mode := range []struct {
		name string
		make sessionMaker
	}{{"Run reads", newSession}, {"Receive reads", pulledSession}} {
		for _, codec := range []string{"PCMU", "PCMA", "G722"} {
			t.Run(mode.name+"/"+codec, func(t *testing.T) { exchangeTone(t, codec, mode.make) })
		}
	}
}

func exchangeTone(t *testing.T, codec string, newSession sessionMaker) {
	ca, cb := listen(t), listen(t)
	a := newSession(t, ca, codec, addrOf(cb))
	b := newSession(t, cb, codec, addrOf(ca))
	run(t, a)
	run(t, b)

	const packets = 50
	spp := a.SamplesPerPacket()
	rate := a.active.Load().codec.ClockRate()
	sent := tone(rate, 1000, -12, packets*0.02)
	var gotA, gotB []int16
	frame := make([]int16, spp)
	receive := func(s *Session, got *[]int16) {
		t.Helper()
		if !s.Receive(frame) {
			t.Fatalf("Receive after %d packets: nothing due", len(*got)/spp)
		}
		*got = append(*got, frame...)
	}
	for i := range packets {
		p := sent[i*spp : (i+1)*spp]
		if err := a.Send(p); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(p); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "packets", func() bool {
			arrived(a)
			arrived(b)
			return a.Stats().PacketsReceived == uint64(i+1) && b.Stats().PacketsReceived == uint64(i+1)
		})
		if i > 0 { // playout starts at 2 packets buffered
			receive(a, &gotA)
			receive(b, &gotB)
		}
	}
	receive(a, &gotA)
	receive(b, &gotB)

	c, _ := CodecByName(codec)
	payload := make([]byte, len(sent))
	want := make([]int16, len(sent))
	c.Decode(want, payload[:c.Encode(payload, sent)])
	for _, got := range [][]int16{gotA, gotB} {
		if !slices.Equal(got, want) {
			t.Errorf("decoded audio differs from the %s round trip of what was sent", codec)
		}
		if lvl := ToneLevel(got, rate, 1000); lvl < -1 {
			t.Errorf("ToneLevel at 1 kHz = %.2f dB, want above -1", lvl)
		}
		if d := LevelDBFS(got) - LevelDBFS(sent); d < -1 || d > 1 {
			t.Errorf("level %.2f dBFS, sent %.2f dBFS, want within 1 dB", LevelDBFS(got), LevelDBFS(sent))
		}
	}
	for _, s := range []*Session{a, b} {
		st := s.Stats()
		// G.711 and G.722 alike send 160 octets per 20 ms.
		if st.PacketsSent != packets || st.BytesSent != packets*(12+160) || st.Lost != 0 || st.Late != 0 || st.Malformed != 0 {
			t.Errorf("stats %+v, want %d packets of 172 bytes sent and nothing lost, late or malformed", st, packets)
		}
	}
}

func TestSessionSendOnTheWire(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMA", addrOf(peer))
	const packets = 5
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
	var first rtp.Header
	for i := range packets {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("read packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i == 0 {
			first = p.Header
		}
		want := rtp.Header{
			Version:        2,
			Marker:         i == 0,
			PayloadType:    8,
			SequenceNumber: first.SequenceNumber + uint16(i),
			Timestamp:      first.Timestamp + uint32(i*160),
			SSRC:           first.SSRC,
		}
		if p.Version != want.Version || p.Marker != want.Marker || p.PayloadType != want.PayloadType ||
			p.SequenceNumber != want.SequenceNumber || p.Timestamp != want.Timestamp || p.SSRC != want.SSRC {
			t.Errorf("packet %d: header %+v, want %+v", i, p.Header, want)
		}
		if len(p.Payload) != 160 || p.Payload[0] != g711.EncodeAlawFrame(frame[0]) {
			t.Errorf("packet %d: payload of %d bytes, want the 160 A-law bytes of the frame", i, len(p.Payload))
		}
	}
	if st := s.Stats(); st.PacketsSent != packets || st.BytesSent != packets*172 {
		t.Errorf("sent %d packets, %d bytes, want %d and %d", st.PacketsSent, st.BytesSent, packets, packets*172)
	}
}

// TestSessionG722Timestamps checks RFC 3551's quirk: G.722 samples at 16 kHz, but its RTP
// timestamps count at 8 kHz, so a 20 ms packet holds 320 samples in 160 octets and
// advances the timestamp by 160.
func TestSessionG722Timestamps(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "G722", addrOf(peer))
	if got := s.SamplesPerPacket(); got != 320 {
		t.Fatalf("SamplesPerPacket = %d, want 320", got)
	}
	frame := tone(16000, 1000, -12, 0.02)
	for range 3 {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := peer.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var first rtp.Header
	for i := range 3 {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("read packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i == 0 {
			first = p.Header
		}
		if p.PayloadType != 9 || p.Timestamp != first.Timestamp+uint32(i*160) || len(p.Payload) != 160 {
			t.Errorf("packet %d: PT %d, timestamp %d (first %d), %d octets; want PT 9, first+%d, 160 octets",
				i, p.PayloadType, p.Timestamp, first.Timestamp, len(p.Payload), i*160)
		}
	}
	if _, err := NewSession(listen(t), SessionConfig{Codec: NewG722(), PayloadType: 9, Remote: addrOf(peer), PacketTime: 10 * time.Millisecond}); err != nil {
		t.Errorf("G.722 at 10 ms: %v", err)
	}
}

func TestSessionSendRejectsWrongLength(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	if err := s.Send(make([]int16, 159)); err == nil || !strings.Contains(err.Error(), "159") {
		t.Errorf("Send of 159 samples: err = %v, want one naming 159", err)
	}
}

// TestSessionSurvivesMalformedPackets sends a running session good packets with malformed
// ones between them, and checks that it counts the malformed ones and plays the rest.
func TestSessionSurvivesMalformedPackets(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	run(t, s)

	voice := func(seq uint16) []byte { return packet(t, 0, seq, bytes.Repeat([]byte{byte(seq)}, 160)) }
	modify := func(b []byte, f func([]byte)) []byte { f(b); return b }
	malformed := [][]byte{
		{},
		[]byte("this is not an RTP packet"),
		voice(1)[:7],
		modify(voice(1), func(b []byte) { b[0] = 1<<6 | b[0]&0x3f }),                 // version 1
		modify(voice(1)[:24], func(b []byte) { b[0] |= 0x0f }),                       // 15 CSRCs in 24 bytes
		modify(voice(1), func(b []byte) { b[0] |= 0x20; b[len(b)-1] = 255 }),         // 255 padding bytes of 172
		modify(voice(1), func(b []byte) { b[0] |= 0x20; b[len(b)-1] = 0 }),           // zero padding count
		modify(voice(1), func(b []byte) { b[0] |= 0x10; b[14], b[15] = 0xff, 0xff }), // extension past the end
		modify(voice(1)[:12], func(b []byte) { b[0] |= 0x10 }),                       // no extension header
		modify(voice(1)[:13], func(b []byte) { b[0] |= 0x20; b[12] = 2 }),            // 2 padding bytes of 1
	}
	send := func(b []byte) {
		t.Helper()
		if _, err := peer.WriteToUDPAddrPort(b, addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	send(voice(1))
	for _, b := range malformed {
		send(b)
	}
	send(voice(2))
	send(packet(t, 101, 3, []byte{5, 0, 0, 160})) // telephone-event: digit 5
	send(packet(t, 13, 4, []byte{64}))            // comfort noise: not negotiated
	send(voice(5))
	waitFor(t, "packets", func() bool {
		st := s.Stats()
		return st.PacketsReceived+st.Malformed+st.OtherPayload == uint64(4+len(malformed)+1)
	})

	st := s.Stats()
	if st.Malformed != uint64(len(malformed)) || st.PacketsReceived != 4 || st.Events != 1 || st.OtherPayload != 1 {
		t.Errorf("malformed %d, received %d, events %d, other %d, want %d, 4, 1, 1",
			st.Malformed, st.PacketsReceived, st.Events, st.OtherPayload, len(malformed))
	}
	pcm := make([]int16, 160)
	var played []int
	for range 6 {
		// The last sample: the first of a packet after concealment fades in.
		if s.Receive(pcm) {
			played = append(played, int(pcm[len(pcm)-1]))
		} else {
			played = append(played, 0)
		}
	}
	want := []int{int(g711.DecodeUlawFrame(1)), int(g711.DecodeUlawFrame(2)), 0, 0, int(g711.DecodeUlawFrame(5)), 0}
	if !slices.Equal(played, want) {
		t.Errorf("played last samples %v, want %v", played, want)
	}
	if st := s.Stats(); st.Lost != 1 {
		t.Errorf("lost %d, want 1 (the comfort noise packet's sequence number)", st.Lost)
	}
}

// TestSessionIgnoresOtherSources plays the hijack of a call's media: while the peer sends a
// 1 kHz tone, a host next to it (127.0.0.2) and another port of the peer's own host send a
// 440 Hz tone under a new SSRC, each packet ahead of the peer's, and RTCP. The earpiece
// hears only the peer's tone, the stream never restarts, and every foreign datagram is
// counted.
func TestSessionIgnoresOtherSources(t *testing.T) {
	t.Run("Run reads", func(t *testing.T) { ignoresOtherSources(t, newSession) })
	t.Run("Receive reads", func(t *testing.T) { ignoresOtherSources(t, pulledSession) })
}

func ignoresOtherSources(t *testing.T, newSession sessionMaker) {
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	peer, neighbour := listen(t), listen(t) // the peer, and another port of its host
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	run(t, s)

	const packets = 50
	spp := s.SamplesPerPacket()
	ours, theirs := tone(8000, 1000, -12, packets*0.02), tone(8000, 440, -6, packets*0.02)
	encode := func(pcm []int16) []byte {
		b := make([]byte, spp)
		s.active.Load().codec.Encode(b, pcm)
		return b
	}
	bye := []byte{0x81, 203, 0, 1, 0, 0, 0xba, 0xad} // RTCP BYE of SSRC 0xbaad
	var got []int16
	frame := make([]int16, spp)
	for i := range packets {
		seq := uint16(i)
		forged := rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 0, Marker: i == 0, SequenceNumber: seq + 1000, Timestamp: uint32(seq) * 160, SSRC: 0xbaad},
			Payload: encode(theirs[i*spp : (i+1)*spp]),
		}
		b, err := forged.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*net.UDPConn{stranger, neighbour} {
			if _, err := c.WriteToUDPAddrPort(b, addrOf(s.conn)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := peer.WriteToUDPAddrPort(packet(t, 0, seq, encode(ours[i*spp:(i+1)*spp])), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the packets", func() bool {
			arrived(s)
			st := s.Stats()
			return st.PacketsReceived+st.Foreign == uint64(3*(i+1))
		})
		if i > 0 { // playout starts at 2 packets buffered
			if !s.Receive(frame) {
				t.Fatalf("Receive after %d packets: nothing due", i+1)
			}
			got = append(got, frame...)
		}
	}
	for _, c := range []*net.UDPConn{stranger, neighbour} {
		if _, err := c.WriteToUDPAddrPort(bye, addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the RTCP", func() bool {
		arrived(s)
		st := s.Stats()
		return st.PacketsReceived+st.Foreign+st.RTCPReceived == 3*packets+2
	})

	if lvl := ToneLevel(got, 8000, 1000); lvl < -1 {
		t.Errorf("the earpiece's 1 kHz tone (the peer's) is at %.1f dB, want above -1", lvl)
	}
	if lvl := ToneLevel(got, 8000, 440); lvl > -40 {
		t.Errorf("the earpiece's 440 Hz tone (the forger's) is at %.1f dB, want below -40", lvl)
	}
	if st := s.Stats(); st.PacketsReceived != packets || st.Resets != 0 || st.RTCPReceived != 0 || st.Foreign != 2*packets+2 {
		t.Errorf("took %d packets and %d RTCP, restarted %d times, dropped %d as foreign: want the peer's %d packets only, no restart, and the %d others dropped",
			st.PacketsReceived, st.RTCPReceived, st.Resets, st.Foreign, packets, 2*packets+2)
	}
}

func TestSessionConcealsThenFallsSilent(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
	frame := tone(8000, 1000, -12, 0.02)
	payload := make([]byte, 160)
	s.active.Load().codec.Encode(payload, frame)
	for seq := range uint16(3) {
		s.handlePacket(packet(t, 0, seq, payload), time.Now())
	}
	pcm := make([]int16, 160)
	for range 2 {
		if !s.Receive(pcm) {
			t.Fatal("Receive: no packet due")
		}
	}
	level := LevelDBFS(pcm)
	s.Receive(pcm) // the third packet
	var levels []float64
	for range 4 {
		if s.Receive(pcm) {
			t.Fatal("Receive reported a packet after the last one")
		}
		levels = append(levels, LevelDBFS(pcm))
	}
	for i, l := range levels[:3] {
		if l >= level || l <= FloorDBFS || (i > 0 && l >= levels[i-1]) {
			t.Fatalf("concealment levels %.1f after a packet at %.1f dBFS, want falling", levels, level)
		}
	}
	if levels[3] != FloorDBFS {
		t.Errorf("fourth concealment at %.1f dBFS, want silence", levels[3])
	}
	if st := s.Stats(); st.Concealed != 4 {
		t.Errorf("concealed %d, want 4", st.Concealed)
	}
}

func TestNewSessionValidates(t *testing.T) {
	pcmu, _ := CodecByName("PCMU")
	remote := netip.MustParseAddrPort("127.0.0.1:4000")
	ok := SessionConfig{Codec: pcmu, PayloadType: 0, DTMFPayloadType: 101, Remote: remote}
	with := func(f func(*SessionConfig)) SessionConfig { c := ok; f(&c); return c }
	tests := []struct {
		name string
		cfg  SessionConfig
		want string // in the error
	}{
		{"no codec", with(func(c *SessionConfig) { c.Codec = nil }), "Codec"},
		{"payload type 128", with(func(c *SessionConfig) { c.PayloadType = 128 }), "PayloadType"},
		{"DTMF payload type 200", with(func(c *SessionConfig) { c.DTMFPayloadType = 200 }), "DTMFPayloadType"},
		{"DTMF on the codec's type", with(func(c *SessionConfig) { c.DTMFPayloadType, c.PayloadType = 96, 96 }), "DTMFPayloadType"},
		{"no remote", with(func(c *SessionConfig) { c.Remote = netip.AddrPort{} }), "Remote"},
		{"remote port 0", with(func(c *SessionConfig) { c.Remote = netip.MustParseAddrPort("127.0.0.1:0") }), "Remote"},
		{"unspecified remote", with(func(c *SessionConfig) { c.Remote = netip.MustParseAddrPort("0.0.0.0:4000") }), "Remote"},
		{"negative packet time", with(func(c *SessionConfig) { c.PacketTime = -time.Millisecond }), "PacketTime"},
		{"packet time too long", with(func(c *SessionConfig) { c.PacketTime = time.Second }), "PacketTime"},
		{"fractional samples", with(func(c *SessionConfig) { c.PacketTime = 20*time.Millisecond + time.Microsecond }), "PacketTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(listen(t), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSession = %v, %v; want an error naming %s", s, err, tt.want)
			}
		})
	}
	t.Run("nil conn", func(t *testing.T) {
		if _, err := NewSession(nil, ok); err == nil {
			t.Error("NewSession(nil) succeeded")
		}
	})
	t.Run("connected conn", func(t *testing.T) {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(remote))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := NewSession(c, ok); err == nil || !strings.Contains(err.Error(), "connected") {
			t.Errorf("NewSession on a connected socket: err = %v, want one saying so", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		s, err := NewSession(listen(t), ok)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.SamplesPerPacket(); got != 160 {
			t.Errorf("SamplesPerPacket = %d, want 160", got)
		}
		s, err = NewSession(listen(t), with(func(c *SessionConfig) { c.PacketTime = 30 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.SamplesPerPacket(); got != 240 {
			t.Errorf("SamplesPerPacket at 30 ms = %d, want 240", got)
		}
	})
}

func TestSessionRunStops(t *testing.T) {
	t.Run("on cancel", func(t *testing.T) {
		s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
		if err := s.Send(make([]int16, 160)); err == nil {
			t.Error("Send after Run returned succeeded, want an error: Run closes the socket")
		}
	})
	t.Run("on a socket error", func(t *testing.T) {
		s := newSession(t, listen(t), "PCMU", addrOf(listen(t)))
		done := make(chan error, 1)
		go func() { done <- s.Run(t.Context()) }()
		s.conn.Close()
		if err := <-done; err == nil || !strings.Contains(err.Error(), "receive RTP") {
			t.Errorf("Run after the socket closed = %v, want a receive RTP error", err)
		}
	})
}

func TestSessionDoesNotAllocate(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	frame := make([]int16, s.SamplesPerPacket())
	if n := testing.AllocsPerRun(100, func() {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Send allocates %v times per packet, want 0", n)
	}

	pkt := packet(t, 0, 0, make([]byte, 160))
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		nextPacket(pkt, seq)
		seq++
		s.handlePacket(pkt, time.Now())
		s.Receive(frame)
	}); n != 0 {
		t.Errorf("receiving allocates %v times per packet, want 0", n)
	}
	if st := s.Stats(); st.PacketsReceived != 101 || st.Lost != 0 {
		t.Errorf("received %d packets, lost %d, want 101 and 0", st.PacketsReceived, st.Lost)
	}
}

// nextPacket rewrites a marshalled packet's sequence number and timestamp in place.
func nextPacket(pkt []byte, seq uint16) {
	ts := uint32(seq) * 160
	pkt[2], pkt[3] = byte(seq>>8), byte(seq)
	pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
}

func FuzzHandlePacket(f *testing.F) {
	f.Add(packet(f, 0, 1, bytes.Repeat([]byte{0xff}, 160)))
	f.Add(packet(f, 101, 1, []byte{1, 0x80, 1, 64}))
	f.Add([]byte{0x80})
	conn := listen(f)
	pcmu, _ := CodecByName("PCMU")
	cfg := SessionConfig{Codec: pcmu, DTMFPayloadType: 101, Remote: netip.MustParseAddrPort("127.0.0.1:9")}
	good := packet(f, 0, 2, make([]byte, 160))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewSession(conn, cfg)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, s.SamplesPerPacket())
		s.handlePacket(b, time.Now())
		first := s.Stats()
		s.handlePacket(b, time.Now())
		s.handlePacket(good, time.Now())
		s.handlePacket(b, time.Now())
		for range 4 {
			s.Receive(pcm)
		}
		st := s.Stats()
		if got := st.PacketsReceived + st.Malformed + st.OtherPayload; got != 4 {
			t.Errorf("received %d + malformed %d + other %d = %d, want the 4 datagrams handled",
				st.PacketsReceived, st.Malformed, st.OtherPayload, got)
		}
		if st.Duplicates+st.Late+st.Discarded > st.PacketsReceived {
			t.Errorf("duplicates %d + late %d + discarded %d exceed the %d received", st.Duplicates, st.Late, st.Discarded, st.PacketsReceived)
		}
		if first.PacketsReceived == 1 && st.Duplicates == 0 {
			t.Errorf("the same packet handled twice was not counted a duplicate: %+v", st)
		}
		if st.Concealed > 4 {
			t.Errorf("concealed %d of 4 Receive calls", st.Concealed)
		}
	})
}

func BenchmarkSessionSend(b *testing.B) {
	peer := listen(b)
	s := newSession(b, listen(b), "PCMU", addrOf(peer))
	done := make(chan struct{})
	go func() { // drain, until the listener closes
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { peer.Close(); <-done })
	frame := tone(8000, 1000, -12, 0.02)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionReceive(b *testing.B) {
	s := newSession(b, listen(b), "PCMU", addrOf(listen(b)))
	payload := make([]byte, 160)
	s.active.Load().codec.Encode(payload, tone(8000, 1000, -12, 0.02))
	pkt := packet(b, 0, 0, payload)
	pcm := make([]int16, s.SamplesPerPacket())
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		nextPacket(pkt, seq)
		seq++
		s.handlePacket(pkt, time.Now())
		s.Receive(pcm)
	}
}

// TestSessionMovesAndHolds moves a session's far end, as a re-INVITE does, and holds it:
// packets go to the new address and are taken from it, nothing is sent on hold, and the
// timestamps after the hold count the time it lasted.
func TestSessionMovesAndHolds(t *testing.T) {
	first := listen(t)
	second, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	defer second.Close()
	s := newSession(t, listen(t), "PCMU", addrOf(first))
	frame := make([]int16, s.SamplesPerPacket())
	read := func(c *net.UDPConn) rtp.Header {
		t.Helper()
		buf := make([]byte, 1500)
		if err := c.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no packet: %v", err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return p.Header
	}
	if err := s.Send(frame); err != nil {
		t.Fatal(err)
	}
	h1 := read(first)
	s.SetRemote(addrOf(second))
	s.SetSending(false)
	for range 5 {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	s.SetSending(true)
	if err := s.Send(frame); err != nil {
		t.Fatal(err)
	}
	h2 := read(second)
	if h2.SequenceNumber != h1.SequenceNumber+1 || h2.Timestamp != h1.Timestamp+6*160 {
		t.Errorf("after 5 packet times on hold: sequence +%d, timestamp +%d; want +1, +%d",
			h2.SequenceNumber-h1.SequenceNumber, h2.Timestamp-h1.Timestamp, 6*160)
	}
	if st := s.Stats(); st.PacketsSent != 2 {
		t.Errorf("sent %d packets, want 2: none on hold", st.PacketsSent)
	}
	_ = first.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := first.Read(make([]byte, 1500)); err == nil {
		t.Errorf("the old address still got a packet of %d bytes", n)
	}

	// Packets are taken from the new far end only.
	run(t, s)
	pkt := packet(t, 0, 1, make([]byte, 160))
	if _, err := first.WriteToUDPAddrPort(pkt, addrOf(s.conn)); err != nil {
		t.Fatal(err)
	}
	if _, err := second.WriteToUDPAddrPort(pkt, addrOf(s.conn)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both packets", func() bool { st := s.Stats(); return st.PacketsReceived+st.Foreign == 2 })
	if st := s.Stats(); st.PacketsReceived != 1 || st.Foreign != 1 {
		t.Errorf("took %d packets and refused %d, want the new far end's taken and the old one's refused", st.PacketsReceived, st.Foreign)
	}
}

// TestSessionSwitchesCodec switches a running session from PCMU to PCMA, as a re-INVITE
// that changes the codec does: the next packet goes out as PCMA on its payload type, and a
// codec whose RTP clock does not tick a whole number of times a packet is refused.
func TestSessionSwitchesCodec(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	frame := tone(8000, 1000, -12, 0.02)
	pcma, _ := CodecByName("PCMA")
	if err := s.SetCodec(pcma, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(frame); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if p.PayloadType != 8 || p.Payload[0] != g711.EncodeAlawFrame(frame[0]) {
		t.Errorf("after the switch: payload type %d, first byte %#x; want PCMA on 8", p.PayloadType, p.Payload[0])
	}
	if err := s.SetCodec(oddClock{pcma}, 8); err == nil || !strings.Contains(err.Error(), "8001 Hz RTP ticks") {
		t.Errorf("switch to an RTP clock of 8001 Hz = %v, want a refusal: 20 ms is no whole number of its ticks", err)
	}
	if err := s.SetCodec(pcma, 101); err == nil {
		t.Error("switch to telephone-event's payload type succeeded")
	}
}

// oddClock is a codec whose RTP clock runs at 8001 Hz.
type oddClock struct{ Codec }

func (oddClock) RTPClockRate() int { return 8001 }

// TestSessionSwitchesSampleRate switches two sessions that send each other a tone from
// PCMU to G.722 and back, as a re-INVITE can: the packets change size with the sample rate,
// a 6 kHz tone, which G.711 cannot carry, crosses while they are on G.722, and a 1 kHz tone
// crosses again once they are back on PCMU. A frame of the old size is refused.
func TestSessionSwitchesSampleRate(t *testing.T) {
	ca, cb := listen(t), listen(t)
	a := newSession(t, ca, "PCMU", addrOf(cb))
	b := newSession(t, cb, "PCMU", addrOf(ca))
	run(t, a)
	run(t, b)
	sent := 0
	// exchange sends packets of a tone at freq each way and returns what b played of them.
	exchange := func(rate int, freq float64, packets int) []int16 {
		t.Helper()
		spp := a.SamplesPerPacket()
		if b.SamplesPerPacket() != spp || spp != rate/50 {
			t.Fatalf("%d and %d samples per packet at %d Hz, want %d", spp, b.SamplesPerPacket(), rate, rate/50)
		}
		audio := tone(rate, freq, -12, float64(packets)*0.02)
		frame := make([]int16, spp)
		var got []int16
		for i := range packets {
			p := audio[i*spp : (i+1)*spp]
			if err := a.Send(p); err != nil {
				t.Fatal(err)
			}
			if err := b.Send(p); err != nil {
				t.Fatal(err)
			}
			sent++
			waitFor(t, "packets", func() bool {
				return a.Stats().PacketsReceived == uint64(sent) && b.Stats().PacketsReceived == uint64(sent)
			})
			a.Receive(frame)
			b.Receive(frame)
			got = append(got, frame...)
		}
		return got
	}
	switchTo := func(name string, pt uint8) {
		t.Helper()
		for _, s := range []*Session{a, b} {
			c, _ := CodecByName(name)
			if err := s.SetCodec(c, pt); err != nil {
				t.Fatal(err)
			}
		}
	}
	exchange(8000, 1000, 10)
	switchTo("G722", 9)
	if err := a.Send(make([]int16, 160)); err == nil {
		t.Error("Send of a G.711 frame to a G.722 session succeeded")
	}
	heard := exchange(16000, 6000, 25)
	// The packets buffered at the switch play as silence: judge what came after them.
	if lvl := ToneLevel(heard[10*320:], 16000, 6000); lvl < -1 {
		t.Errorf("on G.722: %.1f dB of the 6 kHz tone sent, want above -1", lvl)
	}
	if _, ok := CodecByName("opus"); ok {
		// Opus's RTP clock runs at 48 kHz: the received stream starts afresh.
		switchTo("opus", 111)
		heard = exchange(48000, 1000, 25)
		if lvl := ToneLevel(heard[10*960:], 48000, 1000); lvl < -1 {
			t.Errorf("on Opus: %.1f dB of the 1 kHz tone sent, want above -1", lvl)
		}
	}
	switchTo("PCMU", 0)
	heard = exchange(8000, 1000, 25)
	if lvl := ToneLevel(heard[10*160:], 8000, 1000); lvl < -1 {
		t.Errorf("back on PCMU: %.1f dB of the 1 kHz tone sent, want above -1", lvl)
	}
	if st := b.Stats(); st.OtherPayload != 0 || st.Malformed != 0 {
		t.Errorf("stats %+v, want every packet of the codec in use", st)
	}
}

// TestSessionCodecSwitchSilencesBufferedAudio buffers PCMU packets, then switches to G.722:
// they play as silence, not as G.722 noise, and the G.722 packets after them play.
func TestSessionCodecSwitchSilencesBufferedAudio(t *testing.T) {
	s := newSession(t, listen(t), "PCMU", netip.MustParseAddrPort("127.0.0.1:9"))
	pcmu, _ := CodecByName("PCMU")
	loud := tone(8000, 1000, -6, 0.02)
	payload := make([]byte, 160)
	pcmu.Encode(payload, loud)
	seq := uint16(0)
	for range 3 {
		s.handlePacket(packet(t, 0, seq, payload), time.Now())
		seq++
	}
	g722, _ := CodecByName("G722")
	if err := s.SetCodec(g722, 9); err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, s.SamplesPerPacket())
	for i := range 3 {
		if s.Receive(frame) || LevelDBFS(frame) > -60 {
			t.Fatalf("PCMU packet %d after the switch: played at %.1f dBFS, want silence", i, LevelDBFS(frame))
		}
	}
	// A PCMU packet that comes after the switch is not taken for G.722 either.
	s.handlePacket(packet(t, 0, seq, payload), time.Now())
	if st := s.Stats(); st.OtherPayload != 1 {
		t.Errorf("%d packets of another payload type, want the late PCMU one", st.OtherPayload)
	}
	enc := NewG722()
	wide := tone(16000, 6000, -6, 0.02)
	wpayload := make([]byte, 160)
	enc.Encode(wpayload, wide)
	played := false
	for range 6 {
		s.handlePacket(packet(t, 9, seq, wpayload), time.Now())
		seq++
		played = s.Receive(frame) || played
	}
	if !played || LevelDBFS(frame) < -20 {
		t.Errorf("G.722 after the switch: played %v, last packet at %.1f dBFS", played, LevelDBFS(frame))
	}
}

// TestSessionSetCodecWhileRunning switches the codec back and forth while Run, Send,
// Receive and Stats go on, for the race detector; the sender follows SamplesPerPacket as a
// pump does.
func TestSessionSetCodecWhileRunning(t *testing.T) {
	peer := listen(t)
	s := newSession(t, listen(t), "PCMU", addrOf(peer))
	run(t, s)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		big := make([]int16, 320)
		for {
			select {
			case <-stop:
				return
			default:
			}
			frame := big[:s.SamplesPerPacket()]
			_ = s.Send(frame) // one frame of the old size may cross a switch
			s.Receive(frame)
			_ = s.Stats()
		}
	}()
	for i := range 100 {
		name, pt := "G722", uint8(9)
		if i%2 == 1 {
			name, pt = "PCMU", 0
		}
		c, _ := CodecByName(name)
		if err := s.SetCodec(c, pt); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(packet(t, pt, uint16(i), make([]byte, 160)), addrOf(s.conn)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	if got := s.SamplesPerPacket(); got != 160 {
		t.Errorf("SamplesPerPacket = %d after switching back to PCMU, want 160", got)
	}
}

// TestOpusSessionDoesNotAllocate holds an Opus session to the same: encoding, decoding
// and concealing a lost packet from the next one's FEC copy allocate nothing.
func TestOpusSessionDoesNotAllocate(t *testing.T) {
	if _, ok := CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	peer := listen(t)
	s := newSession(t, listen(t), "opus", addrOf(peer))
	frame := make([]int16, s.SamplesPerPacket())
	NewTone(48000, 1000, -12).Generate(frame)
	if n := testing.AllocsPerRun(100, func() {
		if err := s.Send(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Send allocates %v times per Opus packet, want 0", n)
	}
	enc, _ := CodecByName("opus")
	payload := make([]byte, 1500)
	pkt := packet(t, 111, 0, payload[:enc.Encode(payload, frame)])
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		if seq%5 != 3 { // every fifth packet lost
			nextOpusPacket(pkt, seq)
			s.handlePacket(pkt, time.Now())
		}
		seq++
		s.Receive(frame)
	}); n != 0 {
		t.Errorf("receiving allocates %v times per Opus packet, want 0", n)
	}
	if st := s.Stats(); st.PacketsReceived == 0 || st.Lost == 0 {
		t.Errorf("received %d packets, lost %d; want some of each", st.PacketsReceived, st.Lost)
	}
}

// nextOpusPacket rewrites a marshalled Opus packet's sequence number and timestamp in place.
func nextOpusPacket(pkt []byte, seq uint16) {
	ts := uint32(seq) * 960
	pkt[2], pkt[3] = byte(seq>>8), byte(seq)
	pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
}

func BenchmarkOpusSession(b *testing.B) {
	if _, ok := CodecByName("opus"); !ok {
		b.Skip("no libopus in this build")
	}
	peer := listen(b)
	s := newSession(b, listen(b), "opus", addrOf(peer))
	frame := make([]int16, s.SamplesPerPacket())
	NewTone(48000, 1000, -12).Generate(frame)
	enc, _ := CodecByName("opus")
	payload := make([]byte, 1500)
	pkt := packet(b, 111, 0, payload[:enc.Encode(payload, frame)])
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(frame); err != nil {
			b.Fatal(err)
		}
		nextOpusPacket(pkt, seq)
		seq++
		s.handlePacket(pkt, time.Now())
		s.Receive(frame)
	}
}

// TestOpusFollowsReportedLoss: the loss the far end reports in RTCP sets how much the Opus
// encoder's FEC copy protects against, from the next packet on, never below its floor, and
// without allocating.
func TestOpusFollowsReportedLoss(t *testing.T) {
	if _, ok := CodecByName("opus"); !ok {
		t.Skip("no libopus in this build")
	}
	s := newSession(t, listen(t), "opus", addrOf(listen(t)))
	enc := s.Codec().(*opusCodec).enc
	frame := make([]int16, s.SamplesPerPacket())
	report := func(fraction uint8) int {
		t.Helper()
		s.mu.Lock()
		s.takeReport(rtcp.ReceptionReport{SSRC: s.ssrc, FractionLost: fraction}, time.Now())
		s.mu.Unlock()
		if n := testing.AllocsPerRun(1, func() {
			if err := s.Send(frame); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Send allocates %v times as it takes the reported loss, want 0", n)
		}
		pct, err := enc.PacketLossPercent()
		if err != nil {
			t.Fatal(err)
		}
		return pct
	}
	if pct := report(77); pct != 31 { // 77/256 is 30.1 %
		t.Errorf("after a report of 30.1%% lost the encoder protects against %d%%, want 31%%", pct)
	}
	if pct := report(0); pct != opusLossPercent {
		t.Errorf("after a report of no loss the encoder protects against %d%%, want its floor %d%%", pct, opusLossPercent)
	}
	if pct := report(255); pct != opusMaxLossPercent {
		t.Errorf("after a report of nearly all lost the encoder protects against %d%%, want its ceiling %d%%", pct, opusMaxLossPercent)
	}
}
