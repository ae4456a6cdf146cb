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
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

type session struct {
	userID  string
	expires time.Time
}

type idemEntry struct {
	userID string
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

// Updates returns a copy of the password updates applied so far, oldest
// first.
func (a *App) Updates() []Update {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Update(nil), a.updates...)
}

// UpdateCalls returns how many correctly signed requests reached the
// password endpoint, including failed, rejected and replayed ones.
func (a *App) UpdateCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.updateCalls
}

// Lookups returns how many correctly signed lookup requests the app has
// answered.
func (a *App) Lookups() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookups
}

// LookupsOf returns how many correctly signed lookups asked about
// identifier (after trimming), so a test can tell its own requests from
// resetgate's start-up self-test, which asks about a reserved identifier.
func (a *App) LookupsOf(identifier string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookedUp[identifier]
}

// SetFailUpdates makes the next n requests to the password endpoint answer
// 500 without applying anything (for fault tests). n ≤ 0 clears it.
func (a *App) SetFailUpdates(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failUpdates = max(n, 0)
}

// SetPassword stores a bcrypt hash (cost Config.BcryptCost) of plain as user id's password. It does
// not end the user's sessions and is not recorded in Updates.
func (a *App) SetPassword(id, plain string) error {
	h, err := hashPassword(plain, a.bcryptCost)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[id]
	if !ok {
		return fmt.Errorf("legacyapp: unknown user %q", id)
	}
	u.PasswordHash = h
	return nil
}

// User returns a copy of the user with the given ID, stored hash included.
func (a *App) User(id string) (User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// SessionCount returns how many live sessions the user has.
func (a *App) SessionCount(userID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	n := 0
	for _, s := range a.sessions {
		if s.userID == userID && now.Before(s.expires) {
			n++
		}
	}
	return n
}

// ---- internal endpoints -------------------------------------------------

// hook wraps an internal endpoint: it reads the body (at most
// MaxBodyBytes) and checks the Standard Webhooks signature when a secret
// is set.
func (a *App) hook(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, errBody("body too large"))
				return
			}
			writeJSON(w, http.StatusBadRequest, errBody("unreadable body"))
			return
		}
		if a.key != nil {
			if err := verifyWebhook(a.key, r.Header, body, a.now()); err != nil {
				a.log.Warn("legacyapp: refused internal call", "path", r.URL.Path,
					"remote", r.RemoteAddr, "reason", err.Error())
				writeJSON(w, http.StatusUnauthorized, errBody("invalid signature"))
				return
			}
		}
		h(w, r, body)
	}
}

type userJSON struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Locale string `json:"locale"`
}

func (a *App) handleLookup(w http.ResponseWriter, r *http.Request, body []byte) {
	a.mu.Lock()
	a.lookups++
	a.mu.Unlock()
	var req struct {
		Identifier string `json:"identifier"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("malformed JSON"))
		return
	}
	ident := strings.TrimSpace(req.Identifier)
	if ident == "" {
		writeJSON(w, http.StatusBadRequest, errBody("identifier required"))
		return
	}
	a.mu.Lock()
	if a.lookedUp == nil {
		a.lookedUp = map[string]int{}
	}
	a.lookedUp[ident]++
	u := a.findLocked(ident)
	var out userJSON
	if u != nil {
		out = userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Locale: u.Locale}
	}
	a.mu.Unlock()
	if u == nil {
		writeJSON(w, http.StatusNotFound, errBody("not found"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// findLocked finds a user by e-mail (case-insensitive) or ID. a.mu held.
func (a *App) findLocked(ident string) *User {
	if id, ok := a.byEmail[strings.ToLower(ident)]; ok {
		return a.users[id]
	}
	return a.users[ident]
}

type passwordRequest struct {
	Type           string `json:"type"`
	UserID         string `json:"user_id"`
	Password       string `json:"password"`
	PasswordHash   string `json:"password_hash"`
	HashFormat     string `json:"hash_format"`
	RevokeSessions bool   `json:"revoke_sessions"`
}

func (a *App) handlePassword(w http.ResponseWriter, r *http.Request, body []byte) {
	a.mu.Lock()
	a.updateCalls++
	if a.failUpdates > 0 {
		a.failUpdates--
		a.mu.Unlock()
		a.log.Warn("legacyapp: password update failed on purpose (SetFailUpdates)")
		writeJSON(w, http.StatusInternalServerError, errBody("injected failure"))
		return
	}
	a.mu.Unlock()

	var req passwordRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("malformed JSON"))
		return
	}
	switch {
	case req.Type != "password.reset" && req.Type != "password.changed":
		writeJSON(w, http.StatusBadRequest, errBody(`type must be "password.reset" or "password.changed"`))
		return
	case req.UserID == "":
		writeJSON(w, http.StatusBadRequest, errBody("user_id required"))
		return
	case req.Password != "" && req.PasswordHash != "":
		writeJSON(w, http.StatusBadRequest, errBody("send password or password_hash, not both"))
		return
	case req.Password == "" && req.PasswordHash == "":
		writeJSON(w, http.StatusBadRequest, errBody("password or password_hash required"))
		return
	case req.Password != "" && req.HashFormat != "" && req.HashFormat != "none":
		writeJSON(w, http.StatusBadRequest, errBody("hash_format given without password_hash"))
		return
	}
	if req.PasswordHash != "" {
		if req.HashFormat == "" {
			writeJSON(w, http.StatusBadRequest, errBody("hash_format required with password_hash"))
			return
		}
		if err := validateHash(req.HashFormat, req.PasswordHash); err != nil {
			// The message names the format, never the hash.
			writeJSON(w, http.StatusBadRequest, errBody(err.Error()))
			return
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		writeJSON(w, http.StatusBadRequest, errBody("Idempotency-Key too long"))
		return
	}

	// Cheap checks first, so an unknown user or a replay costs no hashing.
	if a.precheckUpdate(w, key, req.UserID) {
		return
	}

	stored, format := req.PasswordHash, req.HashFormat
	if req.Password != "" {
		h, err := hashPassword(req.Password, a.bcryptCost)
		if err != nil {
			a.log.Error("legacyapp: hashing password", "err", err.Error())
			writeJSON(w, http.StatusInternalServerError, errBody("could not hash password"))
			return
		}
		stored, format = h, ""
	}

	a.mu.Lock()
	// Checked again: another request with the same key may have won
	// while this one was hashing.
	if status, done := a.precheckUpdateLocked(key, req.UserID); done {
		a.mu.Unlock()
		writeUpdateStatus(w, status)
		return
	}
	u := a.users[req.UserID]
	u.PasswordHash = stored
	if req.RevokeSessions {
		for id, s := range a.sessions {
			if s.userID == u.ID {
				delete(a.sessions, id)
			}
		}
	}
	if key != "" {
		a.idem[key] = idemEntry{userID: u.ID}
	}
	a.updates = append(a.updates, Update{
		Type:             req.Type,
		UserID:           u.ID,
		HashFormat:       format,
		HadPlainPassword: req.Password != "",
		RevokeSessions:   req.RevokeSessions,
		IdempotencyKey:   key,
		WebhookID:        r.Header.Get("webhook-id"),
		At:               a.now(),
	})
	a.mu.Unlock()
	a.log.Info("legacyapp: password updated", "user_id", req.UserID, "type", req.Type,
		"hash_format", req.HashFormat, "revoke_sessions", req.RevokeSessions,
		"webhook_id", r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

// Results of precheckUpdateLocked.
const (
	updateProceed = iota
	updateReplay
	updateKeyConflict
	updateUnknownUser
)

// precheckUpdate runs precheckUpdateLocked and, when the update must not
// go ahead, writes the answer and reports true.
func (a *App) precheckUpdate(w http.ResponseWriter, key, userID string) bool {
	a.mu.Lock()
	status, done := a.precheckUpdateLocked(key, userID)
	a.mu.Unlock()
	if done {
		writeUpdateStatus(w, status)
	}
	return done
}

// precheckUpdateLocked decides whether an update may go ahead: a known
// Idempotency-Key is a replay (for the same user) or a conflict (for
// another), and the user must exist. a.mu held.
func (a *App) precheckUpdateLocked(key, userID string) (int, bool) {
	if key != "" {
		if e, ok := a.idem[key]; ok {
			if e.userID != userID {
				return updateKeyConflict, true
			}
			return updateReplay, true
		}
	}
	if _, ok := a.users[userID]; !ok {
		return updateUnknownUser, true
	}
	return updateProceed, false
}

func writeUpdateStatus(w http.ResponseWriter, status int) {
	switch status {
	case updateReplay:
		writeJSON(w, http.StatusOK, map[string]string{"status": "already applied"})
	case updateKeyConflict:
		writeJSON(w, http.StatusUnprocessableEntity, errBody("Idempotency-Key already used for another user"))
	case updateUnknownUser:
		writeJSON(w, http.StatusNotFound, errBody("not found"))
	}
}

func (a *App) handleVerify(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		UserID   string `json:"user_id"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("malformed JSON"))
		return
	}
	if req.UserID == "" {
		writeJSON(w, http.StatusBadRequest, errBody("user_id required"))
		return
	}
	a.mu.Lock()
	hash := a.dummyHash
	u, known := a.users[req.UserID]
	if known {
		hash = u.PasswordHash
	}
	a.mu.Unlock()
	if checkPassword(hash, req.Password) && known {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	// {"valid": false} tells resetgate this is the answer about the
	// password, not a refusal of the call (a wrong signature is a bare
	// 401 above).
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "wrong password", "valid": false})
}

func (a *App) handleSession(w http.ResponseWriter, r *http.Request, _ []byte) {
	u := a.currentUser(r)
	if u == nil {
		writeJSON(w, http.StatusUnauthorized, errBody("not signed in"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": u.ID})
}

// ---- sessions -------------------------------------------------------------

// sessionToken reads the session token from the cookie or, for API
// clients, from "Authorization: Bearer <token>".
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// currentUser returns a copy of the signed-in user, or nil.
func (a *App) currentUser(r *http.Request) *User {
	tok := sessionToken(r)
	if tok == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[tok]
	if !ok {
		return nil
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, tok)
		return nil
	}
	u, ok := a.users[s.userID]
	if !ok {
		return nil
	}
	c := *u
	return &c
}

func (a *App) newSession(userID string) (string, time.Time) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for id, s := range a.sessions { // keep the map from growing forever
		if !now.Before(s.expires) {
			delete(a.sessions, id)
		}
	}
	exp := now.Add(a.sessionTTL)
	a.sessions[tok] = session{userID: userID, expires: exp}
	return tok, exp
}

// ---- helpers --------------------------------------------------------------

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
