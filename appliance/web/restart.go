package web

import (
	"net/http"
)

// A Restarter is a Backend that can restart the appliance: every page then shows a
// "restart pending" banner with a Restart button while settings saved wait for a restart
// to apply, and POST /restart restarts it.
type Restarter interface {
	// PendingRestart lists what of the saved settings applies only at the next restart,
	// e.g. "the board"; empty when nothing does.
	PendingRestart() []string
	// Restart stops the appliance and starts it again. It returns at once; the restart
	// follows, and ends every session.
	Restart() error
}

// restartingPage is what the browser shows while the appliance restarts.
type restartingPage struct{ frame }

// restart restarts the appliance, and answers with a page that goes back to the dashboard
// once the appliance is likely back.
func (s *server) restart(w http.ResponseWriter, r *http.Request) {
	if err := s.restarter.Restart(); err != nil {
		s.fail(w, "restart", err)
		return
	}
	s.log.Info("restart asked for", "client", clientAddr(r))
	s.render(w, http.StatusOK, "restarting.tmpl", &restartingPage{frame{Title: "Restarting"}})
}
