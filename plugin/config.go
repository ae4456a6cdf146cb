package plugin

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/plugin/webhook"
)

// Hook is one upstream endpoint and the client that calls it.
type Hook struct {
	// URL of the endpoint.
	URL string
	// Client signs and sends the call.
	Client *webhook.Client
	// Template, when set, shapes the request for an endpoint that already
	// exists (method, encoding, headers, body, response mapping).
	Template *hookreq.Template
	// MismatchStatus (verify only) lists statuses that alone mean "not
	// the current password". Default: none; see passwordMatches.
	MismatchStatus []int

	name     string
	observer Observer
}

// Limit is a fixed-window rate limit: at most Count events per Window.
type Limit struct {
	// Count of events allowed per window; 0 disables the limit.
	Count int
	// Window is the length of the window.
	Window time.Duration
}

// Config is everything the engine needs: Options.Config builds it from the
// operator's options, and the Caddy module adds the key, the store's user
// directory and its observer. A Go caller may also fill it directly.
type Config struct {
	// Options are the options this Config was built from (Options.Config
	// keeps them): an option the engine reads as written needs no field of
	// its own here. The fields below are what the engine works with, the
	// options resolved, defaulted and built. Default: none (a Config
	// filled directly).
	Options Options

	// Prefix is the path the engine answers under, e.g. "/password-reset".
	Prefix string
	// BaseURL is the public origin links are built from, e.g.
	// "https://app.example.com". Never taken from the request.
	BaseURL string
	// Key is the server secret the hashing keys are derived from.
	Key []byte
	// SiteName is the product name shown in mails and pages.
	SiteName string
	// SupportContact is shown in mails and pages (an address or URL).
	SupportContact string
	// Pages themes and translates the hosted pages: logo, colours, and
	// template and translation overrides.
	Pages PageOptions

	// Lookup resolves an identifier to a user.
	Lookup Hook
	// Update hands the verified new password to the upstream.
	Update Hook
	// Verify, when its URL is set, checks a password against the user's
	// current one (SAME_AS_OLD).
	Verify Hook
	// Hasher, when not nil, sends a hash instead of the password.
	Hasher passhash.Hasher
	// Users, when set, replaces Lookup, Update, Verify and Hasher: users
	// are found and passwords set in the app's own store (a SQL table, an
	// LDAP directory). The engine does not close it. Default: nil, the
	// hooks.
	Users directory.Directory

	// Mail sends mail; nil disables mail (useful only in tests). The
	// engine owns it: if it implements io.Closer (mailer.SMTP keeps
	// connections open), Stop closes it.
	Mail mailer.Sender
	// Templates renders mails.
	Templates *mailer.Templates

	// TokenTTL is how long a mailed link stays valid.
	TokenTTL time.Duration
	// CodeTTL is how long a mailed code stays valid.
	CodeTTL time.Duration
	// RevokeTTL is how long the "this wasn't me" link works.
	RevokeTTL time.Duration
	// Methods lists the accepted proofs (link, code).
	Methods []string

	// PerIdentifier limits reset mails per identifier (silently).
	PerIdentifier Limit
	// PerIP limits requests per client address (429).
	PerIP Limit
	// LocalCounters keeps the counters of reset requests (per IP, per
	// identifier, per account and the mail budget) and of passkey
	// ceremonies per IP in memory instead of the store: right when this
	// process is the only one counting (Badger), wrong when instances
	// share a store (Redis). A restart starts them from zero. The
	// failure budgets (wrong codes, wrong passwords) stay in the store.
	LocalCounters bool
	// IPv4Prefix and IPv6Prefix are how many leading bits of a client
	// address the per-IP limit counts by. Default: 32 (each IPv4 address)
	// and 64 (an IPv6 /64, which one client usually holds whole).
	IPv4Prefix, IPv6Prefix int
	// MailBudget limits reset mails across all users.
	MailBudget Limit
	// MaxCodeAttempts is the number of code guesses per flow.
	MaxCodeAttempts int
	// AccountFailures limits code guesses per account across its flows.
	AccountFailures Limit

	// Passkey, when set, enables passkeys (registration, recovery, step-up).
	Passkey *PasskeyConfig
	// RequirePasskey makes a user who has a passkey use it in every reset,
	// after the mailed link or code.
	RequirePasskey bool

	// AdminTokens enable the admin API; none means it does not exist.
	AdminTokens []AdminToken
	// AdminAllowRoles are the roles the admin API may issue tokens for.
	// Default: user.
	AdminAllowRoles []string

	// Session, when its URL is set, tells who is signed in (change
	// password): GET with the browser's Cookie and Authorization headers.
	Session Hook
	// SessionIDField is the dotted JSON path of the user id in the
	// session answer. Default: id.
	SessionIDField string

	// Deliver, when its URL is set, receives each reset (user, link, code)
	// so the app sends its own mail.
	Deliver Hook
	// LinkPath is the path of the mailed link under base_url. Default:
	// {prefix}/new.
	LinkPath string

	// Policy is the password policy.
	Policy policy.Policy

	// Workers is the number of background request workers.
	Workers int
	// QueueSize bounds the queue of requests waiting for lookup.
	QueueSize int

	// Observer receives metrics. Default: none.
	Observer Observer
	// PowDifficulty, when not 0, makes every reset request (API and forgot
	// form) carry a proof of work of this many leading zero bits (see
	// pow.go), between MinPowDifficulty and MaxPowDifficulty. Default: 0
	// (off).
	PowDifficulty int

	// SelfTest makes Start check every configured part once in the
	// background (see Engine.SelfTest). Default: false; the Caddy module
	// turns it on.
	SelfTest bool

	// Clock is the engine's one clock: every timestamp, expiry and
	// deadline, and the timers of its background loops (outbox, deliver
	// retries, request queue, per-IP sweep), so that a test moves time
	// forward instead of sleeping. Default: the real clock.
	Clock clockwork.Clock
	// ClientIP returns the client's address for rate limits and audit
	// logs. Default: the host of the request's RemoteAddr. The Caddy
	// module passes Caddy's client_ip, which honours trusted_proxies.
	ClientIP func(*http.Request) string

	logger *zap.Logger
}

// DefaultPrefix is where the API and pages live unless configured.
const DefaultPrefix = "/password-reset"

// CheckBaseURL reports whether u can serve as base_url: an absolute http or
// https URL without query or fragment.
func CheckBaseURL(u string) error {
	b, err := url.Parse(u)
	if err != nil || (b.Scheme != "https" && b.Scheme != "http") || b.Host == "" || b.RawQuery != "" || b.Fragment != "" || b.User != nil {
		return fmt.Errorf("base_url must be an absolute http(s) URL without user, query or fragment, got %q", u)
	}
	return nil
}

// CheckPrefix reports whether p can serve as prefix: empty (the default),
// or a path starting with / and not ending with /.
func CheckPrefix(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#{} ") {
		return fmt.Errorf("prefix must start with /, not end with /, and hold no ?, #, braces or spaces, got %q", p)
	}
	return nil
}

func defaults(c *Config) {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	for name, h := range map[string]*Hook{"lookup": &c.Lookup, "update": &c.Update, "verify": &c.Verify, "session": &c.Session, "deliver": &c.Deliver} {
		h.name, h.observer = name, c.Observer
	}
	if c.ClientIP == nil {
		c.ClientIP = RemoteIP
	}
	if c.SiteName == "" {
		c.SiteName = siteFromURL(c.BaseURL)
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 15 * time.Minute
	}
	if c.CodeTTL == 0 {
		c.CodeTTL = 10 * time.Minute
	}
	if c.RevokeTTL == 0 {
		c.RevokeTTL = 7 * 24 * time.Hour
	}
	if len(c.Methods) == 0 {
		c.Methods = []string{MethodLink, MethodCode}
	}
	if c.PerIdentifier == (Limit{}) {
		c.PerIdentifier = Limit{Count: 3, Window: 15 * time.Minute}
	}
	if c.PerIP == (Limit{}) {
		c.PerIP = Limit{Count: 20, Window: 15 * time.Minute}
	}
	ipPrefixDefaults(c)
	if c.MailBudget == (Limit{}) {
		c.MailBudget = Limit{Count: 1000, Window: time.Hour}
	}
	if c.MaxCodeAttempts == 0 {
		c.MaxCodeAttempts = 5
	}
	if c.AccountFailures == (Limit{}) {
		c.AccountFailures = Limit{Count: 10, Window: time.Hour}
	}
	if len(c.AdminAllowRoles) == 0 {
		c.AdminAllowRoles = []string{"user"}
	}
	if c.SessionIDField == "" {
		c.SessionIDField = "id"
	}
	if c.LinkPath == "" {
		c.LinkPath = c.Prefix + "/new"
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.QueueSize == 0 {
		c.QueueSize = 4096
	}
	if c.Passkey != nil {
		pk := *c.Passkey
		passkeyDefaults(&pk, c.BaseURL, c.SiteName)
		c.Passkey = &pk
	}
	c.Policy.Defaults()
	if c.Policy.Breached != nil && c.Policy.Breached.OnFailOpen == nil {
		log := c.logger
		c.Policy.Breached.OnFailOpen = func(err error) {
			log.Warn("breached-password service unavailable; failing open", zap.Error(err))
		}
	}
	var limiter directory.PasswordByteLimiter = &hookDirectory{hasher: c.Hasher}
	if l, ok := c.Users.(directory.PasswordByteLimiter); ok {
		limiter = l
	} else if c.Users != nil {
		limiter = nil
	}
	if limiter != nil && limiter.MaxPasswordBytes() > 0 {
		c.Policy.MaxBytes = limiter.MaxPasswordBytes()
	}
}
