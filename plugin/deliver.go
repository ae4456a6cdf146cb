package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/hookreq"
)

// deliverAttempts bounds the calls to the deliver hook for one reset.
const deliverAttempts = 3

// deliverReset hands a reset to the app so it sends its own mail: a signed
// POST with the user, the link, the code and the expiry. It retries a few
// times with backoff, and runs in the background worker, never inline.
func (e *Engine) deliverReset(ctx context.Context, u User, link, code, revokeLink string, expires time.Time) {
	vals := userValues(u, u.Email)
	vals["type"], vals["link"], vals["code"], vals["expires_at"] = "password_reset.requested", link, code, expires
	body, err := json.Marshal(map[string]any{
		"type":        "password_reset.requested",
		"user":        u,
		"link":        link,
		"code":        code,
		"revoke_link": revokeLink,
		"expires_at":  expires.UTC().Format(time.RFC3339),
	})
	if err != nil {
		e.log.Error("encoding deliver payload", zap.Error(err))
		return
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := e.deliverOnce(ctx, vals, body)
		if err == nil {
			e.audit(zapcore.InfoLevel, "reset handed to the app", "mailed", "deliver", zap.String("user_id", u.ID))
			return
		}
		if attempt == deliverAttempts {
			e.log.Error("deliver hook failed; reset not delivered", zap.String("user_id", u.ID), zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-e.cfg.Clock.After(backoff):
		}
		backoff *= 2
	}
}

func (e *Engine) deliverOnce(ctx context.Context, vals hookreq.Values, body []byte) error {
	resp, err := e.cfg.Deliver.call(ctx, "", vals, body, "", nil)
	if err != nil {
		return err
	}
	if !e.cfg.Deliver.ok(resp) {
		return fmt.Errorf("deliver answered status %d", resp.Status)
	}
	return nil
}
