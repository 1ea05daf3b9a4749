package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
)

func TestHistoryEmpty(t *testing.T) {
	c := loggedIn(t, newFake(t))
	rec := c.get("/history")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "No calls yet.") {
		t.Errorf("GET /history: got %d, want 200 saying there are no calls:\n%s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `<a href="/history" aria-current="page">History</a>`) {
		t.Errorf("the navigation does not mark the history page as current")
	}
	rec = c.get("/api/history")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("GET /api/history: got %d %q, want 200 []", rec.Code, rec.Body)
	}
}

func TestHistoryPage(t *testing.T) {
	f := newFake(t)
	start := time.Date(2026, 3, 1, 9, 30, 0, 0, time.Local)
	for _, r := range []settings.CallRecord{
		{Handset: "Kitchen", Identity: `"Kitchen" <sip:alice@example.org>`, Conference: "sip:conf@example.org",
			Start: start, Duration: 3*time.Minute + 7*time.Second, End: settings.EndLocal, MOS: 4.31, LossPercent: 0.25},
		{Handset: "Garden", Conference: "sip:conf@example.org", Start: start.Add(time.Hour), End: settings.EndFailed, Status: 486, Detail: "486 Busy Here"},
		{Handset: "Kitchen", Start: start.Add(2 * time.Hour), Duration: 2 * time.Hour, End: settings.EndRemote},
		{Handset: "Kitchen", Start: start.Add(3 * time.Hour), End: settings.EndCancelled},
	} {
		if err := f.store.AppendHistory(r); err != nil {
			t.Fatal(err)
		}
	}
	c := loggedIn(t, f)
	body := c.get("/history").Body.String()
	for _, want := range []string{
		"2026-03-01 09:30:00", "3:07", "hung up here", "MOS 4.3, 0.2 % lost",
		"&#34;Kitchen&#34; &lt;sip:alice@example.org&gt;",
		"failed: 486 Busy Here",
		"2:00:00", "the far end hung up",
		"given up before the answer",
		`data-label="Ended"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("history page lacks %q", want)
		}
	}
	if a, b := strings.Index(body, "given up"), strings.Index(body, "hung up here"); a > b {
		t.Errorf("the history is not newest first")
	}

	var got []settings.CallRecord
	if err := json.Unmarshal(c.get("/api/history").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want, _ := f.History()
	if !reflect.DeepEqual(got, want) || len(got) != 4 {
		t.Errorf("GET /api/history:\n got %+v\nwant %+v", got, want)
	}
}
