package settings

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The states of a Recording.
const (
	RecordingInProgress = "recording"         // being recorded, or the appliance stopped without finishing it
	RecordingFinished   = "finished"          // stopped and closed
	RecordingRecovered  = "recovered"         // left unfinished by a crash or power loss, repaired at the next start
	RecordingDiskFull   = "stopped-disk-full" // stopped to keep the reserve of free space (Recordings.ReserveMB)
	RecordingFailed     = "failed"            // stopped by an error; Detail says which
)

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

// Check reports what is wrong with r, or nil.
func (r Recording) Check() error {
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

// StateText says a recording's state in words.
func (r Recording) StateText() string {
	switch r.State {
	case RecordingInProgress:
		return "being recorded"
	case RecordingFinished:
		return "finished"
	case RecordingRecovered:
		return "recovered after a crash"
	case RecordingDiskFull:
		return "stopped: disk nearly full"
	case RecordingFailed:
		return "failed"
	}
	return r.State
}
