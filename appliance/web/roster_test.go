package web

import (
	"strings"
	"testing"
)

func TestDashboardRosters(t *testing.T) {
	f := newFake(t)
	f.status.Rosters = []RosterStatus{
		{Conference: "sip:room@example.org", Participants: []RosterEntry{
			{URI: "sip:alice@example.org", DisplayName: "Kitchen", Status: "connected", Ours: true},
			{URI: "sip:zoe@example.org", DisplayName: "Zoë <guest>", Status: "on-hold", Muted: true},
		}},
		{Conference: "sip:side@example.org", Note: "The conference does not publish its roster.", Participants: []RosterEntry{
			{URI: "sip:pl-x@example.org", DisplayName: "Bridged caller", Status: "connected", Ours: true},
		}},
	}
	body := loggedIn(t, f).get("/").Body.String()
	for _, want := range []string{
		`<h3>sip:room@example.org</h3>`,
		`<td data-label="Participant">sip:alice@example.org</td><td data-label="Display name">Kitchen</td><td data-label="Status">connected</td><td data-label="Muted"></td><td data-label="Ours">ours</td>`,
		`<td data-label="Display name">Zoë &lt;guest&gt;</td><td data-label="Status">on-hold</td><td data-label="Muted">muted</td><td data-label="Ours"></td>`,
		`<p class="note">The conference does not publish its roster.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestDashboardWithoutRosters(t *testing.T) {
	body := loggedIn(t, newFake(t)).get("/").Body.String()
	if strings.Contains(body, "Conference rosters") {
		t.Error("the page shows rosters while no leg is in a conference")
	}
}
