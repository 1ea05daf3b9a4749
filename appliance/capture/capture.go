// Package capture records the appliance's own SIP and RTP, as its sockets send and receive
// them, into a pcap file that Wireshark and tshark read: the packet capture of the admin
// page, with no tcpdump on the device. The SIP agent and the media sessions hand every
// datagram to a Capture (it is their Tap); while no capture runs, Datagram returns at
// once, without allocating. Datagrams are written with synthetic IPv4 or IPv6 and UDP
// headers (LINKTYPE_RAW), as they would have been on the wire; SRTP stays encrypted.
//
// A capture is bounded: it stops by itself after MaxDuration or once the file would pass
// MaxBytes, and the file of the last capture stays for download until the next starts.
package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The bounds of one capture.
const (
	MaxDuration = 60 * time.Second
	MaxBytes    = 20_000_000
)

// Why a capture stopped (Status.Stopped).
const (
	StoppedByUser = "stopped"
	StoppedByTime = "time limit (60 s) reached"
	StoppedBySize = "size limit (20 MB) reached"
)

// ErrNoCapture is what WriteTo returns before the first capture.
var ErrNoCapture = errors.New("no capture yet")

// A Capture records datagrams while it runs. The zero value is ready, not running. Its
// methods may be called from any goroutine.
type Capture struct {
	running atomic.Bool // read without the lock by Datagram: the fast way out

	mu      sync.Mutex // guards following
	file    []byte     // the pcap file of the last capture, growing while it runs
	packets int
	started time.Time
	ended   time.Time
	stopped string      // why the last capture stopped; "" while running or before any
	timer   *time.Timer // stops the capture at MaxDuration
	gen     int         // counts the captures: a timer stops only its own
	// routes caches the address this host sends from to each remote address, which a
	// socket bound to the unspecified address (0.0.0.0) does not say.
	routes map[netip.Addr]netip.Addr
}

// Status says what a Capture is doing.
type Status struct {
	Running bool      `json:"running"`
	Started time.Time `json:"started,omitzero"` // of the last capture; zero before any
	Ended   time.Time `json:"ended,omitzero"`   // zero while running
	Packets int       `json:"packets"`
	Bytes   int       `json:"bytes"`   // the file's size
	Stopped string    `json:"stopped"` // why the last capture stopped, e.g. StoppedByTime
}

// Start starts a new capture, dropping the file of the last one; it restarts a capture
// that runs.
func (c *Capture) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	// A new file: a download of the last one may still be reading the old.
	c.file = appendFileHeader(make([]byte, 0, 64<<10))
	c.packets = 0
	c.started, c.ended, c.stopped = time.Now(), time.Time{}, ""
	c.gen++
	gen := c.gen
	c.timer = time.AfterFunc(MaxDuration, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen { // not a timer that fired as a new capture started
			c.stopLocked(StoppedByTime)
		}
	})
	c.routes = map[netip.Addr]netip.Addr{}
	c.running.Store(true)
}

// Stop stops the capture, if one runs; its file stays for WriteTo.
func (c *Capture) Stop() { c.stop(StoppedByUser) }

func (c *Capture) stop(why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(why)
}

func (c *Capture) stopLocked(why string) {
	if !c.running.Load() {
		return
	}
	c.running.Store(false)
	c.timer.Stop()
	c.ended, c.stopped = time.Now(), why
}

// Status returns what the capture is doing.
func (c *Capture) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{Running: c.running.Load(), Started: c.started, Ended: c.ended, Packets: c.packets, Bytes: len(c.file), Stopped: c.stopped}
}

// WriteTo writes the pcap file of the capture, the running one as far as it got or the
// last one; ErrNoCapture before the first.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	c.mu.Lock()
	file := c.file // appends never change bytes already there; Start makes a new file
	c.mu.Unlock()
	if len(file) == 0 {
		return 0, ErrNoCapture
	}
	n, err := w.Write(file)
	return int64(n), err
}

// Datagram records one datagram that went from local to remote (sent) or came from
// remote to local, while a capture runs. It does not keep b.
func (c *Capture) Datagram(sent bool, local, remote netip.AddrPort, b []byte) {
	if !c.running.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running.Load() {
		return
	}
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(c.route(remote.Addr()), local.Port())
	}
	src, dst := remote, local
	if sent {
		src, dst = local, remote
	}
	size := recordHeaderLen + packetLen(src, dst, b)
	if len(c.file)+size > MaxBytes {
		c.stopLocked(StoppedBySize)
		return
	}
	c.file = appendRecord(c.file, time.Now(), src, dst, b)
	c.packets++
}

// route returns the address this host sends to remote from, as its routing table says
// (a UDP socket "connected" to remote, which sends nothing), or the unspecified address
// when it cannot tell. Call with mu held.
func (c *Capture) route(remote netip.Addr) netip.Addr {
	if a, ok := c.routes[remote]; ok {
		return a
	}
	a := netip.IPv4Unspecified()
	if remote.Unmap().Is6() {
		a = netip.IPv6Unspecified()
	}
	if conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9))); err == nil {
		a = conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		conn.Close()
	}
	c.routes[remote] = a
	return a
}

// The pcap format (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html).
const (
	pcapMagic       = 0xa1b2c3d4 // microsecond timestamps
	linkTypeRaw     = 101        // LINKTYPE_RAW: each packet starts with its IPv4 or IPv6 header
	snapLen         = 65535
	fileHeaderLen   = 24
	recordHeaderLen = 16
	ipv4HeaderLen   = 20
	ipv6HeaderLen   = 40
	udpHeaderLen    = 8
	protoUDP        = 17
)

func appendFileHeader(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, pcapMagic)
	b = binary.LittleEndian.AppendUint16(b, 2) // version 2.4
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // reserved (was the time zone)
	b = binary.LittleEndian.AppendUint32(b, 0) // reserved (was the accuracy)
	b = binary.LittleEndian.AppendUint32(b, snapLen)
	return binary.LittleEndian.AppendUint32(b, linkTypeRaw)
}

// packetLen is the length of the synthetic packet of payload from src to dst.
func packetLen(src, dst netip.AddrPort, payload []byte) int {
	if is6(src, dst) {
		return ipv6HeaderLen + udpHeaderLen + len(payload)
	}
	return ipv4HeaderLen + udpHeaderLen + len(payload)
}

// is6 reports whether a packet between src and dst is IPv6: when either is an IPv6
// address that is not IPv4-mapped.
func is6(src, dst netip.AddrPort) bool {
	return src.Addr().Unmap().Is6() || dst.Addr().Unmap().Is6()
}

// appendRecord appends the pcap record of a UDP datagram from src to dst carrying payload,
// at t, with an IPv4 or IPv6 header and a UDP header made up for it. Payloads longer than
// the snapshot length are cut, as a capture on the wire would.
func appendRecord(b []byte, t time.Time, src, dst netip.AddrPort, payload []byte) []byte {
	full := packetLen(src, dst, payload)
	kept := min(full, snapLen)
	b = binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()/1000))
	b = binary.LittleEndian.AppendUint32(b, uint32(kept))
	b = binary.LittleEndian.AppendUint32(b, uint32(full))
	start := len(b)
	udpLen := udpHeaderLen + len(payload)
	if is6(src, dst) {
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, 0x60, 0, 0, 0) // version 6, no traffic class or flow label
		b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
		b = append(b, protoUDP, 64) // next header, hop limit
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		s, d := src.Addr().Unmap().As4(), dst.Addr().Unmap().As4()
		h := len(b)
		b = append(b, 0x45, 0) // version 4, 5 words; no TOS
		b = binary.BigEndian.AppendUint16(b, uint16(ipv4HeaderLen+udpLen))
		b = append(b, 0, 0, 0x40, 0) // no ID, don't fragment
		b = append(b, 64, protoUDP, 0, 0)
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		binary.BigEndian.PutUint16(b[h+10:], ipv4Checksum(b[h:h+ipv4HeaderLen]))
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = append(b, 0, 0) // no checksum
	b = append(b, payload...)
	return b[:start+kept]
}

// ipv4Checksum is the header checksum of RFC 791 over h, whose checksum field is zero.
func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
