package plugin

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/resetgate/resetgate/plugin/policy"

	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/theme"
)

// svgCSP is the policy of an SVG opened on its own: it runs no script and
// loads nothing.
const svgCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// themeCSS is the palette of the configured colours and the stylesheet
// made from it: CSS custom properties only, from values that passed
// theme.Check, for a light and a dark colour scheme. Text colours are
// chosen for contrast (WCAG 2, 4.5:1). With no colour configured the
// stylesheet is empty: style.css carries the built-in palette.
func themeCSS(color, accent string) (theme.Palette, []byte, error) {
	p, err := theme.New(color, accent)
	if err != nil {
		return p, nil, err
	}
	if color == "" && accent == "" {
		return p, []byte("/* no theme configured */\n"), nil
	}
	var b bytes.Buffer
	b.WriteString("/* made from the theme in the Caddyfile */\n")
	b.Write(p.CSS())
	return p, b.Bytes(), nil
}

// faviconSVG is the pages' icon, {prefix}/assets/favicon.svg: a key on
// the main colour, light or dark with the browser's colour scheme. The
// pages name it in <link rel=icon>, so browsers do not ask the app for its
// /favicon.ico (which belongs to the app, not to resetgate).
func faviconSVG(p theme.Palette) []byte {
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<style>.b{fill:%s}.k{fill:none;stroke:%s;stroke-width:3;stroke-linecap:round}@media (prefers-color-scheme:dark){.b{fill:%s}.k{stroke:%s}}</style>
<rect class="b" width="32" height="32" rx="7"/>
<circle class="k" cx="11" cy="16" r="5"/>
<path class="k" d="M16 16h10M22 16v4M26 16v3"/>
</svg>
`, p.Light.Brand, p.Light.OnBrand, p.Dark.Brand, p.Dark.OnBrand)
}

// mailTheme is the mails' look from the pages' palette and logo. A logo
// served by resetgate gets the absolute address a mail needs.
func mailTheme(p theme.Palette, logo, base string) mailer.Theme {
	if strings.HasPrefix(logo, "/") {
		logo = base + logo
	}
	return mailer.Theme{Palette: p, Logo: logo}
}

// cookieIdent carries what the user typed on the forgot form to the sent
// page, signed so that no other site can put words on that page.
const cookieIdent = "rg_ident"

// maxShownIdentifier caps what the sent page repeats.
const maxShownIdentifier = 254

// identCookie is the signed cookie that shows ident on the sent page.
func (p *pages) identCookie(ident string) *http.Cookie {
	if len(ident) > maxShownIdentifier || !utf8.ValidString(ident) {
		return p.cookie(cookieIdent, "", 0, http.SameSiteStrictMode)
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(ident))
	return p.cookie(cookieIdent, v+"."+p.cfg.csrfKey.hex("ident", v), p.cfg.tokenTTL, http.SameSiteStrictMode)
}

// typedIdentifier is what the user typed on the forgot form, from the
// signed cookie, or "".
func (p *pages) typedIdentifier(r *http.Request) string {
	c, err := r.Cookie(cookieIdent)
	if err != nil {
		return ""
	}
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.cfg.csrfKey.hex("ident", v))) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}

// unmetRules maps a policy detail to the rule it breaks in the page's
// list of password rules (li data-rule).
var unmetRules = map[string]string{
	policy.TooShort: "length", policy.TooLong: "length", policy.ContainsIdentifier: "personal",
	policy.Common: "common", policy.Breached: "breached", policy.SameAsOld: "old", policy.Mismatch: "match",
}
