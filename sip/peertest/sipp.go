package peertest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippTimeout is the global safety timeout passed to sipp (-timeout): a
// scenario that never finishes ends with an error instead of hanging.
const sippTimeout = 60 * time.Second

// SIPpConfig configures StartSIPp.
type SIPpConfig struct {
	Scenario string   // scenario XML text, e.g. ScenarioEcho
	RTPEcho  bool     // echo received RTP back to its sender (-rtp_echo)
	Args     []string // extra sipp arguments
	// Calls is how many calls sipp handles, at once if they come at
	// once, before it exits (-m and -l); 0 means 1.
	Calls int
	// Call, when valid, makes sipp a UAC that calls Service at Call (a scenario such as
	// ScenarioCall) as soon as it starts.
	Call    netip.AddrPort
	Service string
	// TCP has sipp, as a UAC (Call), speak SIP over TCP on one connection (-t t1).
	TCP bool
}

// SIPp is a running sipp UAS that handles cfg.Calls calls and exits.
type SIPp struct {
	addr      netip.AddrPort
	media     netip.AddrPort
	traceFile string
	errFile   string
	out       *lockedBuffer
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // set before done is closed
}

// Kill ends sipp at once, as a server that vanishes: no BYE, no more RTP, no answers. It
// returns once sipp has exited.
func (s *SIPp) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// StartSIPp starts sipp as a UAS on 127.0.0.1 with cfg.Scenario and
// returns once its SIP socket is bound. sipp handles cfg.Calls calls (each
// by the scenario, concurrently as they come) and exits; it is killed in
// t.Cleanup if it is still running.
func StartSIPp(t testing.TB, cfg SIPpConfig) *SIPp {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not found: run make test (installs kamailio, sip-tester)")
	}
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(scen, []byte(cfg.Scenario), 0o644); err != nil {
		t.Fatalf("write sipp scenario: %v", err)
	}
	var lastErr error
	for attempt := range startAttempts {
		s, err := startSIPp(t, bin, dir, scen, attempt, cfg)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start sipp: %v", lastErr)
	return nil
}

func startSIPp(t testing.TB, bin, dir, scen string, attempt int, cfg SIPpConfig) (*SIPp, error) {
	port, mport, cport := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	s := &SIPp{
		addr:      loopback(port),
		media:     loopback(mport),
		traceFile: filepath.Join(dir, fmt.Sprintf("messages-%d.log", attempt)),
		errFile:   filepath.Join(dir, fmt.Sprintf("errors-%d.log", attempt)),
		out:       &lockedBuffer{},
		done:      make(chan struct{}),
	}
	args := []string{
		"-sf", scen,
		"-i", "127.0.0.1", "-p", strconv.Itoa(int(port)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(int(mport)),
		"-cp", strconv.Itoa(int(cport)),
		"-m", strconv.Itoa(max(cfg.Calls, 1)), "-nostdin",
		"-timeout", fmt.Sprintf("%ds", int(sippTimeout.Seconds())), "-timeout_error",
		"-trace_msg", "-message_file", s.traceFile,
		"-trace_err", "-error_file", s.errFile,
	}
	if cfg.Calls > 1 {
		// Room in the socket buffers for every call's INVITE at once
		// (the default is 64 KiB).
		args = append(args, "-l", strconv.Itoa(cfg.Calls), "-buff_size", strconv.Itoa(max(64, cfg.Calls)<<12))
	}
	if cfg.RTPEcho {
		args = append(args, "-rtp_echo")
	}
	if cfg.TCP {
		args = append(args, "-t", "t1")
	}
	if cfg.Call.IsValid() {
		args = append(args, "-s", cfg.Service, cfg.Call.String())
	}
	args = append(args, cfg.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run sipp: %w", err)
	}
	s.cmd = cmd
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			errs, _ := os.ReadFile(s.errFile)
			t.Logf("sipp on %v: output:\n%s\nerrors:\n%s\nmessages:\n%s", s.addr, tail(s.out.String(), 4000), tail(string(errs), 4000), tail(s.Messages(), 20000))
		}
	})
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("sipp exited before it was ready (%v): %s", s.err, tail(s.out.String(), 2000))
		case <-time.After(20 * time.Millisecond):
		}
		if cfg.Call.IsValid() || udpBound(port) {
			return s, nil // a UAC calls at once: nothing to wait for
		}
	}
	_ = cmd.Process.Kill()
	<-s.done
	return nil, fmt.Errorf("sipp did not bind udp port %d within %v", port, readyTimeout)
}

// Pid returns sipp's process ID, e.g. to measure its CPU time.
func (s *SIPp) Pid() int { return s.cmd.Process.Pid }

// Addr returns the address sipp receives SIP on.
func (s *SIPp) Addr() netip.AddrPort { return s.addr }

// MediaAddr returns the address sipp's scenarios put into their SDP
// ([media_ip]:[media_port]), where -rtp_echo echoes RTP.
func (s *SIPp) MediaAddr() netip.AddrPort { return s.media }

// Messages returns the SIP messages sipp sent and received so far.
func (s *SIPp) Messages() string {
	b, err := os.ReadFile(s.traceFile)
	if err != nil {
		return ""
	}
	return string(b)
}

// Received returns the SIP messages sipp received so far whose start line
// begins with prefix (e.g. "INVITE " or "SIP/2.0 200"), each without the
// trace's framing, in the order they came.
func (s *SIPp) Received(prefix string) []string {
	var msgs []string
	for _, entry := range strings.Split(s.Messages(), "\n----------------------------------------------- ") {
		head, msg, ok := strings.Cut(entry, " bytes :\n\n")
		if !ok || !strings.Contains(head, "message received") {
			continue
		}
		if strings.HasPrefix(msg, prefix) {
			msgs = append(msgs, strings.TrimRight(msg, "\r\n"))
		}
	}
	return msgs
}

// Wait blocks until sipp exits or timeout passes. It returns nil when the
// scenario finished successfully (exit status 0), otherwise an error with
// the exit status and the tail of sipp's output and message trace.
func (s *SIPp) Wait(timeout time.Duration) error {
	select {
	case <-s.done:
	case <-time.After(timeout):
		return fmt.Errorf("sipp still running after %v; messages:\n%s", timeout, tail(s.Messages(), 3000))
	}
	if s.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return fmt.Errorf("sipp exit status %d: output:\n%s\nmessages:\n%s", ee.ExitCode(), tail(s.out.String(), 2000), tail(s.Messages(), 3000))
	}
	return fmt.Errorf("sipp: %w", s.err)
}
