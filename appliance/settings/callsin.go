package settings

import (
	"errors"
	"net/netip"
	"strings"
)

// HandsetCallsIn says who may call a handset and what a call to it does. A call to the
// handset is one whose Request-URI user (else To user) is the user of the handset's
// account (its registration's contact), or the user of its IdentityURI when it
// impersonates one. With none of AllowNetworks, AllowProxy and AuthUser set nobody may
// call: calls in are closed by default and get 403 before anything is done for them.
type HandsetCallsIn struct {
	// Mode is what an admitted call does: CallsInRing (also "": the handset rings until it
	// is lifted or answered on the admin page), CallsInAutoAnswer (intercom: a short tone in
	// the earpiece, then the call's audio) or CallsInReject (603 Decline).
	Mode string `json:"mode"`
	// MuteUntilLifted keeps the microphone of an auto-answered call muted until the handset
	// is lifted.
	MuteUntilLifted bool `json:"mute_until_lifted"`
	// CallWaiting, for a call that comes while the handset is busy (lifted, joining or in a
	// call): a tone in the earpiece while the caller hears ringing, rather than 486 Busy
	// Here. The call rings once the handset is put down, and is missed if nobody answers.
	CallWaiting bool `json:"call_waiting"`
	// AllowNetworks lists the networks callers may call from, separated by commas or
	// spaces, in CIDR notation or as single addresses, as a bridge's do ("192.0.2.0/24,
	// 2001:db8::5"). Their identity is not proved. (A string, not a list, so that a
	// Handset stays comparable.)
	AllowNetworks string `json:"allow_networks"`
	// AllowProxy takes the calls that the registrar or outbound proxy of the handset's
	// account relays (its Proxy, else its Domain): the usual case of a call to the
	// handset's account.
	AllowProxy bool `json:"allow_proxy"`
	// AuthUser and AuthPassword, when set, challenge callers for digest credentials (401),
	// as a bridge's do. AuthPassword is a secret: stored, never shown or exported without
	// asking.
	AuthUser     string `json:"auth_user,omitempty"`
	AuthPassword string `json:"auth_password,omitempty"`
}

// What a call to a handset does.
const (
	CallsInRing       = "ring"
	CallsInAutoAnswer = "auto-answer"
	CallsInReject     = "reject"
)

// Open reports whether any caller may call the handset.
func (c HandsetCallsIn) Open() bool {
	return len(c.networkList()) > 0 || c.AllowProxy || c.AuthUser != ""
}

// Networks returns AllowNetworks as prefixes; entries Validate would refuse are left out.
func (c HandsetCallsIn) Networks() []netip.Prefix {
	return Bridge{AllowNetworks: c.networkList()}.Networks()
}

// networkList splits AllowNetworks at its commas and spaces.
func (c HandsetCallsIn) networkList() []string {
	return strings.FieldsFunc(c.AllowNetworks, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// checkCallsIn checks who may call a handset and what the call does, at the settings path
// f ("handsets[0].calls_in."). It reports every invalid field, joined.
func checkCallsIn(f string, c HandsetCallsIn) error {
	var errs []error
	switch c.Mode {
	case "", CallsInRing, CallsInAutoAnswer, CallsInReject:
	default:
		errs = append(errs, fieldErr(f+"mode", "%q is not %s, %s or %s", c.Mode, CallsInRing, CallsInAutoAnswer, CallsInReject))
	}
	if nets := c.networkList(); len(nets) > maxAllowNetworks {
		errs = append(errs, fieldErr(f+"allow_networks", "has %d networks, at most %d", len(nets), maxAllowNetworks))
	} else if err := checkNetworks(f, nets); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.AuthUser != "" && !isSIPUser(c.AuthUser):
		errs = append(errs, fieldErr(f+"auth_user", "%q is not a SIP user name", c.AuthUser))
	case c.AuthUser != "" && c.AuthPassword == "":
		errs = append(errs, fieldErr(f+"auth_password", "is needed with a user name"))
	case c.AuthUser == "" && c.AuthPassword != "":
		errs = append(errs, fieldErr(f+"auth_user", "is needed with a password"))
	}
	return errors.Join(errs...)
}
