package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/store"
)

// errNotSignedIn answers a change without a session the app recognises.
var errNotSignedIn = newError(http.StatusUnauthorized, CodeNotSignedIn, "sign in to change your password", "")

// handleChange changes the password of the signed-in user: identity from
// the session hook, the old password checked by the verify hook.
func (e *Engine) handleChange(w http.ResponseWriter, r *http.Request) *apiError {
	if e.cfg.Session.URL == "" || !e.canVerify {
		return newError(http.StatusNotFound, CodeNotFound, "password change is not enabled (it needs the session and verify hooks)", "")
	}
	var in struct {
		Old     *string `json:"old"`
		New     *string `json:"new"`
		Confirm *string `json:"confirm"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Old == nil {
		return invalid("old is required", "/old")
	}
	if in.New == nil {
		return invalid("new is required", "/new")
	}
	confirm := ""
	if in.Confirm != nil {
		confirm = *in.Confirm
	}
	if err := e.ChangePassword(r, *in.Old, *in.New, confirm, in.Confirm != nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "password_changed", "next_step": StepDone})
	return nil
}

// ChangePassword runs the signed-in change for the browser request r.
func (e *Engine) ChangePassword(r *http.Request, old, newPassword, confirm string, hasConfirm bool) *apiError {
	ctx := r.Context()
	userID, apiErr := e.sessionUser(ctx, r)
	if apiErr != nil {
		return apiErr
	}
	user, found, err := e.lookup(ctx, userID)
	if err != nil {
		return upstreamFailed("the application could not be reached; try again", err)
	}
	if !found || user.ID != userID {
		return errNotSignedIn
	}
	owner := e.keys.ownerKey(user.ID)
	// Old-password guesses are limited per account like code guesses; the
	// guess is taken from the budget before the app sees it (budget.go).
	ok, apiErr := e.checkCurrentPassword(ctx, user, old)
	if apiErr != nil {
		return apiErr
	}
	if !ok {
		e.audit(zapcore.InfoLevel, "password change with a wrong old password", "failed", "", zap.String("user_id", user.ID))
		return newError(http.StatusForbidden, CodeOldPasswordWrong, "the current password is not right", "/old")
	}
	if apiErr := e.checkPolicy(ctx, user, user.Email, newPassword, confirm, hasConfirm, "/new"); apiErr != nil {
		return apiErr
	}
	// A fresh nonce per change: changing back to an earlier password
	// (A→B→A) must not repeat an earlier call's Idempotency-Key, or the
	// app would answer the replay and keep B.
	nonce, err := newToken()
	if err != nil {
		return internalError(err)
	}
	ip := e.cfg.ClientIP(r)
	held := e.holdChangedMail(ctx, user, ip)
	if apiErr := e.callUpdate(ctx, "password.changed", user, "change/"+owner+"/"+nonce, newPassword, "/new"); apiErr != nil {
		e.failedChangedMail(context.WithoutCancel(ctx), held, user, apiErr)
		return apiErr
	}
	e.afterPasswordChange(context.WithoutCancel(ctx), user, ip, "changed", "", held)
	return nil
}

// accountLocked reports whether the account's failure budget for kind
// ("code", "old_password") is spent.
func (e *Engine) accountLocked(ctx context.Context, kind, owner string) (bool, error) {
	_, err := e.store.Get(ctx, lockoutKey(kind, owner))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return false, err
}

// recordFailure counts one failure against the account's budget for kind
// and reports whether that spent it; a spent budget locks the account for
// the rest of the window.
func (e *Engine) recordFailure(ctx context.Context, kind, owner string) (bool, error) {
	l := e.cfg.AccountFailures
	if l.Count <= 0 {
		return false, nil
	}
	n, err := e.store.Incr(ctx, failureCountKey(kind, owner), l.Window)
	if err != nil {
		return false, err
	}
	if n < int64(l.Count) {
		return false, nil
	}
	return true, e.store.Put(ctx, lockoutKey(kind, owner), []byte("1"), l.Window, owner)
}

// sessionUser asks the session hook who the browser is. Only the
// browser's Cookie (without resetgate's own cookies: hookcookies.go) and
// Authorization headers are forwarded; identity headers a client could
// forge (X-User, X-Forwarded-User, ...) are never read.
func (e *Engine) sessionUser(ctx context.Context, r *http.Request) (string, *apiError) {
	h := http.Header{}
	for _, v := range hookCookieHeader(r) {
		h.Add("Cookie", v)
	}
	for _, v := range r.Header.Values("Authorization") {
		h.Add("Authorization", v)
	}
	if len(h) == 0 {
		return "", errNotSignedIn
	}
	resp, err := e.cfg.Session.call(ctx, http.MethodGet, hookreq.Values{}, nil, "", h)
	if err != nil {
		return "", upstreamFailed("the application could not be reached; try again", err)
	}
	if !e.cfg.Session.ok(resp) {
		return "", errNotSignedIn
	}
	if e.cfg.Session.Template != nil && len(e.cfg.Session.Template.Response) > 0 {
		f, err := e.cfg.Session.fields(resp)
		if err != nil || f["id"] == "" {
			return "", errNotSignedIn
		}
		return f["id"], nil
	}
	id, ok := jsonField(resp.Body, e.cfg.SessionIDField)
	if !ok || resp.TooLarge {
		return "", errNotSignedIn
	}
	return id, nil
}

// jsonField reads a dotted path from a JSON object; strings and numbers
// are returned as text.
func jsonField(body []byte, path string) (string, bool) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "", false
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[part]
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}
