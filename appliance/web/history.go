package web

import (
	"net/http"

	"partyline/appliance/settings"
)

type historyPage struct {
	frame
	Calls []settings.CallRecord
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
