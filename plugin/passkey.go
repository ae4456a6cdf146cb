package plugin

import (
	"context"
	"errors"
	"net/http"

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

func (e *Engine) passkeyRefused(r *http.Request, userID, why string, err error) {
	e.audit(zapcore.WarnLevel, "passkey refused", "failed", "passkey", zap.String("user_id", userID),
		zap.String("reason", why), zap.NamedError("cause", err), zap.String("ip", e.cfg.ClientIP(r)))
}
