package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/plugin/hookreq"
)

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
