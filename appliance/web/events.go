package web

import (
	"context"
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

// Changes tells its subscribers that something changed, so that they need not poll. The
// zero value has no subscribers; it is safe for concurrent use.
type Changes struct {
	mu   sync.Mutex // guards following
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives a value after each Notify, until ctx is done.
// Notifications coalesce: a subscriber that has not taken the last one yet gets one for
// all that came since.
func (c *Changes) Subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.subs == nil {
		c.subs = make(map[chan struct{}]struct{})
	}
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	})
	return ch
}

// Notify tells every subscriber that something changed. It never blocks.
func (c *Changes) Notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default: // it has one waiting already
		}
	}
}

// Subscribed reports whether anyone listens: work done only to notify can be skipped
// when nobody does.
func (c *Changes) Subscribed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs) > 0
}

// An EventLog keeps the last MaxEvents events in memory for the dashboard.
// The zero value is an empty log, safe for concurrent use.
type EventLog struct {
	added Changes // notified by Add

	mu     sync.Mutex // guards following
	seq    uint64     // of the newest event
	events [MaxEvents]Event
}

// Add appends an event, dropping the oldest beyond MaxEvents, and tells the subscribers.
func (l *EventLog) Add(level slog.Level, source, text string) {
	l.mu.Lock()
	l.seq++
	l.events[l.seq%MaxEvents] = Event{Seq: l.seq, Time: time.Now(), Level: level.String(), Source: source, Text: text}
	l.mu.Unlock()
	l.added.Notify()
}

// Subscribe returns a channel that receives a value after events are added, until ctx is
// done; see Changes.Subscribe.
func (l *EventLog) Subscribe(ctx context.Context) <-chan struct{} { return l.added.Subscribe(ctx) }

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
