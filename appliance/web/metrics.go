package web

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"partyline/appliance/settings"
)

// Metrics of the appliance's state, read from Backend.Status at each scrape.
var (
	handsetStateDesc = prometheus.NewDesc("partyline_handset_state",
		"1 for the state the handset is in.", []string{"handset", "name", "state"}, nil)
	handsetOffHookDesc = prometheus.NewDesc("partyline_handset_off_hook",
		"1 while the handset is off hook, 0 while on hook.", []string{"handset", "name"}, nil)
	handsetMutedDesc = prometheus.NewDesc("partyline_handset_muted",
		"1 while the handset's microphone is muted in a call.", []string{"handset", "name"}, nil)
	handsetLevelDesc = prometheus.NewDesc("partyline_handset_level_dbfs",
		"The handset's audio level over the last moment, in dBFS; -120 is silence.", []string{"handset", "name", "direction"}, nil)
	callStartDesc = prometheus.NewDesc("partyline_call_start_timestamp_seconds",
		"When the handset's call was answered, as a Unix time; absent without a call.", []string{"handset", "name"}, nil)
	callPacketsDesc = prometheus.NewDesc("partyline_call_rtp_packets",
		"RTP packets of the handset's call so far: sent, received, lost on the way to us, and late (came after their time to play).", []string{"handset", "name", "kind"}, nil)
	callJitterDesc = prometheus.NewDesc("partyline_call_jitter_seconds",
		"Interarrival jitter of the audio the handset's call receives (RFC 3550).", []string{"handset", "name"}, nil)
	callRTTDesc = prometheus.NewDesc("partyline_call_rtt_seconds",
		"Round-trip time of the handset's call, from RTCP; absent until measured.", []string{"handset", "name"}, nil)
	callForeignDesc = prometheus.NewDesc("partyline_call_foreign_datagrams_total",
		"Datagrams that came to the handset's call's RTP port from anywhere but the far end's address and port, dropped.", []string{"handset", "name"}, nil)
	callMOSDesc = prometheus.NewDesc("partyline_call_mos",
		"Estimated mean opinion score of the audio the handset's call received over the last 10 s; absent until known.", []string{"handset", "name"}, nil)
	callConcealedDesc = prometheus.NewDesc("partyline_call_concealed_packets_total",
		"Packet times the handset's call played concealment because no packet was there to play: lost, late, or the jitter buffer growing.", []string{"handset", "name"}, nil)
	earpieceUnderrunsDesc = prometheus.NewDesc("partyline_earpiece_underruns_total",
		"Audio device periods in which the handset's earpiece ran dry in calls because the call's audio came late.", []string{"handset", "name"}, nil)
	earpieceDroppedDesc = prometheus.NewDesc("partyline_earpiece_dropped_samples_total",
		"Earpiece samples dropped to catch up with the handset's call audio after it came late in a burst.", []string{"handset", "name"}, nil)
	audioOverrunsDesc = prometheus.NewDesc("partyline_audio_overruns_total",
		"Times the handsets' audio device lost captured microphone audio since it opened; absent with virtual audio.", nil, nil)
	audioUnderrunsDesc = prometheus.NewDesc("partyline_audio_underruns_total",
		"Times the handsets' audio device ran dry playing the earpieces since it opened; absent with virtual audio.", nil, nil)
	audioRestartsDesc = prometheus.NewDesc("partyline_audio_restarts_total",
		"Times the handsets' audio device was reopened after a failure; absent with virtual audio.", nil, nil)
	registrationStateDesc = prometheus.NewDesc("partyline_registration_state",
		"1 for the state the SIP account's registration is in.", []string{"account", "aor", "state"}, nil)
	registrationExpiryDesc = prometheus.NewDesc("partyline_registration_expiry_timestamp_seconds",
		"When the SIP account's registration expires, as a Unix time; absent while it has none.", []string{"account"}, nil)
	sipMalformedDesc = prometheus.NewDesc("partyline_sip_malformed_total",
		"SIP messages dropped, or answered 400, because they do not parse or lack what every request needs.", nil, nil)
)

// statusCollector turns Backend.Status into metrics when Prometheus scrapes.
type statusCollector struct{ backend Backend }

// Describe implements prometheus.Collector.
func (statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- handsetStateDesc
	ch <- handsetOffHookDesc
	ch <- handsetMutedDesc
	ch <- handsetLevelDesc
	ch <- callStartDesc
	ch <- callPacketsDesc
	ch <- callJitterDesc
	ch <- callRTTDesc
	ch <- callMOSDesc
	ch <- callConcealedDesc
	ch <- callForeignDesc
	ch <- earpieceUnderrunsDesc
	ch <- earpieceDroppedDesc
	ch <- audioOverrunsDesc
	ch <- audioUnderrunsDesc
	ch <- audioRestartsDesc
	ch <- registrationStateDesc
	ch <- registrationExpiryDesc
	ch <- sipMalformedDesc
}

// Collect implements prometheus.Collector.
func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err) // fails the scrape with the reason
		}
		ch <- m
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) { metric(d, prometheus.GaugeValue, v, labels...) }
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		metric(d, prometheus.CounterValue, float64(v), labels...)
	}
	st := c.backend.Status()
	for _, h := range st.Handsets {
		i := cmp.Or(h.ID, strconv.Itoa(h.Number)) // the stable ID, as the logs say it
		gauge(handsetStateDesc, 1, i, h.Name, h.State)
		gauge(handsetOffHookDesc, bit(h.OffHook), i, h.Name)
		gauge(handsetMutedDesc, bit(h.Muted), i, h.Name)
		gauge(handsetLevelDesc, h.MicDBFS, i, h.Name, "microphone")
		gauge(handsetLevelDesc, h.EarDBFS, i, h.Name, "earpiece")
		counter(earpieceUnderrunsDesc, h.EarpieceUnderruns, i, h.Name)
		counter(earpieceDroppedDesc, h.EarpieceDroppedSamples, i, h.Name)
		if !h.CallStart.IsZero() {
			gauge(callStartDesc, float64(h.CallStart.UnixMilli())/1000, i, h.Name)
		}
		if q := h.Quality; q != nil {
			gauge(callPacketsDesc, float64(q.PacketsSent), i, h.Name, "sent")
			gauge(callPacketsDesc, float64(q.PacketsReceived), i, h.Name, "received")
			gauge(callPacketsDesc, float64(q.Lost), i, h.Name, "lost")
			gauge(callPacketsDesc, float64(q.Late), i, h.Name, "late")
			gauge(callJitterDesc, q.JitterMS/1000, i, h.Name)
			if q.RTTMS > 0 {
				gauge(callRTTDesc, q.RTTMS/1000, i, h.Name)
			}
			if q.MOS > 0 {
				gauge(callMOSDesc, q.MOS, i, h.Name)
			}
			counter(callForeignDesc, q.Foreign, i, h.Name)
			counter(callConcealedDesc, q.Concealed, i, h.Name)
		}
	}
	if a := st.Audio; a != nil {
		counter(audioOverrunsDesc, a.Overruns)
		counter(audioUnderrunsDesc, a.Underruns)
		counter(audioRestartsDesc, a.Restarts)
	}
	counter(sipMalformedDesc, st.SIP.Malformed)
	for _, r := range st.Registrations {
		gauge(registrationStateDesc, 1, r.Account, r.AOR, r.State)
		if !r.Expires.IsZero() {
			gauge(registrationExpiryDesc, float64(r.Expires.Unix()), r.Account)
		}
	}
}

// metrics serves Prometheus metrics: the process's, Go's, and the
// appliance's state, from a registry of this handler's own, to the clients
// the metrics settings let in. It reads them at every request, so that a
// change applies at once.
func (s *server) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		statusCollector{s.backend},
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
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
