package appliance_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web"
	"partyline/hw/sim"
	"partyline/media"
	"partyline/sip/peertest"
	"partyline/sip/peertest/faultproxy"
)

// A faultRig is a rig whose conference (SIPp) the appliance reaches through fault
// proxies, as across a network that can fail: sip carries the SIP between Kamailio and
// SIPp, rtp the RTP between the appliance and SIPp.
type faultRig struct {
	*rig
	sip, rtp *faultproxy.Proxy
}

// startFaultRig starts a rig on scenario whose SIPp handles calls calls, with the proxies
// between the appliance and SIPp: SIPp's Contact and SDP name the proxies, and Kamailio
// routes the conference's INVITEs to the SIP proxy.
func startFaultRig(t *testing.T, scenario string, calls int, edits ...func(*settings.Settings)) *faultRig {
	t.Helper()
	rtp := faultproxy.Start(t, netip.AddrPort{}, 1)
	sipProxy := faultproxy.Start(t, netip.AddrPort{}, 1)
	for _, r := range []struct{ old, new string }{
		{"m=audio [media_port] ", fmt.Sprintf("m=audio %d ", rtp.Addr().Port())},
		{"Contact: <sip:127.0.0.1:[local_port];", "Contact: <sip:" + sipProxy.Addr().String() + ";"},
	} {
		if !strings.Contains(scenario, r.old) {
			t.Fatalf("the scenario lacks %q", r.old)
		}
		scenario = strings.ReplaceAll(scenario, r.old, r.new)
	}
	sipp := peertest.StartSIPp(t, peertest.SIPpConfig{
		Scenario: scenario, RTPEcho: true, Calls: calls,
		Args: []string{"-timeout", "600s"}, // the faults take longer than peertest's default
	})
	rtp.SetServer(sipp.MediaAddr())
	sipProxy.SetServer(sipp.Addr())
	kam := peertest.StartKamailio(t, peertest.KamailioConfig{
		Domain: domain,
		Realm:  realm,
		Users:  map[string]string{"alice": password},
		Routes: map[string]netip.AddrPort{"conf": sipProxy.Addr()},
	})
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), kam.Addr().String(), edits...)
	r := runAppliance(t, dir, sim.New(2))
	r.sipp, r.kam = sipp, kam
	return &faultRig{rig: r, sip: sipProxy, rtp: rtp}
}

// cut blackholes (or, with false, restores) everything between the appliance and the
// conference, SIP and RTP, both ways.
func (f *faultRig) cut(on bool) {
	f.sip.SetBoth(faultproxy.Fault{Blackhole: on})
	f.rtp.SetBoth(faultproxy.Fault{Blackhole: on})
}

// hearsNothing waits until earpiece 1 is silent: the concealment of the lost audio has
// faded out.
func (r *rig) hearsNothing(when string) {
	r.t.Helper()
	r.waitUntil(when+": earpiece 1 silent", func() bool {
		return media.LevelDBFS(r.board.Audio().Earpiece(0, 500*time.Millisecond)) < -60
	})
}

// networkCut is how long TestNetworkCutMidCall cuts the network: less than the RTP
// timeout (30 s by default).
const networkCut = 20 * time.Second

// TestNetworkCutMidCall cuts everything between the appliance and the conference, SIP
// and RTP both ways, for 20 s in the middle of a call, with the RTP timeout at its default
// of 30 s: the server keeps the call, and so does the appliance. The handset stays in the
// call through the cut; once the network is back, the conference's audio is heard again
// (the jitter buffer takes up the stream after its gap), and nothing is stuck: the
// handset hangs up, and the next lift joins and hears the conference.
func TestNetworkCutMidCall(t *testing.T) {
	t.Parallel()
	f := startFaultRig(t, peertest.ScenarioEcho, 2)
	f.waitFor("the account to register", registered)
	f.board.Hook(0).Set(true)
	f.waitFor("handset 1 in the call", handsetState(0, "in call"))
	f.hearsItsOwnTone("before the cut")

	f.cut(true)
	cutAt := time.Now()
	f.hearsNothing("during the cut")
	for time.Since(cutAt) < networkCut {
		if st := f.status(); st.Handsets[0].State != "in call" {
			t.Fatalf("%v into the cut: handset 1 %q (%s), want still in the call", time.Since(cutAt).Round(time.Second), st.Handsets[0].State, st.Handsets[0].Detail)
		}
		time.Sleep(time.Second)
	}
	lostBefore := f.status().Handsets[0].Quality.Lost
	f.cut(false)
	backAt := time.Now()

	f.hearsItsOwnTone("after the cut")
	t.Logf("the conference was heard again %v after the network came back", time.Since(backAt).Round(100*time.Millisecond))
	st := f.status()
	if h := st.Handsets[0]; h.State != "in call" || h.LED != "on" {
		t.Errorf("after the cut: handset 1 %q, LED %q; want in the call, LED on", h.State, h.LED)
	}
	if q := st.Handsets[0].Quality; q.Lost <= lostBefore {
		t.Errorf("after the cut: %d packets lost, as many as before the network came back: the dashboard does not count the cut's loss", q.Lost)
	}
	if dropped := f.rtp.Counts(faultproxy.Up).Dropped + f.rtp.Counts(faultproxy.Down).Dropped; dropped == 0 {
		t.Error("the proxy dropped no RTP: the cut cut nothing")
	}

	f.board.Hook(0).Set(false)
	f.waitFor("handset 1 idle", handsetState(0, "idle"))
	if calls := f.history(); len(calls) != 1 || calls[0].End != settings.EndLocal {
		t.Errorf("call history: %+v, want the call, ended by us", calls)
	}
	f.board.Hook(0).Set(true)
	f.waitFor("handset 1 in the next call", handsetState(0, "in call"))
	f.hearsItsOwnTone("in the next call")
}

// TestHangUpInTheCutThenLiftAgain hangs up while the network to the conference is cut, so
// that the BYE gets no answer, and lifts the handset again at once: the handset shows
// idle as soon as it is replaced, and the next lift is not refused as though another
// handset held its identity while the BYE goes unanswered; it joins once the network is
// back.
func TestHangUpInTheCutThenLiftAgain(t *testing.T) {
	t.Parallel()
	f := startFaultRig(t, peertest.ScenarioEcho, 2)
	f.waitFor("the account to register", registered)
	f.board.Hook(0).Set(true)
	f.waitFor("handset 1 in the call", handsetState(0, "in call"))

	f.cut(true)
	f.board.Hook(0).Set(false)
	f.waitFor("handset 1 idle", handsetState(0, "idle"))
	f.board.Hook(0).Set(true)
	// The cut goes on a while after the lift: long enough for a join refused at once to
	// show it, not so long that Kamailio gives the INVITE up (30 s).
	lifted := time.Now()
	for time.Since(lifted) < 5*time.Second {
		if h := f.status().Handsets[0]; h.State == "failed" {
			t.Fatalf("lifted again while the hang-up's BYE went unanswered: %q (%s), want it to join", h.State, h.Detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.cut(false)
	st := f.waitFor("handset 1 to join again", func(st web.Status) bool {
		return st.Handsets[0].State == "in call" || st.Handsets[0].State == "failed"
	})
	if h := st.Handsets[0]; h.State != "in call" {
		t.Fatalf("after the network came back: handset 1 %q (%s), want in the call", h.State, h.Detail)
	}
	f.hearsItsOwnTone("in the call after the cut")
}

// TestNetworkCutServerEndsTheCall cuts everything between the appliance and the
// conference for 20 s, during which the conference hangs up: its BYE is lost. The
// appliance's leg ends cleanly with the reason, by the BYE retransmitted once the network
// is back or, when the server gave up retransmitting it, by the RTP timeout: the LED
// blinks fast, the dashboard and the call history say why, and the handset goes back to
// idle.
func TestNetworkCutServerEndsTheCall(t *testing.T) {
	t.Parallel()
	const pause = `<pause milliseconds="2000"/>`
	if !strings.Contains(peertest.ScenarioHangup, pause) {
		t.Fatalf("ScenarioHangup lacks %s", pause)
	}
	// The conference hangs up 3 s after the ACK: within the cut, which starts as soon as
	// the call does.
	f := startFaultRig(t, strings.Replace(peertest.ScenarioHangup, pause, `<pause milliseconds="3000"/>`, 1), 1)
	f.waitFor("the account to register", registered)
	f.board.Hook(0).Set(true)
	f.waitFor("handset 1 in the call", handsetState(0, "in call"))
	f.cut(true)
	cutAt := time.Now()
	f.waitUntil("SIPp to send its BYE into the cut", func() bool { return f.sip.Counts(faultproxy.Down).Dropped > 0 })
	if time.Since(cutAt) >= networkCut {
		t.Fatal("the BYE came after the cut")
	}
	time.Sleep(networkCut - time.Since(cutAt))
	f.cut(false)

	st := f.waitFor("handset 1 to end the call", handsetState(0, "failed"))
	h := st.Handsets[0]
	remote := strings.Contains(h.Detail, "hung up")
	timedOut := strings.Contains(h.Detail, "no audio from the conference for 30s")
	if h.LED != "fast blink" || !remote && !timedOut {
		t.Errorf("handset 1 after the conference hung up in the cut: LED %q, detail %q; want fast blink and why", h.LED, h.Detail)
	}
	calls := f.history()
	if len(calls) != 1 || !(calls[0].End == settings.EndRemote && remote || calls[0].End == settings.EndFailed && timedOut && strings.Contains(calls[0].Detail, "no audio")) {
		t.Errorf("call history: %+v, want the call, ended by the conference or for want of audio", calls)
	}
	t.Logf("the call ended: %s", h.Detail)
	f.board.Hook(0).Set(false)
	f.waitFor("handset 1 idle", func(st web.Status) bool { return st.Handsets[0].State == "idle" && st.Handsets[0].LED == "off" })
}

// rtpFault is how long TestRTPLossAndJitter impairs the conference's RTP.
const rtpFault = 60 * time.Second

// A callSnapshot is what the dashboard shows of handset 1's call at one moment.
type callSnapshot struct {
	at                   time.Time
	received, late, lost uint64
	concealed, underruns uint64
	mos, jitterMS, rttMS float64
}

// snapshot reads handset 1's call figures from the dashboard's status; it fails the test
// if the handset is not in its call.
func (r *rig) snapshot(when string) callSnapshot {
	r.t.Helper()
	h := r.status().Handsets[0]
	if h.State != "in call" || h.Quality == nil {
		r.t.Fatalf("%s: handset 1 %q (%s), want in its call", when, h.State, h.Detail)
	}
	q := h.Quality
	return callSnapshot{at: time.Now(), received: q.PacketsReceived, late: q.Late, lost: q.Lost,
		concealed: q.Concealed, underruns: h.EarpieceUnderruns, mos: q.MOS, jitterMS: q.JitterMS, rttMS: q.RTTMS}
}

// metric returns the value of the sample named name (with its labels) in the admin page's
// metrics, failing the test if there is none.
func (r *rig) metric(name string) float64 {
	r.t.Helper()
	body := r.metrics()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				r.t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	r.t.Fatalf("the metrics lack %s:\n%s", name, body)
	return 0
}

// speech returns a second of handset i's tone and half a second of silence, as speech
// comes in talkspurts: the silences are where the jitter buffer gives up the delay it took
// on, unheard.
func speech(i int) []int16 {
	pcm := make([]int16, sim.SampleRate*3/2)
	media.NewTone(sim.SampleRate, sim.ToneHz(i), -17).Generate(pcm[:sim.SampleRate])
	return pcm
}

// since returns the packets received, concealments and earpiece underruns from s to t.
func (s callSnapshot) since(t callSnapshot) (received, concealed, underruns uint64) {
	return s.received - t.received, s.concealed - t.concealed, s.underruns - t.underruns
}

// TestRTPLossAndJitter loses 5 % of the conference's RTP on its way to the appliance and
// delays each packet by a random 0 to 60 ms (which reorders them), for 60 s in the middle
// of a call in which the handset talks in spurts, as people do. The MOS the dashboard
// shows drops while the fault lasts and recovers once it is over (the jitter buffer gives
// the delay it took on back in the pauses); the concealment counter moves with the loss;
// and the earpiece does not run dry over and over: the concealments stay near the packets
// lost or late, the earpiece's underruns near what the clean stretch before the fault had,
// and before and after the fault there are next to no concealments.
func TestRTPLossAndJitter(t *testing.T) {
	t.Parallel()
	f := startFaultRig(t, peertest.ScenarioEcho, 1)
	f.board.Audio().SetMic(0, speech(0))
	f.waitFor("the account to register", registered)
	f.board.Hook(0).Set(true)
	f.waitFor("handset 1 in the call", handsetState(0, "in call"))
	f.hearsItsOwnTone("before the fault")
	f.waitFor("the call's MOS", func(st web.Status) bool {
		q := st.Handsets[0].Quality
		return q != nil && q.MOS > 0
	})

	// A clean stretch as long as the window of the MOS, to count what a clean call does.
	cleanFrom := f.snapshot("before the fault")
	time.Sleep(10 * time.Second)
	faultFrom := f.snapshot("before the fault")

	f.rtp.Set(faultproxy.Down, faultproxy.Fault{Loss: 0.05, Jitter: 60 * time.Millisecond})
	worst := faultFrom
	for time.Since(faultFrom.at) < rtpFault {
		time.Sleep(time.Second)
		if s := f.snapshot("during the fault"); s.mos < worst.mos {
			worst = s
		}
	}
	faultTo := f.snapshot("at the end of the fault")
	metricsMOS := f.metric(`partyline_call_mos{handset="handset-1"}`)
	metricsConcealed := f.metric(`partyline_call_concealed_packets_total{handset="handset-1"}`)
	dropped := f.rtp.Counts(faultproxy.Down).Dropped
	f.rtp.Set(faultproxy.Down, faultproxy.Fault{})

	f.waitFor("the MOS to recover", func(st web.Status) bool {
		q := st.Handsets[0].Quality
		return q != nil && q.MOS >= faultFrom.mos-0.1
	})
	t.Logf("the MOS recovered %v after the fault", time.Since(faultTo.at).Round(time.Second))
	afterFrom := f.snapshot("after the fault")
	time.Sleep(10 * time.Second)
	afterTo := f.snapshot("after the fault")
	f.hearsItsOwnTone("after the fault")

	t.Logf("MOS %.2f before, %.2f at worst during the fault (jitter %.1f ms, RTT %.1f ms), %.2f after", faultFrom.mos, worst.mos, worst.jitterMS, worst.rttMS, afterTo.mos)
	for _, p := range []struct {
		name     string
		from, to callSnapshot
	}{{"before", cleanFrom, faultFrom}, {"during", faultFrom, faultTo}, {"after", afterFrom, afterTo}} {
		received, concealed, underruns := p.to.since(p.from)
		t.Logf("%s the fault, %v: %d packets received, %d late, %d lost, %d concealed, %d earpiece underruns",
			p.name, p.to.at.Sub(p.from.at).Round(time.Second), received, p.to.late-p.from.late, p.to.lost-p.from.lost, concealed, underruns)
	}
	t.Logf("the proxy dropped %d packets", dropped)

	if worst.mos > faultFrom.mos-0.3 {
		t.Errorf("MOS %.2f before the fault, %.2f at worst during it: want it lower by 0.3 at least", faultFrom.mos, worst.mos)
	}
	if worst.jitterMS < 5 {
		t.Errorf("jitter %.1f ms during the fault, want the proxy's jitter to show", worst.jitterMS)
	}
	if metricsMOS > faultFrom.mos-0.2 || metricsConcealed == 0 {
		t.Errorf("metrics at the end of the fault: MOS %.2f (%.2f before it), %v packets concealed; want the drop and the concealment", metricsMOS, faultFrom.mos, metricsConcealed)
	}
	// The earpiece's underruns are judged against what the same call did on the same
	// machine before the fault: on a busy machine the pump is late now and then whatever the
	// network does, so a clean stretch counts some too. A storm is many more than that.
	cleanReceived, _, cleanUnderruns := faultFrom.since(cleanFrom)
	usual := func(received uint64) uint64 {
		return received/10 + 2*cleanUnderruns*received/max(cleanReceived, 1)
	}
	received, concealed, underruns := faultTo.since(faultFrom)
	impaired := faultTo.late - faultFrom.late + faultTo.lost - faultFrom.lost
	if concealed < impaired/2 || concealed == 0 {
		t.Errorf("during the fault: %d concealed for %d packets lost or late, want the concealment counter to move with them", concealed, impaired)
	}
	// Concealment about one for each packet lost or late, not a storm of them.
	if concealed > 3*impaired+received/50 || underruns > usual(received) {
		t.Errorf("during the fault: %d concealed and %d earpiece underruns for %d packets received (%d lost or late; %d underruns for %d packets before it): an underrun storm",
			concealed, underruns, received, impaired, cleanUnderruns, cleanReceived)
	}
	received, _, underruns = afterTo.since(afterFrom)
	if underruns > usual(received) {
		t.Errorf("after the fault: %d earpiece underruns for %d packets (%d for %d before it), want no more than before", underruns, received, cleanUnderruns, cleanReceived)
	}
	for _, p := range []struct {
		name     string
		from, to callSnapshot
	}{{"before", cleanFrom, faultFrom}, {"after", afterFrom, afterTo}} {
		received, concealed, _ := p.to.since(p.from)
		if concealed > received/20+5 {
			t.Errorf("%s the fault: %d concealed for %d packets, want next to none", p.name, concealed, received)
		}
	}
}
