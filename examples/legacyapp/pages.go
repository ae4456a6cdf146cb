package legacyapp

import (
	"html/template"
	"net/http"
	"strings"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Legacy App</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}
button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}
.error{color:#a00;font-weight:bold}
dt{font-weight:bold}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{- if .Error}}
<p class="error" role="alert">{{.Error}}</p>
{{- end}}
{{- if .User}}
<p>Welcome, {{.User.Name}}</p>
<dl>
<dt>E-mail</dt><dd>{{.User.Email}}</dd>
<dt>Role</dt><dd>{{.User.Role}}</dd>
<dt>Locale</dt><dd>{{.User.Locale}}</dd>
</dl>
<p><a href="/me">Your account</a> · <a href="{{.ChangePath}}">Change your password</a></p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{- else}}
<form method="post" action="/login">
<label for="email">E-mail</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p><a href="{{.ResetPath}}">Forgot your password?</a></p>
{{- end}}
</body>
</html>
`))

type pageData struct {
	Title      string
	Error      string
	Email      string
	User       *User
	ResetPath  string
	ChangePath string
}

func (a *App) render(w http.ResponseWriter, status int, d pageData) {
	d.ResetPath = a.resetPath
	d.ChangePath = strings.TrimSuffix(a.resetPath, "/") + "/change"
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy",
		"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func (a *App) handleHome(w http.ResponseWriter, r *http.Request) {
	u := a.currentUser(r)
	title := "Sign in"
	if u != nil {
		title = "Welcome"
	}
	a.render(w, http.StatusOK, pageData{Title: title, User: u})
}

func (a *App) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		a.render(w, http.StatusBadRequest, pageData{Title: "Sign in", Error: "Malformed form"})
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password") // exactly as typed

	a.mu.Lock()
	var user *User
	if id, ok := a.byEmail[strings.ToLower(email)]; ok {
		c := *a.users[id]
		user = &c
	}
	a.mu.Unlock()

	hash := a.dummyHash // unknown addresses take as long as wrong passwords
	if user != nil {
		hash = user.PasswordHash
	}
	if !checkPassword(hash, password) || user == nil {
		a.log.Info("legacyapp: failed sign-in", "remote", r.RemoteAddr)
		a.render(w, http.StatusUnauthorized, pageData{Title: "Sign in", Error: "Invalid email or password", Email: email})
		return
	}
	tok, exp := a.newSession(user.ID)
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    tok,
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(a.sessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
	a.log.Info("legacyapp: signed in", "user_id", user.ID)
	a.render(w, http.StatusOK, pageData{Title: "Welcome", User: user})
}

func (a *App) handleMe(w http.ResponseWriter, r *http.Request) {
	u := a.currentUser(r)
	wantsJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	if u == nil {
		if wantsJSON {
			writeJSON(w, http.StatusUnauthorized, errBody("not signed in"))
			return
		}
		a.render(w, http.StatusUnauthorized, pageData{Title: "Sign in", Error: "Please sign in"})
		return
	}
	if wantsJSON {
		writeJSON(w, http.StatusOK, userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Locale: u.Locale})
		return
	}
	a.render(w, http.StatusOK, pageData{Title: "Your account", User: u})
}

func (a *App) handleLogout(w http.ResponseWriter, r *http.Request) {
	if tok := sessionToken(r); tok != "" {
		a.mu.Lock()
		delete(a.sessions, tok)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// isHTTPS reports whether the browser reached us over TLS, directly or
// through a proxy such as Caddy (X-Forwarded-Proto only sets the cookie's
// Secure flag, so trusting it cannot hurt).
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
