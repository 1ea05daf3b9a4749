package appliance

import (
	"errors"
	"strings"
	"testing"
)

func TestIdentityClaims(t *testing.T) {
	var c identityClaims
	const conf, alice = "sip:conf@example.test", "sip:alice@example.test"
	release, err := c.claim(conf, alice, "Handset 1")
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	_, err = c.claim(strings.ToUpper(conf), "sip:ALICE@example.test", "Handset 2")
	var inUse *IdentityInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second claim of the same identity in the same conference: err = %v, want *IdentityInUseError", err)
	}
	if inUse.Holder != "Handset 1" || !strings.Contains(strings.ToLower(err.Error()), alice) || !strings.Contains(err.Error(), "Handset 1") {
		t.Errorf("error %q does not name the identity and Handset 1", err)
	}
	if r, err := c.claim("sip:other@example.test", alice, "Handset 2"); err != nil {
		t.Errorf("the same identity in another conference: %v", err)
	} else {
		r()
	}
	if r, err := c.claim(conf, "sip:bob@example.test", "Handset 2"); err != nil {
		t.Errorf("another identity in the same conference: %v", err)
	} else {
		r()
	}
	release()
	release() // a second release is harmless
	r, err := c.claim(conf, alice, "Handset 2")
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	r()
}
