package media

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// relayEnd is a far end of a relay: a plain UDP socket, and the relay's socket it talks
// to.
type relayEnd struct {
	t     *testing.T
	conn  *net.UDPConn
	relay netip.AddrPort
}

func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// startRelay relays between far ends a and b, whose negotiated media are ma and mb.
func startRelay(t *testing.T, ma, mb RelayMedia, infoB func(context.Context, rune, time.Duration) error) (a, b *relayEnd) {
	t.Helper()
	a = &relayEnd{t: t, conn: loopbackUDP(t)}
	b = &relayEnd{t: t, conn: loopbackUDP(t)}
	ma.Remote, mb.Remote, ma.Sends, mb.Sends = udpAddr(a.conn), udpAddr(b.conn), true, true
	legA, err := NewRelayLeg("a", loopbackUDP(t), ma, nil)
	if err != nil {
		t.Fatal(err)
	}
	legB, err := NewRelayLeg("b", loopbackUDP(t), mb, infoB)
	if err != nil {
		t.Fatal(err)
	}
	a.relay, b.relay = udpAddr(legA.conn), udpAddr(legB.conn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewRelay(legA, legB, -1, slog.New(slog.NewTextHandler(t.Output(), nil))).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a, b
}

func (e *relayEnd) send(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) {
	e.t.Helper()
	pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234, Marker: marker}, Payload: payload}).Marshal()
	if err != nil {
		e.t.Fatalf("marshal: %v", err)
	}
	if _, err := e.conn.WriteToUDPAddrPort(pkt, e.relay); err != nil {
		e.t.Fatalf("send: %v", err)
	}
}

// receive returns the next RTP packet, failing the test if none comes within failsafe.
func (e *relayEnd) receive() rtp.Packet {
	e.t.Helper()
	buf := make([]byte, 1500)
	_ = e.conn.SetReadDeadline(time.Now().Add(failsafe))
	n, from, err := e.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		e.t.Fatalf("receive: %v", err)
	}
	if from != e.relay {
		e.t.Fatalf("packet from %v, want the relay's %v", from, e.relay)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		e.t.Fatalf("unmarshal: %v", err)
	}
	return p
}

func TestRelaySameCodecKeepsPayload(t *testing.T) {
	a, b := startRelay(t, RelayMedia{Codec: "PCMU", PayloadType: 0}, RelayMedia{Codec: "PCMU", PayloadType: 0}, nil)
	var first rtp.Packet
	for i := range 5 {
		payload := bytes.Repeat([]byte{byte(i), 0x7f, 0x80, 0xff}, 40)
		a.send(0, uint16(65534+i), uint32(1000+160*i), i == 0, payload)
		got := b.receive()
		if !bytes.Equal(got.Payload, payload) || got.PayloadType != 0 {
			t.Fatalf("packet %d: PT %d, payload changed", i, got.PayloadType)
		}
		if got.SSRC == 0x1234 {
			t.Errorf("packet %d kept the sender's SSRC", i)
		}
		if i == 0 {
			first = got
			if !got.Marker {
				t.Error("first packet without marker")
			}
			continue
		}
		if got.SSRC != first.SSRC || got.SequenceNumber != first.SequenceNumber+uint16(i) || got.Timestamp != first.Timestamp+uint32(160*i) {
			t.Errorf("packet %d: SSRC %x seq %d ts %d; after the first's %x %d %d", i, got.SSRC, got.SequenceNumber, got.Timestamp, first.SSRC, first.SequenceNumber, first.Timestamp)
		}
	}
}

// sendTone sends 25 packets of a 1 kHz tone (half a second) in codec from a, and returns
// what b receives, decoded with codec to.
func sendTone(t *testing.T, a, b *relayEnd, from string, fromPT uint8, to string) []int16 {
	t.Helper()
	enc, _ := CodecByName(from)
	dec, _ := CodecByName(to)
	tone := NewTone(enc.ClockRate(), 1000, -12)
	pcm := make([]int16, enc.ClockRate()/50)
	var (
		heard  []int16
		lastTS uint32
	)
	for i := range 25 {
		tone.Generate(pcm)
		payload := make([]byte, len(pcm))
		payload = payload[:enc.Encode(payload, pcm)]
		a.send(fromPT, uint16(i), uint32(enc.RTPClockRate()/50*i), i == 0, payload)
		got := b.receive()
		// The timestamps go on at the RTP clock of the codec relayed to.
		if step := got.Timestamp - lastTS; i > 0 && step != uint32(dec.RTPClockRate()/50) {
			t.Errorf("%s to %s: timestamp step %d, want %d", from, to, step, dec.RTPClockRate()/50)
		}
		lastTS = got.Timestamp
		out := make([]int16, dec.ClockRate()/10)
		heard = append(heard, out[:dec.Decode(out, got.Payload)]...)
	}
	return heard
}

func TestRelayConvertsCodecs(t *testing.T) {
	for _, tt := range []struct{ a, b string }{{"PCMU", "PCMA"}, {"PCMU", "G722"}, {"opus", "PCMU"}, {"G722", "opus"}} {
		t.Run(tt.a+"-"+tt.b, func(t *testing.T) {
			ca, okA := CodecByName(tt.a)
			cb, okB := CodecByName(tt.b)
			if !okA || !okB {
				t.Skip("no libopus in this build")
			}
			a, b := startRelay(t, RelayMedia{Codec: tt.a, PayloadType: ca.PayloadType()}, RelayMedia{Codec: tt.b, PayloadType: cb.PayloadType()}, nil)
			for _, dir := range []struct {
				name       string
				from, to   *relayEnd
				codec, out Codec
			}{{"a to b", a, b, ca, cb}, {"b to a", b, a, cb, ca}} {
				heard := sendTone(t, dir.from, dir.to, dir.codec.Name(), dir.codec.PayloadType(), dir.out.Name())
				// Past the resampler's start: the last 0.3 s.
				tail := heard[len(heard)-3*dir.out.ClockRate()/10:]
				if lvl := ToneLevel(tail, dir.out.ClockRate(), 1000); lvl < -1 {
					t.Errorf("%s: the 1 kHz tone is at %.1f dB of what arrived, want it to be nearly all", dir.name, lvl)
				}
				if lvl := LevelDBFS(tail); lvl < -18 || lvl > -9 {
					t.Errorf("%s: level %.1f dBFS, want about -12", dir.name, lvl)
				}
			}
		})
	}
}

func TestRelayDTMF(t *testing.T) {
	event := []byte{5, 0x8a, 0x03, 0x20} // digit 5, end, volume 10, 800 samples
	t.Run("telephone-event both sides", func(t *testing.T) {
		a, b := startRelay(t, RelayMedia{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101}, RelayMedia{Codec: "PCMA", PayloadType: 8, DTMFPayloadType: 96}, nil)
		a.send(101, 1, 5000, true, event)
		got := b.receive()
		if got.PayloadType != 96 || !bytes.Equal(got.Payload, event) {
			t.Errorf("got PT %d payload %x, want PT 96 payload %x", got.PayloadType, got.Payload, event)
		}
	})
	t.Run("telephone-event across RTP clocks", func(t *testing.T) {
		if _, ok := CodecByName("opus"); !ok {
			t.Skip("no libopus in this build")
		}
		a, b := startRelay(t, RelayMedia{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101}, RelayMedia{Codec: "opus", PayloadType: 111, DTMFPayloadType: 110}, nil)
		a.send(101, 1, 5000, true, event)
		got := b.receive()
		// 800 ticks of 8 kHz are 4800 of Opus's 48 kHz.
		if want := []byte{5, 0x8a, 0x12, 0xc0}; got.PayloadType != 110 || !bytes.Equal(got.Payload, want) {
			t.Errorf("got PT %d payload %x, want PT 110 payload %x", got.PayloadType, got.Payload, want)
		}
	})
	t.Run("SIP INFO where the other side has none", func(t *testing.T) {
		type info struct {
			digit rune
			dur   time.Duration
		}
		infos := make(chan info, 4)
		a, b := startRelay(t, RelayMedia{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101}, RelayMedia{Codec: "PCMU", PayloadType: 0}, func(_ context.Context, d rune, dur time.Duration) error {
			infos <- info{d, dur}
			return nil
		})
		for range 3 { // the end of an event comes three times
			a.send(101, 1, 5000, true, event)
		}
		a.send(0, 2, 5800, false, bytes.Repeat([]byte{0xff}, 160))
		b.receive() // the audio after the event: the event went before it
		select {
		case got := <-infos:
			if got != (info{'5', 100 * time.Millisecond}) {
				t.Errorf("INFO %+v, want digit 5 for 100 ms", got)
			}
		case <-time.After(failsafe):
			t.Fatalf("no SIP INFO within %v", failsafe)
		}
		select {
		case got := <-infos:
			t.Errorf("a second INFO %+v for the same event", got)
		default:
		}
	})
}

func TestRelayIgnoresOtherSources(t *testing.T) {
	a, b := startRelay(t, RelayMedia{Codec: "PCMU", PayloadType: 0}, RelayMedia{Codec: "PCMU", PayloadType: 0}, nil)
	// Another loopback address, and another port of the peer's: the relay takes its peer's
	// packets only from the address and port its SDP named.
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1)} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatalf("listen on %v: %v", ip, err)
		}
		defer conn.Close()
		stranger := &relayEnd{t: t, conn: conn, relay: a.relay}
		stranger.send(0, 1, 1, true, bytes.Repeat([]byte{1}, 160))
	}
	a.send(0, 7, 7, true, bytes.Repeat([]byte{2}, 160))
	if got := b.receive(); got.Payload[0] != 2 {
		t.Errorf("relayed a stranger's packet: payload %x", got.Payload[:4])
	}
}

// TestRelayLegSetMedia follows a re-INVITE: a change to a codec the relay cannot take is
// refused and keeps the old codec, but the address and direction still move.
func TestRelayLegSetMedia(t *testing.T) {
	first := netip.MustParseAddrPort("127.0.0.1:4000")
	l, err := NewRelayLeg("a", loopbackUDP(t), RelayMedia{Remote: first, Codec: "PCMU", Sends: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRelayLeg("b", loopbackUDP(t), RelayMedia{Remote: first, Codec: "G729"}, nil); err == nil {
		t.Error("NewRelayLeg took a codec the relay cannot convert")
	}
	moved := netip.MustParseAddrPort("[::ffff:127.0.0.2]:4002")
	if err := l.SetMedia(RelayMedia{Remote: moved, Codec: "G729", PayloadType: 18, Sends: false}); err == nil {
		t.Error("SetMedia took a codec the relay cannot convert")
	}
	got := *l.media.Load()
	want := RelayMedia{Remote: netip.MustParseAddrPort("127.0.0.2:4002"), Codec: "PCMU", Sends: false}
	if got != want {
		t.Errorf("after a change to an unknown codec: %+v, want %+v (old codec, new address and direction)", got, want)
	}
	if err := l.SetMedia(RelayMedia{Remote: first, Codec: "G722", PayloadType: 9, Sends: true}); err != nil {
		t.Fatal(err)
	}
	if got := *l.media.Load(); got.Codec != "G722" || got.PayloadType != 9 || !got.Sends {
		t.Errorf("after a change to G.722: %+v", got)
	}
}

// TestRelayNoticesSilence relays between two far ends that send (SendRecv) and then one
// that stops: the relay says which went silent, once its timeout passed without its RTP.
// A far end that holds the call (sends nothing, rightly) never counts as silent.
func TestRelayNoticesSilence(t *testing.T) {
	const timeout = 3 * time.Second // the relay's setting: far longer than a packet takes on loopback
	a := &relayEnd{t: t, conn: loopbackUDP(t)}
	b := &relayEnd{t: t, conn: loopbackUDP(t)}
	legA, err := NewRelayLeg("caller", loopbackUDP(t), RelayMedia{Remote: udpAddr(a.conn), Codec: "PCMU", Sends: true, Receives: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	legB, err := NewRelayLeg("conference", loopbackUDP(t), RelayMedia{Remote: udpAddr(b.conn), Codec: "PCMU", Sends: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.relay, b.relay = udpAddr(legA.conn), udpAddr(legB.conn)
	r := NewRelay(legA, legB, timeout, slog.New(slog.NewTextHandler(t.Output(), nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The caller talks for a while: not silent, however long it takes.
	for seq := range uint16(20) {
		a.send(0, seq, uint32(seq)*160, seq == 0, make([]byte, 160))
		b.receive()
		select {
		case <-r.Silent():
			t.Fatalf("the relay took %s for silent while it sent", r.SilentLeg())
		default:
		}
	}
	// Then it stops; the conference (on hold: it sends nothing, rightly) is never blamed.
	select {
	case <-r.Silent():
		if got := r.SilentLeg(); got != "caller" {
			t.Errorf("silent leg %q, want caller", got)
		}
	case <-time.After(failsafe):
		t.Fatal("the relay never noticed that the caller went silent")
	}
}

// TestRelayDoesNotAllocate: a packet relayed between legs of the same codec, as a bridged
// caller's mostly are, allocates nothing (counted over both far ends and the relay).
func TestRelayDoesNotAllocate(t *testing.T) {
	pcmu := RelayMedia{Codec: "PCMU", PayloadType: 0, Receives: true}
	a, b := startRelay(t, pcmu, pcmu, nil)
	pkt := packet(t, 0, 0, make([]byte, 160))
	buf := make([]byte, maxRTP)
	seq := uint16(0)
	relay := func() {
		nextPacket(pkt, seq)
		seq++
		if _, err := a.conn.WriteToUDPAddrPort(pkt, a.relay); err != nil {
			t.Fatal(err)
		}
		_ = b.conn.SetReadDeadline(time.Now().Add(failsafe))
		if _, _, err := b.conn.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	relay() // the relay's first packet sets its stream up
	if n := testing.AllocsPerRun(100, relay); n != 0 {
		t.Errorf("relaying allocates %v times per packet, want 0", n)
	}
}
