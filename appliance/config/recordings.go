package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxRecordings is how many recordings the store keeps track of: SaveRecording refuses a
// new one beyond it, so that old recordings are deleted on purpose, never silently.
const MaxRecordings = 1000

// The states of a Recording.
const (
	RecordingInProgress = "recording"         // being recorded, or the appliance stopped without finishing it
	RecordingFinished   = "finished"          // stopped and closed
	RecordingRecovered  = "recovered"         // left unfinished by a crash or power loss, repaired at the next start
	RecordingDiskFull   = "stopped-disk-full" // stopped to keep the reserve of free space (Recordings.ReserveMB)
	RecordingFailed     = "failed"            // stopped by an error; Detail says which
)

// ErrNoRecording is returned for a recording the store does not know.
var ErrNoRecording = errors.New("no such recording")

// A Recording is one WAV file the recorder wrote, or is writing, in the data directory's
// recordings folder.
type Recording struct {
	File       string    `json:"file"`       // the file's name in the recordings folder, e.g. "main-20260301T093000Z.wav"
	Conference string    `json:"conference"` // the Conference.ID recorded
	Start      time.Time `json:"start"`
	// Duration is the audio the file holds; while State is RecordingInProgress it is not
	// known yet and 0.
	Duration   time.Duration `json:"duration"`
	SampleRate int           `json:"sample_rate"` // in Hz
	State      string        `json:"state"`
	Detail     string        `json:"detail,omitempty"` // why it stopped, e.g. "stopped: disk nearly full"
}

// CheckRecordingName reports whether name can be the name of a recording: a file name
// (letters, digits, '.', '-', '_'; not starting with '.') that ends in ".wav", so that it
// always names a file inside the recordings folder.
func CheckRecordingName(name string) error {
	if err := checkPromptName(name); err != nil {
		return fmt.Errorf("recording name: %w", err)
	}
	return nil
}

// check reports what is wrong with r, or nil.
func (r Recording) check() error {
	states := []string{RecordingInProgress, RecordingFinished, RecordingRecovered, RecordingDiskFull, RecordingFailed}
	switch {
	case !slices.Contains(states, r.State):
		return fmt.Errorf("state %q is not one of %s", r.State, strings.Join(states, ", "))
	case r.Conference == "":
		return errors.New("no conference")
	case r.Start.IsZero():
		return errors.New("no start time")
	case r.Duration < 0:
		return fmt.Errorf("negative duration %v", r.Duration)
	case r.SampleRate <= 0:
		return fmt.Errorf("sample rate %d Hz", r.SampleRate)
	}
	return CheckRecordingName(r.File)
}

// SaveRecording stores r, replacing the recording of the same File if there is one. A new
// recording beyond MaxRecordings is refused.
func (s *Store) SaveRecording(r Recording) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordingsBucket)
		if bk.Get([]byte(r.File)) == nil && bk.Stats().KeyN >= MaxRecordings {
			return fmt.Errorf("%d recordings are kept already: delete old ones first", MaxRecordings)
		}
		return bk.Put([]byte(r.File), b)
	})
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.File, err)
	}
	return nil
}

// Recording returns the recording of file name, or an error wrapping ErrNoRecording.
func (s *Store) Recording(name string) (Recording, error) {
	var r Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(recordingsBucket).Get([]byte(name))
		if v == nil {
			return ErrNoRecording
		}
		// Unmarshal copies: v is invalid once the transaction ends.
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return Recording{}, fmt.Errorf("read recording %s: %w", name, err)
	}
	return r, nil
}

// Recordings returns every recording, newest first.
func (s *Store) Recordings() ([]Recording, error) {
	var recs []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(recordingsBucket).ForEach(func(k, v []byte) error {
			var r Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode recording %s: %w", k, err)
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read recordings: %w", err)
	}
	slices.SortFunc(recs, func(a, b Recording) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(a.File, b.File))
	})
	return recs, nil
}

// DeleteRecording forgets the recording of file name; the file itself is the caller's to
// remove. It returns an error wrapping ErrNoRecording if there is none.
func (s *Store) DeleteRecording(name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(recordingsBucket)
		if bk.Get([]byte(name)) == nil {
			return ErrNoRecording
		}
		return bk.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete recording %s: %w", name, err)
	}
	return nil
}
