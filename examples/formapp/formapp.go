// Package formapp is a tiny "PHP-era" legacy application that knows
// nothing of resetgate and cannot be changed. It is the second example
// upstream (beside examples/legacyapp): where legacyapp speaks resetgate's
// own JSON contract, formapp has endpoints of its own shape, and resetgate
// is fitted to them with request templates (examples/formapp/Caddyfile).
//
// Its users carry Django-format password hashes,
// pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>. Its
// internal endpoints take form posts and an X-Api-Key header, as a PHP
// script reading $_POST would:
//
//	POST /legacy/find_user.php     login=<email>
//	    → 200 {"user":{"uid":7,"mail":"…","full_name":"…","group":"member"}} or 404
//	POST /legacy/set_password.php  uid=<uid>&pwhash=<pbkdf2_sha256 hash>&kill_sessions=1
//	    → 200 OK (only a well-formed pbkdf2_sha256 hash of ≥ MinIterations)
//	POST /legacy/check_password.php uid=<uid>&password=<password>
//	    → 200 OK if it is the user's password, 401 otherwise
//
// A request without the right X-Api-Key gets 403, compared in constant
// time. Public pages: GET / (a sign-in form with a "Forgot your password?"
// link) and POST /login (email, password) → 200 "Welcome, <name>" or 401.
//
// The package imports nothing from resetgate.
package formapp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBodyBytes caps every request body the app reads.
const MaxBodyBytes = 64 << 10

// SessionCookie is the name of the app's session cookie.
const SessionCookie = "PHPSESSID"

// DefaultMinIterations is the fewest PBKDF2 iterations set_password.php
// accepts unless Config.MinIterations says otherwise.
const DefaultMinIterations = 100000

// MinAPIKeyLength is the shortest X-Api-Key the app accepts to be
// configured with.
const MinAPIKeyLength = 16

// DefaultResetPath is where the "Forgot your password?" link points: the
// resetgate hosted page in the default Caddy setup.
const DefaultResetPath = "/password-reset/"

// Config configures an App.
type Config struct {
	// APIKey is the shared key every /legacy/ endpoint requires in the
	// X-Api-Key header (at least MinAPIKeyLength characters). Required.
	APIKey string
	// Users are the app's accounts; UIDs and mail addresses
	// (case-insensitively) must be unique.
	Users []User
	// MinIterations is the fewest PBKDF2 iterations a hash given to
	// set_password.php may have. Default: DefaultMinIterations.
	MinIterations int
	// ResetPath is the target of the "Forgot your password?" link.
	// Default: DefaultResetPath.
	ResetPath string
	// Logger receives the app's log lines (never a password, hash or
	// key). Default: slog.Default().
	Logger *slog.Logger
}

// User is one account of the app.
type User struct {
	UID      int
	Mail     string
	FullName string
	Group    string
	// PwHash is a Django pbkdf2_sha256 hash; an empty one lets nobody in.
	PwHash string
}

// Update is one password change set_password.php applied.
type Update struct {
	// UID is the user whose password was set.
	UID int
	// PwHash is the hash received and stored.
	PwHash string
	// KillSessions reports kill_sessions=1 (the user's sessions ended).
	KillSessions bool
	// At is when the update was applied.
	At time.Time
}

// Call is one request that reached a /legacy/ endpoint.
type Call struct {
	// Path is the endpoint, e.g. /legacy/find_user.php.
	Path string
	// ContentType is the request's media type.
	ContentType string
	// APIKeyOK reports that X-Api-Key held the configured key.
	APIKeyOK bool
	// Status is the status the app answered.
	Status int
}

// App is the legacy application; it is an http.Handler, safe for
// concurrent use.
type App struct {
	keySum    [32]byte
	minIter   int
	resetPath string
	log       *slog.Logger
	mux       *http.ServeMux
	dummyHash string // checked for unknown users, so they cost as much

	mu       sync.Mutex
	users    map[int]*User
	byMail   map[string]int
	sessions map[string]int // token → uid
	updates  []Update
	calls    []Call
}

// New builds an App from cfg.
func New(cfg Config) (*App, error) {
	if len(cfg.APIKey) < MinAPIKeyLength {
		return nil, fmt.Errorf("formapp: the API key must have at least %d characters", MinAPIKeyLength)
	}
	a := &App{
		keySum:    sha256.Sum256([]byte(cfg.APIKey)),
		minIter:   cfg.MinIterations,
		resetPath: cfg.ResetPath,
		log:       cfg.Logger,
		users:     map[int]*User{},
		byMail:    map[string]int{},
		sessions:  map[string]int{},
	}
	if a.minIter == 0 {
		a.minIter = DefaultMinIterations
	}
	if a.minIter < 1 || a.minIter > MaxIterations {
		return nil, fmt.Errorf("formapp: MinIterations %d outside 1..%d", a.minIter, MaxIterations)
	}
	if a.resetPath == "" {
		a.resetPath = DefaultResetPath
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	for _, u := range cfg.Users {
		if u.UID <= 0 {
			return nil, fmt.Errorf("formapp: uid %d is not positive", u.UID)
		}
		if _, dup := a.users[u.UID]; dup {
			return nil, fmt.Errorf("formapp: duplicate uid %d", u.UID)
		}
		mail := strings.ToLower(strings.TrimSpace(u.Mail))
		if _, dup := a.byMail[mail]; dup || mail == "" {
			return nil, fmt.Errorf("formapp: missing or duplicate mail for uid %d", u.UID)
		}
		u := u
		a.users[u.UID] = &u
		a.byMail[mail] = u.UID
	}
	var err error
	if a.dummyHash, err = HashPassword("formapp timing equaliser", a.minIter); err != nil {
		return nil, err
	}

	a.mux = http.NewServeMux()
	cop := http.NewCrossOriginProtection()
	a.mux.HandleFunc("GET /{$}", a.handleHome)
	a.mux.Handle("POST /login", cop.Handler(http.HandlerFunc(a.handleLogin)))
	a.mux.HandleFunc("POST /legacy/find_user.php", a.internal(a.handleFindUser))
	a.mux.HandleFunc("POST /legacy/set_password.php", a.internal(a.handleSetPassword))
	a.mux.HandleFunc("POST /legacy/check_password.php", a.internal(a.handleCheckPassword))
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Updates returns the password changes applied so far, oldest first.
func (a *App) Updates() []Update {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Update(nil), a.updates...)
}

// Calls returns every request that reached a /legacy/ endpoint, oldest
// first.
func (a *App) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// User returns a copy of the user with the given uid.
func (a *App) User(uid int) (User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[uid]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// SessionCount returns how many sessions the user has.
func (a *App) SessionCount(uid int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, id := range a.sessions {
		if id == uid {
			n++
		}
	}
	return n
}

// ---- internal endpoints ---------------------------------------------------

// statusWriter remembers the status written, for Calls.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// internal wraps a /legacy/ endpoint: it checks X-Api-Key in constant
// time, requires a form post (PHP's $_POST sees nothing else), parses it
// and records the call.
func (a *App) internal(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		sum := sha256.Sum256([]byte(r.Header.Get("X-Api-Key")))
		keyOK := subtle.ConstantTimeCompare(sum[:], a.keySum[:]) == 1
		defer func() {
			a.mu.Lock()
			a.calls = append(a.calls, Call{Path: r.URL.Path, ContentType: mt, APIKeyOK: keyOK, Status: sw.status})
			a.mu.Unlock()
		}()
		switch {
		case !keyOK:
			a.log.Warn("formapp: refused internal call: bad X-Api-Key", "path", r.URL.Path, "remote", r.RemoteAddr)
			text(sw, http.StatusForbidden, "Forbidden")
			return
		case mt != "application/x-www-form-urlencoded":
			text(sw, http.StatusBadRequest, "form post expected")
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			text(sw, http.StatusBadRequest, "malformed form")
			return
		}
		h(sw, r)
	}
}

type userJSON struct {
	UID      int    `json:"uid"`
	Mail     string `json:"mail"`
	FullName string `json:"full_name"`
	Group    string `json:"group"`
}

func (a *App) handleFindUser(w http.ResponseWriter, r *http.Request) {
	login := strings.ToLower(strings.TrimSpace(r.PostForm.Get("login")))
	if login == "" {
		text(w, http.StatusBadRequest, "login missing")
		return
	}
	a.mu.Lock()
	var out *userJSON
	if uid, ok := a.byMail[login]; ok {
		u := a.users[uid]
		out = &userJSON{UID: u.UID, Mail: u.Mail, FullName: u.FullName, Group: u.Group}
	}
	a.mu.Unlock()
	if out == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such user"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": out})
}

func (a *App) handleSetPassword(w http.ResponseWriter, r *http.Request) {
	uid, err := strconv.Atoi(r.PostForm.Get("uid"))
	if err != nil || uid <= 0 {
		text(w, http.StatusBadRequest, "uid missing or not a number")
		return
	}
	pwhash := r.PostForm.Get("pwhash")
	iter, err := checkHashFormat(pwhash)
	if err != nil {
		// The message names the rule, never the hash.
		text(w, http.StatusBadRequest, err.Error())
		return
	}
	if iter < a.minIter {
		text(w, http.StatusBadRequest, fmt.Sprintf("pwhash needs at least %d iterations", a.minIter))
		return
	}
	kill := r.PostForm.Get("kill_sessions") == "1"
	a.mu.Lock()
	u, ok := a.users[uid]
	if !ok {
		a.mu.Unlock()
		text(w, http.StatusNotFound, "no such user")
		return
	}
	u.PwHash = pwhash
	if kill {
		for tok, id := range a.sessions {
			if id == uid {
				delete(a.sessions, tok)
			}
		}
	}
	a.updates = append(a.updates, Update{UID: uid, PwHash: pwhash, KillSessions: kill, At: time.Now()})
	a.mu.Unlock()
	a.log.Info("formapp: password set", "uid", uid, "kill_sessions", kill)
	text(w, http.StatusOK, "OK")
}

func (a *App) handleCheckPassword(w http.ResponseWriter, r *http.Request) {
	uid, err := strconv.Atoi(r.PostForm.Get("uid"))
	if err != nil {
		text(w, http.StatusBadRequest, "uid missing or not a number")
		return
	}
	password := r.PostForm.Get("password") // exactly as sent
	a.mu.Lock()
	hash, known := a.dummyHash, false
	if u, ok := a.users[uid]; ok {
		hash, known = u.PwHash, true
	}
	a.mu.Unlock()
	if CheckPassword(hash, password) && known {
		text(w, http.StatusOK, "OK")
		return
	}
	text(w, http.StatusUnauthorized, "NO")
}

// ---- public pages -----------------------------------------------------------

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} · Members Area</title></head>
<body>
<h1>{{.Title}}</h1>
{{- if .Name}}
<p>Welcome, {{.Name}}</p>
{{- else}}
{{- if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<label>E-mail <input name="email" type="email" autocomplete="username" required value="{{.Email}}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p><a href="{{.ResetPath}}">Forgot your password?</a></p>
{{- end}}
</body>
</html>
`))

type pageData struct {
	Title, Error, Email, Name, ResetPath string
}

func (a *App) render(w http.ResponseWriter, status int, d pageData) {
	d.ResetPath = a.resetPath
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func (a *App) handleHome(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, pageData{Title: "Sign in"})
}

func (a *App) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		a.render(w, http.StatusBadRequest, pageData{Title: "Sign in", Error: "Malformed form"})
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	a.mu.Lock()
	var user *User
	if uid, ok := a.byMail[strings.ToLower(email)]; ok {
		c := *a.users[uid]
		user = &c
	}
	a.mu.Unlock()
	hash := a.dummyHash
	if user != nil {
		hash = user.PwHash
	}
	if !CheckPassword(hash, password) || user == nil {
		a.render(w, http.StatusUnauthorized, pageData{Title: "Sign in", Error: "Wrong e-mail or password", Email: email})
		return
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	a.mu.Lock()
	a.sessions[tok] = user.UID
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	a.render(w, http.StatusOK, pageData{Title: "Welcome", Name: user.FullName})
}

// ---- helpers ------------------------------------------------------------------

func text(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errBadHash is the answer to any malformed pwhash.
var errBadHash = errors.New("pwhash must be pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>")
