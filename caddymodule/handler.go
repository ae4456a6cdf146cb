// Package caddymodule is resetgate's Caddy face: the HTTP handler module
// http.handlers.password_reset, its JSON config, Caddyfile directive and
// lifecycle. It builds a plugin.Engine and hands it the requests under its
// prefix; every other request goes to the next handler untouched.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler gives the site behind it self-service password reset. It answers
// the reset API and pages under Prefix, and passes every other request to
// the next handler unchanged.
type Handler struct {
	// The path the reset API and pages live under. Default: /password-reset.
	Prefix string `json:"prefix,omitempty"`

	// The public origin (and optional base path) links in mails are built
	// from, e.g. https://app.example.com. Required. Links never use the
	// request's Host or X-Forwarded-Host headers.
	BaseURL string `json:"base_url,omitempty"`

	// Where tokens, flows and counters are kept. Default: Badger in
	// Caddy's data directory (<data dir>/resetgate).
	Storage *Storage `json:"storage,omitempty"`

	// The server secret (at least 32 characters) from which the keys that
	// hash tokens, codes and identifiers are derived. Use an {env.*} or
	// {file.*} placeholder. Default: a random key made once and kept in a
	// file beside (not in) the Badger database, <dir>.key.
	Key string `json:"key,omitempty"`

	// The product name shown in mails and pages. Default: the host of
	// base_url.
	SiteName string `json:"site_name,omitempty"`

	// A support contact (address or URL) shown in mails and pages.
	// Default: none.
	Support string `json:"support,omitempty"`

	// The look of the hosted pages: logo, colours, template and
	// translation overrides. Default: the built-in look.
	Theme *Theme `json:"theme,omitempty"`

	// The upstream endpoint that says who an identifier is. Required.
	Lookup *Hook `json:"lookup,omitempty"`

	// The upstream endpoint that sets the new password. Required.
	Update *UpdateHook `json:"update,omitempty"`

	// An optional upstream endpoint that checks a password against the
	// user's current one; with it, a new password equal to the old one is
	// refused (SAME_AS_OLD). Default: none.
	Verify *Hook `json:"verify,omitempty"`

	// Where the app keeps its users, for an app without lookup and update
	// endpoints: a SQL table (sql) or an LDAP directory (ldap). It
	// replaces lookup, update and verify; a config with both is refused.
	// Default: none (the hooks).
	Users *directory.Config `json:"users,omitempty"`

	// An optional upstream endpoint that says who is signed in, for the
	// change-password call: it receives a GET with the browser's Cookie and
	// Authorization headers and answers 200 with the user id. Default: none
	// (change password is off).
	Session *SessionHook `json:"session,omitempty"`

	// An optional upstream endpoint that receives each reset (user, link,
	// code, expiry) so the app sends its own mail, instead of or beside
	// email. Default: none.
	Deliver *Hook `json:"deliver,omitempty"`

	// The path, under base_url, of the link in reset mails and in tokens
	// issued by the admin API; a custom portal points it at its own page,
	// which receives ?token=. Default: {prefix}/new.
	LinkPath string `json:"link_path,omitempty"`

	// Admin API credentials. The admin API exists only when at least one
	// is configured. Default: none (the admin API answers 404).
	AdminTokens []AdminTokenConfig `json:"admin_tokens,omitempty"`

	// The roles the admin API may issue reset tokens for. Default: user.
	AdminAllowRoles []string `json:"admin_allow_roles,omitempty"`

	// How mail is sent. Default: no mail (a warning is logged; only
	// useful with the admin API).
	Email *Email `json:"email,omitempty"`

	// How long a mailed link (and a token from a code) stays valid.
	// Default: 15m.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// How long a mailed 8-digit code stays valid. Default: 10m.
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`

	// How long the "this wasn't me" link in a mail works. Default: 168h.
	RevokeTTL caddy.Duration `json:"revoke_ttl,omitempty"`

	// The proofs a user may use: "link", "code", "passkey". Default: link
	// and code. passkey needs the passkey block.
	Methods []string `json:"methods,omitempty"`

	// WebAuthn settings; with them, signed-in users can register passkeys
	// and use them in a reset. Default: none (passkeys off).
	Passkey *Passkey `json:"passkey,omitempty"`

	// A user who has a passkey must also prove it in every reset, after
	// the mailed link or code (ASVS 5.0 6.4.3). Default: false.
	RequirePasskey bool `json:"require_passkey,omitempty"`

	// Proof of work on every reset request (the forgot form and POST
	// request), in leading zero bits of SHA-256: the browser solves about
	// 2^pow hashes in a Web Worker (16: a fraction of a second; 20: a few
	// seconds on a phone), which raises the cost of mass requests without
	// a CAPTCHA vendor. Between 8 and 28. Default: 0 (off).
	Pow int `json:"pow,omitempty"`

	// The password policy. Default: 12 to 128 code points, no composition
	// rules, no identifier or context words.
	Policy *Policy `json:"policy,omitempty"`

	// Rate limits. Defaults are given on each field.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	engine     *plugin.Engine
	st         store.Store
	poolKey    string
	usersKey   string
	localPerIP bool
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.password_reset",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves secrets, opens the store and builds the engine.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	cfg, err := h.engineConfig(ctx)
	if err != nil {
		return fmt.Errorf("password_reset: %w", err)
	}
	cfg.Observer = newMetrics(ctx.GetMetricsRegistry(), h.logger)
	// Check the store, SMTP and the lookup once, in the background: a
	// failure is a warning (the part may come up later), seen in the log,
	// in `caddy password-reset status` and in the selftest_up metric.
	cfg.SelfTest = true
	eng, err := plugin.New(cfg, h.st, h.logger)
	if err != nil {
		return fmt.Errorf("password_reset: %w", err)
	}
	h.engine = eng
	h.engine.Start()
	registerHandler(h)
	return nil
}

// Validate checks what Provision could not: nothing is left by then, but
// the method keeps the module's contract explicit.
func (h *Handler) Validate() error {
	if h.engine == nil {
		return errors.New("password_reset: not provisioned")
	}
	return nil
}

// ServeHTTP hands requests under the prefix to the engine and everything
// else to next, at the cost of one prefix comparison.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.engine.Handles(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	if h.engine.CarriesSecretInURL(r) {
		// Invariant 7: a URL that carries a token stays out of the
		// access log.
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
	h.engine.ServeHTTP(w, r)
	return nil
}

// Cleanup stops the engine and releases the store. It is safe after a
// failed Provision.
func (h *Handler) Cleanup() error {
	unregisterHandler(h)
	if h.engine != nil {
		h.engine.Stop()
	}
	h.releaseUsers()
	return h.releaseStore()
}
