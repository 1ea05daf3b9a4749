package settings

import (
	"strings"
	"testing"
	"time"
)

// TestEndedInWords: every way a call can end reads as words on the history page, and a
// failure says why.
func TestEndedInWords(t *testing.T) {
	for _, tt := range []struct {
		rec  CallRecord
		want string
	}{
		{CallRecord{End: EndLocal}, "hung up here"},
		{CallRecord{End: EndRemote}, "the far end hung up"},
		{CallRecord{End: EndCancelled}, "given up before the answer"},
		{CallRecord{End: EndFailed}, "failed"},
		{CallRecord{End: EndFailed, Detail: "486 Busy Here"}, "failed: 486 Busy Here"},
	} {
		if got := tt.rec.Ended(); got != tt.want {
			t.Errorf("%+v: Ended() = %q, want %q", tt.rec, got, tt.want)
		}
		rec := tt.rec
		rec.Handset, rec.Start = "Kitchen", time.Now()
		if err := rec.Check(); err != nil {
			t.Errorf("%+v: Check: %v", rec, err)
		}
	}
	if err := (CallRecord{End: "exploded", Handset: "Kitchen", Start: time.Now()}).Check(); err == nil || !strings.Contains(err.Error(), "exploded") {
		t.Errorf("an unknown end: Check = %v, want an error naming it", err)
	}
}

// TestRecordingStateText: every state of a recording reads as words on the recordings page.
func TestRecordingStateText(t *testing.T) {
	seen := map[string]bool{}
	for _, state := range []string{RecordingInProgress, RecordingFinished, RecordingRecovered, RecordingDiskFull, RecordingFailed} {
		text := Recording{State: state}.StateText()
		if text == "" || seen[text] {
			t.Errorf("state %q reads %q: want words of its own", state, text)
		}
		seen[text] = true
	}
}
