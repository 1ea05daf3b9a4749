package web

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
		"RTP packets of the handset's call so far: sent, received, and lost on the way to us.", []string{"handset", "name", "kind"}, nil)
	callJitterDesc = prometheus.NewDesc("partyline_call_jitter_seconds",
		"Interarrival jitter of the audio the handset's call receives (RFC 3550).", []string{"handset", "name"}, nil)
	callRTTDesc = prometheus.NewDesc("partyline_call_rtt_seconds",
		"Round-trip time of the handset's call, from RTCP; absent until measured.", []string{"handset", "name"}, nil)
	callMOSDesc = prometheus.NewDesc("partyline_call_mos",
		"Estimated mean opinion score of the audio the handset's call receives; absent until known.", []string{"handset", "name"}, nil)
	registrationStateDesc = prometheus.NewDesc("partyline_registration_state",
		"1 for the state the SIP account's registration is in.", []string{"account", "aor", "state"}, nil)
	registrationExpiryDesc = prometheus.NewDesc("partyline_registration_expiry_timestamp_seconds",
		"When the SIP account's registration expires, as a Unix time; absent while it has none.", []string{"account"}, nil)
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
	ch <- registrationStateDesc
	ch <- registrationExpiryDesc
}

// Collect implements prometheus.Collector.
func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err) // fails the scrape with the reason
		}
		ch <- m
	}
	st := c.backend.Status()
	for _, h := range st.Handsets {
		i := strconv.Itoa(h.Index)
		gauge(handsetStateDesc, 1, i, h.Name, h.State)
		gauge(handsetOffHookDesc, bit(h.OffHook), i, h.Name)
		gauge(handsetMutedDesc, bit(h.Muted), i, h.Name)
		gauge(handsetLevelDesc, h.MicDBFS, i, h.Name, "microphone")
		gauge(handsetLevelDesc, h.EarDBFS, i, h.Name, "earpiece")
		if !h.CallStart.IsZero() {
			gauge(callStartDesc, float64(h.CallStart.UnixMilli())/1000, i, h.Name)
		}
		if q := h.Quality; q != nil {
			gauge(callPacketsDesc, float64(q.PacketsSent), i, h.Name, "sent")
			gauge(callPacketsDesc, float64(q.PacketsReceived), i, h.Name, "received")
			gauge(callPacketsDesc, float64(q.Lost), i, h.Name, "lost")
			gauge(callJitterDesc, q.JitterMS/1000, i, h.Name)
			if q.RTTMS > 0 {
				gauge(callRTTDesc, q.RTTMS/1000, i, h.Name)
			}
			if q.MOS > 0 {
				gauge(callMOSDesc, q.MOS, i, h.Name)
			}
		}
	}
	for _, r := range st.Registrations {
		gauge(registrationStateDesc, 1, r.Account, r.AOR, r.State)
		if !r.Expires.IsZero() {
			gauge(registrationExpiryDesc, float64(r.Expires.Unix()), r.Account)
		}
	}
}

// metrics serves Prometheus metrics: the process's, Go's, and the
// appliance's state, from a registry of this handler's own. Loopback
// clients need no session (a Prometheus agent on the device); others need
// one, like any page.
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
		if clientAddr(r).IsLoopback() {
			h.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// bit is 1 for true and 0 for false.
func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
