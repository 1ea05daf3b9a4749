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
	"strings"
	"sync/atomic"
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
	Device       string // ALSA PCM name or device ID, e.g. "hw:CARD=wm8960soundcard"; "" or "default" = default device
	SampleRate   int    // frames per second
	Channels     int    // handsets: capture and playback channels
	PeriodFrames int    // frames per period
	Periods      int    // periods in the device buffer
	Null         bool   // miniaudio null backend (real-time paced silence), for tests
}

// A Device is an open duplex audio device. It implements hw.AudioDevice.
type Device struct {
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	format hw.AudioFormat
	cmem   []unsafe.Pointer // C memory handed to miniaudio, freed by Close

	process atomic.Pointer[func(in, out []int16)] // set by Run before Start, cleared after Stop
}

// Open initialises the audio context and the duplex device described by cfg.
func Open(cfg Config) (*Device, error) {
	if cfg.SampleRate <= 0 || cfg.Channels <= 0 || cfg.PeriodFrames <= 0 || cfg.Periods <= 0 {
		return nil, fmt.Errorf("open audio %q: rate %d, channels %d, period %d, periods %d must all be positive",
			cfg.Device, cfg.SampleRate, cfg.Channels, cfg.PeriodFrames, cfg.Periods)
	}
	if cfg.Channels > len(alsaChannelOrder) {
		return nil, fmt.Errorf("open audio %q: %d channels, at most %d supported", cfg.Device, cfg.Channels, len(alsaChannelOrder))
	}
	backend := malgo.Backend(malgo.BackendAlsa)
	if cfg.Null {
		backend = nullBackend
	}
	mctx, err := malgo.InitContext([]malgo.Backend{backend}, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("open audio %q: init context: %w", cfg.Device, err)
	}
	d := &Device{ctx: mctx}
	if err := d.init(cfg); err != nil {
		d.Close()
		return nil, fmt.Errorf("open audio %q: %w", cfg.Device, err)
	}
	return d, nil
}

func (d *Device) init(cfg Config) error {
	dc := malgo.DefaultDeviceConfig(malgo.Duplex)
	dc.SampleRate = uint32(cfg.SampleRate)
	dc.PeriodSizeInFrames = uint32(cfg.PeriodFrames)
	dc.Periods = uint32(cfg.Periods)
	dc.NoFixedSizedCallback = 0
	for _, sub := range []*malgo.SubConfig{&dc.Capture, &dc.Playback} {
		sub.Format = malgo.FormatS16
		sub.Channels = uint32(cfg.Channels)
		sub.ChannelMap = d.cbytes(alsaChannelOrder[:cfg.Channels])
	}
	if !cfg.Null && cfg.Device != "" && cfg.Device != "default" {
		capID, err := d.find(malgo.Capture, cfg.Device)
		if err != nil {
			return err
		}
		playID, err := d.find(malgo.Playback, cfg.Device)
		if err != nil {
			return err
		}
		dc.Capture.DeviceID, dc.Playback.DeviceID = capID, playID
	}
	dev, err := malgo.InitDevice(d.ctx.Context, dc, malgo.DeviceCallbacks{Data: d.data})
	if err != nil {
		return fmt.Errorf("init device: %w", err)
	}
	d.dev = dev
	d.format = hw.AudioFormat{
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

// cbytes copies b into C memory owned by d.
func (d *Device) cbytes(b []byte) unsafe.Pointer {
	p := C.CBytes(b)
	d.cmem = append(d.cmem, p)
	return p
}

// find returns the ID (in C memory) of the device of kind whose name or ID is name.
func (d *Device) find(kind malgo.DeviceType, name string) (unsafe.Pointer, error) {
	infos, err := d.ctx.Devices(kind)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var have []string
	for i := range infos {
		id := cstring(infos[i].ID[:])
		if infos[i].Name() == name || id == name {
			return d.cbytes(infos[i].ID[:]), nil
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

// data is miniaudio's callback: it views the byte buffers as samples without copying and
// hands them to process.
func (d *Device) data(out, in []byte, _ uint32) {
	p := d.process.Load()
	if p == nil || len(out) < 2 || len(in) < 2 {
		clear(out)
		return
	}
	o := unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), len(out)/2)
	i := unsafe.Slice((*int16)(unsafe.Pointer(&in[0])), len(in)/2)
	(*p)(i, o)
}

// Format reports the format the device actually runs.
func (d *Device) Format() hw.AudioFormat { return d.format }

// Run starts the device, calls process once per period until ctx is done, stops the device
// and returns nil.
func (d *Device) Run(ctx context.Context, process func(in, out []int16)) error {
	if d.dev == nil {
		return errors.New("run audio: device closed")
	}
	d.process.Store(&process)
	if err := d.dev.Start(); err != nil {
		d.process.Store(nil)
		return fmt.Errorf("start audio: %w", err)
	}
	<-ctx.Done()
	err := d.dev.Stop() // returns after the callback thread has stopped
	d.process.Store(nil)
	if err != nil {
		return fmt.Errorf("stop audio: %w", err)
	}
	return nil
}

// Close releases the device and the audio context.
func (d *Device) Close() error {
	if d.dev != nil {
		d.dev.Uninit()
		d.dev = nil
	}
	if d.ctx != nil {
		err := d.ctx.Uninit()
		d.ctx.Free()
		d.ctx = nil
		if err != nil {
			return fmt.Errorf("close audio: %w", err)
		}
	}
	for _, p := range d.cmem {
		C.free(p)
	}
	d.cmem = nil
	return nil
}
