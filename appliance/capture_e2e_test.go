package appliance_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"partyline/appliance/web"
	"partyline/sip/peertest"
)

// TestPacketCaptureFromTheSystemPage starts a capture on the System page, makes a call to
// SIPp through Kamailio, stops the capture and downloads it: tshark reads the file and
// finds the call's SIP (the INVITE, its 200 OK, the BYE) and its RTP both ways, the
// conference's echo included.
func TestPacketCaptureFromTheSystemPage(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (make test installs it)")
	}
	r := startRig(t, peertest.ScenarioEcho)
	r.waitFor("the account to register", registered)
	r.captureAction("start")
	r.board.Hook(0).Set(true)
	r.waitFor("handset 1 in the call", handsetState(0, "in call"))
	r.waitFor("RTP both ways", func(st web.Status) bool {
		q := st.Handsets[0].Quality
		return q != nil && q.PacketsReceived >= 25 && q.PacketsSent >= 25
	})
	r.board.Hook(0).Set(false)
	r.waitFor("handset 1 idle", handsetState(0, "idle"))
	if err := r.sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp conference: %v", err)
	}
	r.captureAction("stop")

	res, err := r.http.Get(r.admin + "/system/capture.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), ".pcap") {
		t.Fatalf("download: %s, %q", res.Status, res.Header.Get("Content-Disposition"))
	}
	file := filepath.Join(t.ArtifactDir(), "capture.pcap")
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, res.Body); err != nil {
		t.Fatal(err)
	}
	out.Close()

	read := func(filter string, fields ...string) string {
		t.Helper()
		args := []string{"-r", file, "-2", "-o", "rtp.heuristic_rtp:TRUE", "-Y", filter, "-T", "fields"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		b, err := exec.Command(tshark, args...).Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
		}
		return string(b)
	}
	sip := read("sip", "sip.Method", "sip.Status-Code")
	for _, want := range []string{"INVITE", "200", "ACK", "BYE"} {
		if !strings.Contains(sip, want) {
			t.Errorf("tshark finds no SIP %s in the capture; SIP:\n%s", want, sip)
		}
	}
	ourRTP := r.app.SIPAddr()[:strings.LastIndex(r.app.SIPAddr(), ":")]
	rtp := read("rtp && rtp.p_type == 0", "ip.src", "ip.dst")
	var sent, received int
	for line := range strings.Lines(rtp) {
		src, dst, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if src == ourRTP {
			sent++
		}
		if dst == ourRTP {
			received++
		}
	}
	if sent < 25 || received < 25 {
		t.Errorf("tshark finds %d PCMU RTP packets sent and %d received by %s, want 25 or more each way", sent, received, ourRTP)
	}
	if t.Failed() {
		t.Logf("the capture is kept with go test -artifacts: %s", file)
	}
}

// captureAction posts action (start, stop) to the System page's capture form.
func (r *rig) captureAction(action string) {
	r.t.Helper()
	res, err := r.http.PostForm(r.admin+"/system/capture", url.Values{"action": {action}})
	if err != nil {
		r.t.Fatalf("capture %s: %v", action, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/system" {
		r.t.Fatalf("capture %s: %s at %s, want 200 at /system", action, res.Status, res.Request.URL)
	}
}
