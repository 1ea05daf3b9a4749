package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
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
	// The script draws rosters that appear later into it.
	if !strings.Contains(body, `<div id="rosters">`) {
		t.Error("the page lacks the rosters' place")
	}
}

// TestEventsCarryRosters checks that the status the event stream sends, from
// which the page's script draws the rosters live, carries them.
func TestEventsCarryRosters(t *testing.T) {
	f := newFake(t)
	f.status.Rosters = []RosterStatus{{Conference: "sip:room@example.org", Note: "Only our own legs.", Participants: []RosterEntry{
		{URI: "sip:alice@example.org", DisplayName: "Kitchen", Status: "connected", Muted: true, Ours: true},
	}}}
	c := loggedIn(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // one round, then the stream sees the client gone
	rec := c.do(httptest.NewRequestWithContext(ctx, "GET", "/events", nil))
	for block := range strings.SplitSeq(rec.Body.String(), "\n\n") {
		data, ok := strings.CutPrefix(block, "data: ")
		if !ok {
			continue
		}
		var st Status
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatalf("decode %q: %v", data, err)
		}
		if !reflect.DeepEqual(st.Rosters, f.status.Rosters) {
			t.Errorf("rosters: got %+v, want %+v", st.Rosters, f.status.Rosters)
		}
		for _, key := range []string{`"conference":`, `"note":`, `"participants":`, `"uri":`, `"displayName":`, `"status":`, `"muted":`, `"ours":`} {
			if !strings.Contains(data, key) {
				t.Errorf("status lacks %s, which the script reads: %s", key, data)
			}
		}
		return
	}
	t.Fatalf("no status in the stream:\n%s", rec.Body)
}
