package plugin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Admin scopes.
const (
	ScopeIssue  = "tokens:issue"
	ScopeRevoke = "tokens:revoke"
)

// AdminToken is one configured admin credential: only the SHA-256 of the
// bearer token is known to the server.
type AdminToken struct {
	// Hash is SHA-256 of the bearer token.
	Hash [32]byte
	// Scopes the token grants (tokens:issue, tokens:revoke).
	Scopes []string
}

// Fingerprint names the token in audit logs: the first 8 hex characters of
// its hash, which is already in the config and reveals nothing usable.
func (t AdminToken) Fingerprint() string { return hex.EncodeToString(t.Hash[:4]) }

func (t AdminToken) has(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// ParseAdminToken reads "sha256:<64 hex>" and its scopes.
func ParseAdminToken(hash string, scopes []string) (AdminToken, error) {
	var t AdminToken
	hexPart, ok := strings.CutPrefix(hash, "sha256:")
	if !ok {
		return t, errors.New("admin_token must be sha256:<hex of the token's SHA-256>")
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != sha256.Size {
		return t, errors.New("admin_token hash must be 64 hex characters")
	}
	if len(scopes) == 0 {
		return t, fmt.Errorf("admin_token needs at least one scope (%s, %s)", ScopeIssue, ScopeRevoke)
	}
	for _, s := range scopes {
		if err := CheckAdminScope(s); err != nil {
			return t, fmt.Errorf("admin_token: %w", err)
		}
	}
	copy(t.Hash[:], b)
	t.Scopes = scopes
	return t, nil
}

// adminRoutes registers the admin API, only when admin tokens exist: with
// none configured the paths fall through to 404 (invariant 9).
func (e *Engine) adminRoutes(m *http.ServeMux) {
	if len(e.cfg.AdminTokens) == 0 {
		return
	}
	p := e.cfg.Prefix
	m.HandleFunc("POST "+p+"/admin/users/{id}/reset-token", e.api(e.admin(ScopeIssue, e.handleAdminIssue)))
	m.HandleFunc("DELETE "+p+"/admin/users/{id}/reset-tokens", e.api(e.admin(ScopeRevoke, e.handleAdminRevoke)))
}

// authenticateAdmin returns the admin token presented as a bearer token.
// Every configured hash is compared in constant time, all of them, so the
// time says nothing about which one matched.
func (e *Engine) authenticateAdmin(r *http.Request) (AdminToken, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return AdminToken{}, false
	}
	sum := sha256.Sum256([]byte(raw))
	var found AdminToken
	match := 0
	for _, t := range e.cfg.AdminTokens {
		if subtle.ConstantTimeCompare(sum[:], t.Hash[:]) == 1 {
			found, match = t, 1
		}
	}
	return found, match == 1
}

func (e *Engine) admin(scope string, h func(http.ResponseWriter, *http.Request, AdminToken) *apiError) func(http.ResponseWriter, *http.Request) *apiError {
	return func(w http.ResponseWriter, r *http.Request) *apiError {
		tok, ok := e.authenticateAdmin(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="resetgate-admin"`)
			e.audit(zapcore.WarnLevel, "admin call refused: bad or missing token", "admin_denied", "", zap.String("route", e.route(r)), zap.String("ip", e.cfg.ClientIP(r)))
			return newError(http.StatusUnauthorized, CodeUnauthorized, "a valid admin bearer token is required", "")
		}
		if !tok.has(scope) {
			e.audit(zapcore.WarnLevel, "admin call refused: missing scope", "admin_denied", "", zap.String("admin", tok.Fingerprint()), zap.String("scope", scope))
			return newError(http.StatusForbidden, CodeInsufficientScope, "this admin token lacks the "+scope+" scope", "")
		}
		return h(w, r, tok)
	}
}

func (e *Engine) handleAdminIssue(w http.ResponseWriter, r *http.Request, tok AdminToken) *apiError {
	userID, ok := cleanText(r.PathValue("id"), maxIdentifier)
	if !ok {
		return invalid("user id must be 1 to 254 printable characters", "")
	}
	res, apiErr := e.issueResetToken(r.Context(), userID, "admin:"+tok.Fingerprint())
	if apiErr != nil {
		return apiErr
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (e *Engine) handleAdminRevoke(w http.ResponseWriter, r *http.Request, tok AdminToken) *apiError {
	userID, ok := cleanText(r.PathValue("id"), maxIdentifier)
	if !ok {
		return invalid("user id must be 1 to 254 printable characters", "")
	}
	if apiErr := e.revokeUserTokens(r.Context(), userID, "admin:"+tok.Fingerprint()); apiErr != nil {
		return apiErr
	}
	setAPIHeaders(w.Header(), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// IssuedToken is what the admin API answers: the portal mails the URL in
// its own branded mail.
type IssuedToken struct {
	Token     string `json:"token"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
	// NextStep is NEW_PASSWORD_REQUIRED, or PASSKEY_REQUIRED when the
	// user has a passkey under require_passkey.
	NextStep string `json:"next_step"`
}

// IssueResetToken makes a reset token for a user, for a custom portal. Only
// users whose role is in admin_allow_roles qualify, so a leaked admin
// token cannot take over administrators. actor names the caller in the
// audit log.
func (e *Engine) IssueResetToken(ctx context.Context, userID, actor string) (*IssuedToken, *PublicError) {
	res, err := e.issueResetToken(ctx, userID, actor)
	if err != nil {
		e.logError(nil, err)
		return nil, err.Public()
	}
	return res, nil
}

func (e *Engine) issueResetToken(ctx context.Context, userID, actor string) (*IssuedToken, *apiError) {
	user, apiErr := e.adminTarget(ctx, userID, actor, "reset tokens")
	if apiErr != nil {
		return nil, apiErr
	}
	token, err := newToken()
	if err != nil {
		return nil, internalError(err)
	}
	// An admin-issued token obeys require_passkey like a mailed one: a
	// portal (or a leaked admin token) does not skip the user's passkey.
	needsPasskey, err := e.needsPasskey(ctx, user.ID)
	if err != nil {
		return nil, storeUnavailable(err)
	}
	rec := tokenRecord{User: user, Identifier: user.Email, Via: "admin", ExpiresAt: e.now().Add(e.cfg.TokenTTL), NeedsPasskey: needsPasskey}
	if err := e.putToken(ctx, e.keys.tokenKey(token), rec); err != nil {
		return nil, storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "admin issued a reset token", "admin_issue", "", zap.String("actor", actor), zap.String("user_id", user.ID))
	return &IssuedToken{Token: token, URL: e.resetLink(token), ExpiresAt: rec.ExpiresAt.UTC().Format(time.RFC3339), NextStep: rec.nextStep()}, nil
}

// RevokeUserTokens ends every open reset token and flow of a user.
func (e *Engine) RevokeUserTokens(ctx context.Context, userID, actor string) *PublicError {
	if err := e.revokeUserTokens(ctx, userID, actor); err != nil {
		e.logError(nil, err)
		return err.Public()
	}
	return nil
}

func (e *Engine) revokeUserTokens(ctx context.Context, userID, actor string) *apiError {
	n, err := e.endUser(ctx, userID)
	if err != nil {
		return storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "admin revoked reset tokens", "admin_revoke", "", zap.String("actor", actor), zap.String("user_id", userID), zap.Int("tokens_ended", n))
	return nil
}

func (e *Engine) roleAllowed(role string) bool {
	for _, r := range e.cfg.AdminAllowRoles {
		if r == role {
			return true
		}
	}
	return false
}

// PublicError is an API error as a caller outside the HTTP API (Caddy's
// admin endpoint) sees it.
type PublicError struct {
	// Status is the HTTP status.
	Status int
	// Code is the error code.
	Code ErrorCode
	// Detail explains it.
	Detail string
}

// Public returns the public face of an API error.
func (e *apiError) Public() *PublicError {
	return &PublicError{Status: e.status, Code: e.items[0].Code, Detail: e.items[0].Detail}
}

// BaseURL is the configured public origin.
func (e *Engine) BaseURL() string { return e.cfg.BaseURL }

// adminTarget finds the user an operator issues something (what: "reset
// tokens", "reset codes") for: the user must exist under exactly this id
// and have a role in admin_allow_roles, so a leaked admin token cannot
// take over administrators.
func (e *Engine) adminTarget(ctx context.Context, userID, actor, what string) (User, *apiError) {
	user, found, err := e.lookup(ctx, userID)
	if err != nil {
		return User{}, upstreamFailed("the application could not be asked about this user", err)
	}
	if !found || user.ID != userID {
		return User{}, newError(http.StatusNotFound, CodeUserNotFound, "no such user", "")
	}
	if !e.roleAllowed(user.Role) {
		e.audit(zapcore.WarnLevel, "admin issue refused for role", "admin_issue_denied", "", zap.String("actor", actor), zap.String("user_id", user.ID), zap.String("role", user.Role))
		return User{}, newError(http.StatusForbidden, CodeRoleNotAllowed, what+" cannot be issued for users with this role", "")
	}
	return user, nil
}

// CheckAdminScope reports whether s is an admin token scope
// (tokens:issue, tokens:revoke).
func CheckAdminScope(s string) error {
	if s != ScopeIssue && s != ScopeRevoke {
		return fmt.Errorf("unknown scope '%s' (want %s, %s)", s, ScopeIssue, ScopeRevoke)
	}
	return nil
}
