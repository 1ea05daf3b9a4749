package appliance

import (
	"fmt"
	"strings"
	"sync"
)

// identityClaims keeps the appliance from sending two concurrent legs with the same identity
// into the same conference: a conference server lists an identity once, so the second leg
// would be refused by the server, or worse, replace the first in its roster.
type identityClaims struct {
	mu      sync.Mutex // guards holders
	holders map[claimKey]string
}

// claimKey is one identity in one conference, both compared without case.
type claimKey struct{ conference, identity string }

// An IdentityInUseError says that a leg was refused locally because another leg of the
// appliance is already in the conference under the same identity.
type IdentityInUseError struct {
	Identity   string // the SIP URI both legs would use
	Conference string // the conference URI
	Holder     string // who is in the conference with it, e.g. "Handset 1"
}

func (e *IdentityInUseError) Error() string {
	return fmt.Sprintf("%s is already in %s as %s: give this handset its own identity", e.Holder, e.Conference, e.Identity)
}

// claim reserves identity in conference for holder. The returned release gives it back; it
// may be called more than once.
func (c *identityClaims) claim(conference, identity, holder string) (release func(), err error) {
	key := claimKey{strings.ToLower(conference), strings.ToLower(identity)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, taken := c.holders[key]; taken {
		return nil, &IdentityInUseError{Identity: identity, Conference: conference, Holder: other}
	}
	if c.holders == nil {
		c.holders = make(map[claimKey]string)
	}
	c.holders[key] = holder
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.holders, key)
		})
	}, nil
}
