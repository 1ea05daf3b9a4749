package settings

import (
	"fmt"
	"slices"
	"time"
)

// How a call ended, the values of CallRecord.End.
const (
	EndLocal     = "local"     // we hung up: the handset was put down, or Leave was pressed
	EndRemote    = "remote"    // the far end hung up
	EndFailed    = "failed"    // the join was refused (Status says how) or the call broke
	EndCancelled = "cancelled" // we gave up a join before it was answered
	EndMissed    = "missed"    // a call to the handset that nobody answered
)

// A CallRecord is one call of the call history that has ended, answered or not.
type CallRecord struct {
	Handset    string `json:"handset"`    // the handset's name
	Identity   string `json:"identity"`   // who it called as, e.g. `"Kitchen" <sip:alice@example.org>`
	Conference string `json:"conference"` // the conference URI; "" for a call in
	// Caller is who called the handset, for a call in (answered or missed), e.g.
	// `"Bob" <sip:bob@example.org>`; "" for a call the handset made.
	Caller string    `json:"caller,omitempty"`
	Start  time.Time `json:"start"` // when the call was answered; for a call never answered, when it ended
	// Duration is how long the call lasted from its answer; 0 for a call never answered.
	Duration time.Duration `json:"duration"`
	End      string        `json:"end"`              // EndLocal, EndRemote, EndFailed, EndCancelled or EndMissed
	Status   int           `json:"status,omitempty"` // the SIP status of a refused join, e.g. 486
	Detail   string        `json:"detail,omitempty"` // why it failed, e.g. "486 Busy Here"
	// MOS is the mean opinion score estimated for the audio received, at the
	// end of the call; 0 = not known.
	MOS float64 `json:"mos,omitempty"`
	// LossPercent is the share of the far end's packets that were lost.
	LossPercent float64 `json:"loss_percent,omitempty"`
}

// Check reports what is wrong with r, or nil.
func (r CallRecord) Check() error {
	switch {
	case !slices.Contains([]string{EndLocal, EndRemote, EndFailed, EndCancelled, EndMissed}, r.End):
		return fmt.Errorf("end %q is not %s, %s, %s, %s or %s", r.End, EndLocal, EndRemote, EndFailed, EndCancelled, EndMissed)
	case r.Handset == "":
		return fmt.Errorf("no handset")
	case r.Start.IsZero():
		return fmt.Errorf("no start time")
	case r.Duration < 0:
		return fmt.Errorf("negative duration %v", r.Duration)
	}
	return nil
}

// Ended says how the call ended, in words.
func (r CallRecord) Ended() string {
	switch r.End {
	case EndLocal:
		return "hung up here"
	case EndRemote:
		return "the far end hung up"
	case EndCancelled:
		return "given up before the answer"
	case EndMissed:
		return "missed: nobody answered"
	case EndFailed:
		if r.Detail != "" {
			return "failed: " + r.Detail
		}
		return "failed"
	}
	return r.End
}
