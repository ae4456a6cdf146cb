package plugin

import (
	"net/http"
	"strconv"
	"time"
)

// The passkeys page asks for the current password before it offers to add
// a passkey (a plain form: no JavaScript needed for that step), and the
// "passkey added" mail's link removes the passkey through a confirm page,
// as "this wasn't me" does for a reset.
//
//	POST {prefix}/passkeys/confirm      the password form; a right password
//	                                    sets the grant cookie (passkey_reauth.go)
//	GET  {prefix}/passkeys/undo?token=  the mail's link: the token moves into
//	                                    the revoke cookie; GET shows a confirm page
//	POST {prefix}/passkeys/undo         the confirm page's form

func (p *pages) reauthRoutes(m *http.ServeMux) {
	pre := p.cfg.prefix
	if p.cfg.verifyHook {
		m.HandleFunc("POST "+pre+"/passkeys/confirm", p.confirmPassword)
	}
	m.HandleFunc("GET "+pre+"/passkeys/undo", p.undoConfirm)
	m.HandleFunc("POST "+pre+"/passkeys/undo", p.undoSubmit)
}

// addState tells the passkeys page whether it shows the add form, or the
// password form that comes first.
func (p *pages) addState(r *http.Request, user User, d *pageData) {
	d.CanAdd = p.cfg.verifyHook
	d.Reauthed = d.CanAdd && p.e.hasGrant(r.Context(), r, user)
	if !d.Reauthed && d.Focus == "" && r.URL.Query().Get("add") != "" {
		d.Focus = "password"
	}
}

// confirmPassword is the passkeys page's password form.
func (p *pages) confirmPassword(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	user, apiErr := p.e.signedInUser(ctx, r)
	if apiErr != nil {
		p.accountFail(w, r, apiErr, p.cfg.prefix+"/passkeys")
		return
	}
	ok, apiErr := p.e.checkCurrentPassword(ctx, user, r.PostForm.Get("password"))
	if apiErr == nil && ok {
		grant, err := p.e.issueGrant(ctx, user)
		if err != nil {
			p.accountFail(w, r, storeUnavailable(err), p.cfg.prefix+"/passkeys")
			return
		}
		http.SetCookie(w, p.cookie(cookieReauth, grant, reauthTTL, http.SameSiteStrictMode))
		p.redirect(w, r, p.cfg.prefix+"/passkeys#passkey-add")
		return
	}
	status, msg := http.StatusForbidden, "passkeys.reauth.wrong"
	if apiErr != nil {
		status = apiErr.status
		switch apiErr.items[0].Code {
		case CodeRateLimited:
			if apiErr.retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(apiErr.retry/time.Second)))
			}
			msg = "change.error.rate_limited"
		case CodeUpstreamFailed:
			p.e.logError(r, apiErr)
			msg = "passkeys.add.error"
		default:
			p.accountFail(w, r, apiErr, p.cfg.prefix+"/passkeys")
			return
		}
	}
	p.passkeysPage(w, r, status, func(d *pageData) {
		d.FieldErrors["password"] = d.lang.T(msg)
		d.Focus = "password"
	})
}

// undoConfirm is the "passkey added" mail's link: like the revoke link, a
// GET only shows a confirm page (mail scanners follow links).
func (p *pages) undoConfirm(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		http.SetCookie(w, p.cookie(cookieRevoke, t, time.Hour, http.SameSiteLaxMode))
		p.redirect(w, r, p.cfg.prefix+"/passkeys/undo")
		return
	}
	if c, err := r.Cookie(cookieRevoke); err != nil || !wellFormedToken(c.Value) {
		p.fail(w, r, http.StatusNotFound, "revoke", "")
		return
	}
	d := p.data(w, r, "revoke")
	d.RevokePasskey = true
	p.render(w, http.StatusOK, d)
}

// undoSubmit removes the passkey (and the others added since the last
// reset) and ends the user's open resets: "this wasn't me".
func (p *pages) undoSubmit(w http.ResponseWriter, r *http.Request) {
	p.revokeFromCookie(w, r, true)
}
