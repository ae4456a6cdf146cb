package caddymodule

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outboxDesc describes caddy_password_reset_outbox_pending.
var outboxDesc = prometheus.NewDesc("caddy_password_reset_outbox_pending",
	"Mail entries in the durable outbox not yet settled (sent, dropped or expired), per running site's store; summed over sites that share one store.",
	nil, nil)

// outboxCollector reads the outbox length from the running engines at
// scrape time. Its only state is the package's list of running handlers,
// so two config loads may register it without conflict.
type outboxCollector struct{}

// Describe implements prometheus.Collector.
func (outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc }

// Collect implements prometheus.Collector. A store that does not answer
// within a second is left out of the scrape rather than stall it.
func (outboxCollector) Collect(ch chan<- prometheus.Metric) {
	engines, err := listEngines("")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var total int64
	for _, e := range engines {
		n, err := e.OutboxPending(ctx)
		if err != nil {
			return
		}
		total += n
	}
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(total))
}
