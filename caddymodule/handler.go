// Package caddymodule is resetgate's Caddy face: the HTTP handler module
// http.handlers.password_reset, its JSON config, Caddyfile directive and
// lifecycle. It builds a plugin.Engine and hands it the requests under its
// prefix; every other request goes to the next handler untouched.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/plugin/webhook"
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

// Storage selects the store backend.
type Storage struct {
	// The backend: "badger" (embedded, one instance) or "redis" (several
	// Caddy instances sharing tokens and rate limits). Default: badger.
	Backend string `json:"backend,omitempty"`
	// Badger's directory. Default: <Caddy data dir>/resetgate.
	Dir string `json:"dir,omitempty"`
	// Redis URL: redis://[user:password@]host:port/db, or rediss:// for
	// TLS. Use a placeholder for the password. Required for redis.
	URL string `json:"url,omitempty"`
	// Prefix of every Redis key, so several sites can share a server.
	// Default: resetgate:.
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Redis dial timeout. Default: 5s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Redis read and write timeout. Default: 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Redis connection pool size. Default: 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`
	// Further Redis Cluster nodes (host:port) beside the URL's host: with
	// any, the store talks to a Redis Cluster (a redis-cluster:// URL says
	// the same). Default: none.
	ClusterAddrs []string `json:"cluster_addrs,omitempty"`
	// Finds the Redis primary through Sentinel (a redis-sentinel:// URL
	// says the same); the URL then gives only the password, database and
	// TLS. Default: none.
	Sentinel *RedisSentinel `json:"sentinel,omitempty"`
	// Every Redis write waits until this many replicas acknowledged it
	// (WAIT), or fails with 503: see the README, "Storage: Sentinel and
	// Cluster". Default: 0 (replication is asynchronous).
	WaitReplicas int `json:"wait_replicas,omitempty"`
	// How long a write waits for wait_replicas. Default: 100ms.
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`
}

// RedisSentinel names a Sentinel-watched Redis group.
type RedisSentinel struct {
	// The master's name as the sentinels know it. Required.
	MasterName string `json:"master_name,omitempty"`
	// The sentinels, host:port. Required.
	Addrs []string `json:"addrs,omitempty"`
	// The sentinels' own password, if they have one. Use a placeholder.
	// Default: none.
	Password string `json:"password,omitempty"`
}

// Hook is an upstream endpoint called with a signed JSON POST.
type Hook struct {
	// The endpoint's URL. Required.
	URL string `json:"url,omitempty"`
	// The Standard Webhooks signing secret, "whsec_<base64>". For lookup,
	// default: the update hook's secret. Use a placeholder.
	Secret string `json:"secret,omitempty"`
	// How long to wait for the answer. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
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

// Passkey configures the WebAuthn relying party.
type Passkey struct {
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
	CeremoniesPerIP *Limit `json:"ceremonies_per_ip,omitempty"`
	// Ceremonies started for one flow, token or signed-in account within
	// token_ttl. Default: 5.
	CeremoniesPerFlow int `json:"ceremonies_per_flow,omitempty"`
	// Ceremonies started by all clients per 5 minutes (a ceremony's
	// lifetime). Default: 10000.
	MaxCeremonies int `json:"max_ceremonies,omitempty"`
}

// SessionHook is the endpoint that says who is signed in.
type SessionHook struct {
	Hook
	// The dotted JSON path of the user id in the answer. Default: id.
	IDField string `json:"id_field,omitempty"`
}

// AdminTokenConfig is one admin API credential.
type AdminTokenConfig struct {
	// "sha256:<hex>": the SHA-256 of the bearer token, never the token.
	Hash string `json:"hash"`
	// What the token may do: tokens:issue, tokens:revoke. Required.
	Scopes []string `json:"scopes"`
}

// UpdateHook is the endpoint that sets a password.
type UpdateHook struct {
	Hook
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
	// range are in plugin/passhash/formats.go.
	HashCost int `json:"hash_cost,omitempty"`
}

// Email configures mail over SMTP.
type Email struct {
	// The transport; only "smtp". Default: smtp.
	Transport string `json:"transport,omitempty"`
	// The SMTP server, host:port. Required.
	Address string `json:"address,omitempty"`
	// The From header, e.g. "Acme <no-reply@acme.test>". Required.
	From string `json:"from,omitempty"`
	// "starttls" (required upgrade), "implicit" (TLS from the first byte,
	// port 465) or "none" (loopback servers only). Default: starttls.
	TLS string `json:"tls,omitempty"`
	// SMTP AUTH user name. Default: no authentication.
	Username string `json:"username,omitempty"`
	// SMTP AUTH password. Use a placeholder.
	Password string `json:"password,omitempty"`
	// A directory whose files override the built-in mail templates.
	// Default: none.
	Templates string `json:"templates,omitempty"`
}

// Policy is the password policy.
type Policy struct {
	// Minimum length in Unicode code points. Default: 12.
	MinLength int `json:"min_length,omitempty"`
	// Maximum length in code points (at least 64). Default: 128.
	MaxLength int `json:"max_length,omitempty"`
	// Words a password must not contain, such as the site's name.
	// Default: none.
	ContextWords []string `json:"context_words,omitempty"`
	// Turn off the check against the embedded list of 49,233 common
	// passwords. Default: false (the check is on).
	SkipCommon bool `json:"skip_common,omitempty"`
	// The lowest zxcvbn score (1 to 4) accepted. Default: 0, off.
	MinScore int `json:"min_score,omitempty"`
	// Refuse passwords found by a k-anonymity range API (the Pwned
	// Passwords protocol). Default: off.
	Breached *Breached `json:"breached,omitempty"`
}

// Breached configures the breached-password check. Only the first five hex
// characters of the password's SHA-1 leave the server.
type Breached struct {
	// The range API's base URL; the 5-character prefix is appended, e.g.
	// https://api.pwnedpasswords.com/range/. Required.
	URL string `json:"url,omitempty"`
	// Accept the password when the service cannot be reached. Default:
	// false (fail closed: the user is asked to retry, 502).
	FailOpen bool `json:"fail_open,omitempty"`
	// How long to wait for the service. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// Limit is a fixed-window rate limit.
type Limit struct {
	// Events allowed per window.
	Count int `json:"count"`
	// The window's length.
	Window caddy.Duration `json:"window"`
}

// RateLimit holds the rate limits.
type RateLimit struct {
	// Reset mails per identifier; over it, requests still get 202 but no
	// mail goes out. Default: 3 per 15m.
	PerIdentifier *Limit `json:"per_identifier,omitempty"`
	// Requests per client address; over it, 429. Default: 20 per 15m.
	PerIP *Limit `json:"per_ip,omitempty"`
	// Reset mails across all users. Default: 1000 per 1h.
	MailBudget *Limit `json:"mail_budget,omitempty"`
	// Wrong codes per flow before it locks. Default: 5.
	CodeAttempts int `json:"code_attempts,omitempty"`
	// Code attempts per account across all its flows. Default: 10 per 1h.
	AccountFailures *Limit `json:"account_failures,omitempty"`
	// How many leading bits of an IPv4 client address per_ip counts by
	// (1 to 32). Default: 32, each address on its own.
	IPv4Prefix int `json:"ipv4_prefix,omitempty"`
	// How many leading bits of an IPv6 client address per_ip counts by
	// (1 to 128): a client that holds a whole /64 cannot dodge the limit
	// by rotating addresses in it. Default: 64.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`
	// How many accepted reset requests wait in memory for a worker. Every
	// request is in the store before its 202 (the durable request queue);
	// one that finds this queue full is picked up from the store by the
	// queue walker, so nothing accepted is lost. Default: 4096.
	QueueSize int `json:"queue_size,omitempty"`
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

// engineConfig turns the JSON config into the engine's, resolving
// placeholders once. Error messages name the option, never a secret.
func (h *Handler) engineConfig(ctx caddy.Context) (plugin.Config, error) {
	repl := caddy.NewReplacer()
	var cfg plugin.Config
	if h.Users != nil {
		if err := h.usersAlone(); err != nil {
			return cfg, err
		}
	}
	baseURL, err := resolve(repl, "base_url", h.BaseURL)
	if err != nil {
		return cfg, err
	}
	cfg = plugin.Config{
		Prefix:         h.Prefix,
		BaseURL:        baseURL,
		SiteName:       h.SiteName,
		SupportContact: h.Support,
		TokenTTL:       time.Duration(h.TokenTTL),
		CodeTTL:        time.Duration(h.CodeTTL),
		RevokeTTL:      time.Duration(h.RevokeTTL),
		Methods:        h.Methods,
		ClientIP:       clientIP,
		LinkPath:       h.LinkPath,
		RequirePasskey: h.RequirePasskey,
		PowDifficulty:  h.Pow,
	}
	if cfg.Pages, err = h.Theme.pageOptions(repl); err != nil {
		return cfg, err
	}
	if p := h.Passkey; p != nil {
		cfg.Passkey = &plugin.PasskeyConfig{RPID: p.RPID, RPName: p.RPName, Origins: p.Origins, RemoveOnReset: p.RemoveOnReset,
			CeremoniesPerFlow: p.CeremoniesPerFlow, MaxCeremonies: p.MaxCeremonies}
		if l := p.CeremoniesPerIP; l != nil {
			cfg.Passkey.CeremoniesPerIP = plugin.Limit{Count: l.Count, Window: time.Duration(l.Window)}
		}
	}

	// Hooks.
	var updSigner *webhook.Signer
	switch {
	case h.Users == nil && h.Lookup != nil && h.Lookup.URL != "" && h.Update != nil && h.Update.URL != "":
		if updSigner, err = h.lookupAndUpdate(repl, &cfg); err != nil {
			return cfg, err
		}
	case h.Users == nil:
		// Incomplete: Validate names what is missing.
		if h.Lookup != nil {
			cfg.Lookup.URL = h.Lookup.URL
		}
		if h.Update != nil {
			cfg.Update.URL = h.Update.URL
		}
	}
	if cfg.Session, err = h.optionalHook(repl, "session", (*Hook)(sessionHook(h.Session)), updSigner); err != nil {
		return cfg, err
	}
	if h.Session != nil {
		cfg.SessionIDField = h.Session.IDField
	}
	if cfg.Deliver, err = h.optionalHook(repl, "deliver", h.Deliver, updSigner); err != nil {
		return cfg, err
	}
	for i, t := range h.AdminTokens {
		hash, err := resolve(repl, "admin_token", t.Hash)
		if err != nil {
			return cfg, err
		}
		at, err := plugin.ParseAdminToken(hash, t.Scopes)
		if err != nil {
			return cfg, fmt.Errorf("admin_token #%d: %w", i+1, err)
		}
		cfg.AdminTokens = append(cfg.AdminTokens, at)
	}
	cfg.AdminAllowRoles = h.AdminAllowRoles
	if h.Users == nil && h.Update != nil {
		if cfg.Verify, err = h.optionalHook(repl, "verify", h.Verify, updSigner); err != nil {
			return cfg, err
		}
		if cfg.Hasher, err = passhash.New(h.Update.Hash, h.Update.HashCost); err != nil {
			return cfg, fmt.Errorf("update hash: %w", err)
		}
		if p := passhash.Parts(h.Update.Hash); len(p) > 0 {
			return cfg, fmt.Errorf("update hash: format %s stores %s in columns of its own, which an update endpoint cannot receive; use it with a users directory", h.Update.Hash, strings.Join(p, " and "))
		}
	}

	// Policy and limits.
	if h.Policy != nil {
		cfg.Policy = policy.Policy{MinLength: h.Policy.MinLength, MaxLength: h.Policy.MaxLength, ContextWords: h.Policy.ContextWords,
			SkipCommon: h.Policy.SkipCommon, MinScore: h.Policy.MinScore}
		if b := h.Policy.Breached; b != nil {
			u, err := hookURL(repl, "policy breached", b.URL)
			if err != nil {
				return cfg, err
			}
			cfg.Policy.Breached = &policy.BreachedCheck{URL: u, FailOpen: b.FailOpen, Timeout: time.Duration(b.Timeout)}
		}
	}
	if rl := h.RateLimit; rl != nil {
		for _, l := range []struct {
			name string
			in   *Limit
			out  *plugin.Limit
		}{
			{"per_identifier", rl.PerIdentifier, &cfg.PerIdentifier},
			{"per_ip", rl.PerIP, &cfg.PerIP},
			{"mail_budget", rl.MailBudget, &cfg.MailBudget},
			{"account_failures", rl.AccountFailures, &cfg.AccountFailures},
		} {
			if l.in == nil {
				continue
			}
			if l.in.Count < 1 || l.in.Window <= 0 {
				// Kept apart from the engine's zero value, which means
				// "the default".
				return cfg, fmt.Errorf("rate_limit %s needs a count ≥ 1 and a positive window", l.name)
			}
			*l.out = plugin.Limit{Count: l.in.Count, Window: time.Duration(l.in.Window)}
		}
		cfg.MaxCodeAttempts = rl.CodeAttempts
		if err := rl.checkAddressLimits(); err != nil {
			return cfg, err
		}
		cfg.IPv4Prefix, cfg.IPv6Prefix, cfg.QueueSize = rl.IPv4Prefix, rl.IPv6Prefix, rl.QueueSize
	}

	// Every rule, checked before anything connects or touches the disk,
	// so that a refused config leaves no database or key file behind.
	check := cfg
	if h.Users != nil {
		check.Users = usersToOpen{} // opened below, once every rule passed
	}
	if err := check.Validate(); err != nil {
		return cfg, err
	}

	// Mail.
	if h.Email != nil {
		if cfg.Mail, cfg.Templates, err = h.mail(repl); err != nil {
			return cfg, err
		}
	} else {
		h.logger.Warn("no email configured: reset mails are not sent")
	}

	// The user directory, store and key last: they connect and touch
	// the disk.
	if h.Users != nil {
		if cfg.Users, err = h.openUsers(ctx, repl); err != nil {
			return cfg, err
		}
	}
	if cfg.Key, err = h.openStore(ctx, repl); err != nil {
		return cfg, err
	}
	cfg.LocalPerIP = h.localPerIP
	return cfg, nil
}

func (h *Handler) mail(repl *caddy.Replacer) (mailer.Sender, *mailer.Templates, error) {
	e := h.Email
	if e.Transport != "" && e.Transport != "smtp" {
		return nil, nil, fmt.Errorf("email: unknown transport %q (want smtp)", e.Transport)
	}
	user, err := resolve(repl, "email username", e.Username)
	if err != nil {
		return nil, nil, err
	}
	pass, err := resolve(repl, "email password", e.Password)
	if err != nil {
		return nil, nil, err
	}
	from, err := resolve(repl, "email from", e.From)
	if err != nil {
		return nil, nil, err
	}
	addr, err := resolve(repl, "email address", e.Address)
	if err != nil {
		return nil, nil, err
	}
	tmplDir, err := resolve(repl, "email templates", e.Templates)
	if err != nil {
		return nil, nil, err
	}
	s, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: addr, From: from, Username: user, Password: pass, TLS: e.TLS})
	if err != nil {
		return nil, nil, fmt.Errorf("email: %w", err)
	}
	t, err := mailer.LoadTemplates(tmplDir)
	if err != nil {
		return nil, nil, fmt.Errorf("email templates: %w", err)
	}
	return s, t, nil
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

func sessionHook(s *SessionHook) *Hook {
	if s == nil {
		return nil
	}
	return &s.Hook
}

// optionalHook builds a hook that may be absent; its secret defaults to
// the update hook's.
func (h *Handler) optionalHook(repl *caddy.Replacer, name string, hk *Hook, def *webhook.Signer) (plugin.Hook, error) {
	if hk == nil {
		return plugin.Hook{}, nil
	}
	sg := def
	if hk.Secret != "" {
		sec, err := resolve(repl, name+" secret", hk.Secret)
		if err != nil {
			return plugin.Hook{}, err
		}
		if sg, err = signer(name+" secret", sec); err != nil {
			return plugin.Hook{}, err
		}
	}
	u, err := hookURL(repl, name, hk.URL)
	if err != nil {
		return plugin.Hook{}, err
	}
	if hk.Timeout < 0 {
		return plugin.Hook{}, fmt.Errorf("%s timeout must be positive", name)
	}
	tmpl, err := hookTemplate(repl, name, hk.Template)
	if err != nil {
		return plugin.Hook{}, err
	}
	if len(hk.MismatchStatus) > 0 && name != "verify" {
		return plugin.Hook{}, fmt.Errorf("%s: mismatch_status is for the verify hook only", name)
	}
	return plugin.Hook{URL: u, Client: &webhook.Client{Signer: sg, Timeout: time.Duration(hk.Timeout), UserAgent: "resetgate"}, Template: tmpl, MismatchStatus: hk.MismatchStatus}, nil
}

var envFilePlaceholder = regexp.MustCompile(`\{(env|file)\.[^{}]+\}`)

// hookTemplate resolves {env.*} and {file.*} in a template's header values
// (API keys), leaves {password_reset.*} for each call, and validates it.
// Errors name the hook and never a header value.
func hookTemplate(repl *caddy.Replacer, name string, t *hookreq.Template) (*hookreq.Template, error) {
	if t == nil {
		return nil, nil
	}
	out := *t
	if len(t.Headers) > 0 {
		out.Headers = make(map[string]string, len(t.Headers))
		for k, v := range t.Headers {
			// {env.*} and {file.*} must resolve to something, like every
			// other secret; {password_reset.*} stays for each call.
			var err error
			v = envFilePlaceholder.ReplaceAllStringFunc(v, func(ph string) string {
				r, e := repl.ReplaceOrErr(ph, true, true)
				if e != nil && err == nil {
					err = e
				}
				return r
			})
			if err != nil {
				return nil, fmt.Errorf("%s template header %s: %w", name, k, err)
			}
			out.Headers[k] = v
		}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("%s template: %w", name, err)
	}
	return &out, nil
}

// clientIP is Caddy's idea of the client address: the peer, or the
// forwarded address when the peer is a trusted proxy.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return plugin.RemoteIP(r)
}

func resolve(repl *caddy.Replacer, option, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	out, err := repl.ReplaceOrErr(v, true, true)
	if err != nil {
		// The replacer's error names the placeholder, never its value.
		return "", fmt.Errorf("%s: %w", option, err)
	}
	return out, nil
}

func signer(option, secret string) (*webhook.Signer, error) {
	if secret == "" {
		return nil, nil
	}
	s, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", option, err)
	}
	return s, nil
}

func hookURL(repl *caddy.Replacer, option, raw string) (string, error) {
	u, err := resolveKeepingHookPlaceholders(repl, option, raw)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", fmt.Errorf("%s: URL must start with http:// or https://", option)
	}
	return u, nil
}

// Interface guards.
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// usersToOpen stands for a configured user directory in Validate, before
// it is opened.
type usersToOpen struct{ directory.Directory }
