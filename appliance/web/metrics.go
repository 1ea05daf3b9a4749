package web

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"partyline/appliance/settings"
	"partyline/appliance/web/promtext"
)

// Metrics of the appliance's state, read from Backend.Status at each scrape. Handset
// series are keyed by the handset's stable ID (settings.Handset.ID), account series by the
// account's; names and addresses, which the user edits, are only in the info metrics.
var (
	buildInfoDesc = promtext.NewDesc("partyline_build_info",
		"Always 1: the firmware's version and build, and the board profile running.", promtext.Gauge, "version", "build", "board")
	callsDesc = promtext.NewDesc("partyline_calls_total",
		"Handset calls ended since the appliance started, by how they ended: local (we hung up), remote (the far end did), failed, cancelled (given up before the answer).", promtext.Counter, "result")
	handsetInfoDesc = promtext.NewDesc("partyline_handset_info",
		"Always 1: the handset's name and its number on the page.", promtext.Gauge, "handset", "name", "number")
	handsetStateDesc = promtext.NewDesc("partyline_handset_state",
		"1 for the state the handset is in, 0 for the others.", promtext.Gauge, "handset", "state")
	handsetOffHookDesc = promtext.NewDesc("partyline_handset_off_hook",
		"1 while the handset is off hook, 0 while on hook.", promtext.Gauge, "handset")
	handsetMutedDesc = promtext.NewDesc("partyline_handset_muted",
		"1 while the handset's microphone is muted in a call.", promtext.Gauge, "handset")
	handsetLevelDesc = promtext.NewDesc("partyline_handset_level_dbfs",
		"The handset's audio level over the last moment, in dBFS; -120 is silence.", promtext.Gauge, "handset", "direction")
	callStartDesc = promtext.NewDesc("partyline_call_start_timestamp_seconds",
		"When the handset's call was answered, as a Unix time; absent without a call.", promtext.Gauge, "handset")
	callPacketsDesc = promtext.NewDesc("partyline_call_rtp_packets",
		"RTP packets of the handset's call so far: sent, received, lost on the way to us, and late (came after their time to play).", promtext.Gauge, "handset", "kind")
	callJitterDesc = promtext.NewDesc("partyline_call_jitter_seconds",
		"Interarrival jitter of the audio the handset's call receives (RFC 3550).", promtext.Gauge, "handset")
	callRTTDesc = promtext.NewDesc("partyline_call_rtt_seconds",
		"Round-trip time of the handset's call, from RTCP; absent until measured.", promtext.Gauge, "handset")
	callForeignDesc = promtext.NewDesc("partyline_call_foreign_datagrams_total",
		"Datagrams that came to the handset's call's RTP port from anywhere but the far end's address and port, dropped.", promtext.Counter, "handset")
	callMOSDesc = promtext.NewDesc("partyline_call_mos",
		"Estimated mean opinion score of the audio the handset's call received over the last 10 s; absent until known.", promtext.Gauge, "handset")
	callConcealedDesc = promtext.NewDesc("partyline_call_concealed_packets_total",
		"Packet times the handset's call played concealment because no packet was there to play: lost, late, or the jitter buffer growing.", promtext.Counter, "handset")
	earpieceUnderrunsDesc = promtext.NewDesc("partyline_earpiece_underruns_total",
		"Audio device periods in which the handset's earpiece ran dry in calls because the call's audio came late.", promtext.Counter, "handset")
	earpieceDroppedDesc = promtext.NewDesc("partyline_earpiece_dropped_samples_total",
		"Earpiece samples dropped to catch up with the handset's call audio after it came late in a burst.", promtext.Counter, "handset")
	audioOverrunsDesc = promtext.NewDesc("partyline_audio_overruns_total",
		"Times the handsets' audio device lost captured microphone audio since it opened; absent with virtual audio.", promtext.Counter)
	audioUnderrunsDesc = promtext.NewDesc("partyline_audio_underruns_total",
		"Times the handsets' audio device ran dry playing the earpieces since it opened; absent with virtual audio.", promtext.Counter)
	audioRestartsDesc = promtext.NewDesc("partyline_audio_restarts_total",
		"Times the handsets' audio device was reopened after a failure; absent with virtual audio.", promtext.Counter)
	registrationInfoDesc = promtext.NewDesc("partyline_registration_info",
		"Always 1: the SIP account's address of record.", promtext.Gauge, "account", "aor")
	registrationStateDesc = promtext.NewDesc("partyline_registration_state",
		"1 for the state the SIP account's registration is in, 0 for the others.", promtext.Gauge, "account", "state")
	registrationExpiryDesc = promtext.NewDesc("partyline_registration_expiry_timestamp_seconds",
		"When the SIP account's registration expires, as a Unix time; absent while it has none.", promtext.Gauge, "account")
	sipMalformedDesc = promtext.NewDesc("partyline_sip_malformed_total",
		"SIP messages dropped, or answered 400, because they do not parse or lack what every request needs.", promtext.Counter)
)

// HandsetStates are the states a HandsetStatus.State has: partyline_handset_state reports
// each of them for every handset, 1 for the one it is in and 0 for the others.
var HandsetStates = []string{"idle", "joining", "in call", "on hold", "failed", "local only", "ringing"}

// RegistrationStates are the states a RegistrationStatus.State has: partyline_registration_state
// reports each of them for every account, 1 for the one it is in and 0 for the others.
var RegistrationStates = []string{"unregistered", "registering", "registered", "failed"}

// CallResults are the ways a handset call ends, the keys of Status.Calls:
// partyline_calls_total reports each of them, 0 until one ends so.
var CallResults = []string{settings.EndLocal, settings.EndRemote, settings.EndFailed, settings.EndCancelled, settings.EndMissed}

// collectStatus adds the appliance's metrics, read from st, to s.
func collectStatus(s *promtext.Set, st Status) {
	gauge := s.Add
	counter := func(d *promtext.Desc, v uint64, labels ...string) { s.Add(d, float64(v), labels...) }
	// states reports every state of known, and current if it is not among them.
	states := func(d *promtext.Desc, key string, known []string, current string) {
		for _, k := range known {
			gauge(d, bit(k == current), key, labelValue(k))
		}
		if !slices.Contains(known, current) {
			gauge(d, 1, key, labelValue(current))
		}
	}
	gauge(buildInfoDesc, 1, st.Version, st.Build, st.Board)
	collectFleet(s, st)
	for _, r := range CallResults {
		counter(callsDesc, st.Calls[r], r)
	}
	for _, h := range st.Handsets {
		id := cmp.Or(h.ID, strconv.Itoa(h.Number)) // the stable ID, as the logs say it
		gauge(handsetInfoDesc, 1, id, h.Name, strconv.Itoa(h.Number))
		states(handsetStateDesc, id, HandsetStates, h.State)
		gauge(handsetOffHookDesc, bit(h.OffHook), id)
		gauge(handsetMutedDesc, bit(h.Muted), id)
		gauge(handsetLevelDesc, h.MicDBFS, id, "microphone")
		gauge(handsetLevelDesc, h.EarDBFS, id, "earpiece")
		counter(earpieceUnderrunsDesc, h.EarpieceUnderruns, id)
		counter(earpieceDroppedDesc, h.EarpieceDroppedSamples, id)
		if !h.CallStart.IsZero() {
			gauge(callStartDesc, float64(h.CallStart.UnixMilli())/1000, id)
		}
		if q := h.Quality; q != nil {
			gauge(callPacketsDesc, float64(q.PacketsSent), id, "sent")
			gauge(callPacketsDesc, float64(q.PacketsReceived), id, "received")
			gauge(callPacketsDesc, float64(q.Lost), id, "lost")
			gauge(callPacketsDesc, float64(q.Late), id, "late")
			gauge(callJitterDesc, q.JitterMS/1000, id)
			if q.RTTMS > 0 {
				gauge(callRTTDesc, q.RTTMS/1000, id)
			}
			if q.MOS > 0 {
				gauge(callMOSDesc, q.MOS, id)
			}
			counter(callForeignDesc, q.Foreign, id)
			counter(callConcealedDesc, q.Concealed, id)
		}
	}
	if a := st.Audio; a != nil {
		counter(audioOverrunsDesc, a.Overruns)
		counter(audioUnderrunsDesc, a.Underruns)
		counter(audioRestartsDesc, a.Restarts)
	}
	counter(sipMalformedDesc, st.SIP.Malformed)
	for _, r := range st.Registrations {
		gauge(registrationInfoDesc, 1, r.Account, r.AOR)
		states(registrationStateDesc, r.Account, RegistrationStates, r.State)
		if !r.Expires.IsZero() {
			gauge(registrationExpiryDesc, float64(r.Expires.Unix()), r.Account)
		}
	}
}

// labelValue is s as a label value of the state metrics: lower case, with underscores
// for spaces ("in call" is "in_call"), as the tools expect.
func labelValue(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
}

// metrics serves Prometheus metrics, the process's, Go's and the appliance's state, in
// the text format, to the clients the metrics settings let in. It reads them at every
// request, so that a change applies at once.
func (s *server) metrics() http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var set promtext.Set
		promtext.AddProcess(&set)
		collectStatus(&set, s.backend.Status())
		var body bytes.Buffer
		if _, err := set.WriteTo(&body); err != nil {
			s.fail(w, "collect metrics", err)
			return
		}
		w.Header().Set("Content-Type", promtext.ContentType)
		body.WriteTo(w)
	})
	guarded := s.api(h.ServeHTTP)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := s.backend.Settings()
		if err != nil {
			s.fail(w, "read metrics settings", err)
			return
		}
		switch set.Metrics.Access {
		case settings.MetricsOff:
			http.NotFound(w, r)
		case settings.MetricsToken:
			if !bearerIs(r, set.Metrics.Token) {
				s.log.Debug("metrics refused: no valid token", "client", clientAddr(r))
				w.Header().Set("WWW-Authenticate", `Bearer realm="partyline metrics"`)
				http.Error(w, "a valid bearer token is needed", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		default:
			if clientAddr(r).IsLoopback() {
				h.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		}
	})
}

// bearerIs reports whether r carries "Authorization: Bearer token". It compares hashes,
// in constant time, so that neither the token nor its length leaks through timing.
func bearerIs(r *http.Request, token string) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	have, want := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(have[:], want[:]) == 1
}

// metricsForm draws the metrics settings; the token is never sent back.
func metricsForm(m settings.MetricsSettings) formView {
	const id = "metrics"
	access := input(id, "access", "Who may read /metrics", "")
	access.Type = "select"
	access.Options = []optionView{
		{Value: settings.MetricsLoopback, Label: "this device without logging in; others logged in"},
		{Value: settings.MetricsToken, Label: "any client with the bearer token"},
		{Value: settings.MetricsOff, Label: "nobody"},
	}
	if m.Access == "" {
		m.Access = settings.MetricsLoopback
	}
	access.selectValue(m.Access)
	token := inputView{ID: id + "-token", Name: "token", Label: "Bearer token", Type: "password", Autocomplete: "new-password",
		Hint: "At least 16 letters, digits and - . _ ~ + / =; clients send it as Authorization: Bearer and the token."}
	if m.Token != "" {
		token.Hint += " Leave empty to keep the stored token."
	}
	return formView{ID: id, Method: "post", Action: "/settings/metrics", Submit: "Save",
		Note:   "Changes apply at once. With the bearer token, only the token lets a client in: a login does not.",
		Inputs: []inputView{access, token},
	}
}

func (s *server) saveMetrics(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "metrics", func(set *settings.Settings, v url.Values) (string, error) {
		set.Metrics.Access = formText(v, "access")
		if t := v.Get("token"); t != "" {
			set.Metrics.Token = t
		}
		return "metrics.", nil
	})
}

// bit is 1 for true and 0 for false.
func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
