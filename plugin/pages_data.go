package plugin

import (
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/resetgate/resetgate/plugin/i18n"
	"github.com/resetgate/resetgate/plugin/policy"
)

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
	pol := p.cfg.policy
	maxLen, maxIsBytes := pol.MaxLength, false
	if pol.MaxBytes > 0 && pol.MaxBytes < maxLen {
		maxLen, maxIsBytes = pol.MaxBytes, true
	}
	d := &pageData{
		Page: page, Lang: l.Tag(), Dir: l.Dir(), Title: l.T(page + ".title"),
		Site: p.cfg.siteName, Support: p.cfg.support, SupportHTML: supportHTML(p.cfg.support),
		Home: p.cfg.base.String() + "/", Prefix: p.cfg.prefix, Assets: p.cfg.prefix + "/assets", Version: p.version,
		Logo: p.logo, CSRF: p.csrfToken(w, r),
		LinkEnabled: p.cfg.link, CodeEnabled: p.cfg.code,
		PasskeyEnabled: p.cfg.passkey,
		TTL:            l.Duration(p.cfg.tokenTTL), CodeTTL: l.Duration(p.cfg.codeTTL),
		Policy: pol, MaxLength: maxLen, MaxIsBytes: maxIsBytes, Unmet: map[string]bool{}, RejectsOld: p.cfg.rejectsOld,
		FieldErrors: map[string]string{}, lang: l,
	}
	if page == "forgot" && p.cfg.pow {
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
