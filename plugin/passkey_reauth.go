package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Adding a passkey needs a fresh proof besides the session: a session
// cookie alone (stolen, or a browser left signed in) must not become a
// passkey that resets the password for good. The proof is one of
//
//   - the current password, checked by the verify hook and counted
//     against the account's password-guess budget (budget.go);
//   - an assertion of one of the user's own passkeys, from a "reauth"
//     ceremony (POST {prefix}/passkeys/reauth/options);
//   - the grant cookie the passkeys page sets after its password form
//     (no JavaScript needed for that step), valid reauthTTL for the same
//     signed-in user and spent by the registration it allowed.
//
// The proof is checked when the registration ceremony starts; the
// ceremony (single use, bound to the user) carries it to the end.

// cookieReauth holds the grant the passkeys page's password form earns.
const cookieReauth = "rg_reauth"

// reauthTTL bounds a fresh proof: the user adds the passkey right after.
const reauthTTL = 5 * time.Minute

// errReauthRequired answers a registration without a fresh proof.
var errReauthRequired = newError(http.StatusForbidden, CodeReauthRequired, "confirm it is you: send your current password, or prove one of your passkeys", "")

// errPasswordWrong answers a fresh proof with a wrong password.
var errPasswordWrong = newError(http.StatusForbidden, CodeOldPasswordWrong, "the current password is not right", "/password")

// reauthInput is the proof part of POST passkeys/register/options.
type reauthInput struct {
	Password   *string         `json:"password"`
	Ceremony   *string         `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// freshProof checks that the signed-in user just proved who they are.
func (e *Engine) freshProof(ctx context.Context, r *http.Request, user User, in reauthInput) *apiError {
	switch {
	case in.Password != nil:
		if e.cfg.Verify.URL == "" {
			return newError(http.StatusNotFound, CodeNotFound, "password confirmation needs the verify hook; prove a passkey instead", "/password")
		}
		ok, apiErr := e.checkCurrentPassword(ctx, user, *in.Password)
		if apiErr != nil {
			return apiErr
		}
		if !ok {
			e.audit(zapcore.WarnLevel, "passkey registration with a wrong password", "failed", "", zap.String("user_id", user.ID), zap.String("ip", e.cfg.ClientIP(r)))
			return errPasswordWrong
		}
		return nil
	case in.Ceremony != nil || len(in.Credential) > 0:
		if in.Ceremony == nil || len(in.Credential) == 0 {
			return invalid("ceremony and credential go together", "")
		}
		rec, apiErr := e.takeCeremony(ctx, *in.Ceremony, "reauth")
		if apiErr != nil {
			return apiErr
		}
		if rec.UserID != user.ID {
			e.passkeyRefused(r, user.ID, "reauth ceremony of another user", nil)
			return errPasskeyInvalid
		}
		proven, apiErr := e.verifyAssertion(ctx, r, rec, in.Credential)
		if apiErr != nil {
			return apiErr
		}
		if proven.ID != user.ID {
			e.passkeyRefused(r, user.ID, "reauth with another user's passkey", nil)
			return errPasskeyInvalid
		}
		return nil
	}
	if e.hasGrant(ctx, r, user) {
		return nil
	}
	return errReauthRequired
}

// hasGrant reports whether the browser holds a live grant for user.
func (e *Engine) hasGrant(ctx context.Context, r *http.Request, user User) bool {
	c, err := r.Cookie(cookieReauth)
	if err != nil || !wellFormedToken(c.Value) {
		return false
	}
	var g reauthGrant
	found, err := e.getRecord(ctx, e.keys.reauthKey(c.Value), &g)
	return err == nil && found && g.UserID == user.ID
}

// issueGrant stores a grant for user and returns its cookie value.
func (e *Engine) issueGrant(ctx context.Context, user User) (string, error) {
	g, err := newToken()
	if err != nil {
		return "", err
	}
	return g, e.putRecord(ctx, e.keys.reauthKey(g), reauthGrant{UserID: user.ID}, reauthTTL, e.keys.ownerKey(user.ID))
}

// spendGrant ends the browser's grant once it allowed a registration.
func (e *Engine) spendGrant(ctx context.Context, r *http.Request) {
	if c, err := r.Cookie(cookieReauth); err == nil && wellFormedToken(c.Value) {
		if err := e.store.Delete(context.WithoutCancel(ctx), e.keys.reauthKey(c.Value)); err != nil {
			e.log.Warn("ending a passkey grant", zap.Error(err))
		}
	}
}

// handleReauthOptions starts a ceremony in which the signed-in user proves
// one of their passkeys, as the fresh proof for adding another.
func (e *Engine) handleReauthOptions(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct{}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	user, apiErr := e.signedInUser(ctx, r)
	if apiErr != nil {
		return apiErr
	}
	if apiErr := e.limitCeremony(ctx, r, e.keys.ownerKey(user.ID)); apiErr != nil {
		return apiErr
	}
	assertion, session, err := e.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return internalError(err)
	}
	id, err := e.saveCeremony(ctx, ceremonyRecord{Kind: "reauth", Session: *session, UserID: user.ID})
	if err != nil {
		return storeUnavailable(err)
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer(id, assertion.Response))
	return nil
}
