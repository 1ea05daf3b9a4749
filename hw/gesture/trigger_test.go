package gesture

import (
	"strings"
	"testing"
)

func TestGestureNames(t *testing.T) {
	for g := OffHook; g <= LongPress; g++ {
		back, err := ParseGesture(g.String())
		if err != nil || back != g {
			t.Errorf("ParseGesture(%q) = %v, %v; want %v", g, back, err, g)
		}
	}
	if _, err := ParseGesture("wave"); err == nil {
		t.Error("ParseGesture(wave) succeeded")
	}
}

func TestTrigger(t *testing.T) {
	for _, s := range []string{"hook:flash", "hook:off-hook", "button:long-press", "mute:short-press", "button-2:short-press"} {
		tr, err := ParseTrigger(s)
		if err != nil || tr.String() != s {
			t.Errorf("ParseTrigger(%q) = %v, %v", s, tr, err)
		}
	}
	for s, want := range map[string]string{
		"hook":              "want input:gesture",
		"hook:long-press":   "the hook cannot make a long-press",
		"button:flash":      "a button cannot make a flash",
		"Button:long-press": `input name "Button" is not lower-case`,
		":short-press":      `input name ""`,
		"button:wave":       `unknown gesture "wave"`,
	} {
		if _, err := ParseTrigger(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTrigger(%q) error = %v, want one with %q", s, err, want)
		}
	}
}

// TestGestureList checks that Gestures lists every gesture once, in the order of the
// values, so that a new gesture reaches the admin page's choices by itself.
func TestGestureList(t *testing.T) {
	gestures := Gestures()
	if len(gestures) != len(gestureNames) || gestures[0] != OffHook || gestures[len(gestures)-1] != LongPress {
		t.Errorf("Gestures() = %v, want off-hook to long-press", gestures)
	}
}
