package handset

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"partyline/hw/gesture"
)

// An Action is what a handset does for a gesture of its hook or buttons.
type Action int

// The actions a gesture can be mapped to.
const (
	JoinLeave      Action = iota + 1 // join the handset's conference, or leave it
	Mute                             // toggle the handset's microphone
	NextConference                   // move to the next configured conference
	VolumeUp                         // earpiece louder
	VolumeDown                       // earpiece quieter
	SendPIN                          // send the conference PIN as DTMF
	Record                           // start or stop recording the conference
	Hold                             // put the call on hold, or take it off
)

var actionNames = map[Action]string{
	JoinLeave:      "join-leave",
	Mute:           "mute",
	NextConference: "next-conference",
	VolumeUp:       "volume-up",
	VolumeDown:     "volume-down",
	SendPIN:        "send-pin",
	Record:         "record",
	Hold:           "hold",
}

// String returns the action's name as ParseAction reads it, e.g. "join-leave".
func (a Action) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Actions returns every action, in the order of their values.
func Actions() []Action { return slices.Sorted(maps.Keys(actionNames)) }

// ParseAction returns the action called s, as String writes it.
func ParseAction(s string) (Action, error) {
	for a, name := range actionNames {
		if name == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (known: %s)", s, strings.Join(slices.Sorted(maps.Values(actionNames)), ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) {
	if _, ok := actionNames[a]; !ok {
		return nil, fmt.Errorf("marshal %v: not an action", a)
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Action) UnmarshalText(text []byte) error {
	v, err := ParseAction(string(text))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// A Mapping says which action each trigger stands for. A trigger not in it does nothing.
type Mapping map[gesture.Trigger]Action

// DefaultMapping is what the buttons of a handset do unless configured otherwise: the hook
// flash and the mute button toggle the microphone, the mute button held sends the PIN; the
// call button joins or leaves, and held moves to the next conference. Lifting and hanging up
// the handset are not in it: they join and leave by themselves.
func DefaultMapping() Mapping {
	return Mapping{
		{Input: gesture.HookInput, Gesture: gesture.Flash}: Mute,
		{Input: "button", Gesture: gesture.ShortPress}:     JoinLeave,
		{Input: "button", Gesture: gesture.LongPress}:      NextConference,
		{Input: "mute", Gesture: gesture.ShortPress}:       Mute,
		{Input: "mute", Gesture: gesture.LongPress}:        SendPIN,
	}
}

// PresenceTrigger is the gesture that proves someone is at the device while the appliance
// wants that proof (see Presence): the call button held, whatever the mapping gives it.
var PresenceTrigger = gesture.Trigger{Input: "button", Gesture: gesture.LongPress}

// Validate reports every invalid trigger and unknown action, in the order of the triggers'
// names.
func (m Mapping) Validate() error {
	var errs []error
	for _, t := range slices.SortedFunc(maps.Keys(m), func(a, b gesture.Trigger) int {
		return strings.Compare(a.String(), b.String())
	}) {
		if err := t.Validate(); err != nil {
			errs = append(errs, err)
		}
		if a := m[t]; actionNames[a] == "" {
			errs = append(errs, fmt.Errorf("trigger %s: %v is not an action", t, a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gesture mapping: %w", err)
	}
	return nil
}

// Action returns the action mapped to gesture g on the input called input.
func (m Mapping) Action(input string, g gesture.Gesture) (Action, bool) {
	a, ok := m[gesture.Trigger{Input: input, Gesture: g}]
	return a, ok
}
