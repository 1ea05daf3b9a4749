package web

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

func TestEventLog(t *testing.T) {
	var l EventLog
	if got := l.Events(); len(got) != 0 {
		t.Fatalf("new log: got %+v, want nothing", got)
	}
	l.Add(slog.LevelWarn, "Kitchen", "join failed")
	got := l.Events()
	if len(got) != 1 || got[0].Seq != 1 || got[0].Level != "WARN" || got[0].Source != "Kitchen" || got[0].Text != "join failed" || got[0].Time.IsZero() {
		t.Fatalf("after one Add: got %+v", got)
	}
	for i := range MaxEvents + 5 {
		l.Add(slog.LevelInfo, "appliance", fmt.Sprint(i))
	}
	got = l.Events()
	if len(got) != MaxEvents {
		t.Fatalf("after %d events: kept %d, want %d", MaxEvents+6, len(got), MaxEvents)
	}
	for i, e := range got {
		if want := uint64(MaxEvents + 6 - MaxEvents + 1 + i); e.Seq != want {
			t.Fatalf("event %d: Seq %d, want %d (oldest first, the newest kept)", i, e.Seq, want)
		}
	}
	if last := got[len(got)-1]; last.Text != fmt.Sprint(MaxEvents+4) {
		t.Errorf("newest event: %q, want %q", last.Text, fmt.Sprint(MaxEvents+4))
	}
	if after := eventsAfter(got, got[len(got)-3].Seq); len(after) != 2 {
		t.Errorf("eventsAfter the third newest: got %d, want 2", len(after))
	}
	if after := eventsAfter(got, 0); len(after) != MaxEvents {
		t.Errorf("eventsAfter 0: got %d, want all %d", len(after), MaxEvents)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{level(SilenceDBFS), "silent"},
		{level(-130), "silent"},
		{level(-23.4), "-23 dBFS"},
		{level(0), "0 dBFS"},
		{clockDuration(0), "0:00"},
		{clockDuration(-5e9), "0:00"},
		{clockDuration(59_999e6), "0:59"},
		{clockDuration(61e9), "1:01"},
		{clockDuration(3600e9 + 62e9), "1:01:02"},
		{token("in call"), "in-call"},
		{token("WARN"), "warn"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestChanges: every subscriber hears of a change, changes told while a subscriber is busy
// come as one, a slow subscriber never holds up Notify, and a subscription ends with its
// context.
func TestChanges(t *testing.T) {
	var c Changes
	if c.Subscribed() {
		t.Fatal("a new Changes has subscribers")
	}
	ctx, cancel := context.WithCancel(t.Context())
	a, b := c.Subscribe(ctx), c.Subscribe(t.Context())
	if !c.Subscribed() {
		t.Fatal("no subscribers after Subscribe")
	}
	for range 3 {
		c.Notify() // nobody reads yet: must not block
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Errorf("subscriber %s was not told", name)
		}
		select {
		case <-ch:
			t.Errorf("subscriber %s was told twice of changes told while it was busy", name)
		default:
		}
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.subs)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after one's context ended, want 1", n)
		}
		time.Sleep(time.Millisecond)
	}
	c.Notify()
	select {
	case <-a:
		t.Error("a subscriber whose context ended was told")
	default:
	}
	select {
	case <-b:
	default:
		t.Error("the subscriber left was not told")
	}
}

// TestEventLogTells: adding an event tells the log's subscribers.
func TestEventLogTells(t *testing.T) {
	var l EventLog
	added := l.Subscribe(t.Context())
	l.Add(slog.LevelInfo, "Kitchen", "lifted")
	select {
	case <-added:
	default:
		t.Error("Add told nobody")
	}
}
