// POST /internal/users/password: setting a password, plain or hashed, at
// most once per Idempotency-Key.

package legacyapp

import (
	"encoding/json"
	"net/http"
)

type idemEntry struct {
	userID string
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
