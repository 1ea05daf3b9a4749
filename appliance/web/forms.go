package web

import (
	"net/url"
	"strconv"
	"strings"

	"partyline/appliance/settings"
)

// A formView is one form as a template draws it.
type formView struct {
	ID        string // element id, also the anchor the page jumps to
	Method    string // "post" or "get"
	Action    string
	Multipart bool
	Legend    string // the form's heading, "" = none
	Note      string // what the form does, e.g. when its changes apply
	Error     string // a problem not tied to one input
	Notice    string // what the last save of this form did, "" = none
	Inputs    []inputView
	Groups    []groupView // fieldsets of further inputs, after Inputs
	Submit    string      // label of the submit button
	Delete    string      // action of a delete button, "" = none
	Confirm   string      // question asked before deleting
	Summary   string      // when set, the form is folded under this line
	Open      bool        // unfolds a folded form
}

// A groupView is a fieldset of a form's inputs under a legend.
type groupView struct {
	Legend string
	Inputs []inputView
}

// inputs returns every input of the form, those of its groups too.
func (f *formView) inputs() []*inputView {
	var all []*inputView
	for i := range f.Inputs {
		all = append(all, &f.Inputs[i])
	}
	for g := range f.Groups {
		for i := range f.Groups[g].Inputs {
			all = append(all, &f.Groups[g].Inputs[i])
		}
	}
	return all
}

// An inputView is one labelled input (or select) of a form.
type inputView struct {
	ID           string
	Name         string
	Label        string
	Type         string // an <input> type, "select" or "textarea"
	Value        string // never shown for a password
	Checked      bool   // a checkbox's state
	Options      []optionView
	Hint         string
	Error        string
	Required     bool
	Autocomplete string
	Autofocus    bool
	Mode         string // inputmode
	Accept       string // file types of a file input
	Rows         int    // a textarea's height in lines
}

type optionView struct {
	Value, Label string
	Selected     bool
}

// DescribedBy lists the ids of the input's hint and error, for aria-describedby.
func (in inputView) DescribedBy() string {
	var ids []string
	if in.Hint != "" {
		ids = append(ids, in.ID+"-hint")
	}
	if in.Error != "" {
		ids = append(ids, in.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// input makes the text input name of the form formID.
func input(formID, name, label, value string) inputView {
	return inputView{ID: formID + "-" + name, Name: name, Label: label, Type: "text", Value: value}
}

// selection makes a select of the form formID offering none (labelled
// noneLabel) and each of ids, with value selected.
func selection(formID, name, label, value, noneLabel string, ids []string) inputView {
	in := input(formID, name, label, value)
	in.Type = "select"
	in.Options = append(in.Options, optionView{Value: "", Label: noneLabel})
	for _, id := range ids {
		in.Options = append(in.Options, optionView{Value: id, Label: id})
	}
	in.selectValue(value)
	return in
}

// identitySelection makes the select of a handset's identity mode.
func identitySelection(formID, value string) inputView {
	in := input(formID, "identity", "Identity", value)
	in.Type = "select"
	in.Options = []optionView{
		{Value: "", Label: "own account"},
		{Value: "impersonate", Label: "impersonate, over a trusted account"},
		{Value: "generated", Label: "generated for each call"},
	}
	if value == "account" {
		value = ""
	}
	in.selectValue(value)
	return in
}

// transportSelection makes the select of an account's SIP transport.
func transportSelection(formID, value string) inputView {
	in := input(formID, "transport", "Transport", value)
	in.Type = "select"
	in.Options = []optionView{{Value: "", Label: "UDP"}, {Value: "tcp", Label: "TCP"}, {Value: "tls", Label: "TLS"}}
	if value == "udp" {
		value = ""
	}
	in.selectValue(value)
	return in
}

// srtpSelection makes the select of an account's SRTP mode.
func srtpSelection(formID, value string) inputView {
	in := input(formID, "srtp", "Encrypted media (SRTP)", value)
	in.Type = "select"
	in.Options = []optionView{{Value: "", Label: "off"}, {Value: "offered", Label: "offered"}, {Value: "required", Label: "required"}}
	if value == "off" {
		value = ""
	}
	in.selectValue(value)
	return in
}

// dtmfSelection makes the select of an account's DTMF mode.
func dtmfSelection(formID, value string) inputView {
	in := input(formID, "dtmf", "DTMF", value)
	in.Type = "select"
	in.Options = []optionView{
		{Value: "", Label: "auto: RFC 4733 events, SIP INFO where the call has none"},
		{Value: settings.DTMFRFC4733, Label: "RFC 4733 events only"},
		{Value: settings.DTMFInfo, Label: "SIP INFO only"},
	}
	if value == settings.DTMFAuto {
		value = ""
	}
	in.selectValue(value)
	return in
}

// textarea makes the multi-line text input name of the form formID, rows lines high.
func textarea(formID, name, label, value string, rows int) inputView {
	in := input(formID, name, label, value)
	in.Type = "textarea"
	in.Rows = rows
	return in
}

// numberInput makes the numeric input name of the form formID, empty for 0 (the default
// that hint names).
func numberInput(formID, name, label string, value int, hint string) inputView {
	in := input(formID, name, label, "")
	if value != 0 {
		in.Value = strconv.Itoa(value)
	}
	in.Mode = "numeric"
	in.Hint = hint
	return in
}

// checkbox makes the checkbox name of the form formID; it posts "on" when ticked.
func checkbox(formID, name, label string, checked bool) inputView {
	in := input(formID, name, label, "on")
	in.Type = "checkbox"
	in.Checked = checked
	return in
}

func (in *inputView) selectValue(v string) {
	in.Value = v
	for i := range in.Options {
		in.Options[i].Selected = in.Options[i].Value == v
	}
}

// setError puts fe next to the input it names, which is fe.Field after
// prefix, and focuses it. An error about anything else goes at the top of
// the form with its full path.
func (f *formView) setError(prefix string, fe *settings.FieldError) {
	if fe == nil {
		return
	}
	if name, ok := strings.CutPrefix(fe.Field, prefix); ok {
		// A list's item, such as allow_networks[1], belongs to the list's input.
		base, _, _ := strings.Cut(name, "[")
		for _, in := range f.inputs() {
			if in.Name == name || in.Name == base {
				in.Error = fe.Msg
				in.Autofocus = true
				return
			}
		}
	}
	f.Error = "Not saved: " + fe.Error()
}

// focusFirstError puts the focus on the first input with an error, in the form's order,
// and on no other.
func (f *formView) focusFirstError() {
	first := true
	for _, in := range f.inputs() {
		if in.Error != "" {
			in.Autofocus, first = first, false
		}
	}
}

// refill shows what the user typed in a rejected form again; passwords and
// files are never sent back.
func (f *formView) refill(values url.Values) {
	for _, in := range f.inputs() {
		in.Autofocus = false
		switch in.Type {
		case "password", "file":
		case "checkbox":
			in.Checked = values.Get(in.Name) == in.Value
		case "select":
			in.selectValue(values.Get(in.Name))
		default:
			in.Value = values.Get(in.Name)
		}
	}
}

// callsInInputs are the inputs of who may call a handset and what the call does.
func callsInInputs(formID string, c settings.HandsetCallsIn) []inputView {
	mode := input(formID, "calls_in.mode", "Calls in", c.Mode)
	mode.Type = "select"
	mode.Options = []optionView{
		{Value: "", Label: "ring"},
		{Value: settings.CallsInAutoAnswer, Label: "auto-answer (intercom)"},
		{Value: settings.CallsInReject, Label: "reject (603 Decline)"},
	}
	if c.Mode == settings.CallsInRing {
		mode.selectValue("")
	} else {
		mode.selectValue(c.Mode)
	}
	mode.Hint = "What a call to the handset's account (or the URI it impersonates) does, once the callers below may call."
	muted := checkbox(formID, "calls_in.mute_until_lifted", "Auto-answer: microphone muted until the handset is lifted", c.MuteUntilLifted)
	waiting := checkbox(formID, "calls_in.call_waiting", "Call waiting: a tone in the earpiece while busy, rather than 486 Busy Here", c.CallWaiting)
	proxy := checkbox(formID, "calls_in.allow_proxy", "Take the calls the account's registrar or proxy relays", c.AllowProxy)
	nets := input(formID, "calls_in.allow_networks", "Callers' networks", c.AllowNetworks)
	nets.Hint = "Networks or addresses callers may call from directly, separated by commas, e.g. 192.0.2.0/24; empty and no proxy = nobody may call (403)."
	user := input(formID, "calls_in.auth_user", "Callers with this user name", c.AuthUser)
	user.Hint = "Callers who answer a digest challenge with it and the password below may call; empty = none."
	pass := inputView{ID: formID + "-calls_in.auth_password", Name: "calls_in.auth_password", Label: "and this password", Type: "password", Autocomplete: "new-password"}
	pass.Hint = "Stored, never shown; empty keeps the stored one."
	return []inputView{mode, muted, waiting, proxy, nets, user, pass}
}

// fillCallsIn sets c from a handset form's calls-in inputs.
func fillCallsIn(c *settings.HandsetCallsIn, v url.Values) {
	c.Mode = formText(v, "calls_in.mode")
	c.MuteUntilLifted = v.Get("calls_in.mute_until_lifted") == "on"
	c.CallWaiting = v.Get("calls_in.call_waiting") == "on"
	c.AllowProxy = v.Get("calls_in.allow_proxy") == "on"
	c.AllowNetworks = formText(v, "calls_in.allow_networks")
	c.AuthUser = formText(v, "calls_in.auth_user")
	if p := v.Get("calls_in.auth_password"); p != "" {
		c.AuthPassword = p
	}
	if c.AuthUser == "" {
		c.AuthPassword = ""
	}
}
