package settings

import "fmt"

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
}

// The identities a bridged leg can present.
const (
	BridgeCaller    = "caller"
	BridgeGenerated = "generated"
)

// checkBridges checks the bridges against the IDs of the accounts and conferences.
func checkBridges(bridges []Bridge, accounts, conferences map[string]bool) error {
	ids := map[string]bool{}
	users := map[string]int{}
	for i, b := range bridges {
		f := fmt.Sprintf("bridges[%d].", i)
		if err := checkID(f+"id", b.ID, ids); err != nil {
			return err
		}
		if !isSIPUser(b.User) {
			return fieldErr(f+"user", "%q is not a SIP user name: the user part callers dial", b.User)
		}
		if other, dup := users[b.User]; dup {
			return fieldErr(f+"user", "%q is also dialled for bridge %q", b.User, bridges[other].ID)
		}
		users[b.User] = i
		if !conferences[b.Conference] {
			return fieldErr(f+"conference", "no conference %q", b.Conference)
		}
		if !accounts[b.Account] {
			return fieldErr(f+"account", "no account %q: a bridge joins through a trusted account", b.Account)
		}
		switch b.Identity {
		case "", BridgeCaller:
		case BridgeGenerated:
			if err := checkPrefix(f+"identity_prefix", b.IdentityPrefix); err != nil {
				return err
			}
		default:
			return fieldErr(f+"identity", "%q is not caller or generated", b.Identity)
		}
	}
	return nil
}
