package caddymodule

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauges read from the store at scrape time.
var (
	outboxDesc = prometheus.NewDesc("caddy_password_reset_outbox_pending",
		"Mail entries in the durable outbox not yet settled (sent, dropped or expired), summed over the running sites' stores.",
		nil, nil)
	budgetUsedDesc = prometheus.NewDesc("caddy_password_reset_mail_budget_used",
		"Reset mails counted by the global mail budget in its current window, by site.",
		[]string{"site"}, nil)
	budgetLimitDesc = prometheus.NewDesc("caddy_password_reset_mail_budget_limit",
		"The global mail budget per window (rate_limit mail_budget), by site; absent when there is none.",
		[]string{"site"}, nil)
)

// storeCollector reads the outbox length and the mail budget from the
// running engines at scrape time. Its only state is the package's list of
// running handlers, so two config loads may register it without conflict.
// The site label is a configured base_url and prefix: bounded by the
// config, never taken from a request.
type storeCollector struct{}

// Describe implements prometheus.Collector.
func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc
	ch <- budgetUsedDesc
	ch <- budgetLimitDesc
}

// Collect implements prometheus.Collector. A store that does not answer
// within a second is left out of the scrape rather than stall it.
func (storeCollector) Collect(ch chan<- prometheus.Metric) {
	engines, err := listEngines("")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var total int64
	outboxOK := true
	for _, e := range engines {
		site := e.BaseURL() + e.Prefix()
		if n, err := e.OutboxPending(ctx); err == nil {
			total += n
		} else {
			outboxOK = false
		}
		if used, limit, err := e.MailBudgetUse(ctx); err == nil && limit > 0 {
			ch <- prometheus.MustNewConstMetric(budgetUsedDesc, prometheus.GaugeValue, float64(used), site)
			ch <- prometheus.MustNewConstMetric(budgetLimitDesc, prometheus.GaugeValue, float64(limit), site)
		}
	}
	if outboxOK {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(total))
	}
}
