package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestJoinCanceledBeforeRinging gives up a join before the far end answered at all, and
// then the far end rings: RFC 3261 section 9.1 forbids a CANCEL before a provisional answer,
// so the agent waits for one and then cancels, rather than leave the far end ringing with a
// call nobody is in.
func TestJoinCanceledBeforeRinging(t *testing.T) {
	a := startAgent(t)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	joined := make(chan error, 1)
	go func() {
		_, err := a.Join(ctx, JoinRequest{
			Target:     testConference,
			Account:    Account{User: testUser, Password: testPassword, Domain: testDomain, Proxy: peer.LocalAddr().String()},
			LocalMedia: netip.MustParseAddrPort("127.0.0.1:40000"),
		})
		joined <- err
	}()

	invite, from := readRequest(t, peer, "INVITE")
	cancel() // given up before any answer
	send(t, peer, from, responseTo(invite, "180 Ringing"))
	cancelReq, _ := readRequest(t, peer, "CANCEL")
	send(t, peer, from, responseTo(cancelReq, "200 OK"))
	send(t, peer, from, responseTo(invite, "487 Request Terminated"))
	select {
	case err := <-joined:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Join = %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Join did not return")
	}
}

// readRequest reads datagrams from conn until a request of method comes, and returns it
// and where it came from.
func readRequest(t *testing.T, conn *net.UDPConn, method string) (string, *net.UDPAddr) {
	t.Helper()
	buf := make([]byte, 65535)
	_ = conn.SetReadDeadline(time.Now().Add(failsafe))
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", method, err)
		}
		if m := string(buf[:n]); strings.HasPrefix(m, method+" ") {
			return m, from
		}
	}
}

func send(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, msg string) {
	t.Helper()
	if _, err := conn.WriteToUDP([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
}

// responseTo builds a response with status to the request req: its Via, From, Call-ID and
// CSeq, its To with a tag of the far end's.
func responseTo(req, status string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, line := range strings.Split(req, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(line + "\r\n")
		case "to":
			if !strings.Contains(line, "tag=") {
				line += ";tag=farend"
			}
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
