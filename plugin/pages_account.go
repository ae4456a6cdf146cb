package plugin

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Pages for signed-in users: change the password (GET {prefix}/change, its
// form posts to the JSON route POST {prefix}/change, which hands form posts
// here) and manage passkeys (GET {prefix}/passkeys, remove by form POST
// {prefix}/passkeys/remove, add through web/passkey.js). Identity always
// comes from the session hook, as for the JSON API.

// passkeyItem is one passkey as the passkeys page shows it.
type passkeyItem struct {
	// ID is the credential id, base64url: the remove form posts it.
	ID string
	// Name is the user's name for it; Created and LastUsed are dates in
	// words ("" when never used).
	Name, Created, LastUsed string
	// Synced: the credential is backed up (a synced passkey);
	// BackupEligible: it may be, but is not yet. Neither: it lives on one
	// device only.
	Synced, BackupEligible bool
}

// changeEnabled reports whether the signed-in change is configured: it
// needs the session and verify hooks.
func (e *Engine) changeEnabled() bool {
	return e.cfg.Session.URL != "" && e.canVerify
}

func (p *pages) accountRoutes(m *http.ServeMux) {
	pre := p.cfg.prefix
	if p.cfg.change {
		m.HandleFunc("GET "+pre+"/change", p.change)
		m.HandleFunc("GET "+pre+"/changed", p.simple("changed"))
	}
	if p.cfg.passkeys && p.cfg.session {
		// GET {prefix}/passkeys shows the page to a browser: passkey.go
		// routes it (the same URL is the JSON list).
		m.HandleFunc("POST "+pre+"/passkeys/remove", p.removePasskey)
		p.reauthRoutes(m)
	}
}

// wantsHTML reports whether the client asked for a page (a browser's
// navigation) rather than JSON (fetch, curl and API clients).
func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}

// accountFail shows the error page for a failed signed-in lookup: not
// signed in, the app unreachable, the store down.
func (p *pages) accountFail(w http.ResponseWriter, r *http.Request, apiErr *apiError, retry string) {
	switch {
	case apiErr.items[0].Code == errNotSignedIn.items[0].Code:
		p.fail(w, r, http.StatusUnauthorized, "signin", "")
	case apiErr.status == http.StatusNotFound:
		p.fail(w, r, http.StatusNotFound, "signin", "")
	default:
		p.e.logError(r, apiErr)
		p.fail(w, r, apiErr.status, "unavailable", retry)
	}
}

// change shows the change-password form to the signed-in user.
func (p *pages) change(w http.ResponseWriter, r *http.Request) {
	user, apiErr := p.e.signedInUser(r.Context(), r)
	if apiErr != nil {
		p.accountFail(w, r, apiErr, p.cfg.prefix+"/change")
		return
	}
	d := p.data(w, r, "change")
	d.Username = user.Email
	d.Focus = "old"
	p.render(w, http.StatusOK, d)
}

// changeSubmit is the change form's POST (form-encoded POST {prefix}/change).
func (p *pages) changeSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	old, newPassword := r.PostForm.Get("old"), r.PostForm.Get("new")
	_, hasConfirm := r.PostForm["confirm"]
	apiErr := p.e.ChangePassword(r, old, newPassword, r.PostForm.Get("confirm"), hasConfirm)
	if apiErr == nil {
		p.redirect(w, r, p.cfg.prefix+"/changed")
		return
	}
	d := p.data(w, r, "change")
	// The account name only helps password managers; it is not trusted.
	d.Username = r.PostForm.Get("username")
	status := apiErr.status
	switch code := apiErr.items[0].Code; {
	case code == errNotSignedIn.items[0].Code:
		p.fail(w, r, http.StatusUnauthorized, "signin", "")
		return
	case code == CodeOldPasswordWrong:
		d.FieldErrors["old"] = d.lang.T("change.error.old")
	case code == CodeRateLimited:
		if apiErr.retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(apiErr.retry/time.Second)))
		}
		d.FieldErrors["old"] = d.lang.T("change.error.rate_limited")
	case code == CodePolicyViolated:
		p.policyFieldErrors(d, apiErr, "new", newPassword)
	case code == CodeUpstreamFailed:
		p.e.logError(r, apiErr)
		d.FieldErrors["form"] = d.lang.T("change.error.upstream")
	default:
		p.e.logError(r, apiErr)
		p.fail(w, r, status, "unavailable", p.cfg.prefix+"/change")
		return
	}
	for _, f := range []string{"old", "new", "confirm"} {
		if d.FieldErrors[f] != "" {
			d.Focus = f
			break
		}
	}
	if d.Focus == "" {
		d.Focus = "old"
	}
	p.render(w, status, d)
}

// passkeys lists the signed-in user's passkeys, with a remove button each
// and the form (run by passkey.js) to add one, behind a password form
// (pages_passkey_reauth.go).
func (p *pages) passkeys(w http.ResponseWriter, r *http.Request) {
	p.passkeysPage(w, r, http.StatusOK, nil)
}

// passkeysPage renders the passkeys page with status; edit, when not nil,
// adjusts the page (a form error).
func (p *pages) passkeysPage(w http.ResponseWriter, r *http.Request, status int, edit func(*pageData)) {
	ctx := r.Context()
	user, apiErr := p.e.signedInUser(ctx, r)
	if apiErr != nil {
		p.accountFail(w, r, apiErr, p.cfg.prefix+"/passkeys")
		return
	}
	acct, _, err := p.e.loadAccount(ctx, user.ID)
	if err != nil {
		p.accountFail(w, r, storeUnavailable(err), p.cfg.prefix+"/passkeys")
		return
	}
	d := p.data(w, r, "passkeys")
	d.Username = user.Email
	if acct != nil {
		for _, c := range acct.Credentials {
			it := passkeyItem{
				ID: base64.RawURLEncoding.EncodeToString(c.Credential.ID), Name: c.Name,
				Created: d.lang.DateTime(c.CreatedAt),
				Synced:  c.Credential.Flags.BackupState, BackupEligible: c.Credential.Flags.BackupEligible,
			}
			if !c.LastUsedAt.IsZero() {
				it.LastUsed = d.lang.DateTime(c.LastUsedAt)
			}
			d.Passkeys = append(d.Passkeys, it)
		}
	}
	switch r.URL.Query().Get("done") {
	case "added":
		d.Notice = d.lang.T("passkeys.added")
	case "removed":
		d.Notice = d.lang.T("passkeys.removed")
	}
	p.addState(r, user, d)
	if edit != nil {
		edit(d)
	}
	p.render(w, status, d)
}

// removePasskey is a remove button's form POST: the passkey with that id
// goes, if it is the signed-in user's.
func (p *pages) removePasskey(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	user, apiErr := p.e.signedInUser(ctx, r)
	if apiErr != nil {
		p.accountFail(w, r, apiErr, p.cfg.prefix+"/passkeys")
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	if err != nil || len(id) == 0 {
		p.fail(w, r, http.StatusBadRequest, "form", "")
		return
	}
	removed, err := p.e.removePasskey(ctx, user.ID, id)
	if err != nil {
		p.accountFail(w, r, storeUnavailable(err), p.cfg.prefix+"/passkeys")
		return
	}
	to := p.cfg.prefix + "/passkeys"
	if removed {
		to += "?done=removed"
	}
	// Not found: removed already (a second click, another tab).
	p.redirect(w, r, to)
}
