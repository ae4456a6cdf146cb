package plugin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/plugin/theme"
)

// TestPagesSentShowsTypedAddress: the sent page repeats what the user
// typed (their own input: it leaks nothing and catches typos), from a
// signed cookie, so a cookie planted by another site shows nothing.
func TestPagesSentShowsTypedAddress(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	forgot := b.get("/password-reset/")
	b.submit(forgot, "/password-reset/", url.Values{"identifier": {"alice@exmaple.test"}})
	sent := b.get("/password-reset/sent")
	checkPage(t, "sent", sent)
	if !strings.Contains(sent.body, `You entered: <span class="account">alice@exmaple.test</span>`) {
		t.Errorf("the sent page does not show the typed address:\n%s", sent.body)
	}
	if c := b.cookies[cookieIdent]; c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || strings.Contains(c.Value, "alice") {
		t.Errorf("identifier cookie: %+v", c)
	}
	wrong := b.submit(sent, "/password-reset/sent", url.Values{"code": {"1234"}})
	if !strings.Contains(wrong.body, "alice@exmaple.test") {
		t.Error("the sent page with an error forgot the typed address")
	}

	// A forged cookie: plain base64 of a message, or a bad signature.
	planted := newBrowser(t, h.e)
	planted.cookies[cookieIdent] = &http.Cookie{Name: cookieIdent, Value: "Q2FsbCA1NTUtMDEwMA.bad"}
	if p := planted.get("/password-reset/sent"); strings.Contains(p.body, "You entered") || strings.Contains(p.body, "Call 555") {
		t.Errorf("a forged cookie reached the page:\n%s", p.body)
	}
}

// TestPagesErrorSummary: a form sent back with errors opens with a summary
// that links each message to its field, is announced (role=alert) and can
// take the focus (tabindex=-1) for the page script; the field in error
// keeps its own message, and harmless states are not alerts.
func TestPagesErrorSummary(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	forgot := b.get("/password-reset/")
	if strings.Contains(forgot.body, "error-summary") {
		t.Error("an empty form shows an error summary")
	}
	bad := b.submit(forgot, "/password-reset/", url.Values{"identifier": {""}})
	checkPage(t, "forgot with error", bad)
	for _, want := range []string{
		`<div class="error-summary" id="error-summary" role="alert" tabindex="-1">`,
		`<h2 id="error-summary-title">There is a problem</h2>`,
		`<li><a href="#identifier">Enter the e-mail address or user name of your account.</a></li>`,
		`aria-invalid="true" aria-describedby="identifier-error"`,
		`<p class="error" id="identifier-error">`,
	} {
		if !strings.Contains(bad.body, want) {
			t.Errorf("forgot with error lacks %s", want)
		}
	}
	main, _, _ := strings.Cut(bad.body, "</main>")
	if !strings.Contains(main, `<p class="back">`) {
		t.Error(`"Back to …" is not inside <main>`)
	}

	// Expired link: a calm notice; a store that is down: a warning.
	b.cookies[cookieToken] = &http.Cookie{Name: cookieToken, Value: strings.Repeat("A", 43)}
	gone := b.get("/password-reset/new")
	if !strings.Contains(gone.body, `<p class="notice">`) || strings.Contains(gone.body, `role="alert"`) {
		t.Errorf("expired link page:\n%s", gone.body)
	}
}

// TestPagesPasswordRulesMarkedUnmet: after a refused password the rules it
// broke are marked (class todo and words for screen readers), without
// JavaScript; and under bcrypt the length rule says bytes.
func TestPagesPasswordRulesMarkedUnmet(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Policy.MaxBytes = 72 })
	b := newBrowser(t, h.e)
	b.submit(b.get("/password-reset/"), "/password-reset/", url.Values{"identifier": {"alice@example.test"}})
	m := waitResetMail(t, h)
	b.get("/password-reset/new?token=" + tokenOf(t, m))
	newPage := b.get("/password-reset/new")
	if !strings.Contains(newPage.body, "have at least 12 characters, and at most 72 bytes") {
		t.Errorf("the length rule does not say bytes under a byte limit:\n%s", newPage.body)
	}
	if strings.Contains(newPage.body, `class="todo"`) {
		t.Error("rules marked unmet before anything was typed")
	}
	weak := b.submit(newPage, "/password-reset/new", url.Values{"password": {"password1234"}, "confirm": {"password1235"}})
	for _, rule := range []string{"common", "match"} {
		if !strings.Contains(weak.body, `<li data-rule="`+rule+`" class="todo">`) {
			t.Errorf("rule %s not marked unmet:\n%s", rule, weak.body)
		}
	}
	if strings.Contains(weak.body, `<li data-rule="length" class="todo">`) {
		t.Error("the length rule, which was met, is marked unmet")
	}
	if !strings.Contains(weak.body, `<span class="visually-hidden"> (not yet)</span>`) {
		t.Error("an unmet rule is marked by colour alone")
	}
}

// TestPagesFaviconAndDarkScheme: the pages name their own icon under the
// prefix (the site's /favicon.ico belongs to the app), served under the
// strict CSP, and the stylesheet carries the built-in palette in light and
// dark, the same palette the mails use.
func TestPagesFaviconAndDarkScheme(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	p := b.get("/password-reset/")
	if !strings.Contains(p.body, `<link rel="icon" href="/password-reset/assets/favicon.svg?v=`) || !strings.Contains(p.body, `<meta name="color-scheme" content="light dark">`) {
		t.Errorf("page head:\n%s", p.body)
	}
	icon := b.get("/password-reset/assets/favicon.svg")
	if icon.status != 200 || icon.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(icon.header.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(icon.body, theme.DefaultColor) {
		t.Errorf("favicon: %d %v\n%s", icon.status, icon.header, icon.body)
	}
	css := b.get("/password-reset/assets/style.css")
	if !strings.Contains(css.body, string(theme.Default().CSS())) {
		t.Error("style.css's built-in palette differs from plugin/theme's default: paste theme.Default().CSS() between theme:begin and theme:end")
	}
}
