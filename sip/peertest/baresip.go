package peertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"partyline/media"
)

// baresipRate is the sample rate of the audio baresip sends and records here: G.711's.
const baresipRate = 8000

// maxNetstring bounds a netstring of baresip's control socket.
const maxNetstring = 1 << 20

// BaresipConfig configures StartBaresip.
type BaresipConfig struct {
	User        string  // the user of its address, sip:<User>@127.0.0.1; "" means "caller"
	DisplayName string  // the display name of its From header; "" for none
	Source      []int16 // the audio it sends in a call, mono at Rate, once (it does not loop)
	// Answer has it answer the calls it gets at once.
	Answer bool
	// MediaEnc is its media encryption (baresip's mediaenc): "" for none, "srtp" (offered),
	// "srtp-mand" (RTP/SAVP, required).
	MediaEnc string
	// AuthUser and Password, when set, answer a 401 or 407 challenge to its calls.
	AuthUser, Password string
	// TLSCertFile, when set, is a PEM file with a certificate and its private key: baresip
	// then takes calls over TLS on TLSAddr with it (besides UDP and TCP on Addr).
	TLSCertFile string
	// Codecs is its account's audio_codecs, in order of preference: "" means "PCMU,PCMA";
	// "opus/48000/1" (its opus module, mono) makes it call and answer with Opus only.
	Codecs string
	// Rate is the sample rate of Source and of what Heard returns: 0 for 8000 Hz. Opus
	// takes 48000 Hz.
	Rate int
	// MaxCalls is how many calls it holds at once (call_max_calls): 0 for baresip's
	// default, 4.
	MaxCalls int
	// NoRecord leaves out the sndfile module: nothing is recorded (Heard returns nothing),
	// as when it is measured rather than listened to.
	NoRecord bool
}

// rate returns the sample rate of the audio it sends and records.
func (cfg BaresipConfig) rate() int {
	if cfg.Rate == 0 {
		return baresipRate
	}
	return cfg.Rate
}

// A BaresipEvent is an event baresip reports on its control socket, e.g. type
// "CALL_ESTABLISHED" or "CALL_CLOSED" (whose Param says why: "503 Conference refused").
type BaresipEvent struct {
	Type    string `json:"type"`
	Class   string `json:"class"`
	PeerURI string `json:"peeruri"`
	Param   string `json:"param"`
}

// Baresip is a running baresip (baresip-core) that places calls as an outside caller:
// modules g711, opus, aufile (sends Config.Source), sndfile (records what it hears) and
// ctrl_tcp (takes commands), and no audio player. Its SIP socket is on 127.0.0.1; its RTP
// sockets are on all addresses (baresip 1.0.0 cannot bind them to one), so it must be
// sent RTP on 127.0.0.1 only.
type Baresip struct {
	t    testing.TB
	addr netip.AddrPort
	uri  string
	dir  string
	out  *lockedBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	ctrl net.Conn
	read chan struct{} // closed when the control socket's reader returned

	mu      sync.Mutex // guards following
	events  []BaresipEvent
	replies map[string]chan baresipReply
	changed chan struct{} // closed, and replaced, when an event comes
	token   int
}

type baresipReply struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// StartBaresip starts baresip with cfg on a 127.0.0.1 port it picks and returns once its
// control socket answers. It is stopped in t.Cleanup.
func StartBaresip(t testing.TB, cfg BaresipConfig) *Baresip {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not found: run make test (installs baresip-core)")
	}
	dir := t.TempDir()
	if err := writeWAV(filepath.Join(dir, "source.wav"), cfg.rate(), cfg.Source); err != nil {
		t.Fatalf("write baresip source: %v", err)
	}
	var lastErr error
	for attempt := range startAttempts {
		b, err := startBaresip(t, bin, dir, attempt, cfg)
		if err == nil {
			return b
		}
		lastErr = err
	}
	t.Fatalf("start baresip: %v", lastErr)
	return nil
}

func startBaresip(t testing.TB, bin, dir string, attempt int, cfg BaresipConfig) (*Baresip, error) {
	port, cport := freeUDPPort(t), freePort(t, true)
	if cfg.TLSCertFile != "" {
		// baresip listens for TLS on the SIP port's next one.
		port = freeTLSPair(t)
	}
	conf := filepath.Join(dir, fmt.Sprintf("conf-%d", attempt))
	rec := filepath.Join(conf, "recordings")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		return nil, err
	}
	config := strings.Join([]string{
		"poll_method epoll",
		fmt.Sprintf("sip_listen 127.0.0.1:%d", port),
		"net_interface 127.0.0.1",
		"audio_source aufile," + filepath.Join(dir, "source.wav"),
		fmt.Sprintf("audio_srate %d", cfg.rate()),
		"audio_channels 1",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module opus.so",
		"opus_stereo no",
		"opus_sprop_stereo no",
		"opus_inbandfec yes",
		"module srtp.so",
		"module aufile.so",
		"module ctrl_tcp.so",
		"module_app account.so",
		"module_app menu.so",
		fmt.Sprintf("ctrl_tcp_listen 127.0.0.1:%d", cport),
		"snd_path " + rec,
		"",
	}, "\n")
	if cfg.TLSCertFile != "" {
		config += "sip_certificate " + cfg.TLSCertFile + "\n"
	}
	if !cfg.NoRecord {
		config += "module sndfile.so\n"
	}
	if cfg.MaxCalls > 0 {
		config += fmt.Sprintf("call_max_calls %d\n", cfg.MaxCalls)
	}
	user := cfg.User
	if user == "" {
		user = "caller"
	}
	uri := fmt.Sprintf("sip:%s@127.0.0.1", user)
	codecs := cfg.Codecs
	if codecs == "" {
		codecs = "PCMU,PCMA"
	}
	account := "<" + uri + ">;regint=0;audio_codecs=" + codecs
	if cfg.AuthUser != "" {
		account += ";auth_user=" + cfg.AuthUser + ";auth_pass=" + cfg.Password
	}
	if cfg.Answer {
		account += ";answermode=auto"
	}
	if cfg.MediaEnc != "" {
		account += ";mediaenc=" + cfg.MediaEnc
	}
	account += "\n"
	if cfg.DisplayName != "" {
		account = strconv.Quote(cfg.DisplayName) + " " + account
	}
	if err := os.WriteFile(filepath.Join(conf, "config"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "accounts"), []byte(account), 0o644); err != nil {
		return nil, err
	}
	b := &Baresip{
		t:       t,
		addr:    loopback(port),
		uri:     uri,
		dir:     rec,
		out:     &lockedBuffer{},
		done:    make(chan struct{}),
		read:    make(chan struct{}),
		replies: make(map[string]chan baresipReply),
		changed: make(chan struct{}),
	}
	b.cmd = exec.Command(bin, "-f", conf)
	b.cmd.Dir = conf
	b.cmd.Stdout = b.out
	b.cmd.Stderr = b.out
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run baresip: %w", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	if err := b.connect(cport); err != nil {
		b.kill()
		return nil, fmt.Errorf("%w; output:\n%s", err, tail(b.out.String(), 2000))
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("baresip on %v: output:\n%s", b.addr, tail(b.out.String(), 8000))
		}
	})
	return b, nil
}

// connect connects to the control socket once baresip listens, and starts reading it.
func (b *Baresip) connect(port uint16) error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil && udpBound(b.addr.Port()) {
			b.ctrl = c
			go func() {
				defer close(b.read)
				b.readControl(bufio.NewReader(c))
			}()
			return nil
		}
		if c != nil {
			c.Close()
		}
		select {
		case <-b.done:
			return errors.New("baresip exited at start")
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("baresip not ready within %v: %v", readyTimeout, err)
		}
	}
}

// readControl takes the netstrings of the control socket until it closes: replies to commands
// go to their callers, events to the list Await reads.
func (b *Baresip) readControl(r *bufio.Reader) {
	for {
		msg, err := readNetstring(r)
		if err != nil {
			return
		}
		var m struct {
			Event    bool   `json:"event"`
			Response bool   `json:"response"`
			Token    string `json:"token"`
			BaresipEvent
			baresipReply
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		b.mu.Lock()
		switch {
		case m.Response:
			if ch, ok := b.replies[m.Token]; ok {
				ch <- m.baresipReply
				delete(b.replies, m.Token)
			}
		case m.Event:
			b.events = append(b.events, m.BaresipEvent)
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
	}
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	n, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(n, ":")))
	if err != nil || size < 0 || size > maxNetstring {
		return nil, fmt.Errorf("bad netstring length %q", n)
	}
	buf := make([]byte, size+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[size] != ',' {
		return nil, errors.New("netstring without ','")
	}
	return buf[:size], nil
}

// command runs a command of baresip's (menu module) and returns its reply.
func (b *Baresip) command(name, params string) (string, error) {
	b.mu.Lock()
	b.token++
	token := strconv.Itoa(b.token)
	ch := make(chan baresipReply, 1)
	b.replies[token] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]string{"command": name, "params": params, "token": token})
	if err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(b.ctrl, "%d:%s,", len(msg), msg); err != nil {
		return "", fmt.Errorf("baresip %s: %w", name, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r.Data, fmt.Errorf("baresip %s %s: %s", name, params, r.Data)
		}
		return r.Data, nil
	case <-b.done:
		return "", fmt.Errorf("baresip %s: baresip exited", name)
	case <-time.After(readyTimeout):
		return "", fmt.Errorf("baresip %s: no reply within %v", name, readyTimeout)
	}
}

// Pid returns baresip's process ID, e.g. to measure its CPU time.
func (b *Baresip) Pid() int { return b.cmd.Process.Pid }

// Addr returns baresip's SIP address.
func (b *Baresip) Addr() netip.AddrPort { return b.addr }

// TLSAddr returns where baresip takes SIP over TLS (BaresipConfig.TLSCertFile): the port
// after Addr's.
func (b *Baresip) TLSAddr() netip.AddrPort { return loopback(b.addr.Port() + 1) }

// URI returns the address baresip calls from (its From URI), e.g. "sip:caller@127.0.0.1".
func (b *Baresip) URI() string { return b.uri }

// Dial calls uri.
func (b *Baresip) Dial(uri string) error {
	_, err := b.command("dial", uri)
	return err
}

// Hangup hangs up baresip's current call.
func (b *Baresip) Hangup() error {
	_, err := b.command("hangup", "")
	return err
}

// Events returns the events baresip reported so far, in order.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BaresipEvent(nil), b.events...)
}

// Await waits until baresip reported an event of type typ, and returns the first one.
func (b *Baresip) Await(ctx context.Context, typ string) (BaresipEvent, error) {
	for {
		b.mu.Lock()
		events, changed := b.events, b.changed
		b.mu.Unlock()
		for _, e := range events {
			if e.Type == typ {
				return e, nil
			}
		}
		select {
		case <-changed:
		case <-b.done:
			return BaresipEvent{}, fmt.Errorf("await %s: baresip exited", typ)
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("await %s: %w (events so far: %+v)", typ, ctx.Err(), events)
		}
	}
}

// Heard returns what baresip heard in its calls, decoded, as sndfile recorded it (its
// dump-*-dec.wav files, in the order of their names). sndfile writes the WAV header's
// sizes only when a call ends: the samples are read up to the end of the file.
func (b *Baresip) Heard() ([]int16, error) {
	files, err := filepath.Glob(filepath.Join(b.dir, "dump-*-dec.wav"))
	if err != nil {
		return nil, err
	}
	var pcm []int16
	for _, f := range files {
		samples, err := readWAVSamples(f)
		if err != nil {
			return nil, err
		}
		pcm = append(pcm, samples...)
	}
	return pcm, nil
}

// Log returns what baresip wrote to its standard output and error.
func (b *Baresip) Log() string { return b.out.String() }

// Stop quits baresip (killing it if it does not within readyTimeout) and waits for it.
// It is safe to call more than once.
func (b *Baresip) Stop() {
	select {
	case <-b.done:
		return
	default:
	}
	if _, err := b.command("quit", ""); err != nil {
		b.t.Logf("baresip quit: %v", err)
	}
	select {
	case <-b.done:
	case <-time.After(readyTimeout):
		b.kill()
	}
	b.ctrl.Close()
	<-b.read
}

func (b *Baresip) kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

// writeWAV writes mono 16-bit PCM at rate Hz as a WAV file.
func writeWAV(path string, rate int, pcm []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	werr := func() error {
		w, err := media.NewWAVWriter(f, rate)
		if err != nil {
			return err
		}
		if err := w.Write(pcm); err != nil {
			return err
		}
		return w.Close()
	}()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// readWAVSamples reads what sndfile has written of a recording so far. It writes the
// header's sizes only when a call ends, so a copy of the file is repaired first
// (media.RepairWAV takes the samples up to the end of the file) and then read.
func readWAVSamples(path string) ([]int16, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "heard-*.wav")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := tmp.Write(data); err != nil {
		return nil, err
	}
	if _, err := media.RepairWAV(tmp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	_, pcm, err := media.ReadWAV(tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, nil
}
