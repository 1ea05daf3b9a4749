// Package audio runs the board's duplex sound card through malgo (miniaudio) on ALSA: one
// interleaved signed 16-bit stream in each direction, channel i belonging to handset i. It
// knows nothing of SIP or mixing: it hands each period to a process function.
package audio

/*
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"

	"partyline/hw"
)

// nullBackend is miniaudio's null backend. malgo v0.11.24 declares BackendNull as 13,
// which is ma_backend_custom; ma_backend_null is the next value.
const nullBackend = malgo.Backend(malgo.BackendNull + 1)

// alsaChannelOrder is ALSA's default channel order as ma_channel values (FL FR RL RR FC
// LFE SL SR). Passing it as the client map makes miniaudio pass channels through instead of
// remixing them when there are more than two.
var alsaChannelOrder = [...]byte{2, 3, 6, 7, 4, 5, 11, 12}

// Config selects and shapes the duplex device.
type Config struct {
	Device       string       // ALSA PCM name or device ID, e.g. "hw:CARD=wm8960soundcard"; "" or "default" = default device
	SampleRate   int          // frames per second
	Channels     int          // handsets: capture and playback channels
	PeriodFrames int          // frames per period
	Periods      int          // periods in the device buffer
	Null         bool         // miniaudio null backend (real-time paced silence), for tests
	Log          *slog.Logger // device failures and reopens; nil = slog.Default()
}

// Stats counts what happened to the device since Open. Overruns and underruns are found
// from the callback's pace: when the device falls more than lagPeriods periods behind real
// time for a whole paceWindow, microphone frames were dropped and the earpiece ran dry, so
// each such window counts one of each.
type Stats struct {
	Periods   uint64 // periods handed to process
	Overruns  uint64 // windows in which captured frames were lost
	Underruns uint64 // windows in which playback ran dry
	Restarts  uint64 // times the device was reopened after a failure
	LastError string // the last device failure or failed reopen, "" if none
}

// Reopen backoff: the first attempt after a failure waits minBackoff, each failed one
// doubles the wait up to maxBackoff, and at most maxAttempts attempts start per minute.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	maxAttempts = 10
)

// lagPeriods is how many periods behind its own pace a device may fall, for a whole
// paceWindow, before the lost time counts as an overrun and an underrun.
const (
	lagPeriods = 2
	paceWindow = 100 * time.Millisecond
)

// errStopped is the failure reported when the device stops on its own.
var errStopped = errors.New("device stopped unexpectedly")

// stopTimeout bounds how long Run waits for the device to stop. miniaudio's ma_device_stop
// waits for the device's thread to leave its read, and a capture read can block for good
// (a driver that stopped delivering, or the ALSA file plugin's infile a pipe nobody feeds).
const stopTimeout = 3 * time.Second

// ErrStuck is what Run's error wraps when the device did not stop within stopTimeout.
var ErrStuck = errors.New("audio thread stuck: the device did not stop")

// A backend is one opened device: miniaudio's, or a test's stand-in.
type backend interface {
	format() hw.AudioFormat
	start() error
	stop() error // returns after the audio thread has left the data callback
	close() error
}

// callbacks are what a backend calls from its audio thread. Neither blocks.
type callbacks struct {
	data    func(out, in []byte, frames uint32) // once per period
	stopped func()                              // when the device stopped
}

// An openFunc opens a backend for a validated Config.
type openFunc func(cfg Config, cb callbacks) (backend, error)

// A Device is a duplex audio device. It implements hw.AudioDevice. When the device fails
// while Run runs, Run reports it and reopens it with backoff.
type Device struct {
	cfg    Config
	open   openFunc
	log    *slog.Logger
	format hw.AudioFormat
	epoch  time.Time // origin of the callback clock
	failed chan error

	b      backend // nil while closed or between a failure and a reopen; owned by Run
	closed bool
	// stuck, once a stop of b timed out, delivers that stop's result if it ever returns;
	// until then b is left alone: its thread is still in the device.
	stuck <-chan error

	process atomic.Pointer[func(in, out []int16)] // set by Run, cleared when it returns
	running atomic.Bool                           // the backend was started by Run and not yet stopped by it
	down    atomic.Bool                           // Run is between a failure and the reopen (see Reopening)

	// Callback pacing, written by the audio thread; resync is set by Run before each start.
	resync atomic.Bool
	anchor atomic.Int64 // callback clock (ns since epoch) at which frame 0 was due
	frames atomic.Int64 // frames delivered since anchor
	window atomic.Int64 // frames delivered in the current pace window
	minLag atomic.Int64 // smallest lag (ns) in the current pace window

	periods, overruns, underruns, restarts atomic.Uint64
	lastErr                                atomic.Pointer[string]
}

// Open validates cfg and opens the duplex device it describes.
func Open(cfg Config) (*Device, error) {
	return open(cfg, openMalgo)
}

func open(cfg Config, of openFunc) (*Device, error) {
	if cfg.SampleRate <= 0 || cfg.Channels <= 0 || cfg.PeriodFrames <= 0 || cfg.Periods <= 0 {
		return nil, fmt.Errorf("open audio %q: rate %d, channels %d, period %d, periods %d must all be positive",
			cfg.Device, cfg.SampleRate, cfg.Channels, cfg.PeriodFrames, cfg.Periods)
	}
	if cfg.Channels > len(alsaChannelOrder) {
		return nil, fmt.Errorf("open audio %q: %d channels, at most %d supported", cfg.Device, cfg.Channels, len(alsaChannelOrder))
	}
	d := &Device{cfg: cfg, open: of, log: cfg.Log, epoch: time.Now(), failed: make(chan error, 1)}
	if d.log == nil {
		d.log = slog.Default()
	}
	b, err := of(cfg, d.callbacks())
	if err != nil {
		return nil, fmt.Errorf("open audio %q: %w", cfg.Device, err)
	}
	d.b, d.format = b, b.format()
	return d, nil
}

func (d *Device) callbacks() callbacks {
	return callbacks{data: d.data, stopped: d.stopped}
}

// malgoBackend is a miniaudio context and duplex device.
type malgoBackend struct {
	ctx  *malgo.AllocatedContext
	dev  *malgo.Device
	f    hw.AudioFormat
	cmem []unsafe.Pointer // C memory handed to miniaudio, freed by close
}

// openMalgo initialises a miniaudio context and the duplex device described by cfg.
func openMalgo(cfg Config, cb callbacks) (backend, error) {
	be := malgo.Backend(malgo.BackendAlsa)
	if cfg.Null {
		be = nullBackend
	}
	mctx, err := malgo.InitContext([]malgo.Backend{be}, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("init context: %w", err)
	}
	m := &malgoBackend{ctx: mctx}
	if err := m.init(cfg, cb); err != nil {
		return nil, errors.Join(err, m.close())
	}
	return m, nil
}

func (m *malgoBackend) init(cfg Config, cb callbacks) error {
	dc := malgo.DefaultDeviceConfig(malgo.Duplex)
	dc.SampleRate = uint32(cfg.SampleRate)
	dc.PeriodSizeInFrames = uint32(cfg.PeriodFrames)
	dc.Periods = uint32(cfg.Periods)
	dc.NoFixedSizedCallback = 0
	for _, sub := range []*malgo.SubConfig{&dc.Capture, &dc.Playback} {
		sub.Format = malgo.FormatS16
		sub.Channels = uint32(cfg.Channels)
		sub.ChannelMap = m.cbytes(alsaChannelOrder[:cfg.Channels])
	}
	if !cfg.Null && cfg.Device != "" && cfg.Device != "default" {
		capID, err := m.find(malgo.Capture, cfg.Device)
		if err != nil {
			return err
		}
		playID, err := m.find(malgo.Playback, cfg.Device)
		if err != nil {
			return err
		}
		dc.Capture.DeviceID, dc.Playback.DeviceID = capID, playID
	}
	dev, err := malgo.InitDevice(m.ctx.Context, dc, malgo.DeviceCallbacks{Data: cb.data, Stop: cb.stopped})
	if err != nil {
		return fmt.Errorf("init device: %w", err)
	}
	m.dev = dev
	m.f = hw.AudioFormat{
		SampleRate:   int(dev.SampleRate()),
		Channels:     int(dev.CaptureChannels()),
		PeriodFrames: cfg.PeriodFrames,
	}
	if dev.CaptureFormat() != malgo.FormatS16 || dev.PlaybackFormat() != malgo.FormatS16 ||
		dev.CaptureChannels() != dev.PlaybackChannels() {
		return fmt.Errorf("device format: capture %v/%d ch, playback %v/%d ch, want s16 with equal channels",
			dev.CaptureFormat(), dev.CaptureChannels(), dev.PlaybackFormat(), dev.PlaybackChannels())
	}
	return nil
}

func (m *malgoBackend) format() hw.AudioFormat { return m.f }
func (m *malgoBackend) start() error           { return m.dev.Start() }
func (m *malgoBackend) stop() error            { return m.dev.Stop() }

// close releases the device, the context and the C memory.
func (m *malgoBackend) close() error {
	if m.dev != nil {
		m.dev.Uninit()
		m.dev = nil
	}
	var err error
	if m.ctx != nil {
		err = m.ctx.Uninit()
		m.ctx.Free()
		m.ctx = nil
	}
	for _, p := range m.cmem {
		C.free(p)
	}
	m.cmem = nil
	return err
}

// cbytes copies b into C memory owned by m.
func (m *malgoBackend) cbytes(b []byte) unsafe.Pointer {
	p := C.CBytes(b)
	m.cmem = append(m.cmem, p)
	return p
}

// find returns the ID (in C memory) of the device of kind whose name or ID is name.
func (m *malgoBackend) find(kind malgo.DeviceType, name string) (unsafe.Pointer, error) {
	infos, err := m.ctx.Devices(kind)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var have []string
	for i := range infos {
		id := cstring(infos[i].ID[:])
		if infos[i].Name() == name || id == name {
			return m.cbytes(infos[i].ID[:]), nil
		}
		have = append(have, fmt.Sprintf("%q (%s)", id, infos[i].Name()))
	}
	return nil, fmt.Errorf("no %s device %q; have: %s", kindName(kind), name, strings.Join(have, ", "))
}

func kindName(kind malgo.DeviceType) string {
	if kind == malgo.Capture {
		return "capture"
	}
	return "playback"
}

// cstring returns the NUL-terminated string at the start of b.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// data is the backend's period callback: it checks the pace, views the byte buffers as
// samples without copying and hands them to process. It never blocks or allocates.
func (d *Device) data(out, in []byte, frames uint32) {
	d.pace(int64(frames))
	p := d.process.Load()
	if p == nil || len(out) < 2 || len(in) < 2 {
		clear(out)
		return
	}
	d.periods.Add(1)
	o := unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), len(out)/2)
	i := unsafe.Slice((*int16)(unsafe.Pointer(&in[0])), len(in)/2)
	(*p)(i, o)
}

// pace compares the frames delivered with the time passed since the anchor, the moment
// frame 0 was due; how late a callback comes against that is its lag. A callback early
// moves the anchor back, so a device that runs ahead of the clock (an unpaced file) never
// counts. Devices deliver in bursts (the null backend's timer does), so a single late
// callback proves nothing; time is lost when the smallest lag of a whole window (paceWindow)
// stays above lagPeriods periods. Such a window counts one overrun (microphone frames
// dropped) and one underrun (earpiece ran dry), and the anchor moves past the lost time.
func (d *Device) pace(frames int64) {
	now := int64(time.Since(d.epoch))
	if d.resync.Swap(false) {
		d.anchor.Store(now)
		d.frames.Store(frames)
		d.window.Store(frames)
		d.minLag.Store(math.MaxInt64)
		return
	}
	rate := int64(d.format.SampleRate)
	done := d.frames.Add(frames) - frames // frames delivered before this period
	lag := now - (d.anchor.Load() + done*int64(time.Second)/rate)
	if lag < 0 {
		d.anchor.Add(lag)
		lag = 0
	}
	if lag < d.minLag.Load() {
		d.minLag.Store(lag)
	}
	if d.window.Add(frames) < rate*int64(paceWindow)/int64(time.Second) {
		return
	}
	if m := d.minLag.Load(); m > lagPeriods*int64(d.format.PeriodFrames)*int64(time.Second)/rate {
		d.overruns.Add(1)
		d.underruns.Add(1)
		d.anchor.Add(m)
	}
	// Rebase whole seconds onto the anchor, so frames*time.Second never overflows.
	secs := d.frames.Load() / rate
	d.frames.Add(-secs * rate)
	d.anchor.Add(secs * int64(time.Second))
	d.window.Store(0)
	d.minLag.Store(math.MaxInt64)
}

// stopped is the backend's stop notification. A stop that Run did not ask for is a failure.
func (d *Device) stopped() {
	if !d.running.Load() {
		return
	}
	select {
	case d.failed <- errStopped:
	default: // a failure is already pending
	}
}

// Reopening reports whether Run is between a failure of the device and its reopen, when
// it waits out the backoff and process is not called: the audio is not stuck, it is being
// brought back. Safe from any goroutine.
func (d *Device) Reopening() bool { return d.down.Load() }

// Format reports the format the device actually runs.
func (d *Device) Format() hw.AudioFormat { return d.format }

// Stats reports the device's counters. It is safe to call at any time.
func (d *Device) Stats() Stats {
	s := Stats{
		Periods:   d.periods.Load(),
		Overruns:  d.overruns.Load(),
		Underruns: d.underruns.Load(),
		Restarts:  d.restarts.Load(),
	}
	if e := d.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

// Run starts the device and calls process once per period until ctx is done, then stops
// the device. When the device fails (it stops on its own, or does not start), Run records
// the failure in Stats, logs it, and reopens the device with backoff, calling process again
// once it runs. Run returns when ctx is done: nil, or the error stopping the device.
//
// When the device does not stop within stopTimeout, whether ctx is done or the device failed,
// Run gives up on it and returns an error that wraps ErrStuck and names the device, which it
// logs too. The device's C thread and
// the goroutine waiting for its stop are then leaked while the thread stays stuck: nothing
// can free a device whose thread is still in it. process is no longer called, even should
// the thread come back, and Run refuses to start the device again.
func (d *Device) Run(ctx context.Context, process func(in, out []int16)) error {
	if d.closed {
		return errors.New("run audio: device closed")
	}
	if d.stuck != nil {
		return fmt.Errorf("run audio %q: %w", d.cfg.Device, ErrStuck)
	}
	d.process.Store(&process)
	defer d.process.Store(nil)
	var bo backoff
	for {
		if d.b == nil && !d.reopen(ctx, &bo) {
			return nil
		}
		began := time.Now()
		err := d.runOnce(ctx)
		if errors.Is(err, ErrStuck) {
			d.setError(err)
			d.log.Error("audio device stuck, giving up on it", "device", d.cfg.Device, "err", err)
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if time.Since(began) >= maxBackoff {
			bo.delay = 0 // it ran well for a while: the next failure retries quickly
		}
		d.fail(err)
	}
}

// runOnce starts the backend and waits for ctx or a failure. It returns the error that
// stopped the device: a failure, or the error stopping it once ctx is done.
func (d *Device) runOnce(ctx context.Context) error {
	select {
	case <-d.failed: // left over from a backend closed since
	default:
	}
	d.resync.Store(true)
	d.running.Store(true)
	if err := d.b.start(); err != nil {
		d.running.Store(false)
		return fmt.Errorf("start: %w", err)
	}
	var failure error
	select {
	case <-ctx.Done():
	case failure = <-d.failed:
	}
	d.running.Store(false)
	err := d.stop()
	if errors.Is(err, ErrStuck) {
		return err
	}
	if failure != nil && ctx.Err() == nil {
		return failure
	}
	if err != nil {
		return fmt.Errorf("stop audio: %w", err)
	}
	return nil
}

// stop stops the backend, or gives up after stopTimeout and sets d.stuck, returning an
// error that wraps ErrStuck.
func (d *Device) stop() error {
	done := make(chan error, 1)
	go func(b backend) { done <- b.stop() }(d.b)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		d.stuck = done
		return fmt.Errorf("stop audio %q: not stopped after %v: %w", d.cfg.Device, stopTimeout, ErrStuck)
	}
}

// fail records and logs a failure and closes the failed backend.
func (d *Device) fail(err error) {
	d.down.Store(true)
	d.setError(err)
	d.log.Error("audio device failed, reopening", "device", d.cfg.Device, "err", err)
	if cerr := d.b.close(); cerr != nil {
		d.log.Warn("audio device close", "device", d.cfg.Device, "err", cerr)
	}
	d.b = nil
}

func (d *Device) setError(err error) {
	s := err.Error()
	d.lastErr.Store(&s)
}

// reopen waits out the backoff and opens the device until it opens in the format it had
// or ctx is done. It reports whether the device is open.
func (d *Device) reopen(ctx context.Context, bo *backoff) bool {
	for {
		t := time.NewTimer(bo.next(time.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		b, err := d.open(d.cfg, d.callbacks())
		if err == nil && b.format() != d.format {
			err = errors.Join(fmt.Errorf("reopened as %+v, want %+v", b.format(), d.format), b.close())
		}
		if err != nil {
			err = fmt.Errorf("reopen: %w", err)
			d.setError(err)
			d.log.Warn("audio device reopen failed", "device", d.cfg.Device, "err", err)
			continue
		}
		d.b = b
		d.down.Store(false)
		d.restarts.Add(1)
		d.log.Info("audio device reopened", "device", d.cfg.Device)
		return true
	}
}

// backoff spaces reopen attempts: the delay starts at minBackoff and doubles to
// maxBackoff, and no more than maxAttempts attempts start in any minute.
type backoff struct {
	delay    time.Duration
	attempts [maxAttempts]time.Time // start times of the last attempts, a ring
	n        int                    // attempts so far
}

// next records an attempt that starts after the returned wait, counted from now.
func (b *backoff) next(now time.Time) time.Duration {
	if b.delay == 0 {
		b.delay = minBackoff
	} else {
		b.delay = min(2*b.delay, maxBackoff)
	}
	at := now.Add(b.delay)
	if b.n >= maxAttempts {
		if earliest := b.attempts[b.n%maxAttempts].Add(time.Minute); at.Before(earliest) {
			at = earliest
		}
	}
	b.attempts[b.n%maxAttempts] = at
	b.n++
	return at.Sub(now)
}

// Close releases the device. Run must have returned. If Run gave up on a stuck device,
// Close waits up to stopTimeout more for it to stop, and if it does not, returns an error
// wrapping ErrStuck and leaves the device, its thread and its memory, leaked.
func (d *Device) Close() error {
	d.closed = true
	if d.b == nil {
		return nil
	}
	if d.stuck != nil {
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-d.stuck: // it did stop in the end: its error was Run's to report
			d.stuck = nil
		case <-t.C:
			return fmt.Errorf("close audio %q: left open: %w", d.cfg.Device, ErrStuck)
		}
	}
	err := d.b.close()
	d.b = nil
	if err != nil {
		return fmt.Errorf("close audio: %w", err)
	}
	return nil
}
