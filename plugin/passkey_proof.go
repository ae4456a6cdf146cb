// Proving identity with a passkey: the discoverable login ceremony (alone,
// as a reset's second step, or for a flow), the assertion's checks, and the
// token it earns.

package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/store"
)

// handlePasskeyOptions starts a passkey proof. The options ask for a
// discoverable credential: no identifier, nothing enumerated. With a token
// or flow_id, the passkey is a second step for that reset.
func (e *Engine) handlePasskeyOptions(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		FlowID *string `json:"flow_id"`
		Token  *string `json:"token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rec := ceremonyRecord{Kind: "login"}
	scope := ""
	switch {
	case in.Token != nil:
		_, key, apiErr := e.loadToken(r.Context(), *in.Token)
		if apiErr != nil {
			return apiErr
		}
		rec.TokenKey, scope = key, key
	case in.FlowID != nil:
		if !e.methodEnabled(MethodPasskey) {
			return errPasskeyMethodOff
		}
		if !wellFormedToken(*in.FlowID) {
			return errPasskeyInvalid
		}
		// The key the flow is stored under (an earlier version's for a
		// flow it stored), or the current one when there is none: the
		// answer is the same either way.
		_, key, _, err := e.findFlow(r.Context(), *in.FlowID)
		if err != nil {
			return storeUnavailable(err)
		}
		rec.FlowKey, scope = key, key
	case !e.methodEnabled(MethodPasskey):
		return errPasskeyMethodOff
	}
	if apiErr := e.limitCeremony(r.Context(), r, scope); apiErr != nil {
		return apiErr
	}
	assertion, session, err := e.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return internalError(err)
	}
	rec.Session = *session
	id, err := e.saveCeremony(r.Context(), rec)
	if err != nil {
		return storeUnavailable(err)
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer(id, assertion.Response))
	return nil
}

// handlePasskeyVerify finishes a passkey proof and answers a token.
func (e *Engine) handlePasskeyVerify(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Ceremony   *string         `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
		FlowID     *string         `json:"flow_id"`
		Token      *string         `json:"token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Ceremony == nil || len(in.Credential) == 0 {
		return invalid("ceremony and credential are required", "")
	}
	ctx := r.Context()
	rec, apiErr := e.takeCeremony(ctx, *in.Ceremony, "login")
	if apiErr != nil {
		return apiErr
	}
	if rec.passkeyReplacesMail() && !e.methodEnabled(MethodPasskey) {
		return errPasskeyInvalid // methods.go
	}
	// A step-up answers with the token it lifted, so the caller must hold
	// it: the ceremony alone does not reveal it.
	if rec.TokenKey != "" && (in.Token == nil || !wellFormedToken(*in.Token) || !e.keys.isTokenKey(*in.Token, rec.TokenKey)) {
		return errPasskeyInvalid
	}
	user, apiErr := e.verifyAssertion(ctx, r, rec, in.Credential)
	if apiErr != nil {
		return apiErr
	}
	token, apiErr := e.passkeyToken(ctx, rec, user)
	if apiErr != nil {
		return apiErr
	}
	if rec.TokenKey != "" {
		token = *in.Token
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token, "next_step": StepNewPasswordRequired})
	return nil
}

// verifyAssertion checks the assertion against the stored credential:
// origin, RP id, challenge, signature, user verification, and the sign
// count (a regression means a cloned authenticator). Failures are logged
// with their reason and answered PASSKEY_INVALID.
func (e *Engine) verifyAssertion(ctx context.Context, r *http.Request, rec *ceremonyRecord, credential []byte) (User, *apiError) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		e.passkeyRefused(r, "", "malformed assertion", err)
		return User{}, errPasskeyInvalid
	}
	var user User
	var acct *passkeyAccount
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		uid, err := e.store.Get(ctx, handleKey(userHandle))
		if err != nil {
			return nil, fmt.Errorf("unknown user handle: %w", err)
		}
		a, _, err := e.loadAccount(ctx, string(uid))
		if err != nil || a == nil {
			return nil, errors.New("no passkeys for that user")
		}
		u, found, err := e.lookup(ctx, a.UserID)
		if err != nil || !found || u.ID != a.UserID {
			return nil, errors.New("the application does not know that user")
		}
		user, acct = u, a
		return waUser{u: u, acct: a}, nil
	}
	cred, err := e.webauthn.ValidateDiscoverableLogin(handler, rec.Session, parsed)
	if err != nil {
		e.passkeyRefused(r, user.ID, "assertion refused", err)
		return User{}, errPasskeyInvalid
	}
	if cred.Authenticator.CloneWarning {
		e.passkeyRefused(r, user.ID, "sign count went backwards: possible cloned authenticator", nil)
		return User{}, errPasskeyInvalid
	}
	now := e.now()
	if err := e.updateAccount(ctx, acct.UserID, func(a *passkeyAccount) error {
		for i := range a.Credentials {
			if bytes.Equal(a.Credentials[i].Credential.ID, cred.ID) {
				// Re-check against the freshest count: two racing
				// assertions cannot both pass with the same counter.
				if stored := a.Credentials[i].Credential.Authenticator.SignCount; stored != 0 && cred.Authenticator.SignCount <= stored {
					return errClone
				}
				a.Credentials[i].Credential.Authenticator = cred.Authenticator
				a.Credentials[i].Credential.Flags = cred.Flags
				a.Credentials[i].LastUsedAt = now
				return nil
			}
		}
		return errors.New("credential vanished")
	}); err != nil {
		e.passkeyRefused(r, user.ID, "updating the credential", err)
		if errors.Is(err, errClone) {
			return User{}, errPasskeyInvalid
		}
		return User{}, storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "passkey verified", "verified", "passkey", zap.String("user_id", user.ID))
	return user, nil
}

var errClone = errors.New("sign count did not increase: possible cloned authenticator")

// passkeyToken turns a verified passkey into a token: a step-up marks the
// reset's token as passkey-proven; a flow is consumed for a fresh token;
// alone, a fresh token.
func (e *Engine) passkeyToken(ctx context.Context, rec *ceremonyRecord, user User) (string, *apiError) {
	now := e.now()
	switch {
	case rec.TokenKey != "":
		raw, err := e.store.Get(ctx, rec.TokenKey)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", errTokenInvalid
			}
			return "", storeUnavailable(err)
		}
		var tr tokenRecord
		if err := decodeRecord(raw, &tr); err != nil || tr.User.ID != user.ID || !now.Before(tr.ExpiresAt) {
			// Someone else's passkey cannot lift this reset's step.
			return "", errPasskeyInvalid
		}
		tr.NeedsPasskey = false
		next, _ := encodeRecord(tr)
		if ok, err := e.store.CompareAndSwap(ctx, rec.TokenKey, raw, next); err != nil || !ok {
			return "", errTokenInvalid
		}
		return "", nil // the caller keeps its token
	case rec.FlowKey != "":
		var flow flowRecord
		found, err := e.getRecord(ctx, rec.FlowKey, &flow)
		if err != nil {
			return "", storeUnavailable(err)
		}
		if !found || flow.User.ID != user.ID {
			return "", errPasskeyInvalid
		}
		if _, err := e.store.Consume(ctx, rec.FlowKey); err != nil {
			return "", errPasskeyInvalid
		}
	}
	token, err := newToken()
	if err != nil {
		return "", internalError(err)
	}
	tr := tokenRecord{User: user, Identifier: user.Email, Via: MethodPasskey, ExpiresAt: now.Add(e.cfg.TokenTTL)}
	if err := e.putToken(ctx, e.keys.tokenKey(token), tr); err != nil {
		return "", storeUnavailable(err)
	}
	return token, nil
}
