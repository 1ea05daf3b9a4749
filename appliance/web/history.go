package web

import (
	"net/http"
	"time"
)

// A CallRecord is one call of the call history that has ended, answered or
// not. It has the fields of the appliance's stored record.
type CallRecord struct {
	Handset    string    `json:"handset"`    // the handset's name
	Identity   string    `json:"identity"`   // who it called as
	Conference string    `json:"conference"` // the conference URI
	Start      time.Time `json:"start"`      // when the call was answered; for a call never answered, when it ended
	// Duration is how long the call lasted from its answer; 0 for a call never answered.
	Duration time.Duration `json:"duration"`
	End      string        `json:"end"`              // EndLocal, EndRemote, EndFailed or EndCancelled
	Status   int           `json:"status,omitempty"` // the SIP status of a refused join, e.g. 486
	Detail   string        `json:"detail,omitempty"` // why it failed, e.g. "486 Busy Here"
	// MOS is the mean opinion score estimated for the audio received, at the
	// end of the call; 0 = not known.
	MOS float64 `json:"mos,omitempty"`
	// LossPercent is the share of the far end's packets that were lost.
	LossPercent float64 `json:"loss_percent,omitempty"`
}

// How a call ended, the values of CallRecord.End.
const (
	EndLocal     = "local"     // we hung up
	EndRemote    = "remote"    // the far end hung up
	EndFailed    = "failed"    // the join was refused or the call broke
	EndCancelled = "cancelled" // we gave up the join before it was answered
)

// Ended says how the call ended, in words.
func (c CallRecord) Ended() string {
	switch c.End {
	case EndLocal:
		return "hung up here"
	case EndRemote:
		return "the far end hung up"
	case EndCancelled:
		return "given up before the answer"
	case EndFailed:
		if c.Detail != "" {
			return "failed: " + c.Detail
		}
		return "failed"
	}
	return c.End
}

type historyPage struct {
	frame
	Calls []CallRecord
}

// history shows the call history.
func (s *server) history(w http.ResponseWriter, r *http.Request) {
	calls, err := s.backend.History()
	if err != nil {
		s.fail(w, "read call history", err)
		return
	}
	s.render(w, http.StatusOK, "history.tmpl", &historyPage{
		frame: frame{Title: "Call history", Nav: "history", LoggedIn: true},
		Calls: calls,
	})
}

// historyJSON sends the call history as a JSON array, newest first.
func (s *server) historyJSON(w http.ResponseWriter, r *http.Request) {
	calls, err := s.backend.History()
	if err != nil {
		s.fail(w, "read call history", err)
		return
	}
	s.writeJSON(w, nonNil(calls))
}
