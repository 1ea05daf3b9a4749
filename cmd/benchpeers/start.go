package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Starts is how long each peer takes from its start to answering SIP OPTIONS: the median
// of some starts, each with a fresh data (or configuration) directory.
type Starts struct {
	N                  int // starts of each
	Partyline, Baresip time.Duration
	// Restart is partyline's start on the data directory its first start made, as a
	// device starts every time but the first.
	Restart time.Duration
	// Exec and BaresipExec are each program's run from exec to exit doing nothing else
	// (partyline -version, baresip -h): loading it and its libraries and initializing its
	// runtime and packages, the part of a start before it reads a setting.
	Exec, BaresipExec time.Duration
}

// measureStarts starts partyline (on the sim board) and baresip n times each, each with a
// fresh directory under dir, and partyline once more on each directory it made, and
// returns the median times from exec to the first answer to SIP OPTIONS over UDP, and
// those of runs that only start and exit.
func measureStarts(ctx context.Context, bin, dir string, n int) (Starts, error) {
	st := Starts{N: n}
	var pl, again, bs, ex, bex []time.Duration
	for i := range n {
		pdir := filepath.Join(dir, fmt.Sprintf("partyline-%d", i))
		d, err := startPartylineOnce(ctx, bin, pdir)
		if err != nil {
			return st, err
		}
		pl = append(pl, d)
		if d, err = startPartylineOnce(ctx, bin, pdir); err != nil {
			return st, err
		}
		again = append(again, d)
		if d, err = startBaresipOnce(ctx, filepath.Join(dir, fmt.Sprintf("baresip-%d", i))); err != nil {
			return st, err
		}
		bs = append(bs, d)
		if d, err = untilExit(ctx, "partyline ", bin, "-version"); err != nil {
			return st, err
		}
		ex = append(ex, d)
		if d, err = untilExit(ctx, "Usage: baresip", "baresip", "-h"); err != nil {
			return st, err
		}
		bex = append(bex, d)
	}
	st.Partyline, st.Restart, st.Baresip = median(pl), median(again), median(bs)
	st.Exec, st.BaresipExec = median(ex), median(bex)
	return st, nil
}

// untilExit runs name with args and returns the time from its start to its exit, once it
// has written want (its exit status aside: baresip -h exits with 254).
func untilExit(ctx context.Context, want, name string, args ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, failsafe)
	defer cancel()
	var out strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	d := time.Since(began)
	if ctx.Err() != nil {
		return 0, fmt.Errorf("run %s: %w", name, ctx.Err())
	}
	if !strings.Contains(out.String(), want) {
		return 0, fmt.Errorf("run %s: %v, no %q in its output: %.200s", cmd.Path, err, want, out.String())
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// startPartylineOnce times one start of partyline with the data directory under dir,
// empty or made by a start before.
func startPartylineOnce(ctx context.Context, bin, dir string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("start partyline: %w", err)
	}
	sip, err := freeUDPAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "-board", "sim", "-data", filepath.Join(dir, "data"), "-admin", "127.0.0.1:0", "-sip", sip)
	log, err := os.OpenFile(filepath.Join(dir, "partyline.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("start partyline: %w", err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	d, err := untilOptions(ctx, cmd, sip)
	if err != nil {
		return 0, fmt.Errorf("start partyline (log %s): %w", log.Name(), err)
	}
	return d, nil
}

// startBaresipOnce times one start of baresip with a fresh configuration directory: the
// modules of the bridge run's callers, one account.
func startBaresipOnce(ctx context.Context, dir string) (time.Duration, error) {
	sip, err := freeUDPAddr()
	if err != nil {
		return 0, err
	}
	config := strings.Join([]string{"poll_method epoll", "sip_listen " + sip, "net_interface 127.0.0.1",
		"module_path /usr/lib/baresip/modules", "module g711.so", "module aufile.so", "module_app account.so", ""}, "\n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("start baresip: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		return 0, fmt.Errorf("start baresip: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte("<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA\n"), 0o644); err != nil {
		return 0, fmt.Errorf("start baresip: %w", err)
	}
	cmd := exec.Command("baresip", "-f", dir)
	cmd.Dir = dir
	d, err := untilOptions(ctx, cmd, sip)
	if err != nil {
		return 0, fmt.Errorf("start baresip: %w", err)
	}
	return d, nil
}

// optionsEvery is how often untilOptions asks: the resolution of the start times.
const optionsEvery = 500 * time.Microsecond

// untilOptions starts cmd and sends SIP OPTIONS to addr every optionsEvery until an answer
// comes, then stops cmd (SIGTERM) and returns the time from its start to that answer.
func untilOptions(ctx context.Context, cmd *exec.Cmd, addr string) (time.Duration, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("options: %w", err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return 0, fmt.Errorf("options: %w", err)
	}
	local := conn.LocalAddr().String()
	req := []byte("OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-bench-start;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bench@" + local + ">;tag=bench\r\nTo: <sip:" + addr + ">\r\n" +
		"Call-ID: bench-start@" + local + "\r\nCSeq: 1 OPTIONS\r\nContact: <sip:bench@" + local + ">\r\nContent-Length: 0\r\n\r\n")
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(failsafe):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	buf := make([]byte, 4096)
	for time.Since(began) < failsafe {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if _, err := conn.WriteTo(req, to); err != nil {
			return 0, fmt.Errorf("options: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(optionsEvery))
		n, _, err := conn.ReadFrom(buf)
		if err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
			return time.Since(began), nil
		}
		if ne, ok := errors.AsType[net.Error](err); err != nil && (!ok || !ne.Timeout()) {
			// A refused port (nothing listening yet) fails the read: try again.
			time.Sleep(optionsEvery)
		}
	}
	return 0, fmt.Errorf("no answer to SIP OPTIONS at %s in %v", addr, failsafe)
}

// freeUDPAddr returns a loopback UDP address nothing listens on now.
func freeUDPAddr() (string, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free UDP port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

// printStarts measures n starts of partyline and of baresip and prints their medians.
func printStarts(ctx context.Context, w io.Writer, bin string, n int) error {
	dir, err := os.MkdirTemp("", "benchpeers-starts")
	if err != nil {
		return fmt.Errorf("starts: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := measureStarts(ctx, bin, dir, n)
	if err != nil {
		return fmt.Errorf("starts: %w", err)
	}
	ms := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	fmt.Fprintf(w, "\nstart until it answers SIP OPTIONS, median of %d: partyline %v with a fresh data directory (%.1f× baresip), %v with its own again (%.1f×); baresip %v\n",
		st.N, ms(st.Partyline), float64(st.Partyline)/float64(st.Baresip),
		ms(st.Restart), float64(st.Restart)/float64(st.Baresip), ms(st.Baresip))
	fmt.Fprintf(w, "from exec to exit with nothing else to do, loading and initializing each program (the part of a start before it reads a setting): partyline -version %v (%.1f× baresip -h), baresip -h %v\n",
		ms(st.Exec), float64(st.Exec)/float64(st.BaresipExec), ms(st.BaresipExec))
	return nil
}
