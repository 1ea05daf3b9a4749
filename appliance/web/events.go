package web

import (
	"log/slog"
	"sync"
	"time"
)

// MaxEvents is how many events an EventLog keeps: the newest.
const MaxEvents = 50

// An Event is one entry of the dashboard's log of recent events.
type Event struct {
	Seq    uint64    `json:"seq"` // counts up from 1 in one EventLog
	Time   time.Time `json:"time"`
	Level  string    `json:"level"`  // "INFO", "WARN" or "ERROR", as slog names its levels
	Source string    `json:"source"` // what it is about: a handset, an account, "admin page"
	Text   string    `json:"text"`
}

// An EventLog keeps the last MaxEvents events in memory for the dashboard.
// The zero value is an empty log, safe for concurrent use.
type EventLog struct {
	mu     sync.Mutex // guards following
	seq    uint64     // of the newest event
	events [MaxEvents]Event
}

// Add appends an event, dropping the oldest beyond MaxEvents.
func (l *EventLog) Add(level slog.Level, source, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.events[l.seq%MaxEvents] = Event{Seq: l.seq, Time: time.Now(), Level: level.String(), Source: source, Text: text}
}

// Events returns the events kept, oldest first.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.seq, MaxEvents)
	out := make([]Event, 0, n)
	for seq := l.seq - n + 1; seq <= l.seq; seq++ {
		out = append(out, l.events[seq%MaxEvents])
	}
	return out
}

// eventsAfter returns the events of events, oldest first, whose Seq is
// after seq.
func eventsAfter(events []Event, seq uint64) []Event {
	for i, e := range events {
		if e.Seq > seq {
			return events[i:]
		}
	}
	return nil
}
