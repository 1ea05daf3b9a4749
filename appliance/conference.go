package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"partyline/appliance/audiohub"
	"partyline/appliance/config"
	"partyline/media"
	"partyline/sip"
)

// conferencing joins handsets to their conferences: it looks up the handset's settings,
// opens an RTP socket, places the SIP call, and binds the negotiated call to a media
// session pumped by the handset's audio port.
type conferencing struct {
	agent   *sip.Agent
	store   *config.Store
	hub     *audiohub.Hub
	claims  identityClaims
	rosters *rosters // our legs are marked in the rosters of their conferences
	log     *slog.Logger
}

// join implements joiner.
func (c *conferencing) join(ctx context.Context, handset int) (leg, error) {
	set, err := c.store.Settings()
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	plan, err := planJoin(set, handset)
	if err != nil {
		return nil, err
	}
	port, err := c.hub.Port(plan.channel)
	if err != nil {
		return nil, err
	}
	if err := c.hub.SetLevels(plan.channel, plan.micGainDB, plan.earGainDB, audiohub.SidetoneDB(plan.sidetonePercent)); err != nil {
		return nil, fmt.Errorf("%s levels: %w", plan.name, err)
	}
	if err := c.hub.SetAGC(plan.channel, plan.micAGC); err != nil {
		return nil, fmt.Errorf("%s: %w", plan.name, err)
	}
	release := func() {}
	if uri := plan.presentedURI(); uri != "" {
		if release, err = c.claims.claim(plan.target, uri, plan.name); err != nil {
			return nil, err
		}
	}
	l, err := c.place(ctx, plan, port, release)
	if err != nil {
		release()
		return nil, err
	}
	return l, nil
}

// place opens the RTP socket, places the call and starts its media. The leg gives the
// identity back through release when it ends.
func (c *conferencing) place(ctx context.Context, plan joinPlan, port *audiohub.Port, release func()) (*conferenceLeg, error) {
	conn, err := listenRTP(c.agent)
	if err != nil {
		return nil, err
	}
	call, err := c.agent.Join(ctx, sip.JoinRequest{
		Target:      plan.target,
		DisplayName: plan.displayName,
		Account:     plan.account,
		Identity:    plan.identity,
		LocalMedia:  localMedia(conn),
	})
	if err != nil {
		conn.Close()
		var refused *sip.JoinError
		if errors.As(err, &refused) && sip.IsRosterConflict(err) {
			return nil, fmt.Errorf("the conference refused %s: %w (a conference lists an identity once: is it in there already?)", refused.Identity, refused)
		}
		return nil, err
	}
	leave := c.rosters.add(plan.target, plan.account, call.Identity(), plan.name)
	l, err := c.startMedia(call, conn, port, func() { leave(); release() })
	if err == nil && plan.pin != "" {
		l.sendPINLater(plan.pin)
	}
	if err != nil {
		leave()
		conn.Close()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
		defer cancel()
		return nil, errors.Join(err, call.Hangup(hctx))
	}
	return l, nil
}

// louder implements joiner: the gain changes in the settings, within their limits, and in
// the audio hub at once, so that a call in progress hears it.
func (c *conferencing) louder(handset int, deltaDB float64) (float64, error) {
	var h config.Handset
	err := c.store.Update(func(set *config.Settings) error {
		if handset < 0 || handset >= len(set.Handsets) {
			return fmt.Errorf("handset %d is not configured", handset+1)
		}
		p := &set.Handsets[handset]
		p.EarGainDB = max(config.MinGainDB, min(config.MaxGainDB, p.EarGainDB+deltaDB))
		h = *p
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("change the volume: %w", err)
	}
	if err := c.hub.SetLevels(h.Channel, h.MicGainDB, h.EarGainDB, audiohub.SidetoneDB(h.SidetonePercent)); err != nil {
		return 0, fmt.Errorf("change the volume: %w", err)
	}
	return h.EarGainDB, nil
}

// pin implements joiner.
func (c *conferencing) pin(handset int) (string, error) {
	set, err := c.store.Settings()
	if err != nil {
		return "", fmt.Errorf("read settings: %w", err)
	}
	if handset < 0 || handset >= len(set.Handsets) {
		return "", fmt.Errorf("handset %d is not configured", handset+1)
	}
	conf, _ := findConference(set, set.Handsets[handset].Conference)
	return conf.PIN, nil
}

// nextConference implements joiner: it moves the handset's conference setting on to the
// next conference in the list, round, and returns the new one's name.
func (c *conferencing) nextConference(handset int) (string, error) {
	var name string
	err := c.store.Update(func(set *config.Settings) error {
		if handset < 0 || handset >= len(set.Handsets) {
			return fmt.Errorf("handset %d is not configured", handset+1)
		}
		if len(set.Conferences) == 0 {
			return errors.New("no conference is configured")
		}
		h := &set.Handsets[handset]
		next := 0
		for i, conf := range set.Conferences {
			if conf.ID == h.Conference {
				next = (i + 1) % len(set.Conferences)
			}
		}
		h.Conference = set.Conferences[next].ID
		name = set.Conferences[next].Name
		if name == "" {
			name = set.Conferences[next].ID
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("choose the next conference: %w", err)
	}
	return name, nil
}

// startMedia binds a negotiated call to a media session on conn and starts its goroutines.
func (c *conferencing) startMedia(call *sip.Call, conn *net.UDPConn, p *audiohub.Port, release func()) (*conferenceLeg, error) {
	session, codec, err := callSession(call, conn, 0)
	if err != nil {
		return nil, err
	}
	m := call.Media()
	pu, err := audiohub.NewPump(p, session, c.hub.Format().SampleRate, codec.ClockRate())
	if err != nil {
		return nil, err
	}
	p.SetMuted(false)
	ctx, cancel := context.WithCancel(context.Background())
	l := &conferenceLeg{call: call, session: session, port: p, ctx: ctx, stop: cancel, log: c.log}
	l.wg.Go(func() {
		if err := session.Run(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("media session", "call", call.ID(), "err", err)
		}
	})
	l.wg.Go(func() {
		if err := pu.Run(ctx); err != nil {
			c.log.Warn("audio pump stopped", "call", call.ID(), "err", err)
		}
	})
	// A re-INVITE from the conference moves the media, holds it or changes its codec.
	l.wg.Go(func() { l.follow(call.MediaChanges(), m.Codec) })
	// The media stops when the call ends, from either side; then the identity is free.
	l.wg.Go(func() {
		select {
		case <-call.Done():
			cancel()
		case <-ctx.Done():
		}
		release()
	})
	return l, nil
}

// A conferenceLeg is one handset's call: SIP dialog, media session and pump.
type conferenceLeg struct {
	call    *sip.Call
	session *media.Session
	port    *audiohub.Port
	ctx     context.Context // ends with the leg
	stop    context.CancelFunc
	log     *slog.Logger
	wg      sync.WaitGroup
	// held is set while we hold the call, or are about to: no audio is sent then, whatever
	// the far end's direction allows.
	held atomic.Bool
}

func (l *conferenceLeg) mute(on bool) { l.port.SetMuted(on) }

// hold implements leg. Holding stops the audio at once, before the far end answers;
// resuming starts it again once it agreed, as the media change that says so arrives.
func (l *conferenceLeg) hold(ctx context.Context, on bool) error {
	l.held.Store(on)
	if on {
		l.session.SetSending(false)
	}
	if err := l.call.Hold(ctx, on); err != nil {
		l.held.Store(!on)
		l.session.SetSending(on && l.call.Media().Direction.Sends())
		return err
	}
	l.session.SetSending(!on && l.call.Media().Direction.Sends())
	return nil
}

// follow applies the media changes of the call's re-INVITEs to its session until the call
// ends. codec is the one negotiated first. When telephone-event goes away the digits go
// by SIP INFO (sendDigits); when it comes back or is renumbered, as events on its new
// payload type.
func (l *conferenceLeg) follow(changes <-chan sip.Media, codec string) {
	for m := range changes {
		l.session.SetRemote(m.Remote)
		l.session.SetSending(m.Direction.Sends() && !l.held.Load())
		// telephone-event may take the payload type the old codec leaves: then it can
		// move only after the codec.
		dtmfErr := l.session.SetDTMFPayloadType(m.DTMFPayloadType)
		if m.Codec != codec {
			if err := l.switchCodec(m); err != nil {
				l.log.Warn("the conference changed the codec", "call", l.call.ID(), "err", err)
			} else {
				codec = m.Codec
			}
		}
		if dtmfErr != nil {
			if err := l.session.SetDTMFPayloadType(m.DTMFPayloadType); err != nil {
				l.log.Warn("the conference changed telephone-event", "call", l.call.ID(), "err", err)
			}
		}
	}
}

// switchCodec switches the session to the codec of m.
func (l *conferenceLeg) switchCodec(m sip.Media) error {
	next, ok := media.CodecByName(m.Codec)
	if !ok {
		return fmt.Errorf("codec %s is not supported", m.Codec)
	}
	return l.session.SetCodec(next, m.PayloadType)
}

// sendDigits sends DTMF digits into the call as RFC 4733 telephone events or, where the
// call did not negotiate them, as SIP INFO requests, one a digit, in the background.
func (l *conferenceLeg) sendDigits(digits string) error {
	err := l.session.SendDTMF(digits, 0, 0)
	if !errors.Is(err, media.ErrNoTelephoneEvent) {
		return err
	}
	for _, d := range digits {
		if !strings.ContainsRune("0123456789*#ABCDabcd", d) {
			return fmt.Errorf("send DTMF %q: %q is not a DTMF digit", digits, d)
		}
	}
	l.wg.Go(func() {
		for _, d := range digits {
			ctx, cancel := context.WithTimeout(l.ctx, infoTimeout)
			err := l.call.SendInfoDTMF(ctx, d, 0)
			cancel()
			if err != nil {
				l.log.Warn("send DTMF by SIP INFO", "call", l.call.ID(), "err", err)
				return
			}
		}
	})
	return nil
}

// infoTimeout bounds each SIP INFO that carries a digit.
const infoTimeout = 5 * time.Second

// pinDelay is how long after the conference answers the PIN is sent: long enough for the
// conference's prompt to start, so that the digits are not taken for noise.
const pinDelay = 2 * time.Second

// sendPINLater sends the conference PIN once pinDelay has passed, unless the call ends first.
func (l *conferenceLeg) sendPINLater(pin string) {
	l.wg.Go(func() {
		t := time.NewTimer(pinDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.ctx.Done():
			return
		}
		if err := l.sendDigits(pin); err != nil {
			l.log.Warn("send the conference PIN", "call", l.call.ID(), "err", err)
		}
	})
}

func (l *conferenceLeg) quality() media.Stats { return l.session.Stats() }

func (l *conferenceLeg) hangup(ctx context.Context) error {
	err := l.call.Hangup(ctx)
	l.stop()
	l.wg.Wait()
	return err
}

func (l *conferenceLeg) done() <-chan struct{} { return l.call.Done() }

func (l *conferenceLeg) err() error {
	l.stop()
	l.wg.Wait()
	return l.call.Err()
}

// A joinPlan is what placing one handset's call needs, taken from the settings.
type joinPlan struct {
	name        string // the handset's name, for messages
	pin         string // the conference PIN, sent as DTMF once it answers
	channel     int
	target      string
	displayName string
	account     sip.Account
	identity    sip.Identity

	micGainDB, earGainDB float64 // the handset's levels, applied as the call starts
	sidetonePercent      int
	micAGC               bool
}

// planJoin checks that handset can join its conference and says what is missing if not.
func planJoin(set config.Settings, handset int) (joinPlan, error) {
	if handset < 0 || handset >= len(set.Handsets) {
		return joinPlan{}, fmt.Errorf("handset %d is not configured", handset+1)
	}
	h := set.Handsets[handset]
	conf, ok := findConference(set, h.Conference)
	if !ok || conf.URI == "" {
		return joinPlan{}, fmt.Errorf("%s has no conference to join: set its conference URI on the admin page", h.Name)
	}
	acc, ok := findAccount(set, h.Account)
	if !ok {
		return joinPlan{}, fmt.Errorf("%s has no SIP account: choose one on the admin page", h.Name)
	}
	display := h.DisplayName
	if display == "" {
		display = h.Name
	}
	return joinPlan{
		name:        h.Name,
		pin:         conf.PIN,
		channel:     h.Channel,
		target:      conf.URI,
		displayName: display,
		account:     sipAccount(acc),
		identity:    sipIdentity(h),

		micGainDB:       h.MicGainDB,
		earGainDB:       h.EarGainDB,
		sidetonePercent: h.SidetonePercent,
		micAGC:          h.MicAGC,
	}, nil
}

// sipIdentity is how handset h presents itself on the wire.
func sipIdentity(h config.Handset) sip.Identity {
	return sip.Identity{
		Mode:    sip.IdentityMode(h.Identity),
		URI:     h.IdentityURI,
		Prefix:  h.IdentityPrefix,
		Assert:  h.AssertIdentity,
		Private: h.Private,
	}
}

// presentedURI is the identity a plan puts into the conference, as the claims compare
// them; "" for a generated identity, which is new for every call and so never collides.
func (p joinPlan) presentedURI() string {
	switch p.identity.Mode {
	case sip.IdentityImpersonate:
		return p.identity.URI
	case sip.IdentityGenerated:
		return ""
	}
	return p.account.AOR()
}

func findConference(set config.Settings, id string) (config.Conference, bool) {
	for _, c := range set.Conferences {
		if c.ID == id {
			return c, true
		}
	}
	return config.Conference{}, false
}

func findAccount(set config.Settings, id string) (config.Account, bool) {
	for _, a := range set.Accounts {
		if id != "" && a.ID == id {
			return a, true
		}
	}
	return config.Account{}, false
}
