// The signed-in user's passkeys: registering one (after a fresh proof),
// listing them, deleting one.

package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

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
	setAPIHeaders(w.Header(), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
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
