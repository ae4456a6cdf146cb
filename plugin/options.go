package plugin

import (
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/duration"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/store"
)

// Options is the engine's config as an operator writes it: the JSON of the
// Caddy module http.handlers.password_reset (which embeds it) and what its
// Caddyfile directive fills. Each field states its default; each part has a
// Validate whose error names the option. Options.Validate checks them all,
// and Options.Config builds the engine's Config from them, so a rule or a
// default exists once. Strings may hold {env.*} and {file.*} placeholders,
// which the Caddy module resolves before Validate.
type Options struct {
	// The path the reset API and pages live under. Default: /password-reset.
	Prefix string `json:"prefix,omitempty"`

	// The public origin (and optional base path) links in mails are built
	// from, e.g. https://app.example.com. Required. Links never use the
	// request's Host or X-Forwarded-Host headers.
	BaseURL string `json:"base_url,omitempty"`

	// Where tokens, flows and counters are kept. Default: Badger in
	// Caddy's data directory (<data dir>/resetgate).
	Storage *store.Options `json:"storage,omitempty"`

	// The server secret (at least 32 characters) from which the keys that
	// hash tokens, codes and identifiers are derived. Use an {env.*} or
	// {file.*} placeholder. Default: a random key made once and kept in a
	// file beside (not in) the Badger database, <dir>.key; Redis needs one.
	Key string `json:"key,omitempty"`

	// The product name shown in mails and pages. Default: the host of
	// base_url.
	SiteName string `json:"site_name,omitempty"`

	// A support contact (address or URL) shown in mails and pages.
	// Default: none.
	Support string `json:"support,omitempty"`

	// The look of the hosted pages: logo, colours, template and
	// translation overrides. Default: the built-in look.
	Theme *PageOptions `json:"theme,omitempty"`

	// The upstream endpoint that says who an identifier is. Required
	// (unless users is set).
	Lookup *HookOptions `json:"lookup,omitempty"`

	// The upstream endpoint that sets the new password. Required (unless
	// users is set).
	Update *UpdateHookOptions `json:"update,omitempty"`

	// An optional upstream endpoint that checks a password against the
	// user's current one; with it, a new password equal to the old one is
	// refused (SAME_AS_OLD). Default: none.
	Verify *HookOptions `json:"verify,omitempty"`

	// Where the app keeps its users, for an app without lookup and update
	// endpoints: a SQL table (sql) or an LDAP directory (ldap). It
	// replaces lookup, update and verify; a config with both is refused.
	// Default: none (the hooks).
	Users *directory.Config `json:"users,omitempty"`

	// An optional upstream endpoint that says who is signed in, for the
	// change-password call: it receives a GET with the browser's Cookie and
	// Authorization headers and answers 200 with the user id. Default: none
	// (change password is off).
	Session *SessionHookOptions `json:"session,omitempty"`

	// An optional upstream endpoint that receives each reset (user, link,
	// code, expiry) so the app sends its own mail, instead of or beside
	// email. Default: none.
	Deliver *HookOptions `json:"deliver,omitempty"`

	// The path, under base_url, of the link in reset mails and in tokens
	// issued by the admin API; a custom portal points it at its own page,
	// which receives ?token=. Default: {prefix}/new.
	LinkPath string `json:"link_path,omitempty"`

	// Admin API credentials. The admin API exists only when at least one
	// is configured. Default: none (the admin API answers 404).
	AdminTokens []AdminTokenOptions `json:"admin_tokens,omitempty"`

	// The roles the admin API may issue reset tokens for. Default: user.
	AdminAllowRoles []string `json:"admin_allow_roles,omitempty"`

	// How mail is sent. Default: no mail (a warning is logged; only
	// useful with the admin API or deliver).
	Email *mailer.Options `json:"email,omitempty"`

	// How long a mailed link (and a token from a code) stays valid.
	// Default: 15m.
	TokenTTL duration.Duration `json:"token_ttl,omitempty"`

	// How long a mailed 8-digit code stays valid. Default: 10m.
	CodeTTL duration.Duration `json:"code_ttl,omitempty"`

	// How long the "this wasn't me" link in a mail works. Default: 168h.
	RevokeTTL duration.Duration `json:"revoke_ttl,omitempty"`

	// The proofs a user may use: "link", "code", "passkey". Default: link
	// and code. passkey needs the passkey block.
	Methods []string `json:"methods,omitempty"`

	// WebAuthn settings; with them, signed-in users can register passkeys
	// and use them in a reset. Default: none (passkeys off).
	Passkey *PasskeyOptions `json:"passkey,omitempty"`

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
	Policy *policy.Policy `json:"policy,omitempty"`

	// Rate limits. Defaults are given on each field.
	RateLimit *RateLimitOptions `json:"rate_limit,omitempty"`
}

// HookOptions is an upstream endpoint called with a signed JSON POST.
type HookOptions struct {
	// The endpoint's URL, http or https; {password_reset.*} placeholders
	// may stand in its path. Required.
	URL string `json:"url,omitempty"`
	// The Standard Webhooks signing secret, "whsec_<base64>". Use a
	// placeholder. Default: the update hook's secret (none: unsigned
	// calls, with a warning).
	Secret string `json:"secret,omitempty"`
	// How long to wait for the answer. Default: 5s.
	Timeout duration.Duration `json:"timeout,omitempty"`
	// Shapes the request for an endpoint that already exists: method,
	// encoding (json or form), headers, body fields and query built from
	// {password_reset.*} placeholders, the answer's field mapping and the
	// statuses meaning success. Default: none (the JSON contract).
	Template *hookreq.Template `json:"template,omitempty"`
	// Verify only: statuses that alone mean "not the current password",
	// for an existing endpoint that cannot answer {"valid": false}. Without
	// it a 401 or 403 must carry {"valid": false}; a bare one is the hook
	// refusing the call (a wrong secret) and fails the check (502) instead
	// of silently passing SAME_AS_OLD. Default: none.
	MismatchStatus []int `json:"mismatch_status,omitempty"`
}

// SessionHookOptions is the endpoint that says who is signed in.
type SessionHookOptions struct {
	HookOptions
	// The dotted JSON path of the user id in the answer. Default: id.
	IDField string `json:"id_field,omitempty"`
}

// UpdateHookOptions is the endpoint that sets a password.
type UpdateHookOptions struct {
	HookOptions
	// Send a hash of the password in this format instead of the password:
	// a format of passhash.Formats(), named after the app that reads it
	// ("bcrypt" ($2y$), "argon2id", "wordpress", "django_argon2", …; see
	// the README's "Hash formats"), or "none". Formats that keep a salt in
	// a column of their own (gitea, redmine) are refused here. Default:
	// none.
	Hash string `json:"hash,omitempty"`
	// The hash's work factor: bcrypt cost (bcrypt default 12), argon2
	// passes (default 2), scrypt log2 N (default 17) or PBKDF2/crypt
	// iterations (pbkdf2_sha256 default 870000); each format's default and
	// range are in plugin/passhash/formats.go. Default: the format's.
	HashCost int `json:"hash_cost,omitempty"`
}

// AdminTokenOptions is one admin API credential.
type AdminTokenOptions struct {
	// "sha256:<hex>": the SHA-256 of the bearer token, never the token.
	// Required.
	Hash string `json:"hash"`
	// What the token may do: tokens:issue, tokens:revoke. Required.
	Scopes []string `json:"scopes"`
}

// PasskeyOptions configures the WebAuthn relying party.
type PasskeyOptions struct {
	// The relying party id: the site's domain. Default: the host of
	// base_url.
	RPID string `json:"rp_id,omitempty"`
	// The name authenticators show. Default: site_name.
	RPName string `json:"rp_name,omitempty"`
	// The origins allowed to run ceremonies. Default: the origin of
	// base_url.
	Origins []string `json:"origins,omitempty"`
	// Remove every passkey of a user whose password is reset (by link,
	// code, passkey or admin token), so a passkey an attacker added cannot
	// outlive the victim's reset. Default: false: a reset keeps the
	// passkeys, and "this wasn't me" removes those added since the last
	// reset.
	RemoveOnReset bool `json:"remove_on_reset,omitempty"`
	// Passkey ceremonies (stored challenges) one client address may start.
	// Default: 30 per 5m.
	CeremoniesPerIP *LimitOptions `json:"ceremonies_per_ip,omitempty"`
	// Ceremonies started for one flow, token or signed-in account within
	// token_ttl. Default: 5.
	CeremoniesPerFlow int `json:"ceremonies_per_flow,omitempty"`
	// Ceremonies started by all clients per 5 minutes (a ceremony's
	// lifetime). Default: 10000.
	MaxCeremonies int `json:"max_ceremonies,omitempty"`
}

// LimitOptions is a fixed-window rate limit as configured.
type LimitOptions struct {
	// Events allowed per window, at least 1. Required.
	Count int `json:"count"`
	// The window's length, positive. Required.
	Window duration.Duration `json:"window"`
}

// RateLimitOptions holds the rate limits.
type RateLimitOptions struct {
	// Reset mails per identifier; over it, requests still get 202 but no
	// mail goes out. Default: 3 per 15m.
	PerIdentifier *LimitOptions `json:"per_identifier,omitempty"`
	// Requests per client address; over it, 429. Default: 20 per 15m.
	PerIP *LimitOptions `json:"per_ip,omitempty"`
	// Reset mails across all users. Default: 1000 per 1h.
	MailBudget *LimitOptions `json:"mail_budget,omitempty"`
	// Wrong codes per flow before it locks, 1 to 10. Default: 5.
	CodeAttempts int `json:"code_attempts,omitempty"`
	// Code attempts per account across all its flows. Default: 10 per 1h.
	AccountFailures *LimitOptions `json:"account_failures,omitempty"`
	// How many leading bits of an IPv4 client address per_ip counts by
	// (1 to 32). Default: 32, each address on its own.
	IPv4Prefix int `json:"ipv4_prefix,omitempty"`
	// How many leading bits of an IPv6 client address per_ip counts by
	// (1 to 128): a client that holds a whole /64 cannot dodge the limit
	// by rotating addresses in it. Default: 64.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`
	// How many accepted reset requests wait in memory for a worker (1 to
	// 1048576). Every request is in the store before its 202 (the durable
	// request queue); one that finds this queue full is picked up from the
	// store by the queue walker, so nothing accepted is lost. Default:
	// 4096.
	QueueSize int `json:"queue_size,omitempty"`
}
