package plugin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
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
	// {prefix}/assets/logo.
	Logo string
	// Color is the main colour (buttons, links), "#rgb" or "#rrggbb".
	Color string
	// Accent is the second colour (the stripe above the card, the focus
	// ring when it contrasts enough), "#rgb" or "#rrggbb". Default: Color.
	Accent string
	// TemplatesDir overrides page templates file by file (layout.html,
	// forgot.html, sent.html, new.html, done.html, revoke.html,
	// revoked.html, error.html, change.html, changed.html,
	// passkeys.html), the stylesheet (style.css) and
	// translations (locales/<tag>.json, merged over the built-in ones and
	// used by the mails too). See docs/templates.md.
	TemplatesDir string
}

// pageNames are the pages, each web/templates/<name>.html.
var pageNames = []string{"forgot", "sent", "new", "done", "revoke", "revoked", "error", "change", "changed", "passkeys"}

// CheckColor reports whether c is a colour the theme accepts: "#rgb" or
// "#rrggbb".
func CheckColor(c string) error { return theme.Check(c) }

type asset struct {
	ctype string
	body  []byte
	csp   string
}

type pages struct {
	e       *Engine
	cat     *i18n.Catalog
	tmpl    map[string]map[string]*template.Template // language → page → template
	assets  map[string]asset
	version string
	logo    string // the logo's URL on the page, or ""
	csp     string
}

func newPages(e *Engine) (*pages, error) {
	o := e.cfg.Pages
	p := &pages{e: e, tmpl: map[string]map[string]*template.Template{}, assets: map[string]asset{}}

	// Sources: built in, replaced file by file from TemplatesDir.
	src := map[string]string{}
	where := map[string]string{}
	for _, name := range append([]string{"layout"}, pageNames...) {
		b, err := webFS.ReadFile("web/templates/" + name + ".html")
		if err != nil {
			return nil, err
		}
		src[name+".html"] = string(b)
		where[name+".html"] = "built-in " + name + ".html"
	}
	style, err := webFS.ReadFile("web/style.css")
	if err != nil {
		return nil, err
	}
	script, err := webFS.ReadFile("web/app.js")
	if err != nil {
		return nil, err
	}
	passkeyScript, err := webFS.ReadFile("web/passkey.js")
	if err != nil {
		return nil, err
	}
	localesDir := ""
	if dir := o.TemplatesDir; dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("page templates %q: %w", dir, err)
		}
		for _, en := range entries {
			name := en.Name()
			full := filepath.Join(dir, name)
			switch {
			case en.IsDir() && name == "locales":
				localesDir = full
			case en.IsDir() || strings.HasPrefix(name, "."):
			case name == "style.css":
				if style, err = os.ReadFile(full); err != nil {
					return nil, fmt.Errorf("page templates: %w", err)
				}
			case strings.HasSuffix(name, ".html"):
				if _, ok := src[name]; !ok {
					return nil, fmt.Errorf("page templates %q: unknown template file %q (known: layout.html, %s.html, style.css, locales/)",
						dir, name, strings.Join(pageNames, ".html, "))
				}
				b, err := os.ReadFile(full)
				if err != nil {
					return nil, fmt.Errorf("page templates: %w", err)
				}
				src[name] = string(b)
				where[name] = full
			case strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".json"):
				return nil, fmt.Errorf("page templates %q: unknown file %q (a stylesheet must be style.css, translations go in locales/<tag>.json)", dir, name)
			}
		}
	}

	// Languages: built in, plus the operator's. The mails use the same.
	if localesDir != "" {
		if p.cat, err = i18n.Load(localesDir); err != nil {
			return nil, err
		}
		for _, tag := range p.cat.Tags() {
			if m := p.cat.Missing(tag); len(m) > 0 {
				e.log.Warn("translation incomplete; English is used for the missing messages",
					zap.String("language", tag), zap.Int("missing", len(m)), zap.Strings("keys", firstN(m, 10)))
			}
		}
		if e.cfg.Templates, err = e.cfg.Templates.WithCatalog(p.cat); err != nil {
			return nil, err
		}
	} else {
		p.cat = i18n.Builtin()
	}

	// Theme: one palette for the pages' theme.css, the favicon and the
	// mails.
	palette, themeSheet, err := themeCSS(o.Color, o.Accent)
	if err != nil {
		return nil, err
	}
	imgSrc := "'self' data:"
	if o.Logo != "" {
		logoURL, origin, logoAsset, err := loadLogo(o.Logo)
		if err != nil {
			return nil, err
		}
		if origin != "" {
			imgSrc += " " + origin
			p.logo = logoURL
		} else {
			p.assets["logo"] = logoAsset
		}
	}
	p.assets["style.css"] = asset{ctype: "text/css; charset=utf-8", body: style}
	p.assets["theme.css"] = asset{ctype: "text/css; charset=utf-8", body: themeSheet}
	p.assets["favicon.svg"] = asset{ctype: "image/svg+xml", body: faviconSVG(palette), csp: svgCSP}
	p.assets["app.js"] = asset{ctype: "text/javascript; charset=utf-8", body: script}
	p.assets["passkey.js"] = asset{ctype: "text/javascript; charset=utf-8", body: passkeyScript}
	for _, name := range []string{"pow.js", "pow-worker.js"} {
		body, err := webFS.ReadFile("web/" + name)
		if err != nil {
			return nil, err
		}
		p.assets[name] = asset{ctype: "text/javascript; charset=utf-8", body: body}
	}
	h := sha256.New()
	for _, name := range []string{"style.css", "theme.css", "app.js", "passkey.js", "pow.js", "pow-worker.js", "logo", "favicon.svg"} {
		h.Write([]byte(name))
		h.Write(p.assets[name].body)
	}
	p.version = hex.EncodeToString(h.Sum(nil))[:12]
	if _, ok := p.assets["logo"]; ok {
		p.logo = e.cfg.Prefix + "/assets/logo?v=" + p.version
	}
	if e.cfg.Templates, err = e.cfg.Templates.WithTheme(mailTheme(palette, p.logo, e.base.String())); err != nil {
		return nil, err
	}
	p.csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + imgSrc +
		"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

	// Templates, parsed once per language so that {{t}} is bound to it.
	for _, tag := range p.cat.Tags() {
		l := p.cat.Lang(tag)
		base, err := template.New("layout.html").Funcs(pageFuncs(l)).Parse(src["layout.html"])
		if err != nil {
			return nil, fmt.Errorf("page template %s: %w", where["layout.html"], err)
		}
		p.tmpl[tag] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := base.Clone()
			if err != nil {
				return nil, err
			}
			if _, err := t.New("content").Parse(src[name+".html"]); err != nil {
				return nil, fmt.Errorf("page template %s: %w", where[name+".html"], err)
			}
			p.tmpl[tag][name] = t
		}
	}
	return p, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// pageFuncs are what page templates may call besides the builtins:
//
//	{{t "key" "name" value ...}}      a message of the page's language
//	{{thtml "key" "name" value ...}}  the same, keeping template.HTML values (links)
func pageFuncs(l *i18n.Lang) template.FuncMap {
	return template.FuncMap{
		"t":     l.T,
		"thtml": l.HTML,
	}
}

const maxLogo = 512 << 10

var hostRE = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$`)

// loadLogo reads the logo option: an http(s) URL gives the URL and its
// origin for the CSP; a file path gives an asset to serve.
func loadLogo(v string) (pageURL, origin string, a asset, err error) {
	if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || u.User != nil || !hostRE.MatchString(u.Host) {
			return "", "", a, fmt.Errorf("theme logo: %q is not a usable http(s) URL", v)
		}
		return u.String(), u.Scheme + "://" + u.Host, a, nil
	}
	if strings.Contains(v, "://") {
		return "", "", a, fmt.Errorf("theme logo: %q: only http:// and https:// URLs or a file path", v)
	}
	fi, err := os.Stat(v)
	if err != nil {
		return "", "", a, fmt.Errorf("theme logo: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxLogo {
		return "", "", a, fmt.Errorf("theme logo: %s must be a file of at most %d KiB", v, maxLogo>>10)
	}
	body, err := os.ReadFile(v)
	if err != nil {
		return "", "", a, fmt.Errorf("theme logo: %w", err)
	}
	ctype := http.DetectContentType(body)
	if strings.EqualFold(path.Ext(v), ".svg") {
		ctype = "image/svg+xml"
	}
	switch strings.SplitN(ctype, ";", 2)[0] {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml":
	default:
		return "", "", a, fmt.Errorf("theme logo: %s is %s, not a PNG, JPEG, GIF, WebP or SVG image", v, ctype)
	}
	// An SVG opened on its own runs no script and loads nothing.
	return "", "", asset{ctype: ctype, body: body, csp: svgCSP}, nil
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

// pageData is what every page template sees; docs/templates.md lists it.
type pageData struct {
	// Page is the page's name: forgot, sent, new, done, revoke, revoked,
	// error, change, changed or passkeys.
	Page string
	// Lang and Dir are the language tag and text direction.
	Lang, Dir string
	// Title is the page's heading, translated.
	Title string
	// Site, Support: the site name and the support contact; SupportHTML
	// is the contact as a mailto: or https link when it is one.
	Site, Support string
	SupportHTML   template.HTML
	// Home is the app's address (base_url + "/").
	Home string
	// Prefix is where the pages live; Assets where the stylesheets, script
	// and logo are; Version changes when they do.
	Prefix, Assets, Version string
	// Logo is the logo's URL, or "".
	Logo string
	// CSRF is the form token every form must post as "csrf".
	CSRF string
	// Identifier is what the user typed on the forgot form (on the forgot
	// page after an error, and on the sent page).
	Identifier string
	// Pow is the proof-of-work challenge of the forgot form (pow on).
	Pow *PowChallenge
	// Username is the account's e-mail address on the new-password page,
	// for password managers.
	Username string
	// LinkEnabled and CodeEnabled tell which proofs the mail carries.
	LinkEnabled, CodeEnabled bool
	// TTL and CodeTTL say in words how long a link and a code work.
	TTL, CodeTTL string
	// Policy is the password policy; MaxLength the largest length a
	// password may have (code points, or bytes under bcrypt).
	Policy    policy.Policy
	MaxLength int
	// MaxIsBytes is true when MaxLength counts bytes (bcrypt's 72), not
	// characters.
	MaxIsBytes bool
	// Unmet names the password rules (li data-rule: length, personal,
	// common, breached, old, match) the last password sent broke.
	Unmet map[string]bool
	// RejectsOld is true when a new password may not equal the old one.
	RejectsOld bool
	// Error is the error page's kind (link, revoke, locked, unavailable,
	// upstream, busy, session, cross_site, form, flow, signin); messages
	// error.<kind>.title and error.<kind>.body.
	Error string
	// Retry is a URL that may work on a second try, or "".
	Retry string
	// FieldErrors maps a field name to its error message.
	FieldErrors map[string]string
	// Focus is the field that gets the focus.
	Focus string
	// PasskeyEnabled is true when a passkey alone can start a reset
	// (methods ... passkey): the forgot page offers it.
	PasskeyEnabled bool
	// NeedsPasskey is true on the new-password page while the reset
	// still needs the user's passkey (require_passkey); Token is then the
	// reset's token, for the page script's step-up.
	NeedsPasskey bool
	Token        string
	// Passkeys lists the signed-in user's passkeys on the passkeys page.
	Passkeys []passkeyItem
	// CanAdd is true on the passkeys page when a passkey can be added
	// there (the verify hook checks the password first); Reauthed once
	// the password was confirmed, when the add form is shown.
	CanAdd, Reauthed bool
	// RevokePasskey is true on the revoke and revoked pages when the link
	// came from a "passkey added" mail.
	RevokePasskey bool
	// Notice is a one-line confirmation shown above a page's content
	// ("Passkey added."), or "".
	Notice string

	lang *i18n.Lang
}

func (p *pages) lang(r *http.Request) *i18n.Lang {
	return p.cat.Match(r.Header.Get("Accept-Language"))
}

func (p *pages) data(w http.ResponseWriter, r *http.Request, page string) *pageData {
	l := p.lang(r)
	pol := p.e.cfg.Policy
	maxLen, maxIsBytes := pol.MaxLength, false
	if pol.MaxBytes > 0 && pol.MaxBytes < maxLen {
		maxLen, maxIsBytes = pol.MaxBytes, true
	}
	d := &pageData{
		Page: page, Lang: l.Tag(), Dir: l.Dir(), Title: l.T(page + ".title"),
		Site: p.e.cfg.SiteName, Support: p.e.cfg.SupportContact, SupportHTML: supportHTML(p.e.cfg.SupportContact),
		Home: p.e.base.String() + "/", Prefix: p.e.cfg.Prefix, Assets: p.e.cfg.Prefix + "/assets", Version: p.version,
		Logo: p.logo, CSRF: p.csrfToken(w, r),
		LinkEnabled: p.e.methodEnabled(MethodLink), CodeEnabled: p.e.methodEnabled(MethodCode),
		PasskeyEnabled: p.e.webauthn != nil && p.e.methodEnabled(MethodPasskey),
		TTL:            l.Duration(p.e.cfg.TokenTTL), CodeTTL: l.Duration(p.e.cfg.CodeTTL),
		Policy: pol, MaxLength: maxLen, MaxIsBytes: maxIsBytes, Unmet: map[string]bool{}, RejectsOld: p.e.canVerify,
		FieldErrors: map[string]string{}, lang: l,
	}
	if page == "forgot" && p.e.cfg.PowDifficulty > 0 {
		if c, err := p.e.newPowChallenge(); err == nil {
			d.Pow = &c
		}
	}
	return d
}

var mailRE = regexp.MustCompile(`^[^\s@<>"'&]+@[^\s@<>"'&]+\.[^\s@<>"'&]+$`)

// supportHTML is the support contact as a link when it is an address or an
// http(s) URL, escaped text otherwise.
func supportHTML(s string) template.HTML {
	esc := template.HTMLEscapeString(s)
	switch {
	case s == "":
		return ""
	case mailRE.MatchString(s):
		return template.HTML(`<a href="mailto:` + esc + `">` + esc + `</a>`)
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		if u, err := url.Parse(s); err == nil && u.Host != "" && !strings.ContainsAny(s, " \"'<>") {
			return template.HTML(`<a href="` + template.HTMLEscapeString(u.String()) + `">` + esc + `</a>`)
		}
	}
	return template.HTML(esc)
}

// setPageHeaders sets the headers every page carries.
func (p *pages) setPageHeaders(h http.Header) {
	setPageHeaders(h)
	h.Set("Content-Security-Policy", p.csp)
}

// contentSecurityPolicy is the pages' CSP without a logo from elsewhere:
// our own stylesheets and script, forms posting back to us, nothing else.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

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
		p.e.log.Error("rendering page", zap.String("page", d.Page), zap.String("language", d.Lang), zap.Error(err))
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
	http.SetCookie(w, p.cookie(cookieFlow, flowID, p.e.cfg.TokenTTL, http.SameSiteStrictMode))
	http.SetCookie(w, p.identCookie(r.PostForm.Get("identifier")))
	p.redirect(w, r, p.e.cfg.Prefix+"/sent")
}

func (p *pages) sent(w http.ResponseWriter, r *http.Request) {
	// A support agent's link (IssueResetCode) names the flow: keep it in
	// the flow cookie and drop it from the address bar.
	if flowID := r.URL.Query().Get("flow"); flowID != "" {
		if !wellFormedToken(flowID) {
			p.fail(w, r, http.StatusBadRequest, "flow", "")
			return
		}
		http.SetCookie(w, p.cookie(cookieFlow, flowID, p.e.cfg.CodeTTL, http.SameSiteStrictMode))
		p.redirect(w, r, p.e.cfg.Prefix+"/sent")
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
	http.SetCookie(w, p.cookie(cookieToken, token, p.e.cfg.TokenTTL, http.SameSiteLaxMode))
	p.redirect(w, r, p.e.cfg.Prefix+"/new")
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
		p.fail(w, r, http.StatusConflict, "busy", p.e.cfg.Prefix+"/new")
	case StepPasskeyRequired:
		// The page shows the passkey step first.
		p.redirect(w, r, p.e.cfg.Prefix+"/new")
	case CodeUpstreamFailed:
		p.fail(w, r, http.StatusBadGateway, "upstream", p.e.cfg.Prefix+"/new")
	default:
		p.fail(w, r, apiErr.status, "unavailable", r.URL.Path)
	}
}

// policyMessage is the page's sentence for a policy violation.
func (p *pages) policyMessage(l *i18n.Lang, detail, password string) string {
	pol := p.e.cfg.Policy
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
	apiErr := p.e.complete(r.Context(), p.e.cfg.ClientIP(r), c.Value, password, r.PostForm.Get("confirm"), hasConfirm)
	if apiErr == nil {
		http.SetCookie(w, p.cookie(cookieToken, "", 0, http.SameSiteLaxMode))
		p.redirect(w, r, p.e.cfg.Prefix+"/done")
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
		p.redirect(w, r, p.e.cfg.Prefix+"/revoke")
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
	if apiErr := p.e.revoke(r.Context(), c.Value, p.e.cfg.ClientIP(r)); apiErr != nil {
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
