//go:build cgo

package codec

import (
	"errors"
	"strings"
	"testing"
)

// There is no sound card here: opening a card's mixer goes through alsa-lib to the kernel
// and fails, naming the card.
func TestOpenMixerNoCard(t *testing.T) {
	const card = "partylineNoSuchCard"
	m, err := OpenMixer(card)
	if err == nil {
		m.Close()
		t.Skipf("this machine has a sound card called %s", card)
	}
	t.Logf("OpenMixer: %v", err)
	if !errors.Is(err, ErrNoCard) {
		t.Errorf("OpenMixer error %v, want ErrNoCard", err)
	}
	if !strings.Contains(err.Error(), `"`+card+`"`) {
		t.Errorf("OpenMixer error %q does not name the card", err)
	}
}

func TestClosedMixer(t *testing.T) {
	m := &ALSAMixer{card: "x"}
	if err := m.SetSwitch(Control{Name: "Capture", Capture: true}, true); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("SetSwitch on a closed mixer: error %v, want closed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close of a closed mixer: %v", err)
	}
}
