// Package legs places the appliance's calls into conferences: the handsets' calls, the
// service legs (recorder, announcer) and the two halves of a bridged call. One Plan says
// what a leg presents and where it goes, one Dial opens its RTP socket and joins, and one
// Leg is the call with its socket and, once started, its media session.
package legs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"partyline/media"
	"partyline/sip"
)

const (
	// JoinTimeout bounds a service leg's join from INVITE to the final answer.
	JoinTimeout = 30 * time.Second
	// HangupTimeout bounds the BYE sent when a leg ends from our side, even when the
	// context it is given is done already.
	HangupTimeout = 2 * time.Second
)

// A Plan is what placing a leg into a conference needs, taken from the settings.
type Plan struct {
	Target      string // the conference URI
	DisplayName string
	Account     sip.Account // the account that authenticates the call
	Identity    sip.Identity
	// RTPTimeout ends the leg when no RTP came for this long while it was expected (not
	// on hold); 0 means media.DefaultRTPTimeout, negative never.
	RTPTimeout time.Duration
}

// Presents returns the From URI the leg presents, as sip works it out; fixed is false for
// a generated identity, which is new for every call and so never collides with another.
func (p Plan) Presents() (uri string, fixed bool) { return p.Identity.Presents(p.Account) }

// Describe says how the leg appears in its conference, for the dashboard and the call
// history: `"display name" <uri>`, with ", new for every call" for a generated identity.
func (p Plan) Describe() string {
	uri, fixed := p.Presents()
	if !fixed {
		return fmt.Sprintf("%q <%s>, new for every call", p.DisplayName, uri)
	}
	return fmt.Sprintf("%q <%s>", p.DisplayName, uri)
}

// A Leg is one call of the appliance's: the SIP call and the RTP socket of its media,
// and, once StartMedia made it, the media session on that socket. Its goroutines end
// with it: when the call ends, from either side, or Hangup or Err is called.
type Leg struct {
	call    *sip.Call
	conn    *net.UDPConn
	log     *slog.Logger
	ctx     context.Context // ends with the leg
	stop    context.CancelFunc
	wg      sync.WaitGroup
	session *media.Session // nil until StartMedia
	// held is set while we hold the call, or are about to: no audio is sent then, whatever
	// the far end's direction allows.
	held atomic.Bool
	// rtpTimeout is how long RTP may stay away before the leg ends (see StartMedia);
	// noRTP is set when it did.
	rtpTimeout time.Duration
	noRTP      atomic.Bool
	// tap is told of the datagrams of the leg's media (the agent's Tap); nil = none.
	tap media.Tap
	// dtmf is how SendDigits sends: sip.DTMFAuto (also ""), sip.DTMFRFC4733 or sip.DTMFInfo.
	dtmf string
	// problem, if set (OnProblem), is told of the call's failures that do not end it.
	problem atomic.Pointer[func(string)]
}

// OnProblem has the leg tell report, besides its log, of each failure that does not end
// the call: a PIN or digits not sent, a media change that could not be followed, a media
// session that stopped. report runs on one of the leg's goroutines and must not block.
func (l *Leg) OnProblem(report func(text string)) { l.problem.Store(&report) }

// warn logs a failure of the call and reports it as OnProblem asked, with text saying what
// failed.
func (l *Leg) warn(text string, err error) {
	l.log.Warn(text, "call", l.call.ID(), "err", err)
	if report := l.problem.Load(); report != nil {
		(*report)(text + ": " + err.Error())
	}
}

// ErrNoMedia is why a leg ended that heard no RTP for its plan's RTPTimeout while it was
// not on hold: the far end vanished without a BYE, or the network between is cut.
var ErrNoMedia = errors.New("no audio from the conference")

// Dial opens an RTP socket on the agent's address, places the call of p, and returns
// the leg; the socket is closed again when the call fails.
func Dial(ctx context.Context, agent *sip.Agent, p Plan, log *slog.Logger) (*Leg, error) {
	conn, err := listenRTP(agent)
	if err != nil {
		return nil, err
	}
	call, err := agent.Join(ctx, sip.JoinRequest{
		Target:      p.Target,
		DisplayName: p.DisplayName,
		Account:     p.Account,
		Identity:    p.Identity,
		LocalMedia:  localMedia(conn),
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	l := newLeg(call, conn, agent, log)
	l.rtpTimeout = p.RTPTimeout
	l.dtmf = p.Account.DTMF
	return l, nil
}

// Answer opens an RTP socket on the agent's address and answers the incoming call in
// on it; the socket is closed again when the answer fails.
func Answer(ctx context.Context, agent *sip.Agent, in *sip.Incoming, log *slog.Logger) (*Leg, error) {
	conn, err := listenRTP(agent)
	if err != nil {
		return nil, err
	}
	call, err := in.Answer(ctx, localMedia(conn))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return newLeg(call, conn, agent, log), nil
}

func newLeg(call *sip.Call, conn *net.UDPConn, agent *sip.Agent, log *slog.Logger) *Leg {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Leg{call: call, conn: conn, log: log, ctx: ctx, stop: cancel}
	if t := agent.Tap(); t != nil {
		l.tap = t // the same datagram recorder sees the media as the agent's SIP
	}
	// The leg ends when its call does, from either side.
	l.wg.Go(func() {
		select {
		case <-call.Done():
			cancel()
		case <-ctx.Done():
		}
	})
	return l
}

// listenRTP opens an RTP socket on the SIP agent's address (all addresses when it
// listens on all), on a port the system picks.
func listenRTP(agent *sip.Agent) (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(agent.Addr().Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("open RTP socket: %w", err)
	}
	return conn, nil
}

// localMedia is the address of an RTP socket as an SDP offer gives it.
func localMedia(conn *net.UDPConn) netip.AddrPort {
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
}

// Call is the leg's SIP call.
func (l *Leg) Call() *sip.Call { return l.call }

// Conn is the leg's RTP socket, for a leg whose media is relayed rather than run by a
// session of its own.
func (l *Leg) Conn() *net.UDPConn { return l.conn }

// Tap is what is told of the datagrams of the leg's media, nil for nothing: a relay of
// the leg's socket tells it too.
func (l *Leg) Tap() media.Tap { return l.tap }

// Identity is the From URI the call presents.
func (l *Leg) Identity() string { return l.call.Identity() }

// StartMedia binds the negotiated call to a media session on the leg's socket, with
// packets of ptime (0: the session's default), and runs it until the leg ends. The
// session's Receive reads what arrived (media.SessionConfig.ReadOnReceive): call it once a
// packet time.
func (l *Leg) StartMedia(ptime time.Duration) (*media.Session, error) {
	m := l.call.Media()
	codec, ok := media.CodecByName(m.Codec)
	if !ok {
		return nil, fmt.Errorf("negotiated codec %s is not supported", m.Codec)
	}
	session, err := media.NewSession(l.conn, media.SessionConfig{
		Codec:           codec,
		PayloadType:     m.PayloadType,
		DTMFPayloadType: m.DTMFPayloadType,
		Remote:          m.Remote,
		PacketTime:      ptime,
		SRTP:            srtpKeys(m.SRTP),
		RTPTimeout:      l.rtpTimeout,
		Tap:             l.tap,
		ReadOnReceive:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("start media: %w", err)
	}
	l.session = session
	l.wg.Go(func() {
		if err := session.Run(l.ctx); err != nil && l.ctx.Err() == nil {
			l.warn("the call's audio stopped", err)
		}
	})
	l.wg.Go(l.endWithoutRTP)
	return session, nil
}

// endWithoutRTP hangs the call up when its session heard no RTP for the timeout while
// RTP was expected, so that a conference that vanished does not hold the handset: Err
// says so then.
func (l *Leg) endWithoutRTP() {
	select {
	case <-l.session.TimedOut():
	case <-l.ctx.Done():
		return
	}
	l.noRTP.Store(true)
	l.log.Warn("no audio from the far end: hanging up", "call", l.call.ID(), "after", l.timeout())
	ctx, cancel := context.WithTimeout(context.Background(), HangupTimeout)
	defer cancel()
	if err := l.call.Hangup(ctx); err != nil {
		l.log.Debug("hang up a leg without audio", "call", l.call.ID(), "err", err)
	}
}

// timeout is the leg's RTP timeout in force.
func (l *Leg) timeout() time.Duration {
	if l.rtpTimeout == 0 {
		return media.DefaultRTPTimeout
	}
	return l.rtpTimeout
}

// Go runs f on a goroutine of the leg's, with a context that ends with the leg: when its
// call ends, from either side, or it is hung up. Hangup and Err wait for f to return.
func (l *Leg) Go(f func(ctx context.Context)) { l.wg.Go(func() { f(l.ctx) }) }

// WhenEnded calls f once the leg has ended.
func (l *Leg) WhenEnded(f func()) {
	l.Go(func(ctx context.Context) {
		<-ctx.Done()
		f()
	})
}

// FollowMedia applies the media changes of the call's re-INVITEs to its session until the
// call ends: a conference may move the media, hold it, change its codec or renumber
// telephone-event. Call it after StartMedia.
func (l *Leg) FollowMedia() {
	first := l.call.Media()
	l.wg.Go(func() { l.follow(l.call.MediaChanges(), first) })
}

// follow applies the media changes until changes closes. first is what was negotiated
// first. When telephone-event goes away the digits go by SIP INFO (SendDigits); when it
// comes back or is renumbered, as events on its new payload type. New SRTP keys take over
// at once.
func (l *Leg) follow(changes <-chan sip.Media, first sip.Media) {
	codec, keys := first.Codec, first.SRTP
	for m := range changes {
		if m.SRTP != keys {
			if err := l.session.SetSRTP(srtpKeys(m.SRTP)); err != nil {
				l.warn("the conference changed the SRTP keys, which failed", err)
			}
			keys = m.SRTP
		}
		l.session.SetRemote(m.Remote)
		l.applyDirection(m.Direction)
		// telephone-event may take the payload type the old codec leaves: then it can
		// move only after the codec.
		dtmfErr := l.session.SetDTMFPayloadType(m.DTMFPayloadType)
		if m.Codec != codec {
			if err := l.switchCodec(m); err != nil {
				l.warn("the conference changed the codec, which failed", err)
			} else {
				codec = m.Codec
			}
		}
		if dtmfErr != nil {
			if err := l.session.SetDTMFPayloadType(m.DTMFPayloadType); err != nil {
				l.warn("the conference changed telephone-event, which failed", err)
			}
		}
	}
}

// srtpKeys converts the SRTP keys a call settled for its media session: nil for plain
// RTP.
func srtpKeys(k sip.SRTPKeys) *media.SRTPKeys {
	if !k.On() {
		return nil
	}
	return &media.SRTPKeys{Local: k.Local[:], Remote: k.Remote[:]}
}

// switchCodec switches the session to the codec of m.
func (l *Leg) switchCodec(m sip.Media) error {
	next, ok := media.CodecByName(m.Codec)
	if !ok {
		return fmt.Errorf("codec %s is not supported", m.Codec)
	}
	return l.session.SetCodec(next, m.PayloadType)
}

// Hold puts the call on hold (on) or takes it off, and returns once the far end agreed.
// Holding stops the audio at once, before the far end answers; resuming starts it again
// once it agreed, as the media change that says so arrives.
func (l *Leg) Hold(ctx context.Context, on bool) error {
	l.held.Store(on)
	if on {
		l.session.SetSending(false)
		l.session.SetRTPExpected(false)
	}
	if err := l.call.Hold(ctx, on); err != nil {
		l.held.Store(!on)
		l.applyDirection(l.call.Media().Direction)
		return err
	}
	l.applyDirection(l.call.Media().Direction)
	return nil
}

// applyDirection sends audio when dir and our own hold allow it, and expects RTP only when
// both ways flow: a far end that holds us, or that we hold, rightly sends nothing.
func (l *Leg) applyDirection(dir sip.Direction) {
	held := l.held.Load()
	l.session.SetSending(dir.Sends() && !held)
	l.session.SetRTPExpected(dir == sip.SendRecv && !held)
}

// infoTimeout bounds each SIP INFO that carries a digit.
const infoTimeout = 5 * time.Second

// SendDigits sends DTMF digits into the call as its account's DTMF mode says: as RFC 4733
// telephone events or, where the call did not negotiate them (auto) or always (info), as
// SIP INFO requests, one a digit, in the background: a failure then is logged and reported
// (OnProblem). In the rfc4733 mode a call without telephone events returns
// media.ErrNoTelephoneEvent.
func (l *Leg) SendDigits(digits string) error { return l.sendDigits(digits, "digits") }

// sendDigits is SendDigits of the digits called what in its failures.
func (l *Leg) sendDigits(digits, what string) error {
	if !strings.EqualFold(l.dtmf, sip.DTMFInfo) {
		err := l.session.SendDTMF(digits, 0, 0)
		if !errors.Is(err, media.ErrNoTelephoneEvent) || strings.EqualFold(l.dtmf, sip.DTMFRFC4733) {
			return err
		}
	}
	for _, d := range digits {
		if !strings.ContainsRune("0123456789*#ABCDabcd", d) {
			return fmt.Errorf("send DTMF %q: %q is not a DTMF digit", digits, d)
		}
	}
	l.Go(func(ctx context.Context) {
		for _, d := range digits {
			ictx, cancel := context.WithTimeout(ctx, infoTimeout)
			err := l.call.SendInfoDTMF(ictx, d, 0)
			cancel()
			if err != nil {
				l.warn(what+" not sent by SIP INFO", err)
				return
			}
		}
	})
	return nil
}

// pinDelay is how long after the conference answers the PIN is sent: long enough for the
// conference's prompt to start, so that the digits are not taken for noise.
const pinDelay = 2 * time.Second

// SendPINLater sends the conference PIN once pinDelay has passed, unless the call ends
// first.
func (l *Leg) SendPINLater(pin string) {
	l.Go(func(ctx context.Context) {
		t := time.NewTimer(pinDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if err := l.sendDigits(pin, "the conference PIN"); err != nil {
			l.warn("the conference PIN not sent", err)
		}
	})
}

// Session is the leg's media session, nil before StartMedia.
func (l *Leg) Session() *media.Session { return l.session }

// Quality returns the call's RTP figures so far; safe from any goroutine.
func (l *Leg) Quality() media.Stats { return l.session.Stats() }

// SampleRate is the sample rate of the audio Receive and Send take.
func (l *Leg) SampleRate() int { return l.session.Codec().ClockRate() }

// SamplesPerPacket is how many samples Receive and Send take at a time.
func (l *Leg) SamplesPerPacket() int { return l.session.SamplesPerPacket() }

// Receive fills pcm with the audio due now (see media.Session.Receive).
func (l *Leg) Receive(pcm []int16) bool { return l.session.Receive(pcm) }

// Send sends one packet of audio.
func (l *Leg) Send(pcm []int16) error { return l.session.Send(pcm) }

// Done is closed when the call has ended, from either side.
func (l *Leg) Done() <-chan struct{} { return l.call.Done() }

// Err says why the call ended, once Done is closed; the leg's goroutines have stopped when
// it returns.
func (l *Leg) Err() error {
	l.stop()
	l.wg.Wait()
	if l.noRTP.Load() {
		return fmt.Errorf("%w for %v", ErrNoMedia, l.timeout().Round(time.Second))
	}
	return l.call.Err()
}

// Hangup ends the call from our side, within HangupTimeout even when ctx is done, stops
// the leg's goroutines and closes its socket.
func (l *Leg) Hangup(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), HangupTimeout)
	defer cancel()
	err := l.call.Hangup(hctx)
	l.stop()
	l.wg.Wait()
	l.conn.Close() // the session, if any, closed it already
	return err
}
