package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/sip/peertest"
)

// TestSIGTERMMidCallHangsUpEveryLeg runs the real binary on the sim board with handset 1
// in a conference (SIPp behind Kamailio) that is being recorded, so two legs are up there:
// the handset's and the recorder's; handset 2 is still joining another conference, which
// keeps ringing. SIGTERM, as systemd stops the service, ends the process with status 0
// and, before it exits, a BYE for every leg in a call and a CANCEL for the join: each
// SIPp, which expects them, finishes its calls. The recording is closed valid (its header
// describes every sample in the file) and marked finished, not left in progress for the
// next start to repair, and the database is closed: it opens again at once.
func TestSIGTERMMidCallHangsUpEveryLeg(t *testing.T) {
	const (
		domain   = "partyline.test"
		password = "s3cret-Pa55"
		admin    = "sigterm-admin-password"
		legs     = 2 // handset 1, the recorder
	)
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, RTPEcho: true, Calls: legs})
	ringing := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: peertest.ScenarioRinging})
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain,
		Realm:  domain,
		Users:  map[string]string{"alice": password},
		// alice calls under generated identities too: handset 2's and the recorder's.
		Trusted: []string{"alice"},
		Routes:  map[string]netip.AddrPort{"conf": sipp.Addr(), "lobby": ringing.Addr()},
	})

	dir := t.TempDir()
	bin := buildBinary(t, dir)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "partyline.db")
	seed(t, db, admin, func(set *settings.Settings) {
		set.SIP.ListenAddr = "127.0.0.1:0"
		set.Accounts = []settings.Account{{ID: "alice", User: "alice", Password: password, Domain: domain, Proxy: kam.Addr().String()}}
		// Both handsets call as alice; the second with a generated identity, since a
		// conference lists each identity once.
		set.Handsets[0].Account = "alice"
		set.Handsets[1].Account = "alice"
		set.Handsets[1].Identity = settings.IdentityGenerated
		set.Conferences[0].URI = "sip:conf@" + domain
		set.Conferences[0].Record = true
		set.Conferences = append(set.Conferences, settings.Conference{ID: "lobby", Name: "Lobby", URI: "sip:lobby@" + domain})
		set.Handsets[1].Conference = "lobby"
	})

	addr := freeTCPAddr(t)
	proc := startBinary(t, bin, data, addr)
	base := "http://" + addr
	getWithin(t, base+"/login", failsafe)
	browser := newBrowser(t)
	postForm(t, browser, base+"/login", url.Values{"password": {admin}})
	for i := range 2 {
		postForm(t, browser, fmt.Sprintf("%s/handsets/%d/hook", base, i), url.Values{"offhook": {"1"}})
	}
	waitUntil(t, "handset 1 and the recorder in the call, handset 2 ringing", func() bool {
		st := apiStatus(t, browser, base)
		return len(st.Handsets) == 2 && st.Handsets[0].State == "in call" && st.Handsets[1].State == "joining" &&
			len(sipp.Received("ACK ")) == legs && len(ringing.Received("INVITE ")) == 1
	})
	var recording string
	waitUntil(t, "the recording's file", func() bool {
		files, _ := filepath.Glob(filepath.Join(data, "recordings", "*.wav"))
		if len(files) == 1 {
			recording = files[0]
		}
		return recording != ""
	})
	if n := len(sipp.Received("BYE ")); n != 0 {
		t.Fatalf("SIPp has %d BYEs before SIGTERM", n)
	}

	proc.stop(t, syscall.SIGTERM)

	// Whatever SIPp receives now was sent before the process exited.
	if err := sipp.Wait(failsafe); err != nil {
		t.Errorf("SIPp did not finish its %d calls with a BYE each: %v", legs, err)
	}
	invites, byes := callIDs(sipp.Received("INVITE ")), callIDs(sipp.Received("BYE "))
	slices.Sort(invites)
	slices.Sort(byes)
	if invites = slices.Compact(invites); len(invites) != legs || !slices.Equal(invites, byes) {
		t.Errorf("calls %v, BYEs for %v; want a BYE for each of the %d calls", invites, byes, legs)
	}
	if err := ringing.Wait(failsafe); err != nil {
		t.Errorf("the join under way was not cancelled: %v", err)
	}
	if !strings.Contains(proc.logs.String(), "partyline stopped") {
		t.Errorf("the log does not say partyline stopped")
	}

	// The recording was closed: its header describes every sample the file holds.
	riff, size, fileSize := wavSizes(t, recording)
	if riff != size+36 || int64(size)+44 != fileSize {
		t.Errorf("recording after SIGTERM: RIFF size %d, data size %d, file %d bytes; want the header to describe the whole file", riff, size, fileSize)
	}
	// The database was closed: it opens at once (bbolt would wait for the lock, then fail).
	st, err := config.Open(db)
	if err != nil {
		t.Fatalf("open the database after SIGTERM: %v", err)
	}
	defer st.Close()
	recs, err := st.Recordings()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].State != settings.RecordingFinished || filepath.Base(recording) != recs[0].File {
		t.Errorf("recordings after SIGTERM: %+v, want %s finished", recs, filepath.Base(recording))
	}
}

// buildBinary builds partyline into dir and returns its path.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "partyline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// seed writes the settings of a partyline with two handsets, changed by edit, and the
// admin password (hashed at bcrypt's lowest cost, for a quick login) into the database db.
func seed(t *testing.T, db, adminPassword string, edit func(*settings.Settings)) {
	t.Helper()
	st, err := config.Open(db, config.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminPassword(adminPassword); err != nil {
		t.Fatal(err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	edit(&set)
	if err := st.Save(set); err != nil {
		t.Fatalf("save settings: %v", err)
	}
}

// apiStatus reads the admin page's status API with the logged-in client c.
func apiStatus(t *testing.T, c *http.Client, base string) web.Status {
	t.Helper()
	res, err := c.Get(base + "/api/status")
	if err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	defer res.Body.Close()
	var st web.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	return st
}

// waitUntil polls cond every 100 ms until it holds, for at most failsafe.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", failsafe, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callIDs returns the Call-ID of each SIP message.
func callIDs(msgs []string) []string {
	var ids []string
	for _, m := range msgs {
		for line := range strings.SplitSeq(m, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok && (strings.EqualFold(strings.TrimSpace(name), "Call-ID") || strings.TrimSpace(name) == "i") {
				ids = append(ids, strings.TrimSpace(value))
				break
			}
		}
	}
	return ids
}

// wavSizes returns the RIFF and data sizes of the WAV file at path, and the file's size.
func wavSizes(t *testing.T, path string) (riff, data uint32, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [44]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return le32(h[4:]), le32(h[40:]), fi.Size()
}

// le32 reads a little-endian uint32, as WAV headers hold their sizes.
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
