package plugin

import (
	"crypto/hmac"
	"mime"
	"net/http"
	"time"
)

// csrfBinding is the reset session a form belongs to: the values of
// resetgate's flow, token and revoke cookies, as the browser holds them. A
// CSRF pair (cookie and form token) made for one session fails in any
// other, so a pair an attacker obtained for himself and planted in a
// victim's browser does not act on the victim's reset.
func csrfBinding(r *http.Request) []string {
	out := make([]string, 0, 3)
	for _, name := range []string{cookieFlow, cookieToken, cookieRevoke} {
		v := ""
		if c, err := r.Cookie(name); err == nil {
			v = c.Value
		}
		out = append(out, v)
	}
	return out
}

// csrfFor is the form token for CSRF cookie value v in r's session.
func (p *pages) csrfFor(v string, r *http.Request) string {
	return p.cfg.csrfKey.hex(append([]string{"csrf", v}, csrfBinding(r)...)...)
}

// csrfToken returns the form token bound to the browser's CSRF cookie and
// to its reset session (signed double-submit), setting the cookie when
// missing.
func (p *pages) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieCSRF); err == nil && wellFormedToken(c.Value) {
		return p.csrfFor(c.Value, r)
	}
	v, err := newToken()
	if err != nil {
		return ""
	}
	http.SetCookie(w, p.cookie(cookieCSRF, v, 24*time.Hour, http.SameSiteStrictMode))
	// Later reads in this request see the new cookie.
	r.AddCookie(&http.Cookie{Name: cookieCSRF, Value: v})
	return p.csrfFor(v, r)
}

// crossSite reports whether a form POST comes from another site: an Origin
// other than base_url's, or "Origin: null" (a sandboxed frame, a data: or
// file: page) unless the browser itself says the request is same-origin.
// Browsers send "null" for their own same-origin form posts from a page
// with Referrer-Policy: no-referrer, together with Sec-Fetch-Site:
// same-origin, which no page can forge.
func (p *pages) crossSite(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	switch o := r.Header.Get("Origin"); o {
	case "":
		return false // an old browser or a non-browser client: the CSRF token decides
	case "null":
		return r.Header.Get("Sec-Fetch-Site") != "same-origin"
	default:
		return o != p.cfg.base.Scheme+"://"+p.cfg.base.Host
	}
}

// checkForm parses a form POST and checks its CSRF token and origin.
func (p *pages) checkForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		p.fail(w, r, http.StatusBadRequest, "form", "")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, http.StatusBadRequest, "form", "")
		return false
	}
	if p.crossSite(r) {
		p.fail(w, r, http.StatusForbidden, "cross_site", "")
		return false
	}
	c, err := r.Cookie(cookieCSRF)
	if err != nil || !wellFormedToken(c.Value) || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(p.csrfFor(c.Value, r))) {
		p.fail(w, r, http.StatusForbidden, "session", "")
		return false
	}
	return true
}

// plantToken handles the mailed link, GET {link_path}?token=X: a live
// token moves into a cookie and the browser goes to the bare URL, so the
// token leaves the address bar, history and any Referer. An unknown, used
// or expired token is never planted: the error page answers at once. The
// check reads the token and changes nothing (mail scanners follow links).
func (p *pages) plantToken(w http.ResponseWriter, r *http.Request, token string) {
	if _, _, apiErr := p.e.loadToken(r.Context(), token); apiErr != nil {
		p.tokenFail(w, r, apiErr)
		return
	}
	http.SetCookie(w, p.cookie(cookieToken, token, p.cfg.tokenTTL, http.SameSiteLaxMode))
	p.redirect(w, r, p.cfg.prefix+"/new")
}
