package plugin

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Observer receives the engine's counts and timings, for metrics. Every
// label it is given comes from a small fixed set (event names, methods,
// hook names, mail kinds, outcomes): never an identifier, address or
// secret.
type Observer interface {
	// Event counts one audit event (requested, mailed, verified, failed,
	// locked, reset, changed, revoked, admin_issue, ...) by proof method.
	Event(event, method string)
	// Upstream times one hook call (lookup, update, verify, session,
	// deliver); outcome is ok, refused or error.
	Upstream(hook, outcome string, d time.Duration)
	// Mail times one mail delivery attempt; outcome is ok or error.
	Mail(kind, outcome string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) Event(string, string)                   {}
func (nopObserver) Upstream(string, string, time.Duration) {}
func (nopObserver) Mail(string, string, time.Duration)     {}

// audit writes one structured audit entry (the "event" field names it) and
// counts it. The method label is taken from a "via" field when present.
func (e *Engine) audit(level zapcore.Level, msg, event string, fields ...zap.Field) {
	method := ""
	for _, f := range fields {
		if f.Key == "via" && f.Type == zapcore.StringType {
			method = f.String
		}
	}
	e.cfg.Observer.Event(event, method)
	if ce := e.log.Check(level, msg); ce != nil {
		ce.Write(append([]zap.Field{zap.String("event", event)}, fields...)...)
	}
}

// outcome names a hook call's result for metrics.
func outcome(err error, ok bool) string {
	switch {
	case err != nil:
		return "error"
	case !ok:
		return "refused"
	}
	return "ok"
}
