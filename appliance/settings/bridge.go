package settings

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// A Bridge takes the incoming calls that dial User and bridges each caller into a
// conference: the appliance first joins Conference through Account, presenting the
// caller's identity (or a generated one), and answers the caller only once the
// conference has answered.
type Bridge struct {
	ID string `json:"id"`
	// User is whom callers dial: the user part of the Request-URI of their INVITE, such as
	// an account's user or a number.
	User string `json:"user"`
	// Conference is the ID of the conference the callers are bridged into.
	Conference string `json:"conference"`
	// Identity is how the bridged leg presents itself: BridgeCaller (also "") puts the
	// caller's From URI and display name into the conference, BridgeGenerated a fresh URI
	// per call starting with IdentityPrefix.
	Identity       string `json:"identity"`
	IdentityPrefix string `json:"identity_prefix"`
	// AssertIdentity adds P-Asserted-Identity to the bridged leg (RFC 3325).
	AssertIdentity bool `json:"assert_identity"`
	// Account is the ID of the trusted account that authenticates the bridged legs.
	Account string `json:"account"`

	// Who may call the bridge. With none of AllowNetworks, AllowProxy and AuthUser set,
	// nobody may: a caller gets 403 before anything is done for the call.
	//
	// AllowNetworks lists the networks callers may call from, in CIDR notation or as
	// single addresses ("192.0.2.0/24", "2001:db8::5"). Anyone there can claim any From
	// URI, so these callers' identity is not trusted.
	AllowNetworks []string `json:"allow_networks"`
	// AllowProxy takes the calls that the account's registrar or outbound proxy relays
	// (its Proxy, else its Domain): the proxy authenticated the caller, whose identity is
	// trusted.
	AllowProxy bool `json:"allow_proxy"`
	// AuthUser and AuthPassword, when set, challenge callers for digest credentials (401):
	// a caller who answers with them is trusted. AuthPassword is a secret: stored, never
	// shown or exported without asking.
	AuthUser     string `json:"auth_user"`
	AuthPassword string `json:"auth_password"`
	// Untrusted is what becomes of a caller whose identity is not trusted, or who claims
	// the identity of one of our handsets: UntrustedGenerated (also "") joins under a
	// generated identity, UntrustedRefuse refuses the call with 403.
	Untrusted string `json:"untrusted"`
	// MaxCalls bounds the callers bridged through this bridge at once; 0 means
	// DefaultBridgeCalls. Past it, and past SIPSettings.MaxBridgedCalls in all, callers
	// get 503 with Retry-After.
	MaxCalls int `json:"max_calls"`
}

// What becomes of a caller whose identity is not trusted.
const (
	UntrustedGenerated = "generated"
	UntrustedRefuse    = "refuse"
)

// Limits on bridged calls.
const (
	// DefaultBridgeCalls is a bridge's limit when its MaxCalls is 0.
	DefaultBridgeCalls = 2
	// DefaultMaxBridgedCalls is the limit over all bridges when SIPSettings.MaxBridgedCalls
	// is 0.
	DefaultMaxBridgedCalls = 4
	// maxBridgeCalls bounds both settings: each call is two legs, two RTP sockets and a
	// relay. make bench-peers -runs scale measures 250 (issue 16).
	maxBridgeCalls = 250
	// maxAllowNetworks bounds a bridge's AllowNetworks.
	maxAllowNetworks = 32
)

// Networks returns the bridge's AllowNetworks as prefixes; a single address is a
// prefix of its full length. Entries Validate would refuse are left out.
func (b Bridge) Networks() []netip.Prefix {
	var nets []netip.Prefix
	for _, n := range b.AllowNetworks {
		if p, err := parseNetwork(n); err == nil {
			nets = append(nets, p)
		}
	}
	return nets
}

// Calls returns the bridge's limit of concurrent callers.
func (b Bridge) Calls() int {
	if b.MaxCalls == 0 {
		return DefaultBridgeCalls
	}
	return b.MaxCalls
}

// parseNetwork parses a CIDR prefix or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// The identities a bridged leg can present.
const (
	BridgeCaller    = "caller"
	BridgeGenerated = "generated"
)

// checkBridges checks the bridges against the IDs of the accounts and conferences. It
// reports every invalid field of the first bridge that has any, in the order of its fields,
// joined (errors.Join).
func checkBridges(bridges []Bridge, accounts, conferences map[string]bool) error {
	ids := map[string]bool{}
	users := map[string]int{}
	for i := range bridges {
		if err := checkBridge(bridges, i, ids, users, accounts, conferences); err != nil {
			return err
		}
	}
	return nil
}

// checkBridge checks bridges[i], whose ID and user must not be in ids and users, and adds
// them there. It reports every invalid field, joined.
func checkBridge(bridges []Bridge, i int, ids map[string]bool, users map[string]int, accounts, conferences map[string]bool) error {
	b := bridges[i]
	f := fmt.Sprintf("bridges[%d].", i)
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkID(f+"id", b.ID, ids))
	if other, dup := users[b.User]; !isSIPUser(b.User) {
		add(fieldErr(f+"user", "%q is not a SIP user name: the user part callers dial", b.User))
	} else if dup {
		add(fieldErr(f+"user", "%q is also dialled for bridge %q", b.User, bridges[other].ID))
	} else {
		users[b.User] = i
	}
	if !conferences[b.Conference] {
		add(fieldErr(f+"conference", "no conference %q", b.Conference))
	}
	switch b.Identity {
	case "", BridgeCaller:
	case BridgeGenerated:
		add(checkPrefix(f+"identity_prefix", b.IdentityPrefix))
	default:
		add(fieldErr(f+"identity", "%q is not caller or generated", b.Identity))
	}
	if !accounts[b.Account] {
		add(fieldErr(f+"account", "no account %q: a bridge joins through a trusted account", b.Account))
	}
	add(checkCallers(f, b))
	return errors.Join(errs...)
}

// checkCallers checks who may call bridge b, whose fields are named with prefix f. It
// reports every invalid field, joined; of the networks, the first invalid one.
func checkCallers(f string, b Bridge) error {
	var errs []error
	if len(b.AllowNetworks) > maxAllowNetworks {
		errs = append(errs, fieldErr(f+"allow_networks", "has %d networks, at most %d", len(b.AllowNetworks), maxAllowNetworks))
	} else if err := checkNetworks(f, b.AllowNetworks); err != nil {
		errs = append(errs, err)
	}
	switch {
	case b.AuthUser != "" && !isSIPUser(b.AuthUser):
		errs = append(errs, fieldErr(f+"auth_user", "%q is not a SIP user name", b.AuthUser))
	case b.AuthUser != "" && b.AuthPassword == "":
		errs = append(errs, fieldErr(f+"auth_password", "is needed with a user name"))
	case b.AuthUser == "" && b.AuthPassword != "":
		errs = append(errs, fieldErr(f+"auth_user", "is needed with a password"))
	}
	switch b.Untrusted {
	case "", UntrustedGenerated, UntrustedRefuse:
	default:
		errs = append(errs, fieldErr(f+"untrusted", "%q is not generated or refuse", b.Untrusted))
	}
	if b.MaxCalls < 0 || b.MaxCalls > maxBridgeCalls {
		errs = append(errs, fieldErr(f+"max_calls", "%d is not 0 (the default, %d) to %d", b.MaxCalls, DefaultBridgeCalls, maxBridgeCalls))
	}
	return errors.Join(errs...)
}

// checkNetworks reports the first of nets, a bridge's AllowNetworks named with prefix f,
// that is not a network or admits every address.
func checkNetworks(f string, nets []string) error {
	for i, n := range nets {
		p, err := parseNetwork(n)
		if err != nil {
			return fieldErr(fmt.Sprintf("%sallow_networks[%d]", f, i), "%q is not a network (192.0.2.0/24) or an address", n)
		}
		if p.Bits() == 0 {
			return fieldErr(fmt.Sprintf("%sallow_networks[%d]", f, i), "%q admits every address: list the callers' networks", n)
		}
	}
	return nil
}
