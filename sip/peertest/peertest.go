// Package peertest runs real SIP peers (SIPp and Kamailio) on loopback for
// the tests of packages sip and appliance.
//
// Every peer listens on a 127.0.0.1 port it picks itself, keeps its
// configuration and logs in t.TempDir(), and is killed in t.Cleanup. It
// knows nothing of the appliance: it speaks SIP over UDP (Kamailio also
// over TCP, with KamailioConfig.TCP, and TLS, with KamailioConfig.TLS;
// SIPp as a caller over TCP, with SIPpConfig.TCP; baresip takes calls
// over TLS with BaresipConfig.TLSCertFile).
// DNS, a tiny DNS server of the package's own, stands in for the network's
// in tests of names that resolve only later.
package peertest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// startAttempts bounds how often a peer is started on a fresh port when it
// fails to bind or to become ready.
const startAttempts = 3

// readyTimeout bounds how long a peer may take to become ready: a failsafe, generous
// for a busy machine. A peer that exits (a port lost to a race) is noticed at once.
const readyTimeout = 30 * time.Second

// stopTimeout bounds how long a peer may take to stop when asked before it is killed: a
// failsafe too, since a killed peer may leave its workers and logs half done.
const stopTimeout = 30 * time.Second

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago:
// it binds port 0 and releases it. The peer may still lose the race for it,
// which is why callers retry.
func freeUDPPort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick free udp port: %v", err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago
// and, if tcp, free for TCP as well. Like freeUDPPort, it may lose a race.
func freePort(t testing.TB, tcp bool) uint16 {
	t.Helper()
	for range 20 {
		port := freeUDPPort(t)
		if !tcp {
			return port
		}
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP on 127.0.0.1")
	return 0
}

// freeTLSPair returns a port on 127.0.0.1 that was free a moment ago for UDP and TCP,
// whose next port was free for TCP: baresip's SIP port, after which it listens for TLS.
// Like freeUDPPort, it may lose a race.
func freeTLSPair(t testing.TB) uint16 {
	t.Helper()
	for range 20 {
		port := freePort(t, true)
		if port == 65535 {
			continue
		}
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port+1))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port pair free on 127.0.0.1")
	return 0
}

// udpBound reports whether some socket is bound to 127.0.0.1:port (UDP),
// read from /proc/net/udp so the probe sends the peer nothing.
func udpBound(port uint16) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X ", port)
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1]+" " == want {
			return true
		}
	}
	return false
}

// lockedBuffer collects a child process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex // guards following
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func loopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
}
