// Package legacyapp is a small "legacy" web application that knows nothing
// of resetgate. It has users with bcrypt or argon2id password hashes, a
// login form and in-memory sessions, and it offers the few internal
// endpoints any app would expose so that resetgate, running in Caddy in
// front of it, can add self-service password reset:
//
//	POST /internal/users/lookup    {"identifier": "..."} → 200 user / 404
//	POST /internal/users/password  sets a password (plain or hashed) → 204
//	POST /internal/users/verify    {"user_id", "password"} → 200 / 401 {"valid": false}
//	GET  /internal/session         the browser's session cookie → 200 {"id"} / 401
//
// Every internal call must carry a valid Standard Webhooks signature
// (https://www.standardwebhooks.com) when a secret is configured. The
// verification is written here from the specification, as any app would;
// the package imports nothing from resetgate.
//
// Public pages: GET / (home with a login form and a "Forgot your
// password?" link to the reset page), POST /login, GET /me, POST /logout.
package legacyapp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// MaxBodyBytes caps every request body the app reads.
const MaxBodyBytes = 64 << 10

// SessionCookie is the name of the app's session cookie.
const SessionCookie = "legacyapp_session"

// DefaultResetPath is where the "Forgot your password?" link points: the
// resetgate hosted page in the default Caddy setup.
const DefaultResetPath = "/password-reset/"

// DefaultSessionTTL is how long a sign-in lasts unless Config.SessionTTL
// says otherwise.
const DefaultSessionTTL = 12 * time.Hour

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// Config configures an App.
type Config struct {
	// WebhookSecret is the Standard Webhooks signing secret,
	// "whsec_<base64>", shared with resetgate. When empty, signatures on the
	// internal endpoints are not checked and New logs a warning.
	WebhookSecret string
	// Users are the app's accounts. IDs and e-mail addresses
	// (case-insensitively) must be unique.
	Users []User
	// Now is the clock (webhook timestamps, session expiry). Default:
	// time.Now.
	Now func() time.Time
	// ResetPath is the target of the "Forgot your password?" link; the
	// change-password link is ResetPath + "change". Default:
	// DefaultResetPath.
	ResetPath string
	// SessionTTL is how long a sign-in lasts. Default: DefaultSessionTTL.
	SessionTTL time.Duration
	// BcryptCost is the work factor for passwords the app hashes itself
	// (4 to 31). Default: BcryptCost.
	BcryptCost int
	// Logger receives the app's log lines (never a password or hash).
	// Default: slog.Default().
	Logger *slog.Logger
}

// User is one account of the app.
type User struct {
	ID     string
	Email  string
	Name   string
	Role   string
	Locale string
	// PasswordHash is a bcrypt ($2a$, $2b$, $2y$) or argon2id (PHC string)
	// hash. An empty hash lets nobody sign in.
	PasswordHash string
}

// Update is one password change the password endpoint received and
// applied (rejected, failed and replayed requests are not recorded).
type Update struct {
	// Type is "password.reset" or "password.changed".
	Type string
	// UserID is the user whose password was set.
	UserID string
	// HashFormat is the hash_format received ("bcrypt", "argon2id"), or ""
	// when a plain password came and the app hashed it itself.
	HashFormat string
	// HadPlainPassword reports that the request carried "password".
	HadPlainPassword bool
	// RevokeSessions reports that the request asked to end the user's
	// sessions (and they were ended).
	RevokeSessions bool
	// IdempotencyKey is the Idempotency-Key header, if any.
	IdempotencyKey string
	// WebhookID is the webhook-id header, if any.
	WebhookID string
	// At is when the update was applied, by Config.Now.
	At time.Time
}

// App is the legacy application; it is an http.Handler. It is safe for
// concurrent use.
type App struct {
	key        []byte // nil: signatures not checked
	now        func() time.Time
	resetPath  string
	sessionTTL time.Duration
	bcryptCost int
	log        *slog.Logger
	mux        *http.ServeMux
	// dummyHash is compared against on logins for unknown e-mail addresses
	// so that they take as long as a wrong password.
	dummyHash string

	mu          sync.Mutex
	users       map[string]*User  // by ID
	byEmail     map[string]string // lower-case e-mail → ID
	sessions    map[string]session
	idem        map[string]idemEntry
	updates     []Update
	failUpdates int
	lookups     int
	lookedUp    map[string]int
	updateCalls int
}

// New builds an App from cfg. It fails on a malformed webhook secret,
// duplicate users, or a ResetPath that does not start with "/".
func New(cfg Config) (*App, error) {
	a := &App{
		now:        cfg.Now,
		resetPath:  cfg.ResetPath,
		sessionTTL: cfg.SessionTTL,
		bcryptCost: cfg.BcryptCost,
		log:        cfg.Logger,
		users:      map[string]*User{},
		byEmail:    map[string]string{},
		sessions:   map[string]session{},
		idem:       map[string]idemEntry{},
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.resetPath == "" {
		a.resetPath = DefaultResetPath
	}
	if !strings.HasPrefix(a.resetPath, "/") {
		return nil, fmt.Errorf("legacyapp: ResetPath %q must start with /", a.resetPath)
	}
	if a.sessionTTL <= 0 {
		a.sessionTTL = DefaultSessionTTL
	}
	if a.bcryptCost == 0 {
		a.bcryptCost = BcryptCost
	}
	if a.bcryptCost < bcrypt.MinCost || a.bcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("legacyapp: BcryptCost %d outside %d..%d", a.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if cfg.WebhookSecret == "" {
		a.log.Warn("legacyapp: no webhook secret configured; internal endpoints accept UNSIGNED requests")
	} else {
		key, err := parseWebhookSecret(cfg.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("legacyapp: %w", err)
		}
		a.key = key
	}
	for _, u := range cfg.Users {
		if u.ID == "" {
			return nil, errors.New("legacyapp: user without ID")
		}
		if _, dup := a.users[u.ID]; dup {
			return nil, fmt.Errorf("legacyapp: duplicate user ID %q", u.ID)
		}
		email := strings.ToLower(strings.TrimSpace(u.Email))
		if email != "" {
			if _, dup := a.byEmail[email]; dup {
				return nil, fmt.Errorf("legacyapp: duplicate e-mail %q", u.Email)
			}
			a.byEmail[email] = u.ID
		}
		u := u
		a.users[u.ID] = &u
	}
	dummy, err := hashPassword("legacyapp timing equaliser", a.bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("legacyapp: %w", err)
	}
	a.dummyHash = dummy

	a.mux = http.NewServeMux()
	cop := http.NewCrossOriginProtection() // browsers' cross-site form posts
	a.mux.HandleFunc("GET /{$}", a.handleHome)
	a.mux.Handle("POST /login", cop.Handler(http.HandlerFunc(a.handleLogin)))
	a.mux.HandleFunc("GET /me", a.handleMe)
	a.mux.Handle("POST /logout", cop.Handler(http.HandlerFunc(a.handleLogout)))
	a.mux.HandleFunc("POST /internal/users/lookup", a.hook(a.handleLookup))
	a.mux.HandleFunc("POST /internal/users/password", a.hook(a.handlePassword))
	a.mux.HandleFunc("POST /internal/users/verify", a.hook(a.handleVerify))
	a.mux.HandleFunc("GET /internal/session", a.hook(a.handleSession))
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mux.ServeHTTP(w, r)
}
