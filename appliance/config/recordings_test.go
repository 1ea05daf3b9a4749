package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// recording returns the n-th test recording, which started n minutes after a fixed time.
func recording(n int) settings.Recording {
	return settings.Recording{
		File:       fmt.Sprintf("main-%02d.wav", n),
		Conference: "main",
		Start:      time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute),
		Duration:   time.Duration(n) * time.Second,
		SampleRate: 8000,
		State:      settings.RecordingFinished,
	}
}

func TestRecordings(t *testing.T) {
	s, _ := openTemp(t)
	if recs, err := s.Recordings(); err != nil || len(recs) != 0 {
		t.Fatalf("Recordings of a new file: %v, %v; want none", recs, err)
	}
	for _, n := range []int{2, 1, 3} {
		if err := s.SaveRecording(recording(n)); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing keeps one record per file.
	changed := recording(2)
	changed.State, changed.Detail = settings.RecordingDiskFull, "stopped: disk nearly full"
	if err := s.SaveRecording(changed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Recordings()
	if want := []settings.Recording{recording(3), changed, recording(1)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Recordings: got %+v, %v; want newest first %+v", got, err, want)
	}
	if r, err := s.Recording("main-02.wav"); err != nil || !reflect.DeepEqual(r, changed) {
		t.Errorf("Recording: got %+v, %v", r, err)
	}
	if err := s.DeleteRecording("main-02.wav"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.DeleteRecording("main-02.wav"), func() error { _, err := s.Recording("main-02.wav"); return err }()} {
		if !errors.Is(err, ErrNoRecording) {
			t.Errorf("a deleted recording: %v, want ErrNoRecording", err)
		}
	}
}

func TestRecordingsBounded(t *testing.T) {
	s, _ := openTemp(t)
	for n := range MaxRecordings {
		r := recording(n)
		r.File = fmt.Sprintf("main-%04d.wav", n)
		if err := s.SaveRecording(r); err != nil {
			t.Fatal(err)
		}
	}
	extra := recording(MaxRecordings)
	extra.File = "main-extra.wav"
	if err := s.SaveRecording(extra); err == nil || !strings.Contains(err.Error(), "delete old ones") {
		t.Errorf("recording %d: %v, want a refusal", MaxRecordings+1, err)
	}
	// An update of one that is there is fine.
	r := recording(0)
	r.File = "main-0000.wav"
	r.Detail = "changed"
	if err := s.SaveRecording(r); err != nil {
		t.Errorf("updating a recording when full: %v", err)
	}
}

func TestRecordingRefused(t *testing.T) {
	for _, tt := range []struct {
		change func(*settings.Recording)
		want   string
	}{
		{func(r *settings.Recording) { r.State = "paused" }, `state "paused"`},
		{func(r *settings.Recording) { r.Conference = "" }, "no conference"},
		{func(r *settings.Recording) { r.Start = time.Time{} }, "no start time"},
		{func(r *settings.Recording) { r.Duration = -time.Second }, "negative duration"},
		{func(r *settings.Recording) { r.SampleRate = 0 }, "sample rate"},
		{func(r *settings.Recording) { r.File = "../x.wav" }, "must not start with a dot"},
		{func(r *settings.Recording) { r.File = "sub/x.wav" }, "may contain only"},
		{func(r *settings.Recording) { r.File = "x.mp3" }, "not a .wav file"},
	} {
		s, _ := openTemp(t)
		r := recording(1)
		tt.change(&r)
		if err := s.SaveRecording(r); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SaveRecording(%+v): %v, want an error saying %q", r, err, tt.want)
		}
		if recs, _ := s.Recordings(); len(recs) != 0 {
			t.Errorf("a refused recording was stored: %+v", recs)
		}
	}
}

// TestSchema3Migrated opens a file as version 3 firmware left it: no recordings bucket.
// The settings and the call history survive, and recordings work.
func TestSchema3Migrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	want := valid()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "settings", "admin", "history", "tls"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("3")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("history")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, must(json.Marshal(call(1)))); err != nil {
			return err
		}
		return tx.Bucket([]byte("settings")).Put([]byte("current"), must(json.Marshal(want)))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 3 file: %v", err)
	}
	defer s.Close()
	if got, want := schemaVersion(t, s), strconv.Itoa(SchemaVersion); got != want {
		t.Errorf("schema version after migration: got %q, want %q", got, want)
	}
	if got, err := s.Settings(); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("settings after migration: got %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.History(0); err != nil || len(got) != 1 {
		t.Errorf("history after migration: %v, %v", got, err)
	}
	if err := s.SaveRecording(recording(1)); err != nil {
		t.Errorf("SaveRecording after migration: %v", err)
	}
}
