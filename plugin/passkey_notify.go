package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/mailer"
)

// What a reset and "this wasn't me" do to passkeys:
//
//   - every new passkey sends a "a passkey was added" mail whose link
//     ({prefix}/passkeys/undo?token=…, valid revoke_ttl) removes it: a
//     "this wasn't me" for the passkey;
//   - "this wasn't me" (from a reset mail or a passkey mail) ends the
//     user's open resets and removes every passkey added since the user's
//     last password reset (all of them when there was none), and the
//     passkey the mail was about;
//   - a reset records its time, so later "this wasn't me" links spare the
//     passkeys the user had before it; with passkey { remove_on_reset }
//     every reset removes all of the user's passkeys instead.

// notifyPasskeyAdded mails the user about a new passkey, with a link that
// removes it.
func (e *Engine) notifyPasskeyAdded(ctx context.Context, user User, credID []byte, name, ip string) {
	token, err := newToken()
	if err != nil {
		e.log.Error("passkey mail: drawing a token", zap.Error(err))
		return
	}
	rec := revokeRecord{UserID: user.ID, PasskeyID: credID}
	if err := e.putRecord(ctx, e.keys.revokeKey(token), rec, e.cfg.RevokeTTL, ""); err != nil {
		e.log.Error("passkey mail: storing its removal link", zap.String("user_id", user.ID), zap.Error(err))
		return
	}
	data := mailer.PasskeyAddedData{
		SiteName: e.cfg.SiteName, UserName: user.Name, PasskeyName: name, AddedAt: e.now(), RequestIP: ip,
		RemoveLink: e.link("/passkeys/undo", url.Values{"token": {token}}), SupportContact: e.cfg.SupportContact,
	}
	if e.cfg.Deliver.URL != "" && e.cfg.Deliver.Template == nil {
		e.deliverPasskeyAdded(ctx, user, data)
	}
	e.sendMail(ctx, user, "passkey_added", data)
}

// deliverPasskeyAdded tells an app that sends its own mail (deliver, JSON
// contract) about the new passkey: {"type": "passkey.added", "user",
// "passkey_name", "remove_link", "added_at"}. One attempt: the user is
// waiting for the registration's answer. A templated deliver hook is
// shaped for resets and is not called.
func (e *Engine) deliverPasskeyAdded(ctx context.Context, u User, d mailer.PasskeyAddedData) {
	body, err := json.Marshal(map[string]any{
		"type": "passkey.added", "user": u, "passkey_name": d.PasskeyName,
		"remove_link": d.RemoveLink, "added_at": d.AddedAt.UTC().Format(time.RFC3339),
	})
	if err != nil {
		e.log.Error("encoding deliver payload", zap.Error(err))
		return
	}
	if err := e.deliverOnce(ctx, userValues(u, u.Email), body); err != nil {
		e.log.Error("deliver hook failed; passkey notice not delivered", zap.String("user_id", u.ID), zap.Error(err))
		return
	}
	e.audit(zapcore.InfoLevel, "passkey notice handed to the app", "mailed", "deliver", zap.String("user_id", u.ID))
}

// revokePasskeys is the passkey half of "this wasn't me": the passkey the
// link names, and every passkey added since the last reset, go.
func (e *Engine) revokePasskeys(ctx context.Context, rec revokeRecord) error {
	if e.webauthn == nil {
		return nil
	}
	acct, _, err := e.loadAccount(ctx, rec.UserID)
	if err != nil || acct == nil {
		return err
	}
	removed := 0
	err = e.updateAccount(ctx, rec.UserID, func(a *passkeyAccount) error {
		removed = 0
		kept := a.Credentials[:0]
		for _, c := range a.Credentials {
			if (len(rec.PasskeyID) > 0 && bytes.Equal(c.Credential.ID, rec.PasskeyID)) || c.CreatedAt.After(a.ResetAt) {
				removed++
				continue
			}
			kept = append(kept, c)
		}
		a.Credentials = kept
		return nil
	})
	if err == nil && removed > 0 {
		e.audit(zapcore.WarnLevel, "passkeys removed by \"this wasn't me\"", "passkey_removed", "", zap.String("user_id", rec.UserID), zap.Int("passkeys_removed", removed))
	}
	return err
}

// passkeysAfterReset records the reset on the user's passkeys, or removes
// them all under remove_on_reset. A failure is logged: the password is
// already changed.
func (e *Engine) passkeysAfterReset(ctx context.Context, userID string) {
	if e.webauthn == nil {
		return
	}
	acct, _, err := e.loadAccount(ctx, userID)
	if err == nil && acct == nil {
		return
	}
	removed := 0
	if err == nil {
		now := e.now()
		err = e.updateAccount(ctx, userID, func(a *passkeyAccount) error {
			removed = 0
			a.ResetAt = now
			if e.cfg.Passkey.RemoveOnReset {
				removed = len(a.Credentials)
				a.Credentials = nil
			}
			return nil
		})
	}
	if err != nil {
		e.log.Error("updating passkeys after a reset", zap.String("user_id", userID), zap.Error(err))
		return
	}
	if removed > 0 {
		e.audit(zapcore.InfoLevel, "passkeys removed by a reset (remove_on_reset)", "passkey_removed", "", zap.String("user_id", userID), zap.Int("passkeys_removed", removed))
	}
}
