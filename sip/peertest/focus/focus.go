// Package focus is a mixing conference focus for tests. Debian packages no mixing
// conference server (no Asterisk, FreeSWITCH or Yate), so the tests of the appliance's
// handsets, service legs and bridge join this one.
//
// A Focus is a SIP UAS on a 127.0.0.1 UDP port it picks. It answers an INVITE to any user
// (the user is the conference) with G.711 (PCMU or PCMA, whichever the offer names first)
// and telephone-event, gives each call its own RTP socket on 127.0.0.1, and mixes every
// conference N-1 in 20 ms ticks: each call hears the sum of all the others, clipped. It
// records what each call sent (decoded, up to Config.RecordLimit), the RFC 4733 digits it
// sent, and the identity it came with (From, display name, P-Asserted-Identity, Privacy),
// so that tests can check what went on the wire. It takes BYE, ACK and CANCEL, hangs up
// calls itself with Kick, and with Config.Events serves the conference event package
// (RFC 4575) to SUBSCRIBE.
//
// It trusts its peers: no authentication, no session timers, no retransmission of the 2xx
// of a re-INVITE (loopback does not lose datagrams), and it keeps nothing of Privacy but
// the record of it. It lives under sip/ because only sip and its packages may use sipgo.
package focus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultRecordLimit is how much audio Received keeps per call when Config.RecordLimit
// is 0.
const DefaultRecordLimit = 60 * time.Second

const (
	// readyTimeout bounds how long Start waits for sipgo to take over the socket: a
	// failsafe, generous for a busy machine.
	readyTimeout = 30 * time.Second
	// requestTimeout bounds each request the focus sends (BYE, NOTIFY).
	requestTimeout = 5 * time.Second
	// allowed lists the methods the focus answers, for Allow headers.
	allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
	// allowedEvents is allowed when the focus serves the conference event package.
	allowedEvents = allowed + ", SUBSCRIBE"
)

// Config configures Start.
type Config struct {
	// Log receives what the focus does; nil discards it.
	Log *slog.Logger
	// Events makes the focus serve the conference event package (RFC 4575): it advertises
	// "Allow-Events: conference" and the isfocus Contact parameter, accepts SUBSCRIBE with
	// "Event: conference" to any conference, and notifies the subscriber of the full
	// roster, then of each change. Without it, SUBSCRIBE gets 489 Bad Event.
	Events bool
	// UniqueIdentities refuses with 486 a call into a conference that already has a call
	// from the same From URI ringing or up, as conference servers with a unique roster do.
	UniqueIdentities bool
	// Refuse, if set, is asked about every well-formed INVITE before it is answered. A
	// status of 300 to 699 refuses the call with that status and reason; 0 admits it. It
	// runs on a goroutine of the focus, without its lock: it may call the Focus's methods.
	Refuse func(CallInfo) (status int, reason string)
	// AnswerDelay makes calls ring (180) this long before the focus answers them; a CANCEL
	// in that time ends them with 487.
	AnswerDelay time.Duration
	// RecordLimit bounds the audio Received keeps of each call (the first RecordLimit of
	// it); 0 means DefaultRecordLimit.
	RecordLimit time.Duration
	// Addr is the 127.0.0.1 UDP address to serve SIP on, as the address of a focus that
	// was closed, for one that comes back where it was; the zero value picks a free port.
	Addr netip.AddrPort
}

// A CallState is where a call stands.
type CallState string

// Call states.
const (
	Ringing CallState = "ringing" // taken, not answered yet
	Up      CallState = "up"      // answered: the call is mixed into its conference
	Ended   CallState = "ended"   // refused, cancelled or hung up
)

// CallInfo describes one INVITE the focus took, as it came.
type CallInfo struct {
	CallID      string
	Conference  string // the user part of the Request-URI
	RequestURI  string
	From        string // the From URI
	DisplayName string // the From display name
	PAI         string // the P-Asserted-Identity header, "" if none
	Privacy     string // the Privacy header, "" if none
	Contact     string // the Contact URI
	UserAgent   string // the User-Agent header

	// What offer/answer settled, once it did.
	Codec           string         // "PCMU" or "PCMA"
	DTMFPayloadType uint8          // telephone-event's payload type, 0 if not offered
	Direction       string         // the caller's: sendrecv, sendonly, recvonly or inactive
	RTP             netip.AddrPort // the focus's RTP socket for the call
	RemoteRTP       netip.AddrPort // where the focus sends the call's RTP

	State     CallState
	Status    int    // the final response to the INVITE: 200, or why it was refused
	EndReason string // why it ended: "BYE from caller", "kicked", "cancelled", "refused", ...

	ReceivedSamples int    // samples of audio received so far (8 kHz), as Received returns them
	Digits          string // the keys received (RFC 4733 events or SIP INFO): 0-9, *, #, A-D
}

// A Focus is a running conference focus. Its methods are safe for concurrent use.
type Focus struct {
	cfg         Config
	log         *slog.Logger
	recordLimit int // samples
	conn        *net.UDPConn
	addr        netip.AddrPort
	ua          *sipgo.UserAgent
	srv         *sipgo.Server
	client      *sipgo.Client
	dialogs     *sipgo.DialogUA

	ctx       context.Context // ends when the focus closes
	stop      context.CancelFunc
	wg        sync.WaitGroup // every goroutine of the focus, and the handlers sipgo runs
	closeOnce sync.Once

	mu      sync.Mutex // guards following, and the calls' and subscriptions' state
	closed  bool
	calls   map[string]*call // by Call-ID
	order   []*call          // in the order their INVITEs came
	tones   map[string]*tone // by conference
	subs    map[string]*subscription
	changed chan struct{} // closed, and replaced, whenever any of the above changes
}

// A call is one INVITE's dialog and media.
type call struct {
	info       CallInfo
	dlg        *sipgo.DialogServerSession // nil for calls refused before a dialog existed
	offer      offer
	leg        *leg // nil until the media is set up
	sdpID      uint64
	sdpVersion uint64        // of the last SDP answer
	ended      chan struct{} // closed when the call ends
}

// Start starts a focus on a free 127.0.0.1 UDP port (or Config.Addr). It fails t if the focus cannot
// start, and closes the focus in t.Cleanup.
func Start(t testing.TB, cfg Config) *Focus {
	t.Helper()
	f, err := start(cfg)
	if err != nil {
		t.Fatalf("start focus: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

func start(cfg Config) (*Focus, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := cfg.RecordLimit
	if limit <= 0 {
		limit = DefaultRecordLimit
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(cmp.Or(cfg.Addr, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0))))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	f := &Focus{
		cfg:         cfg,
		log:         log,
		recordLimit: int(limit / (time.Second / sampleRate)),
		conn:        conn,
		addr:        conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		ctx:         ctx,
		stop:        stop,
		calls:       make(map[string]*call),
		tones:       make(map[string]*tone),
		subs:        make(map[string]*subscription),
		changed:     make(chan struct{}),
	}
	if err := f.startSIP(); err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	f.wg.Go(f.mix)
	log.Info("focus listening", "addr", f.addr, "events", cfg.Events)
	return f, nil
}

// startSIP serves SIP on f.conn and waits until sipgo can send from it.
func (f *Focus) startSIP() error {
	sipLog := f.log.With("sipgo", true)
	var err error
	f.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("partyline-focus"),
		sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(sipLog),
			// Retransmitted answers after their transaction ended: nothing to do.
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(res *sipmsg.Response) {
				f.log.Debug("unmatched response", "response", res.StartLine())
			}),
		),
	)
	if err != nil {
		return fmt.Errorf("user agent: %w", err)
	}
	if f.srv, err = sipgo.NewServer(f.ua, sipgo.WithServerLogger(sipLog)); err != nil {
		f.ua.Close()
		return fmt.Errorf("server: %w", err)
	}
	// The socket is pooled under LocalAddr().String(); only that key makes the client
	// send from it (research/sip.md section 5.1).
	f.client, err = sipgo.NewClient(f.ua,
		sipgo.WithClientHostname(f.addr.Addr().String()),
		sipgo.WithClientPort(int(f.addr.Port())),
		sipgo.WithClientConnectionAddr(f.conn.LocalAddr().String()),
		sipgo.WithClientLogger(sipLog),
	)
	if err != nil {
		f.ua.Close()
		return fmt.Errorf("client: %w", err)
	}
	f.dialogs = &sipgo.DialogUA{Client: f.client, ContactHDR: f.contact("focus")}

	// Every handler before serving: sipgo keeps them in a plain map.
	f.srv.OnInvite(f.track(f.onInvite))
	f.srv.OnAck(f.track(f.onAck))
	f.srv.OnBye(f.track(f.onBye))
	f.srv.OnCancel(f.track(f.onCancel))
	f.srv.OnOptions(f.track(f.onOptions))
	f.srv.OnInfo(f.track(f.onInfo))
	f.srv.OnSubscribe(f.track(f.onSubscribe))
	f.srv.OnNoRoute(f.track(f.onOther))

	served := make(chan error, 1)
	f.wg.Go(func() { served <- f.srv.ServeUDP(f.conn) })
	if err := awaitPooled(f.ua, f.conn, served); err != nil {
		f.conn.Close()
		f.ua.Close()
		f.wg.Wait()
		return err
	}
	return nil
}

// awaitPooled waits until sipgo has pooled conn as the connection clients send from.
// Until then a request would make sipgo bind a second socket to the same address and fail
// (sipgo issue #367: its ready signal comes before the pool entry).
func awaitPooled(ua *sipgo.UserAgent, conn *net.UDPConn, served <-chan error) error {
	key := conn.LocalAddr().String()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(readyTimeout)
	for {
		if c, err := ua.TransportLayer().GetConnection("udp", key); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			return nil
		}
		select {
		case err := <-served:
			return fmt.Errorf("serve udp %s: %v", key, err)
		case <-deadline:
			return fmt.Errorf("serve udp %s: socket not in use after %v", key, readyTimeout)
		case <-tick.C:
		}
	}
}

// track runs h as one of the focus's goroutines, so that Close waits for it, and answers
// 503 once the focus is closing.
func (f *Focus) track(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			if !req.IsAck() {
				f.reply(tx, req, sipmsg.StatusServiceUnavailable, "Focus Closing")
			}
			return
		}
		f.wg.Add(1)
		f.mu.Unlock()
		defer f.wg.Done()
		h(req, tx)
	}
}

// contact returns the focus's Contact for user, with the isfocus feature parameter
// (RFC 4579 section 3) when the focus serves conference events.
func (f *Focus) contact(user string) sipmsg.ContactHeader {
	c := sipmsg.ContactHeader{Address: sipmsg.Uri{
		Scheme: "sip", User: user, Host: f.addr.Addr().String(), Port: int(f.addr.Port()),
	}}
	if f.cfg.Events {
		c.Params = sipmsg.NewParams()
		c.Params.Add("isfocus", "")
	}
	return c
}

// Addr returns the UDP address the focus serves SIP on.
func (f *Focus) Addr() netip.AddrPort { return f.addr }

// URI returns the SIP URI of conference on the focus.
func (f *Focus) URI(conference string) string {
	return fmt.Sprintf("sip:%s@%s", conference, f.addr)
}

// Calls returns every INVITE the focus took, in the order they came.
func (f *Focus) Calls() []CallInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callsLocked()
}

func (f *Focus) callsLocked() []CallInfo {
	out := make([]CallInfo, len(f.order))
	for i, c := range f.order {
		out[i] = c.info
	}
	return out
}

// Call returns what the focus knows of the call with callID.
func (f *Focus) Call(callID string) (CallInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[callID]
	if !ok {
		return CallInfo{}, false
	}
	return c.info, true
}

// Received returns the audio the call with callID sent, decoded to 8 kHz PCM, in the
// order it arrived and up to Config.RecordLimit; nil for a call it does not know.
func (f *Focus) Received(callID string) []int16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[callID]
	if !ok || c.leg == nil {
		return nil
	}
	return slices.Clone(c.leg.recorded)
}

// Await blocks until cond holds for the calls (as Calls returns them), checking whenever
// a call changes, including each audio packet received. It returns ctx's error if ctx
// ends first, and an error if the focus closes first.
func (f *Focus) Await(ctx context.Context, cond func([]CallInfo) bool) error {
	for {
		f.mu.Lock()
		calls, changed, closed := f.callsLocked(), f.changed, f.closed
		f.mu.Unlock()
		if cond(calls) {
			return nil
		}
		if closed {
			return errors.New("await: the focus is closed")
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("await: %w", context.Cause(ctx))
		}
	}
}

// changedLocked wakes Await and the subscriptions.
func (f *Focus) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Kick hangs up the call with callID: the focus sends BYE and takes the call out of its
// conference. It returns once the BYE is answered.
func (f *Focus) Kick(callID string) error {
	f.mu.Lock()
	c, ok := f.calls[callID]
	var dlg *sipgo.DialogServerSession
	if ok && c.info.State == Up {
		dlg = c.dlg
	}
	f.mu.Unlock()
	if dlg == nil {
		return fmt.Errorf("kick %s: no such call up", callID)
	}
	ctx, cancel := context.WithTimeout(f.ctx, requestTimeout)
	defer cancel()
	err := dlg.Bye(ctx)
	f.endCall(c, "kicked")
	if err != nil {
		return fmt.Errorf("kick %s: BYE: %w", callID, err)
	}
	return nil
}

// Close ends every call (without BYE: as a focus that vanished) and subscription, stops
// the focus and waits for its goroutines. It is safe to call more than once.
func (f *Focus) Close() {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		calls := slices.Clone(f.order)
		f.mu.Unlock()
		f.stop()
		for _, c := range calls {
			f.endCall(c, "focus closed")
		}
		f.ua.Close()
		f.conn.Close() // ends ServeUDP
		f.wg.Wait()
		f.mu.Lock()
		f.changedLocked()
		f.mu.Unlock()
		f.log.Info("focus closed", "addr", f.addr)
	})
}

// endCall ends c with reason, once: it leaves its conference and its media stops.
func (f *Focus) endCall(c *call, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.info.State == Ended {
		return
	}
	c.info.State, c.info.EndReason = Ended, reason
	close(c.ended)
	if c.leg != nil {
		c.leg.conn.Close() // ends the receive loop
	}
	if c.dlg != nil {
		_ = c.dlg.Close()
	}
	f.updatedLocked()
	f.log.Info("call ended", "call", c.info.CallID, "conference", c.info.Conference, "reason", reason)
}
