package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/webhook"
)

// hookDirectory is the lookup, verify and update HTTP hooks seen as a
// directory.Directory: the engine talks to the app's endpoints and to a
// SQL table or LDAP directory through the same interface.
type hookDirectory struct {
	lookup, update, verify Hook
	hasher                 passhash.Hasher
}

// internalFailure marks an error of ours (hashing), answered 500 rather
// than 502.
type internalFailure struct{ error }

func (e internalFailure) Unwrap() error { return e.error }

// Find asks the lookup hook who an identifier is.
func (h *hookDirectory) Find(ctx context.Context, identifier string) (User, bool, error) {
	body, _ := json.Marshal(map[string]string{"identifier": identifier})
	resp, err := h.lookup.call(ctx, "", hookreq.Values{"identifier": identifier}, body, "", nil)
	if err != nil {
		return User{}, false, fmt.Errorf("lookup: %w", err)
	}
	switch {
	case resp.Status == http.StatusNotFound:
		return User{}, false, nil
	case !h.lookup.ok(resp):
		return User{}, false, fmt.Errorf("lookup answered status %d", resp.Status)
	}
	f, err := h.lookup.fields(resp)
	if err != nil {
		return User{}, false, fmt.Errorf("lookup answered success without a user id: %w", err)
	}
	if f["id"] == "" {
		return User{}, false, errors.New("lookup answered success without a user id")
	}
	// An account the app marks disabled ("disabled": true) is treated
	// exactly like an unknown one: no mail, a decoy flow, and nothing in
	// any answer tells them apart.
	if disabled(f["disabled"]) {
		return User{}, false, nil
	}
	return User{ID: f["id"], Email: f["email"], Name: f["name"], Role: f["role"], Locale: f["locale"]}, true, nil
}

// CheckPassword asks the verify hook whether pw is the user's current
// password; verifyhook.go reads the answer (a bare 401 or 403 is an error).
func (h *hookDirectory) CheckPassword(ctx context.Context, userID, pw string) (bool, error) {
	if h.verify.URL == "" {
		return false, directory.ErrNoVerify
	}
	body, err := json.Marshal(map[string]string{"user_id": userID, "password": pw})
	if err != nil {
		return false, err
	}
	resp, err := h.verify.call(ctx, "", hookreq.Values{"user.id": userID, "password": pw}, body, "", nil)
	if err != nil {
		return false, fmt.Errorf("verify: %w", err)
	}
	return verifyAnswer(h.verify, resp)
}

// SetPassword sends the new password (or its hash) to the update hook.
func (h *hookDirectory) SetPassword(ctx context.Context, c directory.Change) error {
	u := c.User
	u.ID = c.UserID
	body := map[string]any{"type": c.Reason, "user_id": u.ID, "revoke_sessions": true}
	vals := userValues(u, u.Email)
	vals["type"], vals["revoke_sessions"], vals["password"] = c.Reason, true, c.Password
	vals["password_hash"], vals["hash_format"] = "", ""
	if h.hasher != nil {
		hash, err := h.hasher.Hash(c.Password)
		if err != nil {
			return internalFailure{fmt.Errorf("hashing the new password: %w", err)}
		}
		body["password_hash"] = hash
		body["hash_format"] = h.hasher.Format()
		vals["password_hash"], vals["hash_format"] = hash, h.hasher.Format()
	} else {
		body["password"] = c.Password
	}
	data, err := json.Marshal(body)
	if err != nil {
		return internalFailure{err}
	}
	resp, err := h.update.call(ctx, "", vals, data, c.IdempotencyKey, nil)
	if errors.Is(err, webhook.ErrAnswerLost) {
		return directory.OutcomeUnknown(err)
	}
	if err != nil {
		return err
	}
	if !h.update.ok(resp) {
		return fmt.Errorf("update answered status %d", resp.Status)
	}
	return nil
}

// Close implements directory.Directory; hooks hold nothing open.
func (h *hookDirectory) Close() error { return nil }

// CanCheckPassword reports whether a verify hook is configured.
func (h *hookDirectory) CanCheckPassword() bool { return h.verify.URL != "" }

// Timeout is the update hook's timeout.
func (h *hookDirectory) Timeout() time.Duration {
	if h.update.Client == nil {
		return 0
	}
	return h.update.Client.Timeout
}

// MaxPasswordBytes is the hash format's limit (bcrypt: 72 bytes).
func (h *hookDirectory) MaxPasswordBytes() int {
	return passhash.MaxPasswordBytes(h.hasher)
}

// observedDirectory times a configured directory's calls for metrics, under
// the hook names (lookup, verify, update) dashboards already know.
type observedDirectory struct {
	directory.Directory
	obs Observer
}

func (o observedDirectory) Find(ctx context.Context, identifier string) (User, bool, error) {
	start := time.Now()
	u, found, err := o.Directory.Find(ctx, identifier)
	o.obs.Upstream("lookup", outcome(err, true), time.Since(start))
	return u, found, err
}

func (o observedDirectory) CheckPassword(ctx context.Context, userID, password string) (bool, error) {
	start := time.Now()
	ok, err := o.Directory.CheckPassword(ctx, userID, password)
	o.obs.Upstream("verify", outcome(err, true), time.Since(start))
	return ok, err
}

func (o observedDirectory) SetPassword(ctx context.Context, c directory.Change) error {
	start := time.Now()
	err := o.Directory.SetPassword(ctx, c)
	oc := outcome(err, true)
	if pe := (*directory.PolicyError)(nil); errors.As(err, &pe) {
		oc = "refused"
	}
	o.obs.Upstream("update", oc, time.Since(start))
	return err
}

// Interface guards.
var (
	_ directory.Directory           = (*hookDirectory)(nil)
	_ directory.PasswordChecker     = (*hookDirectory)(nil)
	_ directory.TimeoutReporter     = (*hookDirectory)(nil)
	_ directory.PasswordByteLimiter = (*hookDirectory)(nil)
	_ directory.Directory           = observedDirectory{}
)

// setUsers picks the directory the engine talks to: the configured one
// (timed for metrics), or the hooks.
func (e *Engine) setUsers() {
	d := e.cfg.Users
	if d == nil {
		d = &hookDirectory{lookup: e.cfg.Lookup, update: e.cfg.Update, verify: e.cfg.Verify, hasher: e.cfg.Hasher}
	}
	e.canVerify = true
	if c, ok := d.(directory.PasswordChecker); ok {
		e.canVerify = c.CanCheckPassword()
	}
	e.usersWait = 10 * time.Second
	if t, ok := d.(directory.TimeoutReporter); ok && t.Timeout() > 0 {
		e.usersWait = t.Timeout()
	}
	if e.cfg.Users != nil {
		d = observedDirectory{Directory: d, obs: e.cfg.Observer}
	}
	e.users = d
}

// lookup finds who an identifier (or a user id) is.
func (e *Engine) lookup(ctx context.Context, identifier string) (User, bool, error) {
	return e.users.Find(ctx, identifier)
}

// passwordMatches reports whether pw is the user's current password.
func (e *Engine) passwordMatches(ctx context.Context, userID, pw string) (bool, error) {
	return e.users.CheckPassword(ctx, userID, pw)
}

// callUpdate sets the new password. A refusal by the directory's own
// policy is a 422 UPSTREAM_POLICY on pointer; any other failure a 502;
// both keep the token.
func (e *Engine) callUpdate(ctx context.Context, typ string, u User, tokenKey, password, pointer string) *apiError {
	// The same token and password give the same key, so an upstream that
	// applied a call whose answer we lost can recognise the retry.
	idem := e.keys.idem.hex(tokenKey, password)[:32]
	err := e.users.SetPassword(ctx, directory.Change{UserID: u.ID, User: u, Password: password, Reason: typ, IdempotencyKey: idem})
	if err == nil {
		return nil
	}
	var pe *directory.PolicyError
	var internal internalFailure
	switch {
	case errors.As(err, &pe):
		return (&apiError{status: http.StatusUnprocessableEntity, items: []ErrorItem{{Code: CodePolicyViolated, Detail: DetailUpstreamPolicy, Pointer: pointer}}}).withCause(err)
	case errors.As(err, &internal):
		return internalError(err)
	}
	return upstreamFailed("the application did not accept the new password; try again", err)
}

// DetailUpstreamPolicy is the detail of a 422 when the app's own directory
// refused the password by its policy (history, quality, length).
const DetailUpstreamPolicy = "UPSTREAM_POLICY"
