package appliance

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"partyline/appliance/settings"

	"partyline/appliance/legs"
	"partyline/sip"
)

// The settings as the legs see them: what each leg presents, through which account, in
// which conference. One legs.Plan per leg, whether a handset's, a service leg's or a
// bridged caller's.

// planJoin says how handset i joins its conference, or what is missing if it cannot.
func planJoin(set settings.Settings, i int) (legs.Plan, error) {
	if i < 0 || i >= len(set.Handsets) {
		return legs.Plan{}, fmt.Errorf("handset %d is not configured", i+1)
	}
	h := set.Handsets[i]
	conf, ok := findConference(set, h.Conference)
	if !ok || conf.URI == "" {
		return legs.Plan{}, fmt.Errorf("%s has no conference to join: set its conference URI on the admin page", h.Name)
	}
	acc, ok := findAccount(set, h.Account)
	if !ok {
		return legs.Plan{}, fmt.Errorf("%s has no SIP account: choose one on the admin page", h.Name)
	}
	p := handsetPlan(h, acc, conf.URI)
	p.RTPTimeout = set.SIP.RTPTimeout()
	return p, nil
}

// handsetPlan is how handset h joins target through account acc: under its display name
// (its name if it has none) and its identity.
func handsetPlan(h settings.Handset, acc settings.Account, target string) legs.Plan {
	return legs.Plan{
		Target:      target,
		DisplayName: cmp.Or(h.DisplayName, h.Name),
		Account:     sipAccount(acc),
		Identity: sip.Identity{
			Mode:    sip.IdentityMode(h.Identity),
			URI:     h.IdentityURI,
			Prefix:  h.IdentityPrefix,
			Assert:  h.AssertIdentity,
			Private: h.Private,
		},
	}
}

// handsetIdentity is how handset h appears in its conference, display name and SIP URI,
// as sip says the handset's identity presents it; "" while it has no account.
func handsetIdentity(set settings.Settings, h settings.Handset) string {
	acc, ok := findAccount(set, h.Account)
	if !ok {
		return ""
	}
	return handsetPlan(h, acc, "").Describe()
}

// planService says how a service leg with the given display name and identity prefix joins
// conference c, or why it cannot.
func planService(set settings.Settings, c settings.Conference, name, prefix string) (legs.Plan, error) {
	if c.URI == "" {
		return legs.Plan{}, fmt.Errorf("conference %s has no URI", c.ID)
	}
	acc, ok := findAccount(set, c.ServiceAccount)
	if !ok && c.ServiceAccount == "" && len(set.Accounts) > 0 {
		acc, ok = set.Accounts[0], true
	}
	if !ok {
		return legs.Plan{}, fmt.Errorf("conference %s has no account for its %s: add one", c.ID, strings.ToLower(name))
	}
	return legs.Plan{
		Target:      c.URI,
		DisplayName: name,
		Account:     sipAccount(acc),
		Identity:    sip.Identity{Mode: sip.IdentityGenerated, Prefix: prefix, Assert: true, Private: true},
		// The announcer hears nothing, and the recorder listens to a conference that
		// may well be silent: neither ends for want of RTP.
		RTPTimeout: -1,
	}, nil
}

// planBridge works out the conference leg of in, a call to br. The caller's identity is
// presented only if trusted says it may be; otherwise the leg gets a generated identity,
// or the call is refused, as the bridge says. The relay moves packets as they are, so the
// leg is plain RTP: a bridge whose account requires SRTP refuses the call. It returns the
// status and reason to refuse the caller with if it cannot be bridged.
func planBridge(set settings.Settings, br settings.Bridge, in *sip.Incoming, trusted bool) (plan legs.Plan, status int, reason string) {
	conf, ok := findConference(set, br.Conference)
	if !ok || conf.URI == "" {
		return legs.Plan{}, 480, "Temporarily Unavailable: the conference has no URI"
	}
	acc, ok := findAccount(set, br.Account)
	if !ok {
		return legs.Plan{}, 480, "Temporarily Unavailable: the bridge has no account"
	}
	p := legs.Plan{Target: conf.URI, Account: sipAccount(acc)}
	switch p.Account.SRTP {
	case sip.SRTPRequired:
		return legs.Plan{}, 503, "Service Unavailable: the bridge's account requires SRTP, which a bridge cannot relay"
	case sip.SRTPOffered:
		p.Account.SRTP = sip.SRTPOff
	}
	if br.Identity != settings.BridgeGenerated && !trusted && br.Untrusted == settings.UntrustedRefuse {
		return legs.Plan{}, 403, "Forbidden: the caller's identity is not trusted"
	}
	if br.Identity == settings.BridgeGenerated || !trusted {
		p.Identity = sip.Identity{Mode: sip.IdentityGenerated, Prefix: cmp.Or(br.IdentityPrefix, generatedCallerPrefix), Assert: br.AssertIdentity}
		return p, 0, ""
	}
	p.Identity = sip.Identity{Mode: sip.IdentityImpersonate, URI: in.From(), Assert: br.AssertIdentity}
	p.DisplayName = in.DisplayName()
	if err := p.Identity.Validate(); err != nil {
		return legs.Plan{}, 403, "Forbidden: the caller's identity cannot be presented"
	}
	return p, 0, ""
}

// sipAccount turns a stored account into what the SIP agent needs.
func sipAccount(a settings.Account) sip.Account {
	return sip.Account{
		User:      a.User,
		AuthUser:  a.AuthUser,
		Password:  a.Password,
		Domain:    a.Domain,
		Proxy:     a.Proxy,
		Expires:   time.Duration(a.ExpiresSeconds) * time.Second,
		Transport: a.Transport,
		CAFile:    a.CAFile,
		SRTP:      a.SRTP,
		Codecs:    a.CodecList(),
		DTMF:      a.DTMF,
	}
}

// findConference returns the conference called id in set.
func findConference(set settings.Settings, id string) (settings.Conference, bool) {
	for _, c := range set.Conferences {
		if c.ID == id {
			return c, true
		}
	}
	return settings.Conference{}, false
}

// findAccount returns the account called id in set; "" names none.
func findAccount(set settings.Settings, id string) (settings.Account, bool) {
	for _, a := range set.Accounts {
		if id != "" && a.ID == id {
			return a, true
		}
	}
	return settings.Account{}, false
}
