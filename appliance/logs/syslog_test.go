package logs

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// header is an RFC 5424 header as the handler writes it: PRI, version, timestamp, host,
// app, PID, no MSGID and no structured data.
var header = regexp.MustCompile(`^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ partyline \d+ - - (.*)$`)

// wantPRI is each level's PRI: facility daemon (3), severity as the journal's.
var wantPRI = map[string]int{"debug": 31, "info": 30, "warn": 28, "error": 27}

// logAll logs one line at each level, with the level's name in the message.
func logAll(log *slog.Logger) {
	log.Debug("debug")
	log.Info("info", "k", "v")
	log.Warn("warn")
	log.Error("error")
}

// checkPRIs reads four messages from next and checks that each has the PRI of its level.
func checkPRIs(t *testing.T, next func() string) {
	t.Helper()
	for range wantPRI {
		msg := next()
		m := header.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("not an RFC 5424 message: %q", msg)
		}
		var level string
		for l := range wantPRI {
			if strings.Contains(m[2], "msg="+l) {
				level = l
			}
		}
		if pri, _ := strconv.Atoi(m[1]); level == "" || pri != wantPRI[level] {
			t.Errorf("message %q: PRI %s, want %d for its level %q", msg, m[1], wantPRI[level], level)
		}
	}
}

func newDebug(t *testing.T) *Handler {
	t.Helper()
	h, err := New(io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.SetLevel(slog.LevelDebug)
	t.Cleanup(func() { h.SetSyslog("", "") })
	return h
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	h := newDebug(t)
	if err := h.SetSyslog("udp", pc.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	logAll(slog.New(h))
	buf := make([]byte, 2048)
	checkPRIs(t, func() string {
		if err := pc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil { // failsafe
			t.Fatal(err)
		}
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read a datagram: %v", err)
		}
		return string(buf[:n])
	})
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newDebug(t)
	if err := h.SetSyslog("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	logAll(slog.New(h))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil { // failsafe
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	checkPRIs(t, func() string { // octet counting: "LEN SP MSG", RFC 6587
		var n int
		if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
			t.Fatalf("read a frame's length: %v", err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatalf("read a frame of %d bytes: %v", n, err)
		}
		return string(msg)
	})
}

// TestSyslogReconnects: when the TCP target drops the connection, the lines go on over a new
// one, which first says how many lines were dropped meanwhile.
func TestSyslogReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newDebug(t)
	if err := h.SetSyslog("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	log.Info("first")
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first.Close() // the target restarts
	tl := ln.(*net.TCPListener)
	var second net.Conn
	for i := 0; second == nil; i++ { // log until the sender connects again
		if i == 600 { // a minute of 100 ms waits: failsafe
			t.Fatal("the sender did not connect again")
		}
		log.Info("meanwhile", "i", i)
		if err := tl.SetDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		second, _ = ln.Accept()
	}
	defer second.Close()
	if err := second.SetReadDeadline(time.Now().Add(time.Minute)); err != nil { // failsafe
		t.Fatal(err)
	}
	r := bufio.NewReader(second)
	var n int
	if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
		t.Fatalf("read a frame's length on the new connection: %v", err)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		t.Fatal(err)
	}
	if m := header.FindStringSubmatch(string(msg)); m == nil || m[1] != "28" || !strings.Contains(m[2], "lines dropped") {
		t.Errorf("the first message on the new connection: %q, want a warning that lines were dropped", msg)
	}
}

// TestSyslogDeadTarget: a target that does not answer does not hold up logging; the
// lines that do not fit the queue are counted.
func TestSyslogDeadTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	h := newDebug(t)
	if err := h.SetSyslog("tcp", addr); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 * SyslogQueue {
			log.Info("line", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // failsafe
		t.Fatal("logging blocked on a dead syslog target")
	}
	if got := h.SyslogDropped(); got < 9*SyslogQueue {
		t.Errorf("%d lines dropped, want at least %d", got, 9*SyslogQueue)
	}
	if got := len(h.Lines(slog.LevelInfo)); got != DefaultLines {
		t.Errorf("the page keeps %d lines, want %d: logging went on", got, DefaultLines)
	}
}

func TestSetSyslogRefuses(t *testing.T) {
	h := newDebug(t)
	if err := h.SetSyslog("unix", "/dev/log"); err == nil {
		t.Error("SetSyslog accepted network unix")
	}
}
