package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceLifetime is how long a nonce of a DigestGuard is good for: a caller answers a
// challenge within seconds, and one that comes back later is challenged again with
// stale=true, without having to ask its user.
const nonceLifetime = 5 * time.Minute

// A DigestVerdict is what a DigestGuard made of the credentials of an incoming call.
type DigestVerdict int

// The verdicts of DigestGuard.Check.
const (
	// DigestMissing: the call carries no credentials for the guard's realm.
	DigestMissing DigestVerdict = iota
	// DigestValid: the user and password are right, on a nonce the guard issued to the
	// caller's address and that is still good.
	DigestValid
	// DigestStale: the answer would be right, but its nonce has expired: challenge the
	// caller again with stale=true.
	DigestStale
	// DigestWrong: another user, a wrong password, a nonce the guard did not issue to this
	// address, or malformed credentials.
	DigestWrong
)

func (v DigestVerdict) String() string {
	switch v {
	case DigestMissing:
		return "no credentials"
	case DigestValid:
		return "valid"
	case DigestStale:
		return "stale nonce"
	case DigestWrong:
		return "wrong credentials"
	}
	return fmt.Sprintf("DigestVerdict(%d)", int(v))
}

// A DigestGuard challenges incoming calls for digest credentials (RFC 3261 section 22.4:
// MD5 with qop=auth, RFC 2617) and checks the answers. It keeps no state per caller:
// each nonce carries the time it was issued and a MAC, under a key of the guard's own,
// over that time and the address it was issued to. A nonce is therefore good only from
// that address and for nonceLifetime, which bounds what a captured INVITE is worth to a
// replay. The time is counted on the monotonic clock from when the guard was made, so that
// the wall clock stepping (NTP at boot) neither expires every nonce nor keeps old ones
// good; a nonce never outlives its guard's key anyway. It is safe for concurrent use.
type DigestGuard struct {
	realm string
	key   [32]byte
	epoch time.Time        // when the guard was made, with its monotonic reading
	now   func() time.Time // time.Now; tests move it
}

// NewDigestGuard returns a guard for realm, the name callers see in the challenge (for
// example the bridge's user and our domain).
func NewDigestGuard(realm string) *DigestGuard {
	g := &DigestGuard{realm: realm, epoch: time.Now(), now: time.Now}
	rand.Read(g.key[:]) // never fails (crypto/rand)
	return g
}

// Challenge declines the incoming call with 401 and a fresh nonce for the caller's
// address; stale says that the caller's last answer was right but late (RFC 2617 3.2.1).
// The caller answers with a new INVITE, a new Incoming, to Check.
func (g *DigestGuard) Challenge(in *Incoming, stale bool) error {
	chal := digest.Challenge{
		Realm:     g.realm,
		Nonce:     g.nonce(in.Source().Addr(), g.now()),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	h := sipmsg.NewHeader("WWW-Authenticate", chal.String())
	return in.reject(sipmsg.StatusUnauthorized, "Unauthorized", h)
}

// Check judges the credentials in's INVITE carries for user and password. The
// comparisons of user and response take the same time whatever they hold.
func (g *DigestGuard) Check(in *Incoming, user, password string) DigestVerdict {
	var cred *digest.Credentials
	for _, h := range in.req.GetHeaders("Authorization") {
		c, err := digest.ParseCredentials(h.Value())
		if err == nil && c.Realm == g.realm {
			cred = c
			break
		}
	}
	switch {
	case cred == nil:
		return DigestMissing
	case !strings.EqualFold(cred.Algorithm, "MD5") && cred.Algorithm != "",
		cred.QOP != "" && cred.QOP != "auth",
		cred.Userhash:
		return DigestWrong
	}
	fresh, ok := g.checkNonce(cred.Nonce, in.Source().Addr())
	if !ok {
		return DigestWrong
	}
	chal := &digest.Challenge{Realm: g.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   sipmsg.INVITE.String(),
		URI:      cred.URI,
		Username: user,
		Password: password,
		Cnonce:   cred.Cnonce,
		Count:    cred.Nc,
	})
	if err != nil {
		return DigestWrong
	}
	userOK := subtle.ConstantTimeCompare([]byte(cred.Username), []byte(user)) == 1
	respOK := subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) == 1
	switch {
	case !userOK || !respOK:
		return DigestWrong
	case !fresh:
		return DigestStale
	}
	return DigestValid
}

// nonce is the time t, in milliseconds since the guard was made, and a MAC over it and
// addr, base64url.
func (g *DigestGuard) nonce(addr netip.Addr, t time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.Sub(g.epoch).Milliseconds()))
	copy(b[8:], g.mac(b[:8], addr))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce reports whether n is a nonce g issued to addr (ok), and whether it is still
// good (fresh).
func (g *DigestGuard) checkNonce(n string, addr netip.Addr) (fresh, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 8+16 || !hmac.Equal(b[8:], g.mac(b[:8], addr)) {
		return false, false
	}
	issued := g.epoch.Add(time.Duration(int64(binary.BigEndian.Uint64(b[:8]))) * time.Millisecond)
	age := g.now().Sub(issued) // monotonic: both readings carry it
	return age >= 0 && age <= nonceLifetime, true
}

// mac is the first 16 bytes of HMAC-SHA256 over stamp and addr.
func (g *DigestGuard) mac(stamp []byte, addr netip.Addr) []byte {
	m := hmac.New(sha256.New, g.key[:])
	m.Write(stamp)
	a := addr.Unmap().As16()
	m.Write(a[:])
	return m.Sum(nil)[:16]
}
