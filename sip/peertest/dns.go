package peertest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// DNS is a tiny DNS server on 127.0.0.1 for tests of names that do not resolve and then
// do: it answers A queries from a table the test changes while it runs, and every other
// query for a name in the table with no records. A name not in the table does not exist
// (NXDOMAIN). It touches neither /etc/hosts nor any real DNS: code under test reaches it
// only through Resolver.
type DNS struct {
	conn net.PacketConn

	mu    sync.Mutex // guards following
	names map[string]netip.Addr
}

// StartDNS starts a DNS server with an empty table on a UDP port of 127.0.0.1; it stops
// when the test ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start DNS server: %v", err)
	}
	d := &DNS{conn: conn, names: map[string]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.serve()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return d
}

// Set makes name resolve to addr (an IPv4 address), from the next query on.
func (d *DNS) Set(name string, addr netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names[canonicalName(name)] = addr
}

// Resolver returns a resolver that asks this server alone, whatever the system's
// configuration says (Go's own resolver, its Dial replaced). Names in /etc/hosts still
// resolve from there, as they do for every Go resolver.
func (d *DNS) Resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "udp4", addr)
		},
	}
}

// serve answers queries until the socket is closed.
func (d *DNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if res, ok := d.answer(buf[:n]); ok {
			_, _ = d.conn.WriteTo(res, from)
		}
	}
}

// DNS wire format (RFC 1035 section 4): the codes the server uses.
const (
	dnsTypeA      = 1
	dnsClassIN    = 1
	dnsRcodeNX    = 3
	dnsHeaderSize = 12
)

// answer returns the response to the query q, ok false when q is not a query to answer.
func (d *DNS) answer(q []byte) (res []byte, ok bool) {
	if len(q) < dnsHeaderSize || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, false // a response, or not exactly one question
	}
	name, end, err := readName(q, dnsHeaderSize)
	if err != nil || end+4 > len(q) {
		return nil, false
	}
	qtype, qclass := binary.BigEndian.Uint16(q[end:]), binary.BigEndian.Uint16(q[end+2:])
	question := q[dnsHeaderSize : end+4]

	d.mu.Lock()
	addr, known := d.names[canonicalName(name)]
	d.mu.Unlock()

	res = make([]byte, dnsHeaderSize, 64)
	copy(res[0:2], q[0:2])                 // ID
	res[2] = 0x84 | q[2]&0x01              // a response, authoritative, recursion desired as asked
	res[3] = 0x80                          // recursion available
	binary.BigEndian.PutUint16(res[4:], 1) // the question
	if !known {
		res[3] |= dnsRcodeNX
	}
	res = append(res, question...)
	if known && qtype == dnsTypeA && qclass == dnsClassIN {
		binary.BigEndian.PutUint16(res[6:], 1) // one answer
		ip := addr.As4()
		res = append(res,
			0xc0, dnsHeaderSize, // the name: a pointer to the question's
			0, dnsTypeA, 0, dnsClassIN,
			0, 0, 0, 0, // TTL 0: ask again every time
			0, 4)
		res = append(res, ip[:]...)
	}
	return res, true
}

// readName reads the uncompressed name at off in msg and returns it and where it ends.
func readName(msg []byte, off int) (string, int, error) {
	var labels []string
	for range 128 {
		if off >= len(msg) {
			return "", 0, errors.New("name runs past the message")
		}
		n := int(msg[off])
		off++
		if n == 0 {
			return strings.Join(labels, "."), off, nil
		}
		if n > 63 || off+n > len(msg) {
			return "", 0, errors.New("bad label")
		}
		labels = append(labels, string(msg[off:off+n]))
		off += n
	}
	return "", 0, errors.New("name too long")
}

// canonicalName is name in lower case without a final dot.
func canonicalName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }
