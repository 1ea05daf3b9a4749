package peertest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// uac is a minimal raw-UDP SIP caller for driving the scenarios.
type uac struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	call string
}

func newUAC(t *testing.T, s *SIPp) *uac {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &uac{t: t, conn: c, to: net.UDPAddrFromAddrPort(s.Addr()), call: fmt.Sprintf("peertest-%d", time.Now().UnixNano())}
}

func (u *uac) request(method, branch, toTag string, cseq int, cseqMethod string) string {
	port := u.conn.LocalAddr().(*net.UDPAddr).Port
	to := "<sip:conf@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	body := ""
	ctype := ""
	if method == "INVITE" {
		body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
		ctype = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s sip:conf@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:alice@127.0.0.1:%d>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, u.to, port, branch, to, u.call, cseq, cseqMethod, port, ctype, len(body), body)
}

func (u *uac) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDP([]byte(msg), u.to); err != nil {
		u.t.Fatalf("send: %v", err)
	}
}

// expect reads messages until one starts with prefix, bounded in time.
func (u *uac) expect(prefix string) string {
	u.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(time.Minute) // a failsafe
	for time.Now().Before(deadline) {
		_ = u.conn.SetReadDeadline(deadline)
		n, _, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if m := string(buf[:n]); strings.HasPrefix(m, prefix) {
			return m
		}
	}
	u.t.Fatalf("no %q received", prefix)
	return ""
}

func toTag(msg string) string {
	for line := range strings.SplitSeq(msg, "\r\n") {
		if strings.HasPrefix(line, "To:") {
			if _, tag, ok := strings.Cut(line, "tag="); ok {
				return tag
			}
		}
	}
	return ""
}

func TestSIPpScenarios(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		run      func(u *uac)
	}{
		{"echo", ScenarioEcho, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			ok := u.expect("SIP/2.0 200")
			for _, want := range []string{"m=audio ", " RTP/AVP 0 8 101", "telephone-event/8000", "c=IN IP4 127.0.0.1"} {
				if !strings.Contains(ok, want) {
					u.t.Errorf("200 OK SDP lacks %q:\n%s", want, ok)
				}
			}
			tag := toTag(ok)
			u.send(u.request("ACK", "ack1", tag, 1, "ACK"))
			u.send(u.request("BYE", "bye1", tag, 2, "BYE"))
			u.expect("SIP/2.0 200")
		}},
		{"busy", ScenarioBusy, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			r := u.expect("SIP/2.0 486")
			u.send(u.request("ACK", "inv1", toTag(r), 1, "ACK"))
		}},
		{"ringing", ScenarioRinging, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			u.expect("SIP/2.0 180")
			u.send(u.request("CANCEL", "inv1", "", 1, "CANCEL"))
			u.expect("SIP/2.0 200")
			r := u.expect("SIP/2.0 487")
			if !strings.Contains(r, "CSeq: 1 INVITE") {
				u.t.Errorf("487 does not answer the INVITE:\n%s", r)
			}
			u.send(u.request("ACK", "inv1", toTag(r), 1, "ACK"))
		}},
		{"hangup", ScenarioHangup, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			ok := u.expect("SIP/2.0 200")
			u.send(u.request("ACK", "ack1", toTag(ok), 1, "ACK"))
			bye := u.expect("BYE ")
			resp := "SIP/2.0 200 OK\r\n"
			for line := range strings.SplitSeq(bye, "\r\n") {
				for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
					if strings.HasPrefix(line, h) {
						resp += line + "\r\n"
					}
				}
			}
			u.send(resp + "Content-Length: 0\r\n\r\n")
		}},
		{"info", ScenarioInfo, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			tag := toTag(u.expect("SIP/2.0 200"))
			u.send(u.request("ACK", "ack1", tag, 1, "ACK"))
			for i := 2; i <= 4; i++ {
				u.send(u.request("INFO", fmt.Sprintf("info%d", i), tag, i, "INFO"))
				if r := u.expect("SIP/2.0 200"); !strings.Contains(r, fmt.Sprintf("CSeq: %d INFO", i)) {
					u.t.Errorf("200 does not answer INFO %d:\n%s", i, r)
				}
			}
			u.send(u.request("BYE", "bye1", tag, 5, "BYE"))
			u.expect("SIP/2.0 200")
		}},
		{"held", ScenarioHeld, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			tag := toTag(u.expect("SIP/2.0 200"))
			u.send(u.request("ACK", "ack1", tag, 1, "ACK"))
			for i, dir := range []string{"a=recvonly", "a=sendrecv"} {
				u.send(u.request("INVITE", fmt.Sprintf("reinv%d", i), tag, 2+i, "INVITE"))
				if r := u.expect("SIP/2.0 200"); !strings.Contains(r, dir) {
					u.t.Errorf("answer to re-INVITE %d lacks %s:\n%s", i+1, dir, r)
				}
				u.send(u.request("ACK", fmt.Sprintf("reack%d", i), tag, 2+i, "ACK"))
			}
			u.send(u.request("BYE", "bye1", tag, 4, "BYE"))
			u.expect("SIP/2.0 200")
		}},
		{"bad sdp", ScenarioBadSDP, func(u *uac) {
			u.send(u.request("INVITE", "inv1", "", 1, "INVITE"))
			ok := u.expect("SIP/2.0 200")
			if strings.Contains(ok, "m=audio") {
				u.t.Errorf("bad SDP scenario sent a valid SDP:\n%s", ok)
			}
			tag := toTag(ok)
			u.send(u.request("ACK", "ack1", tag, 1, "ACK"))
			u.send(u.request("BYE", "bye1", tag, 2, "BYE"))
			u.expect("SIP/2.0 200")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartSIPp(t, SIPpConfig{Scenario: tt.scenario, RTPEcho: true})
			tt.run(newUAC(t, s))
			if err := s.Wait(10 * time.Second); err != nil {
				t.Errorf("sipp: got %v, want success", err)
			}
		})
	}
}
