package plugin

import (
	"errors"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/webhook"
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
	// deliver); outcome is ok, refused, error, or unknown (the call was
	// sent and its answer lost: the app may have acted on it).
	Upstream(hook, outcome string, d time.Duration)
	// Mail times one mail delivery attempt; outcome is ok or error.
	Mail(kind, outcome string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) Event(string, string)                   {}
func (nopObserver) Upstream(string, string, time.Duration) {}
func (nopObserver) Mail(string, string, time.Duration)     {}

// audit writes one structured audit entry and counts it. event names it
// (the "event" field and the metric's event label); method is the proof
// method it concerns (link, code, passkey, deliver, or "" for none), the
// metric's method label and, when set, the log line's "via" field. The
// label is passed, not read back from the log fields, so that what is
// counted cannot drift from what happened.
func (e *Engine) audit(level zapcore.Level, msg, event, method string, fields ...zap.Field) {
	e.cfg.Observer.Event(event, method)
	if ce := e.log.Check(level, msg); ce != nil {
		head := []zap.Field{zap.String("event", event)}
		if method != "" {
			head = append(head, zap.String("via", method))
		}
		ce.Write(append(head, fields...)...)
	}
}

// outcome names a hook call's result for metrics.
func outcome(err error, ok bool) string {
	switch {
	case errors.Is(err, webhook.ErrAnswerLost) || errors.Is(err, directory.ErrOutcomeUnknown):
		return "unknown"
	case err != nil:
		return "error"
	case !ok:
		return "refused"
	}
	return "ok"
}
