package codec

/*
#cgo pkg-config: alsa
#include <stdlib.h>
#include <alsa/asoundlib.h>

// The selem calls of one side, chosen by capt, so that Go makes one call per operation.

static snd_mixer_elem_t *pl_find(snd_mixer_t *m, const char *name) {
	snd_mixer_selem_id_t *id;
	snd_mixer_selem_id_alloca(&id);
	snd_mixer_selem_id_set_index(id, 0);
	snd_mixer_selem_id_set_name(id, name);
	return snd_mixer_find_selem(m, id);
}

static int pl_has_volume(snd_mixer_elem_t *e, int capt) {
	return capt ? snd_mixer_selem_has_capture_volume(e) : snd_mixer_selem_has_playback_volume(e);
}

static int pl_has_switch(snd_mixer_elem_t *e, int capt) {
	return capt ? snd_mixer_selem_has_capture_switch(e) : snd_mixer_selem_has_playback_switch(e);
}

static int pl_has_channel(snd_mixer_elem_t *e, int capt, int ch) {
	return capt ? snd_mixer_selem_has_capture_channel(e, ch) : snd_mixer_selem_has_playback_channel(e, ch);
}

static int pl_volume_range(snd_mixer_elem_t *e, int capt, long *lo, long *hi) {
	return capt ? snd_mixer_selem_get_capture_volume_range(e, lo, hi)
		: snd_mixer_selem_get_playback_volume_range(e, lo, hi);
}

static int pl_ask_dB(snd_mixer_elem_t *e, int capt, long v, long *db) {
	return capt ? snd_mixer_selem_ask_capture_vol_dB(e, v, db) : snd_mixer_selem_ask_playback_vol_dB(e, v, db);
}

static int pl_get_volume(snd_mixer_elem_t *e, int capt, int ch, long *v) {
	return capt ? snd_mixer_selem_get_capture_volume(e, ch, v) : snd_mixer_selem_get_playback_volume(e, ch, v);
}

static int pl_set_volume(snd_mixer_elem_t *e, int capt, int ch, long v) {
	return capt ? snd_mixer_selem_set_capture_volume(e, ch, v) : snd_mixer_selem_set_playback_volume(e, ch, v);
}

static int pl_set_switch(snd_mixer_elem_t *e, int capt, int ch, int on) {
	return capt ? snd_mixer_selem_set_capture_switch(e, ch, on) : snd_mixer_selem_set_playback_switch(e, ch, on);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"
)

var _ Mixer = (*ALSAMixer)(nil)

// An ALSAMixer is the simple mixer of one ALSA sound card, through alsa-lib. It implements
// Mixer; its methods may be called from several goroutines.
type ALSAMixer struct {
	card string

	mu sync.Mutex // guards h: alsa-lib's mixer is not safe for concurrent use
	h  *C.snd_mixer_t
}

// OpenMixer opens the mixer of the ALSA card called card (its id, as in "hw:CARD=id", or
// its number). A card that does not exist, or has no mixer, is ErrNoCard.
func OpenMixer(card string) (*ALSAMixer, error) {
	var h *C.snd_mixer_t
	if rc := C.snd_mixer_open(&h, 0); rc < 0 {
		return nil, fmt.Errorf("ALSA card %q: open mixer: %w", card, alsaError(rc))
	}
	dev := C.CString("hw:CARD=" + card)
	defer C.free(unsafe.Pointer(dev))
	if rc := C.snd_mixer_attach(h, dev); rc < 0 {
		C.snd_mixer_close(h)
		return nil, fmt.Errorf("ALSA card %q: %w (%w)", card, ErrNoCard, alsaError(rc))
	}
	if rc := C.snd_mixer_selem_register(h, nil, nil); rc < 0 {
		C.snd_mixer_close(h)
		return nil, fmt.Errorf("ALSA card %q: register simple mixer: %w", card, alsaError(rc))
	}
	if rc := C.snd_mixer_load(h); rc < 0 {
		C.snd_mixer_close(h)
		return nil, fmt.Errorf("ALSA card %q: load mixer: %w", card, alsaError(rc))
	}
	return &ALSAMixer{card: card, h: h}, nil
}

// Close releases the mixer.
func (m *ALSAMixer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil
	}
	rc := C.snd_mixer_close(m.h)
	m.h = nil
	if rc < 0 {
		return fmt.Errorf("ALSA card %q: close mixer: %w", m.card, alsaError(rc))
	}
	return nil
}

// alsaError is alsa-lib's message for the negative return code rc.
func alsaError(rc C.int) error { return errors.New(C.GoString(C.snd_strerror(rc))) }

// kind is what an element must have for an operation.
type kind int

const (
	volume kind = iota
	toggle
)

// element returns c's element, checked to have the volume or switch and the channel c
// names. m.mu must be held.
func (m *ALSAMixer) element(c Control, k kind) (*C.snd_mixer_elem_t, error) {
	if m.h == nil {
		return nil, fmt.Errorf("ALSA card %q: mixer closed", m.card)
	}
	// Pick up changes others (alsactl, amixer) made since the last call.
	if rc := C.snd_mixer_handle_events(m.h); rc < 0 {
		return nil, fmt.Errorf("ALSA card %q: mixer events: %w", m.card, alsaError(rc))
	}
	name := C.CString(c.Name)
	defer C.free(unsafe.Pointer(name))
	e := C.pl_find(m.h, name)
	if e == nil {
		return nil, fmt.Errorf("ALSA card %q: mixer control %q: %w (the card has %s)",
			m.card, c.Name, ErrNoControl, m.names())
	}
	capt := side(c)
	what := "volume"
	has := C.pl_has_volume(e, capt)
	if k == toggle {
		what, has = "switch", C.pl_has_switch(e, capt)
	}
	if has == 0 {
		return nil, fmt.Errorf("ALSA card %q: mixer control %v: no %s: %w", m.card, c, what, ErrNoControl)
	}
	if c.Channel < 0 || C.pl_has_channel(e, capt, C.int(c.Channel)) == 0 {
		return nil, fmt.Errorf("ALSA card %q: mixer control %v: no such channel: %w", m.card, c, ErrNoControl)
	}
	return e, nil
}

// names lists the card's simple mixer controls, for an error. m.mu must be held.
func (m *ALSAMixer) names() string {
	var names []string
	for e := C.snd_mixer_first_elem(m.h); e != nil; e = C.snd_mixer_elem_next(e) {
		names = append(names, fmt.Sprintf("%q", C.GoString(C.snd_mixer_selem_get_name(e))))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func side(c Control) C.int {
	if c.Capture {
		return 1
	}
	return 0
}

// VolumeRange returns the lowest and highest value of volume control c.
func (m *ALSAMixer) VolumeRange(c Control) (lo, hi int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.element(c, volume)
	if err != nil {
		return 0, 0, err
	}
	var l, h C.long
	if rc := C.pl_volume_range(e, side(c), &l, &h); rc < 0 {
		return 0, 0, fmt.Errorf("ALSA card %q: mixer control %v: range: %w", m.card, c, alsaError(rc))
	}
	return int64(l), int64(h), nil
}

// VolumeDB returns the gain of value v of volume control c in dB, -Inf for a mute step.
func (m *ALSAMixer) VolumeDB(c Control, v int64) (float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.element(c, volume)
	if err != nil {
		return 0, err
	}
	var db C.long
	if rc := C.pl_ask_dB(e, side(c), C.long(v), &db); rc < 0 {
		return 0, fmt.Errorf("ALSA card %q: mixer control %v: no dB scale: %w", m.card, c, alsaError(rc))
	}
	if db <= C.SND_CTL_TLV_DB_GAIN_MUTE {
		return math.Inf(-1), nil
	}
	return float64(db) / 100, nil
}

// Volume returns the value of volume control c.
func (m *ALSAMixer) Volume(c Control) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.element(c, volume)
	if err != nil {
		return 0, err
	}
	var v C.long
	if rc := C.pl_get_volume(e, side(c), C.int(c.Channel), &v); rc < 0 {
		return 0, fmt.Errorf("ALSA card %q: mixer control %v: read: %w", m.card, c, alsaError(rc))
	}
	return int64(v), nil
}

// SetVolume sets volume control c to v.
func (m *ALSAMixer) SetVolume(c Control, v int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.element(c, volume)
	if err != nil {
		return err
	}
	// alsa-lib ignores a value out of range without saying so.
	var lo, hi C.long
	if rc := C.pl_volume_range(e, side(c), &lo, &hi); rc < 0 {
		return fmt.Errorf("ALSA card %q: mixer control %v: range: %w", m.card, c, alsaError(rc))
	}
	if v < int64(lo) || v > int64(hi) {
		return fmt.Errorf("ALSA card %q: mixer control %v: value %d is outside %d to %d", m.card, c, v, lo, hi)
	}
	if rc := C.pl_set_volume(e, side(c), C.int(c.Channel), C.long(v)); rc < 0 {
		return fmt.Errorf("ALSA card %q: mixer control %v: set %d: %w", m.card, c, v, alsaError(rc))
	}
	return nil
}

// SetSwitch turns switch c on or off.
func (m *ALSAMixer) SetSwitch(c Control, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.element(c, toggle)
	if err != nil {
		return err
	}
	var val C.int
	if on {
		val = 1
	}
	if rc := C.pl_set_switch(e, side(c), C.int(c.Channel), val); rc < 0 {
		return fmt.Errorf("ALSA card %q: mixer control %v: switch %v: %w", m.card, c, on, alsaError(rc))
	}
	return nil
}
