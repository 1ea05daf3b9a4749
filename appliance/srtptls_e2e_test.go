package appliance_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestSRTPOverTLSThroughKamailio calls baresip through Kamailio from a handset whose
// account requires SRTP and registers and calls over TLS (verifying Kamailio's
// certificate); Kamailio relays the call to baresip over TLS too. Both tones are heard,
// and a capture of the loopback interface shows the keys nowhere in clear (no SIP packet
// of the call carries a=crypto) and the call's RTP in SRTP only.
func TestSRTPOverTLSThroughKamailio(t *testing.T) {
	const callerHz = 600 // baresip's tone
	dir := t.TempDir()
	certPEM, keyPEM, err := web.NewCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, both := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "both.pem")
	for file, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, both: append(bytes.Clone(certPEM), keyPEM...)} {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	source := make([]int16, 30*8000)
	media.NewTone(8000, callerHz, -17).Generate(source)
	b := peertest.StartBaresip(t, peertest.BaresipConfig{User: "carol", Answer: true, MediaEnc: "srtp-mand", Source: source, TLSCertFile: both})
	k := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain:    domain,
		Realm:     realm,
		Users:     map[string]string{"alice": password},
		TLSRoutes: map[string]netip.AddrPort{"carol": b.TLSAddr()},
		TLS:       &peertest.KamailioTLS{CertFile: certFile, KeyFile: keyFile},
	})
	capture := startCaptureOf(t, "(udp or tcp) and host 127.0.0.1")

	db := filepath.Join(t.TempDir(), "partyline.db")
	seedSettings(t, db, k.TLSAddr().String(), func(set *settings.Settings) {
		set.Accounts[0].Transport = "tls"
		set.Accounts[0].CAFile = certFile // self-signed: it is its own CA
		set.Accounts[0].SRTP = "required"
		set.Conferences[0].URI = "sip:carol@" + domain
	})
	r := runAppliance(t, filepath.Dir(db), sim.New(2))
	r.waitFor("registered over TLS", registered)
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.hearBothWays(b, callerHz, 8000)
	// The call's RTP socket is one of ours: its port is among those of this process.
	sipPort := netip.MustParseAddrPort(r.status().SIP.Listening).Port()
	rtpPorts := ownUDPPorts(t)
	delete(rtpPorts, sipPort)
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	capture.stop()

	signalling := map[uint16]bool{
		k.Addr().Port(): true, k.TLSAddr().Port(): true, b.Addr().Port(): true, b.TLSAddr().Port(): true, sipPort: true,
	}
	var ours, theirs [][]byte
	tlsBytes := map[uint16]int{}
	for _, p := range capture.packets(t) {
		switch {
		case signalling[p.src] || signalling[p.dst]:
			if bytes.Contains(p.payload, []byte("a=crypto")) {
				t.Errorf("a %s packet from port %d to %d carries a=crypto in clear:\n%s", p.proto, p.src, p.dst, p.payload)
			}
			if p.proto == "tcp" {
				tlsBytes[p.src] += len(p.payload)
				tlsBytes[p.dst] += len(p.payload)
			}
		case p.proto != "udp" || len(p.payload) < 2 || p.payload[1] >= 192 && p.payload[1] <= 223: // RTCP
		case rtpPorts[p.src]:
			ours = append(ours, p.payload)
		case rtpPorts[p.dst]:
			theirs = append(theirs, p.payload)
		}
	}
	if tlsBytes[k.TLSAddr().Port()] == 0 || tlsBytes[b.TLSAddr().Port()] == 0 {
		t.Errorf("TLS bytes captured: %d on Kamailio's port, %d on baresip's; want both legs of the signalling over TLS",
			tlsBytes[k.TLSAddr().Port()], tlsBytes[b.TLSAddr().Port()])
	}
	t.Logf("captured: %d RTP packets of ours, %d of baresip's; TLS bytes %d on Kamailio's port, %d on baresip's",
		len(ours), len(theirs), tlsBytes[k.TLSAddr().Port()], tlsBytes[b.TLSAddr().Port()])
	if len(ours) < 50 || len(theirs) < 50 {
		t.Fatalf("the capture holds %d RTP packets of ours and %d of baresip's, want over 50 each", len(ours), len(theirs))
	}
	checkEncrypted(t, "our", ours, sim.ToneHz(0), 0)
	checkEncrypted(t, "baresip's", theirs, callerHz, 2)
}

// ownUDPPorts returns the ports of this process's UDP sockets on 127.0.0.1 (from
// /proc/self/fd and /proc/net/udp).
func ownUDPPorts(t *testing.T) map[uint16]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	table, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[uint16]bool{}
	for line := range strings.SplitSeq(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !inodes[f[9]] {
			continue
		}
		host, port, ok := strings.Cut(f[1], ":")
		n, err := strconv.ParseUint(port, 16, 16)
		if ok && err == nil && (host == "0100007F" || host == "00000000") {
			ports[uint16(n)] = true
		}
	}
	return ports
}

// A packet is a UDP or TCP payload of a capture.
type packet struct {
	proto    string // "udp" or "tcp"
	src, dst uint16
	payload  []byte
}

// packets returns the UDP and TCP payloads of the capture (stopped), in order.
func (c *capture) packets(t *testing.T) []packet {
	t.Helper()
	c.stop()
	out, err := exec.Command("tshark", "-r", c.file, "-T", "fields", "-E", "separator=,",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.payload").Output()
	if err != nil {
		t.Fatalf("tshark read the capture: %v", err)
	}
	var ps []packet
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 6 {
			continue
		}
		p := packet{proto: "udp"}
		if f[0] == "" {
			p.proto, f = "tcp", f[3:]
		}
		src, err1 := strconv.ParseUint(f[0], 10, 16)
		dst, err2 := strconv.ParseUint(f[1], 10, 16)
		payload, err3 := hex.DecodeString(strings.ReplaceAll(f[2], ":", ""))
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("tshark line %q: %v", line, fmt.Sprint(err1, err2, err3))
		}
		p.src, p.dst, p.payload = uint16(src), uint16(dst), payload
		ps = append(ps, p)
	}
	return ps
}
