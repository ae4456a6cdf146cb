package caddymodule

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// metrics are resetgate's collectors in Caddy's registry. Every label value
// comes from a small fixed set: event names, proof methods, hook names,
// mail kinds and outcomes; never an identifier, address or secret.
type metrics struct {
	events   *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	mail     *prometheus.HistogramVec
	selftest *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, log *zap.Logger) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "password_reset", Name: "events_total",
			Help: "Audit events (requested, verified, failed, locked, reset, changed, revoked, admin_issue, ...) by proof method.",
		}, []string{"event", "method"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "password_reset", Name: "upstream_duration_seconds",
			Help:    "Time of calls to the application's hooks, by hook and outcome (ok, refused, error, unknown: sent, answer lost).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"hook", "outcome"}),
		mail: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "password_reset", Name: "mail_duration_seconds",
			Help:    "Time of SMTP delivery attempts, by mail kind and outcome (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"kind", "outcome"}),
		selftest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "caddy", Subsystem: "password_reset", Name: "selftest_up",
			Help: "1 when the part (store, smtp, lookup) passed its latest self-test, 0 when it failed.",
		}, []string{"part"}),
	}
	m.events = register(reg, m.events, log)
	m.selftest = register(reg, m.selftest, log)
	register(reg, storeCollector{}, log)
	m.upstream = register(reg, m.upstream, log)
	m.mail = register(reg, m.mail, log)
	return m
}

// register adds c to reg, or returns the collector already there: two
// sites using the directive share one set. A failure is logged, not fatal.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, log *zap.Logger) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn("registering password_reset metrics", zap.Error(err))
	}
	return c
}

// Event implements plugin.Observer.
func (m *metrics) Event(event, method string) { m.events.WithLabelValues(event, method).Inc() }

// Upstream implements plugin.Observer.
func (m *metrics) Upstream(hook, outcome string, d time.Duration) {
	m.upstream.WithLabelValues(hook, outcome).Observe(d.Seconds())
}

// SelfTest implements plugin.SelfTestObserver.
func (m *metrics) SelfTest(part string, ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.selftest.WithLabelValues(part).Set(v)
}

// Mail implements plugin.Observer.
func (m *metrics) Mail(kind, outcome string, d time.Duration) {
	m.mail.WithLabelValues(kind, outcome).Observe(d.Seconds())
}
