package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"partyline/media"
	"partyline/sip/peertest"
)

// ScaleStats is what the scale run measures beside CPU: the RTP partyline sent and took
// in, seen on the loopback interface during the window.
type ScaleStats struct {
	Streams int // RTP streams partyline sent
	// P99Median and P99Max are, over the streams, the median and the largest of each
	// stream's 99th percentile of |interval between two packets − 20 ms|.
	P99Median, P99Max time.Duration
	// InP99Median and InP99Max are the same of the streams partyline received.
	InP99Median, InP99Max time.Duration
	// HeldP99Median and HeldP99Max are, over the streams partyline sent, the median and
	// the largest of each one's 99th percentile of how long partyline held a packet: from
	// its payload's arrival on one leg to its send on the other (held). Relayed is how
	// many sent packets were matched to their arrival.
	HeldP99Median, HeldP99Max time.Duration
	Relayed                   int64
	// MovedP99Median and MovedP99Max are the same of how far partyline moved a packet's
	// send against the packet before it (moved): what it adds to a stream's send interval
	// deviation, all of it when the caller sends like a clock.
	MovedP99Median, MovedP99Max time.Duration
	In, Out                     int64 // G.711 RTP packets to and from partyline's ports
	// SocketDrops is the datagrams the kernel dropped at partyline's UDP sockets over the
	// window, their receive buffers full (the drops column of /proc/PID/net/udp).
	SocketDrops int64
	// Capture is dumpcap's count of what it received and dropped (it missed), as it says.
	Capture string
	// PeersCPU is the cores the callers and the conference used over the window.
	PeersCPU float64
}

// runScale measures partyline bridging c.Scale callers into a conference (two legs each):
// its CPU in cores, and, from a capture of the loopback interface over the window
// (dumpcap), how evenly it sends each stream's packets and how many it took in but did
// not send on. The capture's time stamps are taken as the kernel passes partyline's
// datagrams to the interface, at its send calls. The callers are one sipp streaming a
// G.711 file in every call: baresip, which codes and mixes every call's audio, would take
// most of a two-core machine at 250 calls and leave partyline waiting for a core. The
// peers' CPU is measured too, to show what the machine had left.
func runScale(ctx context.Context, t testing.TB, c Config) []Row {
	n := c.Scale
	c.logf("partyline, sim, %d bridged callers", n)
	p, echo := startRoom(t, c, n)
	w := &watched{pid: p.cmd.Process.Pid}
	p.heap0 = p.mustHeap()
	sleep(ctx, c.Settle)
	idle, err := window(ctx, c.Window, w.pid)
	if err != nil {
		t.Fatalf("idle window: %v", err)
	}
	w.idle = idle[0]
	sockets0, err := socketCount(w.pid)
	if err != nil {
		t.Fatal(err)
	}
	// 10 s of noise: no two packets of a stream alike, and callers placed 20 ms apart
	// (-r 50) are never in step with one another.
	audio := filepath.Join(t.TempDir(), "noise.ulaw")
	if err := writeULaw(audio, noise(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	callers := peertest.StartSIPp(t, peertest.SIPpConfig{
		Scenario: peertest.ScenarioStream(audio, 2*c.Window+c.Settle+2*failsafe), Calls: n,
		Call: netip.MustParseAddrPort(p.sip), Service: "lobby",
		Args: []string{"-r", "50", "-timeout", fmt.Sprintf("%ds", int((2*c.Window + c.Settle + 3*failsafe).Seconds()))},
	})
	// Each bridged call has two RTP sockets, the caller's leg's and the conference's.
	deadline := time.Now().Add(failsafe)
	for {
		got, err := socketCount(w.pid)
		if err != nil {
			t.Fatal(err)
		}
		if got >= sockets0+2*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callers bridged after %v", (got-sockets0)/2, n, failsafe)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	sleep(ctx, c.Settle)
	ports, drops0, err := udpSockets(w.pid)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "scale.pcap")
	capture := exec.CommandContext(ctx, "dumpcap", "-i", "lo", "-P", "-s", "64", "-B", "64", "-f", "udp",
		"-a", fmt.Sprintf("duration:%d", int(c.Window.Seconds())), "-w", file)
	var stderr strings.Builder
	capture.Stderr = &stderr
	if err := capture.Start(); err != nil {
		t.Fatalf("dumpcap: %v", err)
	}
	busy, err := window(ctx, c.Window, w.pid, callers.Pid(), echo.Pid())
	if err != nil {
		t.Fatalf("window of %d callers: %v", n, err)
	}
	_, drops1, err := udpSockets(w.pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("dumpcap: %v: %s", err, stderr.String())
	}
	st, err := readCapture(file, ports)
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(stderr.String()) {
		if strings.Contains(l, "dropped") {
			st.Capture = strings.TrimSpace(l)
		}
	}
	st.SocketDrops = drops1 - drops0
	st.PeersCPU = (busy[1] + busy[2]) / 60
	row := p.row("callers bridged into a conference, scale", n, 2*n, w, busy[0])
	row.Scale = &st
	return []Row{row}
}

// noise is d of seeded white noise at 8 kHz (about −23 dBFS), what the scale run's
// callers say: unlike a tone, whose 20 ms packets are all alike, every packet of it is
// different, so a relayed packet can be told apart from the others in the capture.
func noise(d time.Duration) []int16 {
	r := rand.New(rand.NewPCG(1, 2))
	pcm := make([]int16, int(d.Seconds()*8000))
	for i := range pcm {
		pcm[i] = int16(r.IntN(6001) - 3000)
	}
	return pcm
}

// socketCount returns how many sockets process pid holds open.
func socketCount(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("sockets of %d: %w", pid, err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			n++
		}
	}
	return n, nil
}

// writeULaw writes pcm, G.711 μ-law coded, raw, to the file at path.
func writeULaw(path string, pcm []int16) error {
	codec, _ := media.CodecByName("PCMU")
	b := make([]byte, len(pcm))
	codec.Encode(b, pcm)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write the callers' audio: %w", err)
	}
	return nil
}

// udpSockets returns the local ports of the UDP sockets process pid holds (IPv4), and the
// datagrams the kernel dropped at them so far.
func udpSockets(pid int) (map[uint16]bool, int64, error) {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, 0, fmt.Errorf("sockets of %d: %w", pid, err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return nil, 0, fmt.Errorf("sockets of %d: %w", pid, err)
	}
	defer f.Close()
	ports := map[uint16]bool{}
	var drops int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 13 || !inodes[fields[9]] {
			continue
		}
		if v, err := strconv.ParseInt(fields[12], 10, 64); err == nil {
			drops += v
		}
		_, port, ok := strings.Cut(fields[1], ":")
		if v, err := strconv.ParseUint(port, 16, 16); ok && err == nil {
			ports[uint16(v)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("sockets of %d: %w", pid, err)
	}
	return ports, drops, nil
}

// readCapture reads a libpcap file of the loopback interface and measures the G.711 RTP
// to and from ports.
func readCapture(path string, ports map[uint16]bool) (ScaleStats, error) {
	var st ScaleStats
	f, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("read capture: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return st, fmt.Errorf("read capture %s: %w", path, err)
	}
	var unit time.Duration
	switch binary.LittleEndian.Uint32(hdr[0:]) {
	case 0xa1b2c3d4:
		unit = time.Microsecond
	case 0xa1b23c4d:
		unit = time.Nanosecond
	default:
		return st, fmt.Errorf("read capture %s: not a little-endian libpcap file", path)
	}
	if lt := binary.LittleEndian.Uint32(hdr[20:]); lt != 1 {
		return st, fmt.Errorf("read capture %s: link type %d, want Ethernet (1)", path, lt)
	}
	var pkts []packet
	seed := maphash.MakeSeed() // hashes the payloads
	var rec [16]byte
	buf := make([]byte, 1<<16)
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return st, fmt.Errorf("read capture %s: %w", path, err)
		}
		at := time.Duration(binary.LittleEndian.Uint32(rec[0:]))*time.Second + time.Duration(binary.LittleEndian.Uint32(rec[4:]))*unit
		b := buf[:binary.LittleEndian.Uint32(rec[8:])]
		if _, err := io.ReadFull(r, b); err != nil {
			return st, fmt.Errorf("read capture %s: %w", path, err)
		}
		if len(b) < 14+20 || b[12] != 0x08 || b[13] != 0x00 {
			continue
		}
		ip := b[14:]
		ihl := int(ip[0]&0xf) * 4
		if ip[9] != 17 || len(ip) < ihl+8+12 {
			continue
		}
		udp := ip[ihl:]
		src, dst := binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:])
		rtp := udp[8:]
		if pt := rtp[1] & 0x7f; rtp[0]>>6 != 2 || (pt != 0 && pt != 8) {
			continue
		}
		p := packet{at: at, src: src, dst: dst, payload: maphash.Bytes(seed, rtp[12:])}
		if ports[dst] {
			st.In++
			pkts = append(pkts, p)
		}
		if ports[src] {
			st.Out++
			p.sent = true
			pkts = append(pkts, p)
		}
	}
	st.Streams, st.P99Median, st.P99Max = p99s(intervals(pkts, true))
	_, st.InP99Median, st.InP99Max = p99s(intervals(pkts, false))
	times := held(pkts)
	for _, ts := range times {
		st.Relayed += int64(len(ts))
	}
	_, st.MovedP99Median, st.MovedP99Max = p99s(moved(times))
	_, st.HeldP99Median, st.HeldP99Max = p99s(times)
	return st, nil
}

// intervals returns, per stream partyline sent (sent) or received, by its source and
// destination port, how far each interval between two of its packets was from 20 ms.
func intervals(pkts []packet, sent bool) map[[2]uint16][]time.Duration {
	last := map[[2]uint16]time.Duration{}
	devs := map[[2]uint16][]time.Duration{}
	for _, p := range pkts {
		if p.sent != sent {
			continue
		}
		s := [2]uint16{p.src, p.dst}
		if at, ok := last[s]; ok {
			d := p.at - at - 20*time.Millisecond
			devs[s] = append(devs[s], max(d, -d))
		}
		last[s] = p.at
	}
	return devs
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printScale prints the scale figures of the rows that have them.
func printScale(w io.Writer, rows []Row) {
	for _, r := range rows {
		if r.Scale == nil {
			continue
		}
		s := r.Scale
		fmt.Fprintf(w, "\nscale, %d callers (%d legs): CPU %.2f cores with the calls (%.3f idle); %d streams sent, send interval's p99 deviation from 20 ms: median %.2f ms, worst %.2f ms; G.711 RTP in %d, out %d, not sent on %d (%.3f%%)\n",
			r.Calls, r.Legs, r.BusyCPU/60, r.IdleCPU/60, s.Streams, ms(s.P99Median), ms(s.P99Max),
			s.In, s.Out, s.In-s.Out, 100*float64(s.In-s.Out)/float64(max(s.In, 1)))
		fmt.Fprintf(w, "the same of the streams it received (the callers' and the conference's sending): median %.2f ms, worst %.2f ms\n",
			ms(s.InP99Median), ms(s.InP99Max))
		fmt.Fprintf(w, "how long partyline held a relayed packet, from its arrival to its send (%d matched): p99 median %.2f ms, worst %.2f ms\n",
			s.Relayed, ms(s.HeldP99Median), ms(s.HeldP99Max))
		fmt.Fprintf(w, "what that adds to a stream's send interval deviation (the change in time held from one packet to the next): p99 median %.2f ms, worst %.2f ms\n",
			ms(s.MovedP99Median), ms(s.MovedP99Max))
		fmt.Fprintf(w, "datagrams dropped at partyline's sockets, receive buffer full: %d\n", s.SocketDrops)
		fmt.Fprintf(w, "the peers (sipp callers and sipp echo conference): %.2f cores\n", s.PeersCPU)
		fmt.Fprintf(w, "the capture: %s\n", s.Capture)
	}
}
