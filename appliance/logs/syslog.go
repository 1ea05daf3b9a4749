package logs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SyslogQueue is how many lines wait for a slow or unreachable syslog target; more are
// dropped, and counted.
const SyslogQueue = 512

// syslogFacility is the facility of the lines sent: daemon.
const syslogFacility = 3

// Syslog backoff between TCP connection attempts.
const (
	syslogMinBackoff = 500 * time.Millisecond
	syslogMaxBackoff = 30 * time.Second
)

// A syslog sends lines to a remote syslog target, as RFC 5424 messages: one a datagram
// over UDP, octet-counted over TCP (RFC 6587). Logging never waits for it: a line that
// finds the queue full is dropped and counted, and the next line sent says how many.
type syslog struct {
	network, addr string
	host          string
	pid           int
	queue         chan []byte
	dropped       atomic.Int64
	stop          context.CancelFunc
	done          chan struct{}

	mu   sync.Mutex
	conn net.Conn // run's connection, which close closes so that a stuck write ends
}

// SetSyslog sends the handler's lines, from now on, to the syslog target addr ("host:port")
// over network ("udp" or "tcp"); a network of "" stops sending. The previous target's
// queue is abandoned.
func (h *Handler) SetSyslog(network, addr string) error {
	var next *syslog
	switch network {
	case "":
	case "udp", "tcp":
		host, _ := os.Hostname()
		if host == "" {
			host = "-"
		}
		ctx, stop := context.WithCancel(context.Background())
		next = &syslog{network: network, addr: addr, host: host, pid: os.Getpid(),
			queue: make(chan []byte, SyslogQueue), stop: stop, done: make(chan struct{})}
		go next.run(ctx)
	default:
		return fmt.Errorf("syslog to %s %s: the network is udp or tcp", network, addr)
	}
	if old := h.s.syslog.Swap(next); old != nil {
		old.close()
	}
	return nil
}

// SyslogDropped is how many lines the current syslog target has missed because its
// queue was full.
func (h *Handler) SyslogDropped() int64 {
	if s := h.s.syslog.Load(); s != nil {
		return s.dropped.Load()
	}
	return 0
}

// close stops the sender and waits for it.
func (s *syslog) close() {
	s.stop()
	s.setConn(nil)
	<-s.done
}

// setConn makes c run's connection, closing the one before.
func (s *syslog) setConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn = c
}

// send queues the message for the record r of text msg, or counts it dropped.
func (s *syslog) send(r slog.Record, msg []byte) {
	select {
	case s.queue <- s.format(r.Time, r.Level, msg):
	default:
		s.dropped.Add(1)
	}
}

// format is the RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
func (s *syslog) format(t time.Time, l slog.Level, msg []byte) []byte {
	stamp := "-"
	if !t.IsZero() {
		stamp = t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") // at most 6 fraction digits
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s partyline %d - - ", syslogFacility*8+Priority(l), stamp, s.host, s.pid)
	b.Write(bytes.TrimSuffix(msg, []byte("\n")))
	return b.Bytes()
}

// run sends the queued messages until ctx ends, connecting again after a failure, with
// a backoff that doubles up to syslogMaxBackoff.
func (s *syslog) run(ctx context.Context) {
	defer close(s.done)
	var conn net.Conn
	defer s.setConn(nil)
	drop := func() { // after a failure: connect again for the next message
		s.setConn(nil)
		conn = nil
	}
	backoff := syslogMinBackoff
	var reported int64 // the drops already reported to the target
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case msg = <-s.queue:
		}
		for conn == nil {
			var d net.Dialer
			c, err := d.DialContext(ctx, s.network, s.addr)
			if err == nil {
				s.setConn(c)
				conn, backoff = c, syslogMinBackoff
				break
			}
			s.dropped.Add(1) // the message waiting; the queue fills meanwhile
			msg = nil
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, syslogMaxBackoff)
		}
		if n := s.dropped.Load(); n > reported {
			note := s.format(time.Now(), slog.LevelWarn, []byte(fmt.Sprintf("level=WARN msg=\"syslog: lines dropped\" dropped=%d", n-reported)))
			if s.write(conn, note) != nil {
				if msg != nil {
					s.dropped.Add(1)
				}
				drop()
				continue
			}
			reported = n
		}
		if msg != nil && s.write(conn, msg) != nil {
			s.dropped.Add(1)
			drop()
		}
	}
}

// write sends one message on conn, framed as the network needs.
func (s *syslog) write(conn net.Conn, msg []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if s.network == "tcp" {
		msg = append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...)
	}
	_, err := conn.Write(msg)
	return err
}
