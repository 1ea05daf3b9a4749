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
		offHook := 0.0
		if h.OffHook {
			offHook = 1
		}
		gauge(handsetOffHookDesc, offHook, i, h.Name)
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
