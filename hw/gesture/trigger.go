package gesture

import (
	"fmt"
	"strings"
)

// HookInput is the name of a handset's hook switch in a Trigger. Every other input name is
// a button, such as "button" or "mute".
const HookInput = "hook"

// A Trigger is a gesture on one of a handset's inputs, written "button:long-press".
type Trigger struct {
	Input   string // HookInput or a button's name: lower-case letters, digits and '-'
	Gesture Gesture
}

// String returns the trigger as ParseTrigger reads it.
func (t Trigger) String() string { return t.Input + ":" + t.Gesture.String() }

// ParseTrigger reads a trigger written "input:gesture" and validates it.
func ParseTrigger(s string) (Trigger, error) {
	input, g, ok := strings.Cut(s, ":")
	if !ok {
		return Trigger{}, fmt.Errorf("trigger %q: want input:gesture", s)
	}
	gesture, err := ParseGesture(g)
	if err != nil {
		return Trigger{}, fmt.Errorf("trigger %q: %w", s, err)
	}
	t := Trigger{Input: input, Gesture: gesture}
	if err := t.Validate(); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// Validate reports whether the input is well named and makes the gesture: the hook makes
// off-hook, on-hook and flash, a button short and long presses.
func (t Trigger) Validate() error {
	if t.Input == "" || strings.Trim(t.Input, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("trigger %s: input name %q is not lower-case letters, digits and '-'", t, t.Input)
	}
	if _, ok := gestureNames[t.Gesture]; !ok {
		return fmt.Errorf("trigger %s: not a gesture", t)
	}
	if hook := t.Input == HookInput; hook != t.Gesture.hook() {
		kind := "a button"
		if hook {
			kind = "the hook"
		}
		return fmt.Errorf("trigger %s: %s cannot make a %v", t, kind, t.Gesture)
	}
	return nil
}
