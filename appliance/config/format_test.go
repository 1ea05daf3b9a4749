package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// What the firmware before appliance/settings stored: a settings value with every section
// filled, a call and a recording, byte for byte.
const (
	storedSettings  = `{"sip":{"listen_addr":"0.0.0.0:5060"},"accounts":[{"id":"alice","user":"alice","auth_user":"alice-auth","password":"secret","domain":"example.org","proxy":"127.0.0.1:5060","expires_seconds":2,"transport":"tls","ca_file":"/etc/ca.pem"},{"id":"bob","user":"bob","auth_user":"","password":"","domain":"10.0.0.1","proxy":"","expires_seconds":0,"transport":"","ca_file":""}],"handsets":[{"id":"h1","name":"Handset 1","channel":0,"account":"alice","display_name":"Kitchen \"the\" \\ one","conference":"main","identity":"impersonate","identity_uri":"sip:desk@example.org","identity_prefix":"","assert_identity":true,"private":true,"mic_gain_db":6,"ear_gain_db":-3.5,"sidetone_percent":10,"mic_agc":true},{"id":"h2","name":"Handset 2","channel":1,"account":"","display_name":"","conference":"","identity":"","identity_uri":"","identity_prefix":"","assert_identity":false,"private":false,"mic_gain_db":0,"ear_gain_db":0,"sidetone_percent":0,"mic_agc":false}],"conferences":[{"id":"main","name":"Main","uri":"sip:conf@example.org:5070","pin":"12*#","record":true,"announce":["tone:440:1s","welcome.wav"],"announce_loop":false,"service_account":"bob","recorder_prefix":"tape","announcer_prefix":""}],"recordings":{"reserve_mb":250},"bridges":[{"id":"front","user":"100","conference":"main","identity":"generated","identity_prefix":"guest","assert_identity":true,"account":"alice"}],"pins":[{"handset":1,"hook":"GPIO5","button":"","led":"mcp23017:0x21:A0","mute":"","mute_led":""}],"buttons":[{"trigger":"mute:long-press","action":"record"}],"metrics":{"access":"token","token":"metrics-token-0123456789"},"board":"pi-wm8960"}`
	storedCall      = `{"handset":"Kitchen","identity":"\"Kitchen\" \u003csip:alice@example.org\u003e","conference":"sip:conf@example.org","start":"2026-03-01T09:00:00Z","duration":90000000000,"end":"failed","status":486,"detail":"486 Busy Here","mos":4.2,"loss_percent":1.5}`
	storedRecording = `{"file":"main-20260301T090000Z.wav","conference":"main","start":"2026-03-01T09:00:00Z","duration":60000000000,"sample_rate":16000,"state":"stopped-disk-full","detail":"stopped: disk nearly full"}`
)

// storedValues are what storedSettings, storedCall and storedRecording hold.
func storedValues() (settings.Settings, settings.CallRecord, settings.Recording) {
	s := valid()
	s.Bridges = []settings.Bridge{{ID: "front", User: "100", Conference: "main", Identity: settings.BridgeGenerated, IdentityPrefix: "guest", AssertIdentity: true, Account: "alice"}}
	s.Pins = []settings.PinOverride{{Handset: 1, Hook: "GPIO5", LED: "mcp23017:0x21:A0"}}
	s.Buttons = []settings.ButtonMapping{{Trigger: "mute:long-press", Action: "record"}}
	s.Metrics = settings.MetricsSettings{Access: settings.MetricsToken, Token: "metrics-token-0123456789"}
	s.Board = "pi-wm8960"
	h := &s.Handsets[0]
	h.Identity, h.IdentityURI, h.AssertIdentity, h.Private = settings.IdentityImpersonate, "sip:desk@example.org", true, true
	h.MicGainDB, h.EarGainDB, h.SidetonePercent, h.MicAGC = 6, -3.5, 10, true
	s.Accounts[0].Transport, s.Accounts[0].CAFile, s.Accounts[0].AuthUser = "tls", "/etc/ca.pem", "alice-auth"
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	call := settings.CallRecord{Handset: "Kitchen", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org",
		Start: start, Duration: 90 * time.Second, End: settings.EndFailed, Status: 486, Detail: "486 Busy Here", MOS: 4.2, LossPercent: 1.5}
	rec := settings.Recording{File: "main-20260301T090000Z.wav", Conference: "main", Start: start, Duration: time.Minute,
		SampleRate: 16000, State: settings.RecordingDiskFull, Detail: "stopped: disk nearly full"}
	return s, call, rec
}

// TestStoredFormatUnchanged opens a file holding what the earlier firmware stored, reads it
// as it was meant, and writes the same values back: the call and the recording byte for
// byte, the settings with every field as it was and, besides, only the fields added since
// (bridge callers, SRTP, admin page host names), empty. So the move of the types to
// appliance/settings and the fields added need no new schema version.
func TestStoredFormatUnchanged(t *testing.T) {
	wantSet, wantCall, wantRec := storedValues()
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(settingsBucket).Put(settingsKey, []byte(storedSettings)); err != nil {
			return err
		}
		history := tx.Bucket(historyBucket)
		if err := history.SetSequence(1); err != nil { // as AppendHistory leaves it
			return err
		}
		if err := history.Put(binary.BigEndian.AppendUint64(nil, 1), []byte(storedCall)); err != nil {
			return err
		}
		return tx.Bucket(recordingsBucket).Put([]byte(wantRec.File), []byte(storedRecording))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Current().Settings; !reflect.DeepEqual(got, wantSet) {
		t.Errorf("stored settings read as\n %+v\nwant\n %+v", got, wantSet)
	}
	if got, err := s.History(0); err != nil || len(got) != 1 || got[0] != wantCall {
		t.Errorf("stored call read as %+v, %v; want %+v", got, err, wantCall)
	}
	if got, err := s.Recording(wantRec.File); err != nil || got != wantRec {
		t.Errorf("stored recording read as %+v, %v; want %+v", got, err, wantRec)
	}

	if err := s.Save(wantSet); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(wantCall); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRecording(wantRec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History(0); err != nil { // waits for the call to be written
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, tt := range []struct {
			what      string
			got, want []byte
		}{
			{"call", tx.Bucket(historyBucket).Get(binary.BigEndian.AppendUint64(nil, 2)), []byte(storedCall)},
			{"recording", tx.Bucket(recordingsBucket).Get([]byte(wantRec.File)), []byte(storedRecording)},
		} {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("%s stored as\n %s\nwant\n %s", tt.what, tt.got, tt.want)
			}
		}
		checkOnlyZeroFieldsAdded(t, "settings", tx.Bucket(settingsBucket).Get(settingsKey), []byte(storedSettings))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkOnlyZeroFieldsAdded checks that got, a JSON document, holds every field of want with
// its value, and that any field it has besides is empty (zero, "", false, null or {} of
// such).
func checkOnlyZeroFieldsAdded(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s stored as %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := jsonAdded("", g, w); diff != "" {
		t.Errorf("%s stored as\n %s\nwant the earlier\n %s\nwith only empty fields added: %s", what, got, want, diff)
	}
}

// jsonAdded returns where got differs from want other than by empty fields added, "" if
// nowhere.
func jsonAdded(path string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path
		}
		for k, gv := range g {
			wv, had := w[k]
			if !had {
				if !jsonEmpty(gv) {
					return path + "." + k
				}
				continue
			}
			if d := jsonAdded(path+"."+k, gv, wv); d != "" {
				return d
			}
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return path + "." + k
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for i := range w {
			if d := jsonAdded(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(got, want) {
		return path
	}
	return ""
}

// jsonEmpty reports whether v is an empty JSON value: zero, "", false, null, or an object
// of empty values.
func jsonEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !jsonEmpty(e) {
				return false
			}
		}
		return true
	}
	return false
}
