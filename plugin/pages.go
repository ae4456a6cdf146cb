package plugin

import (
	"bytes"
	"embed"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/i18n"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/plugin/theme"
)

//go:embed web/templates/*.html web/style.css web/app.js web/passkey.js web/pow.js web/pow-worker.js
var webFS embed.FS

// Cookie names. Their path is the prefix, so the app never sees them.
const (
	cookieCSRF   = "rg_csrf"
	cookieToken  = "rg_token"
	cookieFlow   = "rg_flow"
	cookieRevoke = "rg_revoke"
)

// PageOptions themes and translates the hosted pages. The zero value gives
// the built-in look and languages.
type PageOptions struct {
	// Logo is shown above each page: an http(s) URL (its origin is added to
	// the CSP's img-src) or the path of a local image file (PNG, JPEG, GIF,
	// WebP or SVG, at most 512 KiB), read once and served at
	// {prefix}/assets/logo. Default: none (the site name alone).
	Logo string `json:"logo,omitempty"`
	// Color is the main colour (buttons, links), "#rgb" or "#rrggbb";
	// nothing else is accepted, so nothing can be injected into the
	// stylesheet. Text colours are chosen for contrast. Default: #2456c8.
	Color string `json:"color,omitempty"`
	// Accent is the second colour (the stripe above the card, the focus
	// ring when it contrasts enough), "#rgb" or "#rrggbb". Default: Color.
	Accent string `json:"accent,omitempty"`
	// TemplatesDir (option "templates") overrides page templates file by
	// file (layout.html, forgot.html, sent.html, new.html, done.html,
	// revoke.html, revoked.html, error.html, change.html, changed.html,
	// passkeys.html), the stylesheet (style.css) and translations
	// (locales/<tag>.json, merged over the built-in ones and used by the
	// mails too). See docs/templates.md. Default: none.
	TemplatesDir string `json:"templates,omitempty"`
}

// pageNames are the pages, each web/templates/<name>.html.
var pageNames = []string{"forgot", "sent", "new", "done", "revoke", "revoked", "error", "change", "changed", "passkeys"}

// CheckColor reports whether c is a colour the theme accepts: "#rgb" or
// "#rrggbb".
func CheckColor(c string) error { return theme.Check(c) }

func (p *pages) routes(m *http.ServeMux) {
	pre := p.cfg.prefix
	m.HandleFunc("GET "+pre+"/{$}", p.forgot)
	m.HandleFunc("GET "+pre, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pre+"/", http.StatusSeeOther)
	})
	m.HandleFunc("POST "+pre+"/{$}", p.forgotSubmit)
	m.HandleFunc("GET "+pre+"/sent", p.sent)
	m.HandleFunc("POST "+pre+"/sent", p.codeSubmit)
	m.HandleFunc("GET "+pre+"/new", p.newPassword)
	m.HandleFunc("POST "+pre+"/new", p.newPasswordSubmit)
	m.HandleFunc("GET "+pre+"/done", p.simple("done"))
	m.HandleFunc("GET "+pre+"/revoke", p.revokeConfirm)
	m.HandleFunc("GET "+pre+"/assets/{name}", p.asset)
	p.accountRoutes(m)
}

func (p *pages) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("name")]
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !ok {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.PathValue("name") == "logo" {
		// The mails show the logo too, from a mail app's origin.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	if a.csp != "" {
		h.Set("Content-Security-Policy", a.csp)
	}
	_, _ = w.Write(a.body)
}

// setPageHeaders sets the headers every page carries.
func (p *pages) setPageHeaders(h http.Header) {
	setPageHeaders(h)
	h.Set("Content-Security-Policy", p.csp)
}

// contentSecurityPolicy is the pages' CSP without a logo from elsewhere,
// for answers sent before the pages' own (a redirect).
var contentSecurityPolicy = pageCSP(defaultImgSrc)

// setPageHeaders sets the headers every page and page redirect carries.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Vary", "Accept-Language, Cookie")
}

// policyFieldErrors puts a 422's policy details on the form's fields: each
// detail's message once, on the password field (named passwordField) or on
// confirm.
func (p *pages) policyFieldErrors(d *pageData, apiErr *apiError, passwordField, password string) {
	msgs := map[string][]string{}
	for _, it := range apiErr.items {
		field := passwordField
		if it.Pointer == "/confirm" {
			field = "confirm"
		}
		if rule := unmetRules[it.Detail]; rule != "" {
			d.Unmet[rule] = true
		}
		if m := p.policyMessage(d.lang, it.Detail, password); !slices.Contains(msgs[field], m) {
			msgs[field] = append(msgs[field], m)
		}
	}
	for field, m := range msgs {
		d.FieldErrors[field] = strings.Join(m, " ")
	}
}

func (p *pages) render(w http.ResponseWriter, status int, d *pageData) {
	set := p.tmpl[d.lang.ID()]
	var buf bytes.Buffer
	if err := set[d.Page].Execute(&buf, d); err != nil {
		p.cfg.log.Error("rendering page", zap.String("page", d.Page), zap.String("language", d.Lang), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.setPageHeaders(w.Header())
	w.Header().Set("Content-Language", d.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p *pages) simple(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.render(w, http.StatusOK, p.data(w, r, name))
	}
}

// fail shows the error page of one kind (error.<kind>.title/.body);
// retry, when not "", is offered as "Try again".
func (p *pages) fail(w http.ResponseWriter, r *http.Request, status int, kind, retry string) {
	d := p.data(w, r, "error")
	d.Error = kind
	d.Title = d.lang.T("error." + kind + ".title")
	d.Retry = retry
	p.render(w, status, d)
}

// redirect answers a GET or form POST with 303 See Other and the page
// headers (no-store, no-referrer).
func (p *pages) redirect(w http.ResponseWriter, r *http.Request, to string) {
	p.setPageHeaders(w.Header())
	w.Header().Del("Content-Type")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (p *pages) cookie(name, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: p.cfg.prefix, HttpOnly: true,
		Secure: p.cfg.base.Scheme == "https", SameSite: sameSite,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	return c
}

func (p *pages) forgot(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, p.data(w, r, "forgot"))
}

func (p *pages) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	apiErr := p.e.checkPow(r.Context(), &PowSolution{Challenge: r.PostForm.Get("pow_challenge"), Nonce: r.PostForm.Get("pow_nonce")})
	var flowID string
	if apiErr == nil {
		flowID, apiErr = p.e.startFlow(r, r.PostForm.Get("identifier"))
	}
	if apiErr != nil {
		d := p.data(w, r, "forgot")
		d.Identifier = r.PostForm.Get("identifier")
		switch apiErr.items[0].Code {
		case CodeInvalidRequest:
			d.FieldErrors["identifier"] = d.lang.T("forgot.error.invalid")
		case CodePowRequired:
			d.FieldErrors["identifier"] = d.lang.T("forgot.error.pow")
		case CodeRateLimited:
			if apiErr.retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(apiErr.retry/time.Second)))
			}
			d.FieldErrors["identifier"] = d.lang.T("forgot.error.rate_limited")
		default:
			p.e.logError(r, apiErr)
			d.FieldErrors["identifier"] = d.lang.T("forgot.error.unavailable")
		}
		p.render(w, apiErr.status, d)
		return
	}
	http.SetCookie(w, p.cookie(cookieFlow, flowID, p.cfg.tokenTTL, http.SameSiteStrictMode))
	http.SetCookie(w, p.identCookie(r.PostForm.Get("identifier")))
	p.redirect(w, r, p.cfg.prefix+"/sent")
}

func (p *pages) sent(w http.ResponseWriter, r *http.Request) {
	// A support agent's link (IssueResetCode) names the flow: keep it in
	// the flow cookie and drop it from the address bar.
	if flowID := r.URL.Query().Get("flow"); flowID != "" {
		if !wellFormedToken(flowID) {
			p.fail(w, r, http.StatusBadRequest, "flow", "")
			return
		}
		http.SetCookie(w, p.cookie(cookieFlow, flowID, p.cfg.codeTTL, http.SameSiteStrictMode))
		p.redirect(w, r, p.cfg.prefix+"/sent")
		return
	}
	d := p.data(w, r, "sent")
	d.Identifier = p.typedIdentifier(r)
	p.render(w, http.StatusOK, d)
}

func (p *pages) codeSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	fc, err := r.Cookie(cookieFlow)
	if err != nil {
		p.fail(w, r, http.StatusBadRequest, "flow", "")
		return
	}
	token, _, apiErr := p.e.verifyCode(r.Context(), fc.Value, r.PostForm.Get("code"))
	if apiErr != nil {
		d := p.data(w, r, "sent")
		d.Identifier = p.typedIdentifier(r)
		switch code := apiErr.items[0].Code; {
		case code == CodeFlowLocked:
			http.SetCookie(w, p.cookie(cookieFlow, "", 0, http.SameSiteStrictMode))
			p.fail(w, r, http.StatusBadRequest, "locked", "")
			return
		case code == CodeNotFound:
			p.fail(w, r, http.StatusNotFound, "flow", "")
			return
		case code == CodeInvalidRequest:
			d.FieldErrors["code"] = d.lang.T("sent.error.format")
		case apiErr.status >= 500:
			p.e.logError(r, apiErr)
			d.FieldErrors["code"] = d.lang.T("sent.error.unavailable")
		default:
			d.FieldErrors["code"] = d.lang.T("sent.error.code")
		}
		p.render(w, apiErr.status, d)
		return
	}
	http.SetCookie(w, p.cookie(cookieFlow, "", 0, http.SameSiteStrictMode))
	http.SetCookie(w, p.cookie(cookieIdent, "", 0, http.SameSiteStrictMode))
	http.SetCookie(w, p.cookie(cookieToken, token, p.cfg.tokenTTL, http.SameSiteLaxMode))
	p.redirect(w, r, p.cfg.prefix+"/new")
}

// newPassword shows the set-password form. The mailed link carries the
// token in its query: it is moved into a cookie and the browser is sent to
// the bare URL, so the token leaves the address bar, history and any
// Referer. Nothing on the server changes on a GET.
func (p *pages) newPassword(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		p.plantToken(w, r, t)
		return
	}
	c, err := r.Cookie(cookieToken)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "link", "")
		return
	}
	rec, _, apiErr := p.e.loadToken(r.Context(), c.Value)
	if apiErr != nil {
		p.tokenFail(w, r, apiErr)
		return
	}
	d := p.data(w, r, "new")
	d.Username = rec.User.Email
	d.Focus = "password"
	if rec.NeedsPasskey {
		// require_passkey: the password form comes after the passkey.
		d.NeedsPasskey, d.Token, d.Focus = true, c.Value, ""
	}
	p.render(w, http.StatusOK, d)
}

func (p *pages) tokenFail(w http.ResponseWriter, r *http.Request, apiErr *apiError) {
	switch apiErr.items[0].Code {
	case CodeTokenInvalid:
		p.fail(w, r, http.StatusNotFound, "link", "")
	case CodeTokenBusy:
		p.fail(w, r, http.StatusConflict, "busy", p.cfg.prefix+"/new")
	case StepPasskeyRequired:
		// The page shows the passkey step first.
		p.redirect(w, r, p.cfg.prefix+"/new")
	case CodeUpstreamFailed:
		p.fail(w, r, http.StatusBadGateway, "upstream", p.cfg.prefix+"/new")
	default:
		p.fail(w, r, apiErr.status, "unavailable", r.URL.Path)
	}
}

// policyMessage is the page's sentence for a policy violation.
func (p *pages) policyMessage(l *i18n.Lang, detail, password string) string {
	pol := p.cfg.policy
	switch detail {
	case policy.TooShort:
		return l.T("policy.TOO_SHORT", "min", pol.MinLength)
	case policy.TooLong:
		if pol.MaxBytes > 0 && len(password) > pol.MaxBytes {
			return l.T("policy.TOO_LONG_BYTES", "bytes", pol.MaxBytes)
		}
		return l.T("policy.TOO_LONG", "max", pol.MaxLength)
	}
	if l.Has("policy." + detail) {
		return l.T("policy." + detail)
	}
	return l.T("policy.OTHER")
}

func (p *pages) newPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	c, err := r.Cookie(cookieToken)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "link", "")
		return
	}
	password := r.PostForm.Get("password")
	_, hasConfirm := r.PostForm["confirm"]
	apiErr := p.e.complete(r.Context(), p.cfg.clientIP(r), c.Value, password, r.PostForm.Get("confirm"), hasConfirm)
	if apiErr == nil {
		http.SetCookie(w, p.cookie(cookieToken, "", 0, http.SameSiteLaxMode))
		p.redirect(w, r, p.cfg.prefix+"/done")
		return
	}
	if apiErr.status != http.StatusUnprocessableEntity {
		p.e.logError(r, apiErr)
		p.tokenFail(w, r, apiErr)
		return
	}
	d := p.data(w, r, "new")
	if rec, _, err := p.e.loadToken(r.Context(), c.Value); err == nil {
		d.Username = rec.User.Email
	}
	p.policyFieldErrors(d, apiErr, "password", password)
	d.Focus = "password"
	if d.FieldErrors["password"] == "" {
		d.Focus = "confirm"
	}
	p.render(w, http.StatusUnprocessableEntity, d)
}

// revokeConfirm is the "this wasn't me" link. A GET only shows a confirm
// page (mail scanners follow links); the token moves into a cookie.
func (p *pages) revokeConfirm(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		http.SetCookie(w, p.cookie(cookieRevoke, t, time.Hour, http.SameSiteLaxMode))
		p.redirect(w, r, p.cfg.prefix+"/revoke")
		return
	}
	if c, err := r.Cookie(cookieRevoke); err != nil || !wellFormedToken(c.Value) {
		p.fail(w, r, http.StatusNotFound, "revoke", "")
		return
	}
	p.render(w, http.StatusOK, p.data(w, r, "revoke"))
}

// revokeSubmit is the form POST of the confirm page.
func (p *pages) revokeSubmit(w http.ResponseWriter, r *http.Request) {
	p.revokeFromCookie(w, r, false)
}

// revokeFromCookie ends the user's open resets (and the passkeys added
// since the last reset) with the revoke token in its cookie: "this wasn't
// me". passkey marks the passkey-undo wording of the revoked page.
func (p *pages) revokeFromCookie(w http.ResponseWriter, r *http.Request, passkey bool) {
	if !p.checkForm(w, r) {
		return
	}
	c, err := r.Cookie(cookieRevoke)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "revoke", "")
		return
	}
	if apiErr := p.e.revoke(r.Context(), c.Value, p.cfg.clientIP(r)); apiErr != nil {
		p.e.logError(r, apiErr)
		if apiErr.status == http.StatusNotFound {
			p.fail(w, r, http.StatusNotFound, "revoke", "")
		} else {
			p.fail(w, r, apiErr.status, "unavailable", "")
		}
		return
	}
	http.SetCookie(w, p.cookie(cookieRevoke, "", 0, http.SameSiteLaxMode))
	d := p.data(w, r, "revoked")
	d.RevokePasskey = passkey
	p.render(w, http.StatusOK, d)
}
