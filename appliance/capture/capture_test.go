package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

var (
	local  = netip.MustParseAddrPort("192.0.2.1:5060")
	remote = netip.MustParseAddrPort("198.51.100.7:5062")
)

// TestFileLayout records a datagram each way and one over IPv6, and reads the file back
// as pcap: the headers say what was sent, from where to where.
func TestFileLayout(t *testing.T) {
	var c Capture
	if _, err := c.WriteTo(&bytes.Buffer{}); !errors.Is(err, ErrNoCapture) {
		t.Errorf("WriteTo before any capture: %v, want ErrNoCapture", err)
	}
	c.Datagram(true, local, remote, []byte("not recorded"))
	c.Start()
	c.Datagram(true, local, remote, []byte("INVITE"))
	c.Datagram(false, local, remote, []byte("SIP/2.0 200 OK"))
	c.Datagram(true, netip.MustParseAddrPort("[2001:db8::1]:4000"), netip.MustParseAddrPort("[2001:db8::2]:5000"), []byte{0x80, 0})
	c.Stop()
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if st := c.Status(); st.Packets != 3 || st.Bytes != len(b) || st.Running || st.Stopped != StoppedByUser {
		t.Errorf("status %+v, want 3 packets, %d bytes, stopped by the user", st, len(b))
	}
	if binary.LittleEndian.Uint32(b) != pcapMagic || binary.LittleEndian.Uint32(b[20:]) != linkTypeRaw {
		t.Fatalf("file header % x", b[:fileHeaderLen])
	}
	b = b[fileHeaderLen:]
	type rec struct {
		src, dst netip.AddrPort
		payload  string
	}
	var got []rec
	for len(b) > 0 {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		pkt := b[recordHeaderLen : recordHeaderLen+n]
		b = b[recordHeaderLen+n:]
		var r rec
		var udp []byte
		switch pkt[0] >> 4 {
		case 4:
			if ipv4Checksum(pkt[:ipv4HeaderLen]) != 0 {
				t.Errorf("IPv4 header checksum does not add up: % x", pkt[:ipv4HeaderLen])
			}
			if int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) || pkt[9] != protoUDP {
				t.Errorf("IPv4 header % x for %d bytes", pkt[:ipv4HeaderLen], len(pkt))
			}
			r.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(pkt[12:16])), 0)
			r.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(pkt[16:20])), 0)
			udp = pkt[ipv4HeaderLen:]
		case 6:
			r.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(pkt[8:24])), 0)
			r.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(pkt[24:40])), 0)
			udp = pkt[ipv6HeaderLen:]
		default:
			t.Fatalf("packet % x is not IP", pkt)
		}
		if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			t.Errorf("UDP length %d for %d bytes", binary.BigEndian.Uint16(udp[4:]), len(udp))
		}
		r.src = netip.AddrPortFrom(r.src.Addr(), binary.BigEndian.Uint16(udp))
		r.dst = netip.AddrPortFrom(r.dst.Addr(), binary.BigEndian.Uint16(udp[2:]))
		r.payload = string(udp[udpHeaderLen:])
		got = append(got, r)
	}
	want := []rec{
		{local, remote, "INVITE"},
		{remote, local, "SIP/2.0 200 OK"},
		{netip.MustParseAddrPort("[2001:db8::1]:4000"), netip.MustParseAddrPort("[2001:db8::2]:5000"), "\x80\x00"},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestUnspecifiedLocalAddress: a datagram of a socket bound to 0.0.0.0 is written from or
// to the address this host would use for the remote one, here loopback.
func TestUnspecifiedLocalAddress(t *testing.T) {
	var c Capture
	c.Start()
	c.Datagram(true, netip.MustParseAddrPort("0.0.0.0:5060"), netip.MustParseAddrPort("127.0.0.2:5070"), []byte("OPTIONS"))
	c.Stop()
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ip := buf.Bytes()[fileHeaderLen+recordHeaderLen:]
	if src := netip.AddrFrom4([4]byte(ip[12:16])); src != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("source address %v, want 127.0.0.1, the route to 127.0.0.2", src)
	}
}

// TestBounds: a capture stops by itself at MaxDuration, and before its file passes MaxBytes.
func TestBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Capture
		c.Start()
		time.Sleep(MaxDuration - time.Second)
		if !c.Status().Running {
			t.Fatal("stopped before its time")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if st := c.Status(); st.Running || st.Stopped != StoppedByTime || st.Ended.Sub(st.Started) != MaxDuration {
			t.Errorf("after %v: %+v, want stopped by the time limit", MaxDuration+time.Second, st)
		}
		// A capture started again runs its own full time.
		c.Start()
		time.Sleep(MaxDuration - time.Second)
		synctest.Wait()
		if !c.Status().Running {
			t.Error("a second capture stopped before its time")
		}
		c.Stop()
	})

	var c Capture
	c.Start()
	payload := make([]byte, 1400)
	for range MaxBytes / len(payload) * 2 {
		c.Datagram(true, local, remote, payload)
	}
	st := c.Status()
	if st.Running || st.Stopped != StoppedBySize || st.Bytes > MaxBytes || st.Bytes < MaxBytes-2000 {
		t.Errorf("after twice %d bytes: %+v, want stopped by the size limit just under it", MaxBytes, st)
	}
	var buf bytes.Buffer
	if n, err := c.WriteTo(&buf); err != nil || int(n) != st.Bytes {
		t.Errorf("WriteTo: %d, %v; want the %d bytes", n, err, st.Bytes)
	}
}

// TestDatagramWhileOffDoesNotAllocate: the media's hot path pays nothing while no capture
// runs.
func TestDatagramWhileOffDoesNotAllocate(t *testing.T) {
	var c Capture
	payload := make([]byte, 172)
	if n := testing.AllocsPerRun(1000, func() { c.Datagram(true, local, remote, payload) }); n != 0 {
		t.Errorf("Datagram with no capture allocates %v times, want 0", n)
	}
}
