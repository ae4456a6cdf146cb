// Sessions: the token a browser or API client presents, the user it names,
// and new sign-ins.

package legacyapp

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

type session struct {
	userID  string
	expires time.Time
}

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
