package plugin

import (
	"bytes"
	"crypto/hmac"
	"embed"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/policy"
)

//go:embed web/pages.html web/style.css
var webFS embed.FS

// Cookie names. Their path is the prefix, so the app never sees them.
const (
	cookieCSRF   = "rg_csrf"
	cookieToken  = "rg_token"
	cookieFlow   = "rg_flow"
	cookieRevoke = "rg_revoke"
)

// contentSecurityPolicy allows nothing but our own stylesheet and forms
// posting back to us.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type pages struct {
	e     *Engine
	tmpl  map[string]*template.Template
	style []byte
}

var pageNames = []string{"forgot", "sent", "new", "done", "revoke", "revoked", "error"}

func newPages(e *Engine) (*pages, error) {
	base, err := template.ParseFS(webFS, "web/pages.html")
	if err != nil {
		return nil, fmt.Errorf("parsing page templates: %w", err)
	}
	p := &pages{e: e, tmpl: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.AddParseTree("content", base.Lookup(name+"-content").Tree); err != nil {
			return nil, fmt.Errorf("page %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	if p.style, err = webFS.ReadFile("web/style.css"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pages) routes(m *http.ServeMux) {
	pre := p.e.cfg.Prefix
	m.HandleFunc("GET "+pre+"/{$}", p.forgot)
	m.HandleFunc("GET "+pre, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pre+"/", http.StatusSeeOther)
	})
	m.HandleFunc("POST "+pre+"/{$}", p.forgotSubmit)
	m.HandleFunc("GET "+pre+"/sent", p.sent)
	m.HandleFunc("POST "+pre+"/sent", p.codeSubmit)
	m.HandleFunc("GET "+pre+"/new", p.newPassword)
	m.HandleFunc("POST "+pre+"/new", p.newPasswordSubmit)
	m.HandleFunc("GET "+pre+"/done", p.simple("done", "Password changed"))
	m.HandleFunc("GET "+pre+"/revoke", p.revokeConfirm)
	m.HandleFunc("GET "+pre+"/assets/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(p.style)
	})
}

// pageData is what every page template sees.
type pageData struct {
	Title, Site, Support, Prefix, CSRF string
	Identifier, Username, Message, TTL string
	CodeEnabled                        bool
	Policy                             policy.Policy
	FieldErrors                        map[string]string
}

func (p *pages) data(w http.ResponseWriter, r *http.Request, title string) *pageData {
	return &pageData{
		Title: title, Site: p.e.cfg.SiteName, Support: p.e.cfg.SupportContact, Prefix: p.e.cfg.Prefix,
		CSRF: p.csrfToken(w, r), Policy: p.e.cfg.Policy, TTL: humanDuration(p.e.cfg.TokenTTL),
		CodeEnabled: p.e.methodEnabled(MethodCode), FieldErrors: map[string]string{},
	}
}

// setPageHeaders sets the headers every page carries.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (p *pages) render(w http.ResponseWriter, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		p.e.log.Error("rendering page", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p *pages) simple(name, title string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.render(w, http.StatusOK, name, p.data(w, r, title))
	}
}

func (p *pages) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d := p.data(w, r, "Something went wrong")
	d.Message = msg
	p.render(w, status, "error", d)
}

func (p *pages) cookie(name, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: p.e.cfg.Prefix, HttpOnly: true,
		Secure: p.e.base.Scheme == "https", SameSite: sameSite,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	return c
}

// csrfToken returns the form token bound to the browser's CSRF cookie,
// setting the cookie when missing (signed double-submit).
func (p *pages) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieCSRF); err == nil && wellFormedToken(c.Value) {
		return mac(p.e.keys.csrf, c.Value)
	}
	v, err := newToken()
	if err != nil {
		return ""
	}
	http.SetCookie(w, p.cookie(cookieCSRF, v, 24*time.Hour, http.SameSiteStrictMode))
	// Later reads in this request see the new cookie.
	r.AddCookie(&http.Cookie{Name: cookieCSRF, Value: v})
	return mac(p.e.keys.csrf, v)
}

// checkForm parses a form POST and checks its CSRF token and origin.
func (p *pages) checkForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		p.fail(w, r, http.StatusBadRequest, "This form must be sent by the page.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != p.e.base.Scheme+"://"+p.e.base.Host {
		p.fail(w, r, http.StatusForbidden, "This form was sent from another site.")
		return false
	}
	c, err := r.Cookie(cookieCSRF)
	if err != nil || !wellFormedToken(c.Value) || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(mac(p.e.keys.csrf, c.Value))) {
		p.fail(w, r, http.StatusForbidden, "Your session expired. Please open the page again and retry.")
		return false
	}
	return true
}

func (p *pages) forgot(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "forgot", p.data(w, r, "Forgot your password?"))
}

func (p *pages) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	flowID, apiErr := p.e.startFlow(r, r.PostForm.Get("identifier"))
	if apiErr != nil {
		d := p.data(w, r, "Forgot your password?")
		d.Identifier = r.PostForm.Get("identifier")
		switch apiErr.items[0].Code {
		case CodeInvalidRequest:
			d.FieldErrors["identifier"] = "Enter the e-mail address or user name of your account."
		case CodeRateLimited:
			d.FieldErrors["identifier"] = "Too many requests from your network. Please wait a few minutes."
		default:
			d.FieldErrors["identifier"] = "The service is unavailable right now. Please try again shortly."
		}
		p.render(w, apiErr.status, "forgot", d)
		return
	}
	http.SetCookie(w, p.cookie(cookieFlow, flowID, p.e.cfg.TokenTTL, http.SameSiteStrictMode))
	http.Redirect(w, r, p.e.cfg.Prefix+"/sent", http.StatusSeeOther)
}

func (p *pages) sent(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "sent", p.data(w, r, "Check your e-mail"))
}

func (p *pages) codeSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	fc, err := r.Cookie(cookieFlow)
	if err != nil {
		p.fail(w, r, http.StatusBadRequest, "This reset request is no longer open in this browser.")
		return
	}
	token, _, apiErr := p.e.verifyCode(r.Context(), fc.Value, r.PostForm.Get("code"))
	if apiErr != nil {
		if apiErr.items[0].Code == CodeFlowLocked {
			p.fail(w, r, http.StatusBadRequest, "Too many wrong codes. For your safety this request is closed; please start a new one.")
			return
		}
		d := p.data(w, r, "Check your e-mail")
		d.FieldErrors["code"] = "That code is not right or has expired. Check the e-mail and try again."
		if apiErr.status >= 500 {
			d.FieldErrors["code"] = "The service is unavailable right now. Please try again shortly."
		}
		p.render(w, apiErr.status, "sent", d)
		return
	}
	http.SetCookie(w, p.cookie(cookieFlow, "", 0, http.SameSiteStrictMode))
	http.SetCookie(w, p.cookie(cookieToken, token, p.e.cfg.TokenTTL, http.SameSiteLaxMode))
	http.Redirect(w, r, p.e.cfg.Prefix+"/new", http.StatusSeeOther)
}

// newPassword shows the set-password form. The mailed link carries the
// token in its query: it is moved into a cookie and the browser is sent to
// the bare URL, so the token leaves the address bar, history and any
// Referer. Nothing on the server changes on a GET.
func (p *pages) newPassword(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		http.SetCookie(w, p.cookie(cookieToken, t, p.e.cfg.TokenTTL, http.SameSiteLaxMode))
		setPageHeaders(w.Header())
		http.Redirect(w, r, p.e.cfg.Prefix+"/new", http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(cookieToken)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "This reset link is invalid, already used, or expired.")
		return
	}
	rec, _, apiErr := p.e.loadToken(r.Context(), c.Value)
	if apiErr != nil {
		p.tokenFail(w, r, apiErr)
		return
	}
	d := p.data(w, r, "Set a new password")
	d.Username = rec.User.Email
	p.render(w, http.StatusOK, "new", d)
}

func (p *pages) tokenFail(w http.ResponseWriter, r *http.Request, apiErr *apiError) {
	switch apiErr.items[0].Code {
	case CodeTokenInvalid:
		p.fail(w, r, http.StatusNotFound, "This reset link is invalid, already used, or expired.")
	case CodeTokenBusy:
		p.fail(w, r, http.StatusConflict, "This link is being used in another window. Please wait a moment and retry.")
	case CodeUpstreamFailed:
		p.fail(w, r, http.StatusBadGateway, "We could not save your new password right now. Your link still works: please try again.")
	default:
		p.fail(w, r, apiErr.status, "The service is unavailable right now. Please try again shortly.")
	}
}

var detailMessages = map[string]string{
	policy.TooShort:           "The password is too short.",
	policy.TooLong:            "The password is too long.",
	policy.Mismatch:           "The two passwords do not match.",
	policy.ContainsIdentifier: "The password must not contain your name, e-mail or the site's name.",
	policy.Common:             "This password is too common. Choose a less predictable one.",
	policy.Breached:           "This password appeared in a data breach. Choose another one.",
	policy.SameAsOld:          "The new password must differ from the old one.",
	policy.TooWeak:            "This password is too easy to guess. Add more words or characters.",
}

func (p *pages) newPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	c, err := r.Cookie(cookieToken)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "This reset link is invalid, already used, or expired.")
		return
	}
	_, hasConfirm := r.PostForm["confirm"]
	apiErr := p.e.complete(r.Context(), p.e.cfg.ClientIP(r), c.Value, r.PostForm.Get("password"), r.PostForm.Get("confirm"), hasConfirm)
	if apiErr == nil {
		http.SetCookie(w, p.cookie(cookieToken, "", 0, http.SameSiteLaxMode))
		http.Redirect(w, r, p.e.cfg.Prefix+"/done", http.StatusSeeOther)
		return
	}
	if apiErr.status != http.StatusUnprocessableEntity {
		p.e.logError(r, apiErr)
		p.tokenFail(w, r, apiErr)
		return
	}
	d := p.data(w, r, "Set a new password")
	for _, it := range apiErr.items {
		field := "password"
		if it.Pointer == "/confirm" {
			field = "confirm"
		}
		msg := detailMessages[it.Detail]
		if prev := d.FieldErrors[field]; prev != "" {
			msg = prev + " " + msg
		}
		d.FieldErrors[field] = msg
	}
	p.render(w, http.StatusUnprocessableEntity, "new", d)
}

// revokeConfirm is the "this wasn't me" link. A GET only shows a confirm
// page (mail scanners follow links); the token moves into a cookie.
func (p *pages) revokeConfirm(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		http.SetCookie(w, p.cookie(cookieRevoke, t, time.Hour, http.SameSiteLaxMode))
		setPageHeaders(w.Header())
		http.Redirect(w, r, p.e.cfg.Prefix+"/revoke", http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, "revoke", p.data(w, r, "Wasn't you?"))
}

// revokeSubmit is the form POST of the confirm page.
func (p *pages) revokeSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkForm(w, r) {
		return
	}
	c, err := r.Cookie(cookieRevoke)
	if err != nil {
		p.fail(w, r, http.StatusNotFound, "This link is invalid or expired.")
		return
	}
	if apiErr := p.e.revoke(r.Context(), c.Value, p.e.cfg.ClientIP(r)); apiErr != nil {
		p.e.logError(r, apiErr)
		if apiErr.status == http.StatusNotFound {
			p.fail(w, r, http.StatusNotFound, "This link is invalid or expired.")
		} else {
			p.fail(w, r, apiErr.status, "The service is unavailable right now. Please try again shortly.")
		}
		return
	}
	http.SetCookie(w, p.cookie(cookieRevoke, "", 0, http.SameSiteLaxMode))
	p.render(w, http.StatusOK, "revoked", p.data(w, r, "Reset cancelled"))
}
