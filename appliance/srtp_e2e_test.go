package appliance_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"partyline/appliance/settings"

	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
)

// TestSRTPCallToBaresip calls baresip, which answers with SRTP (required: RTP/SAVP, or
// offered: RTP/AVP with keys), from a handset whose account requires or offers SRTP. The handset hears baresip's tone and baresip the
// handset's; a capture of the loopback interface shows the call's RTP in SRTP only: every
// packet carries an authentication tag, and no payload, read as plain PCMU, holds either
// tone.
func TestSRTPCallToBaresip(t *testing.T) {
	for _, tc := range []struct{ ours, baresips string }{
		{"required", "srtp-mand"}, // RTP/SAVP
		{"offered", "srtp"},       // RTP/AVP with keys
	} {
		t.Run(tc.ours, func(t *testing.T) { srtpCallToBaresip(t, tc.ours, tc.baresips) })
	}
}

func srtpCallToBaresip(t *testing.T, mode, baresipMode string) {
	const callerHz = 600 // baresip's tone
	source := make([]int16, 30*8000)
	media.NewTone(8000, callerHz, -17).Generate(source)
	b := peertest.StartBaresip(t, peertest.BaresipConfig{User: "carol", Answer: true, MediaEnc: baresipMode, Source: source})
	capture := startCapture(t)

	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), b.Addr().String(), func(set *settings.Settings) {
		set.Accounts[0].Domain = "127.0.0.1"
		set.Accounts[0].SRTP = mode
		set.Conferences[0].URI = b.URI()
	})
	r := runAppliance(t, dir, sim.New(2))
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))

	r.hearBothWays(b, callerHz, 8000)
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))

	ours, theirs := capture.rtp(t, r.status().SIP.Listening, b.Addr().Port())
	if len(ours) < 50 || len(theirs) < 50 {
		t.Fatalf("the capture holds %d RTP packets of ours and %d of baresip's, want over 50 each", len(ours), len(theirs))
	}
	// What we send is SRTP from the first packet. baresip may send a packet or two in clear
	// before its SRTP starts (its wait_secure is off): those are counted, not failed.
	checkEncrypted(t, "our", ours, sim.ToneHz(0), 0)
	checkEncrypted(t, "baresip's", theirs, callerHz, 2)
}

// checkEncrypted checks that packets, the RTP of who on the wire, are SRTP: at most
// plainAllowed are not 182 bytes (12 of header, 160 of PCMU, 10 of SRTP tag), and their
// payloads, read as plain PCMU, do not hold who's tone at hz.
func checkEncrypted(t *testing.T, who string, packets [][]byte, hz float64, plainAllowed int) {
	t.Helper()
	pcmu, _ := media.CodecByName("PCMU")
	var asPlain []int16
	plain := 0
	for _, p := range packets {
		if len(p) != 12+160+10 {
			plain++
			continue
		}
		pcm := make([]int16, 160)
		pcmu.Decode(pcm, p[12:172])
		asPlain = append(asPlain, pcm...)
	}
	if plain > plainAllowed {
		t.Errorf("%d of %s %d packets on the wire are not 182 bytes (12 of header, 160 of PCMU, 10 of SRTP tag)", plain, who, len(packets))
	}
	if lvl := media.ToneLevel(asPlain, 8000, hz); lvl > -20 {
		t.Errorf("%s payloads on the wire, read as plain PCMU, hold its %.0f Hz at %.1f dB: not encrypted", who, hz, lvl)
	}
}

// A capture is tshark capturing the loopback interface's UDP into a file.
type capture struct {
	file string
	cmd  *exec.Cmd
}

// startCapture starts tshark on the loopback interface and returns once it captures: a
// probe datagram sent to ourselves again and again shows up in what it prints (tshark says
// it is capturing a while before it is, on a busy machine).
func startCapture(t *testing.T) *capture {
	t.Helper()
	return startCaptureOf(t, "udp and host 127.0.0.1")
}

// startCaptureOf is startCapture with the capture filter filter, which must let the
// probe's UDP through.
func startCaptureOf(t *testing.T, filter string) *capture {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark not found: run make test (installs tshark)")
	}
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	port := strconv.Itoa(probe.LocalAddr().(*net.UDPAddr).Port)
	c := &capture{file: filepath.Join(t.ArtifactDir(), "call.pcap")} // go test -artifacts keeps it
	// -P -l: print each packet as it is written, line by line.
	// -B: a large capture buffer, as other tests' traffic shares loopback.
	c.cmd = exec.Command(bin, "-i", "lo", "-B", "32", "-f", filter, "-w", c.file, "-P", "-l")
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	seen := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stdout)
		once := sync.OnceFunc(func() { close(seen) })
		for s.Scan() {
			if strings.Contains(s.Text(), port) {
				once()
			}
		}
	}()
	t.Cleanup(c.stop)
	deadline := time.After(time.Minute) // failsafe
	for {
		if _, err := probe.WriteTo([]byte("probe"), probe.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-seen:
			return c
		case <-deadline:
			t.Fatal("tshark did not capture the probe within a minute (can it capture on lo as this user?)")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the capture and waits until tshark has written the file.
func (c *capture) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
}

// rtp stops the capture and returns the UDP payloads of the RTP packets we sent in the
// call whose SDP went between our SIP socket ourSIP and the peer's on sipPort, and those the
// peer sent: the media ports are those of our offer (an INVITE) and of the peer's answer.
func (c *capture) rtp(t *testing.T, ourSIP string, sipPort uint16) (ours, theirs [][]byte) {
	t.Helper()
	c.stop()
	decodeSIP := fmt.Sprintf("udp.port==%d,sip", sipPort)
	// Only the SDP between our SIP socket and the peer's: other tests' calls may have used
	// the peer's port number before it did.
	ourAddr, err := netip.ParseAddrPort(ourSIP)
	if err != nil {
		t.Fatalf("our SIP address %q: %v", ourSIP, err)
	}
	between := fmt.Sprintf("sdp && udp.port==%d && udp.port==%d", ourAddr.Port(), sipPort)
	out, err := exec.Command("tshark", "-r", c.file, "-d", decodeSIP, "-Y", between, "-T", "fields", "-E", "separator=,",
		"-e", "sip.Method", "-e", "sdp.media.port").Output()
	if err != nil {
		t.Fatalf("tshark read SDP: %v", err)
	}
	var ourPort, theirPort string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		method, port, _ := strings.Cut(line, ",")
		switch {
		case method == "INVITE" && ourPort == "":
			ourPort = port
		case method == "" && theirPort == "":
			theirPort = port
		}
	}
	if ourPort == "" || theirPort == "" {
		t.Fatalf("the capture's SDP names media ports %q and %q, want ours and the peer's:\n%s", ourPort, theirPort, out)
	}
	t.Logf("media ports in the SDP: ours %s, the peer's %s", ourPort, theirPort)
	out, err = exec.Command("tshark", "-r", c.file, "-T", "fields", "-E", "separator=,", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload").Output()
	if err != nil {
		t.Fatalf("tshark read UDP: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(f[2], ":", ""))
		if err != nil || len(b) < 2 || b[1] >= 192 && b[1] <= 223 { // RTCP on the same port (RFC 5761)
			continue
		}
		switch {
		case f[0] == ourPort && f[1] == theirPort:
			ours = append(ours, b)
		case f[0] == theirPort && f[1] == ourPort:
			theirs = append(theirs, b)
		}
	}
	return ours, theirs
}

// hearBothWays waits until handset 1's earpiece carries baresip's tone at callerHz and
// baresip, which records at rate Hz, hears the handset's own tone: the call's audio flows
// both ways. The minute is a failsafe: the audio is real-time, so the test samples it.
func (r *rig) hearBothWays(b *peertest.Baresip, callerHz, rate int) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), failsafe)
	defer cancel()
	for {
		heard := r.board.Audio().Earpiece(0, 500*time.Millisecond)
		if media.ToneLevel(heard, sim.SampleRate, float64(callerHz)) > -3 && media.LevelDBFS(heard) > -40 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("earpiece 1: %.1f dB of baresip's %d Hz, level %.1f dBFS",
				media.ToneLevel(heard, sim.SampleRate, float64(callerHz)), callerHz, media.LevelDBFS(heard))
		case <-time.After(100 * time.Millisecond):
		}
	}
	own := sim.ToneHz(0)
	for {
		heard, err := b.Heard()
		if err == nil && len(heard) >= rate && media.ToneLevel(heard[len(heard)-rate:], rate, own) > -3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("baresip heard %d samples, not the handset's %.0f Hz (%v)", len(heard), own, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
