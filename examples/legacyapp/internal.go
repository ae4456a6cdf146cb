// The internal endpoints resetgate calls (lookup, verify, session; the
// password endpoint is in password.go), the signature check in front of
// them, and the JSON answers.

package legacyapp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

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
	var req struct {
		Identifier string `json:"identifier"`
	}
	var bad string
	if err := json.Unmarshal(body, &req); err != nil {
		bad = "malformed JSON"
	}
	ident := strings.TrimSpace(req.Identifier)
	if bad == "" && ident == "" {
		bad = "identifier required"
	}
	// Both counts move under one lock, so that LookupsBesides,
	// which reads them together, never sees one without the other.
	a.mu.Lock()
	a.lookups++
	if bad != "" {
		a.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, errBody(bad))
		return
	}
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

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
