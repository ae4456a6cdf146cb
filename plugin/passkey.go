package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/store"
)

// Passkey proof method and step.
const (
	MethodPasskey       = "passkey"
	StepPasskeyRequired = "PASSKEY_REQUIRED"
)

var errPasskeyInvalid = newError(http.StatusBadRequest, CodePasskeyInvalid, "the passkey could not be verified", "/credential")

// waUser adapts a user and their passkeys to go-webauthn.
type waUser struct {
	u    User
	acct *passkeyAccount
}

func (w waUser) WebAuthnID() []byte          { return w.acct.Handle }
func (w waUser) WebAuthnName() string        { return firstNonEmpty(w.u.Email, w.u.ID) }
func (w waUser) WebAuthnDisplayName() string { return firstNonEmpty(w.u.Name, w.u.Email, w.u.ID) }
func (w waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(w.acct.Credentials))
	for i, c := range w.acct.Credentials {
		out[i] = c.Credential
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (e *Engine) passkeyRoutes(m *http.ServeMux) {
	if e.webauthn == nil {
		return
	}
	p := e.cfg.Prefix
	m.HandleFunc("POST "+p+"/passkey/options", e.api(e.handlePasskeyOptions))
	m.HandleFunc("POST "+p+"/passkey/verify", e.api(e.handlePasskeyVerify))
	m.HandleFunc("POST "+p+"/passkeys/reauth/options", e.api(e.handleReauthOptions))
	m.HandleFunc("POST "+p+"/passkeys/register/options", e.api(e.handleRegisterOptions))
	m.HandleFunc("POST "+p+"/passkeys/register/verify", e.api(e.handleRegisterVerify))
	list := e.api(e.handleListPasskeys)
	m.HandleFunc("GET "+p+"/passkeys", func(w http.ResponseWriter, r *http.Request) {
		// One URL, two faces: a browser's navigation gets the page, an
		// API client the JSON list.
		if wantsHTML(r) && e.cfg.Session.URL != "" {
			e.pages.passkeys(w, r)
			return
		}
		list(w, r)
	})
	m.HandleFunc("DELETE "+p+"/passkeys/{id}", e.api(e.handleDeletePasskey))
}

// loadAccount returns the user's passkeys (found false when none) and the
// raw stored bytes for a later compare-and-swap.
func (e *Engine) loadAccount(ctx context.Context, userID string) (*passkeyAccount, []byte, error) {
	raw, err := e.store.Get(ctx, e.keys.accountKey(userID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var a passkeyAccount
	if err := decodeRecord(raw, &a); err != nil {
		return nil, nil, fmt.Errorf("decoding passkeys: %w", err)
	}
	return &a, raw, nil
}

// hasPasskey reports whether the user registered at least one passkey.
func (e *Engine) hasPasskey(ctx context.Context, userID string) (bool, error) {
	if e.webauthn == nil {
		return false, nil
	}
	a, _, err := e.loadAccount(ctx, userID)
	return a != nil && len(a.Credentials) > 0, err
}

// updateAccount applies change to the user's passkeys atomically (retrying
// on a concurrent writer).
func (e *Engine) updateAccount(ctx context.Context, userID string, change func(*passkeyAccount) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		a, raw, err := e.loadAccount(ctx, userID)
		if err != nil {
			return err
		}
		if a == nil {
			handle := make([]byte, 32)
			if _, err := rand.Read(handle); err != nil {
				return err
			}
			a = &passkeyAccount{UserID: userID, Handle: handle}
		}
		if err := change(a); err != nil {
			return err
		}
		next, err := encodeRecord(a)
		if err != nil {
			return err
		}
		if raw == nil {
			won, err := e.store.PutIfAbsent(ctx, e.keys.accountKey(userID), next, passkeyTTL)
			if err != nil {
				return err
			}
			if !won {
				continue
			}
			return e.store.Put(ctx, handleKey(a.Handle), []byte(userID), passkeyTTL, "")
		}
		ok, err := e.store.CompareAndSwap(ctx, e.keys.accountKey(userID), raw, next)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if ok {
			return nil
		}
	}
	return errors.New("passkeys changed concurrently too often")
}

// ceremonyAnswer is what a front end passes to navigator.credentials.
func ceremonyAnswer(id string, publicKey any) map[string]any {
	return map[string]any{"ceremony": id, "publicKey": publicKey}
}

func (e *Engine) saveCeremony(ctx context.Context, rec ceremonyRecord) (string, error) {
	id, err := newToken()
	if err != nil {
		return "", err
	}
	return id, e.putRecord(ctx, e.keys.ceremonyKey(id), rec, ceremonyTTL, "")
}

// takeCeremony consumes a ceremony: a challenge answers once (the library
// itself does not stop a replay).
func (e *Engine) takeCeremony(ctx context.Context, id, kind string) (*ceremonyRecord, *apiError) {
	if !wellFormedToken(id) {
		return nil, errPasskeyInvalid
	}
	raw, err := e.store.Consume(ctx, e.keys.ceremonyKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errPasskeyInvalid
	}
	if err != nil {
		return nil, storeUnavailable(err)
	}
	var rec ceremonyRecord
	if err := decodeRecord(raw, &rec); err != nil || rec.Kind != kind || !e.now().Before(rec.Session.Expires) {
		return nil, errPasskeyInvalid
	}
	return &rec, nil
}

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

func (e *Engine) passkeyRefused(r *http.Request, userID, why string, err error) {
	e.audit(zapcore.WarnLevel, "passkey refused", "failed", "passkey", zap.String("user_id", userID),
		zap.String("reason", why), zap.NamedError("cause", err), zap.String("ip", e.cfg.ClientIP(r)))
}

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

// handleRegisterOptions starts adding a passkey for the signed-in user,
// after a fresh proof (passkey_reauth.go).
func (e *Engine) handleRegisterOptions(w http.ResponseWriter, r *http.Request) *apiError {
	var in reauthInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	user, apiErr := e.signedInUser(ctx, r)
	if apiErr != nil {
		return apiErr
	}
	if apiErr := e.freshProof(ctx, r, user, in); apiErr != nil {
		return apiErr
	}
	if apiErr := e.limitCeremony(ctx, r, e.keys.ownerKey(user.ID)); apiErr != nil {
		return apiErr
	}
	// Make sure the account (and its handle) exists before the ceremony.
	if err := e.updateAccount(ctx, user.ID, func(*passkeyAccount) error { return nil }); err != nil {
		return storeUnavailable(err)
	}
	acct, _, err := e.loadAccount(ctx, user.ID)
	if err != nil || acct == nil {
		return storeUnavailable(err)
	}
	wu := waUser{u: user, acct: acct}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := e.webauthn.BeginRegistration(wu,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		}))
	if err != nil {
		return internalError(err)
	}
	id, err := e.saveCeremony(ctx, ceremonyRecord{Kind: "register", Session: *session, UserID: user.ID})
	if err != nil {
		return storeUnavailable(err)
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer(id, creation.Response))
	return nil
}

// handleRegisterVerify stores the new passkey.
func (e *Engine) handleRegisterVerify(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Ceremony   *string         `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
		Name       string          `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Ceremony == nil || len(in.Credential) == 0 {
		return invalid("ceremony and credential are required", "")
	}
	name, ok := cleanText(firstNonEmpty(in.Name, "Passkey"), 64)
	if !ok {
		return invalid("name must be 1 to 64 printable characters", "/name")
	}
	ctx := r.Context()
	user, apiErr := e.signedInUser(ctx, r)
	if apiErr != nil {
		return apiErr
	}
	rec, apiErr := e.takeCeremony(ctx, *in.Ceremony, "register")
	if apiErr != nil {
		return apiErr
	}
	if rec.UserID != user.ID {
		e.passkeyRefused(r, user.ID, "registration ceremony of another user", nil)
		return errPasskeyInvalid
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		e.passkeyRefused(r, user.ID, "malformed attestation", err)
		return errPasskeyInvalid
	}
	acct, _, err := e.loadAccount(ctx, user.ID)
	if err != nil || acct == nil {
		return storeUnavailable(err)
	}
	cred, err := e.webauthn.CreateCredential(waUser{u: user, acct: acct}, rec.Session, parsed)
	if err != nil {
		e.passkeyRefused(r, user.ID, "attestation refused", err)
		return errPasskeyInvalid
	}
	now := e.now()
	if err := e.updateAccount(ctx, user.ID, func(a *passkeyAccount) error {
		for _, c := range a.Credentials {
			if bytes.Equal(c.Credential.ID, cred.ID) {
				return errors.New("credential already registered")
			}
		}
		a.Credentials = append(a.Credentials, passkeyRecord{Credential: *cred, Name: name, CreatedAt: now})
		return nil
	}); err != nil {
		return storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "passkey registered", "passkey_added", "", zap.String("user_id", user.ID))
	e.spendGrant(ctx, r)
	e.notifyPasskeyAdded(context.WithoutCancel(ctx), user, cred.ID, name, e.cfg.ClientIP(r))
	writeJSON(w, http.StatusCreated, passkeyView(passkeyRecord{Credential: *cred, Name: name, CreatedAt: now}))
	return nil
}

func passkeyView(c passkeyRecord) map[string]any {
	v := map[string]any{
		"id":              base64.RawURLEncoding.EncodeToString(c.Credential.ID),
		"name":            c.Name,
		"created_at":      c.CreatedAt.UTC().Format(time.RFC3339),
		"backup_eligible": c.Credential.Flags.BackupEligible,
		"backup_state":    c.Credential.Flags.BackupState,
		"transports":      c.Credential.Transport,
	}
	if !c.LastUsedAt.IsZero() {
		v["last_used_at"] = c.LastUsedAt.UTC().Format(time.RFC3339)
	}
	return v
}

// handleListPasskeys lists the signed-in user's passkeys.
func (e *Engine) handleListPasskeys(w http.ResponseWriter, r *http.Request) *apiError {
	user, apiErr := e.signedInUser(r.Context(), r)
	if apiErr != nil {
		return apiErr
	}
	acct, _, err := e.loadAccount(r.Context(), user.ID)
	if err != nil {
		return storeUnavailable(err)
	}
	list := []map[string]any{}
	if acct != nil {
		for _, c := range acct.Credentials {
			list = append(list, passkeyView(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": list})
	return nil
}

// handleDeletePasskey removes one of the signed-in user's passkeys.
func (e *Engine) handleDeletePasskey(w http.ResponseWriter, r *http.Request) *apiError {
	user, apiErr := e.signedInUser(r.Context(), r)
	if apiErr != nil {
		return apiErr
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil {
		return invalid("passkey id must be base64url", "")
	}
	removed, err := e.removePasskey(r.Context(), user.ID, id)
	if err != nil {
		return storeUnavailable(err)
	}
	if !removed {
		return newError(http.StatusNotFound, CodeNotFound, "no such passkey", "")
	}
	setAPIHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removePasskey deletes one of the user's passkeys and reports whether it
// was there. The removal is audit-logged.
func (e *Engine) removePasskey(ctx context.Context, userID string, id []byte) (bool, error) {
	removed := false
	err := e.updateAccount(ctx, userID, func(a *passkeyAccount) error {
		removed = false // a retry starts over
		kept := a.Credentials[:0]
		for _, c := range a.Credentials {
			if bytes.Equal(c.Credential.ID, id) {
				removed = true
				continue
			}
			kept = append(kept, c)
		}
		a.Credentials = kept
		return nil
	})
	if err == nil && removed {
		e.audit(zapcore.InfoLevel, "passkey removed", "passkey_removed", "", zap.String("user_id", userID))
	}
	return removed, err
}

// signedInUser is the session hook's user, looked up for name and mail.
func (e *Engine) signedInUser(ctx context.Context, r *http.Request) (User, *apiError) {
	if e.cfg.Session.URL == "" {
		return User{}, newError(http.StatusNotFound, CodeNotFound, "signed-in features need the session hook", "")
	}
	id, apiErr := e.sessionUser(ctx, r)
	if apiErr != nil {
		return User{}, apiErr
	}
	u, found, err := e.lookup(ctx, id)
	if err != nil {
		return User{}, upstreamFailed("the application could not be reached; try again", err)
	}
	if !found || u.ID != id {
		return User{}, errNotSignedIn
	}
	return u, nil
}
