package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// axeScript is axe-core 4.10.3 (npm), vendored with its licence and
// provenance in testdata/axe: nothing is downloaded when the tests run.
//
//go:embed testdata/axe/axe.min.js
var axeScript string

// axeTags are the rule sets run: WCAG 2.0 and 2.1, levels A and AA, and
// axe's best practices (landmarks, headings), reported but failing only
// for the region rule.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// look is one way a page is seen: colour scheme and screen.
type look struct {
	scheme string // light or dark (prefers-color-scheme)
	phone  bool   // 390×844 touch phone, else a 1280×800 desktop
}

func (l look) String() string {
	if l.phone {
		return l.scheme + "-phone"
	}
	return l.scheme + "-desktop"
}

var looks = []look{{"light", false}, {"dark", false}, {"light", true}, {"dark", true}}

// axeViolation is the part of an axe result the test reports.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Tags   []string `json:"tags"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// fails reports whether a violation fails the test: a serious or critical
// breach of a WCAG 2.1 A/AA rule, or content outside the landmarks
// (region) on a page.
func (v axeViolation) fails(mail bool) bool {
	if v.ID == "region" {
		return !mail
	}
	if v.Impact != "serious" && v.Impact != "critical" {
		return false
	}
	for _, tag := range v.Tags {
		switch tag {
		case "wcag2a", "wcag2aa", "wcag21a", "wcag21aa":
			return true
		}
	}
	return false
}

// auditor runs axe-core on what a user sees and counts what it checked.
type auditor struct {
	audits int
	took   time.Duration
	logged map[string]bool
}

// audit checks the page as it is now in every look (light and dark,
// phone and desktop), with a screenshot of each, and fails naming the rule
// and the element for every violation that counts. mail is true for a
// mail rendered in the browser (no landmarks expected). The desktop light
// look is left on afterwards.
func (a *auditor) audit(u *user, name string, mail bool) {
	u.t.Helper()
	start := time.Now()
	for _, l := range looks {
		u.setLook(l)
		u.shot(name + "-" + l.String())
		raw := u.runAxe()
		var res struct {
			Violations []axeViolation `json:"violations"`
			Incomplete []string       `json:"incomplete"`
		}
		if err := json.Unmarshal([]byte(raw), &res); err != nil {
			u.t.Fatalf("axe result for %s: %v\n%s", name, err, raw)
		}
		a.audits++
		for _, v := range res.Violations {
			where := fmt.Sprintf("%s (%s, %s)", name, u.prefix, l)
			if !v.fails(mail) {
				if key := v.ID + " " + name; !a.logged[key] {
					a.logged[key] = true
					u.t.Logf("axe, not failing: %s: %s [%s] %s", where, v.ID, v.Impact, v.Help)
				}
				continue
			}
			for _, n := range v.Nodes {
				u.t.Errorf("axe: %s: rule %s [%s] %s\n  element %v: %s\n  %s", where, v.ID, v.Impact, v.Help, n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n  "))
			}
		}
		if len(res.Incomplete) > 0 {
			if key := "incomplete " + name; !a.logged[key] {
				a.logged[key] = true
				u.t.Logf("axe could not decide on %s (%s): %v", name, l, res.Incomplete)
			}
		}
	}
	u.setLook(looks[0])
	a.took += time.Since(start)
}

// runAxe injects axe-core into the document (once) and runs it; the
// answer is axe's result, cut down, as JSON.
func (u *user) runAxe() string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`if (!window.axe) { (0, eval)(`+mustJSON(axeScript)+`); }`)); err != nil {
		u.fail(fmt.Errorf("injecting axe-core: %.300v", err))
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		u.fail(fmt.Errorf("running axe-core: %w", err))
	}
	return raw
}

// axeRunJS runs axe-core on the document.
var axeRunJS = `(async () => {
  const r = await axe.run(document, {
    runOnly: {type: "tag", values: ` + mustJSON(axeTags) + `},
    resultTypes: ["violations", "incomplete"],
  });
  return JSON.stringify({
    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, tags: v.tags,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300), failureSummary: n.failureSummary}))})),
    incomplete: r.incomplete.filter(v => v.impact === "serious" || v.impact === "critical").flatMap(v => v.nodes.map(n => v.id + " " + n.target.join(" ") + ": " + ((n.any[0] || {}).message || ""))),
  });
})()`

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// setLook emulates a colour scheme and a screen, and waits for the page
// to be laid out again.
func (u *user) setLook(l look) {
	u.t.Helper()
	w, h := int64(1280), int64(800)
	var opts []chromedp.EmulateViewportOption
	if l.phone {
		w, h = 390, 844
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	u.do(chromedp.EmulateViewport(w, h, opts...), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: l.scheme}},
		})
		return err
	}))
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise)); err != nil {
		u.fail(fmt.Errorf("waiting for layout: %w", err))
	}
}

// scripts turns the pages' scripts on or off. Off, the browser is refused
// every script under the prefix, which is what a browser with JavaScript
// off runs of these pages (they have no inline script: the CSP forbids
// it); the test can still look into the page over DevTools.
func (u *user) scripts(on bool) {
	u.t.Helper()
	var patterns []*network.BlockPattern
	if !on {
		patterns = []*network.BlockPattern{{URLPattern: "*://*:*/password-reset/assets/*.js", Block: true}}
	}
	u.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns})
		return err
	}))
}

// mailViewer serves a mail's HTML part from loopback, as a mail app
// shows it: a page of its own origin that loads the logo from the site.
// (A data: URL would be a public page asking for a loopback address,
// which Chromium refuses; a real mail app is not on loopback.)
type mailViewer struct {
	url  string
	mu   sync.Mutex
	html string
}

func newMailViewer(t *testing.T) *mailViewer {
	v := &mailViewer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, v.html)
	}))
	t.Cleanup(srv.Close)
	v.url = srv.URL
	return v
}

// show opens m's HTML part in the browser and waits for its images.
func (v *mailViewer) show(u *user, m mailbox.Mail) {
	u.t.Helper()
	if m.HTML == "" {
		u.t.Fatalf("mail %q has no HTML part", m.Subject)
	}
	v.mu.Lock()
	v.html = m.HTML
	v.mu.Unlock()
	u.open(fmt.Sprintf("%s/mail/%d", v.url, time.Now().UnixNano()))
	u.waitJS(`document.readyState === "complete"`, "the mail to load")
	if strings.Contains(m.HTML, "<img") {
		if ok := u.eval(`String([...document.images].every(i => i.complete && i.naturalWidth > 0))`); ok != "true" {
			u.t.Errorf("mail %q: the logo did not load", m.Subject)
		}
	}
}

// dropCookie removes one of resetgate's cookies from the browser.
func (u *user) dropCookie(name string) {
	u.t.Helper()
	u.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: name, URL: u.env.BaseURL + "/password-reset/"})
		return err
	}))
}

// TestAccessibility runs axe-core 4.10 in Debian's Chromium on every
// hosted page in every state a user can reach (empty, each form error, the
// error pages, the signed-in pages), with the page script on and off, in
// light and dark, on a phone and a desktop, and on both HTML mails; the
// passkey step of require_passkey; then the main pages in German, French
// and Spanish with the built-in theme. It fails, naming the rule and the element, on any serious or
// critical violation of WCAG 2.1 A/AA, and on content outside landmarks.
// Every state is saved as a screenshot (a11y-*.png in the artifacts).
func TestAccessibility(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Caddy; skipped with -short")
	}
	chrome := chromiumPath(t)
	shots := accountShots(t, "a11y-js", "a11y-nojs", "a11y-js-step", "a11y-nojs-step", "a11y-de", "a11y-fr", "a11y-es")
	start := time.Now()
	logo := filepath.Join(t.TempDir(), "acme-logo.svg")
	if err := os.WriteFile(logo, []byte(logoSVG), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testenv.New(t, testenv.Options{NoStart: true})
	themed := fmt.Sprintf("\t\tsupport help@acme.test\n\t\ttheme {\n\t\t\tcolor %q\n\t\t\taccent \"#f5b400\"\n\t\t\tlogo %s\n\t\t}\n", brandHex, logo)
	env.Load(env.Caddyfile(accountBlock(env, true, themed)))
	browser := &chromium{path: chrome}
	browser.start(t)
	a := &auditor{logged: map[string]bool{}}
	mails := newMailViewer(t)
	bobPassword := legacyapp.DemoAccounts()[1].Password

	for _, js := range []bool{true, false} {
		trail, resetUser, subject := "a11y-js", alice, "Reset your Acme Demo password"
		if !js {
			// Another account: the first pass spent part of alice's
			// budget of wrong codes.
			trail, resetUser, subject = "a11y-nojs", carol, "Réinitialisez votre mot de passe"
		}
		u := newUser(t, browser, env, shots, trail, "")
		u.scripts(js)
		u.setLook(looks[0])

		u.open(env.BaseURL + "/password-reset/")
		u.waitPage("forgot")
		if got := u.eval(`String(document.querySelector('[data-passkey=login]').hidden)`); got != fmt.Sprint(!js) {
			t.Errorf("JavaScript %v: the passkey button hidden=%s", js, got)
		}
		a.audit(u, "forgot", false)
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#identifier-error")
		if js {
			if id := u.eval(`document.activeElement.id`); id != "error-summary" {
				t.Errorf("after an error the focus is on %q, want the error summary", id)
			}
		}
		a.audit(u, "forgot-error-empty", false)
		// The field in error keeps its red border when it has the focus.
		u.eval(`document.getElementById('identifier').focus(), ''`)
		if got := u.eval(`document.activeElement.id + ' ' + getComputedStyle(document.activeElement).borderTopColor`); got != "identifier rgb(179, 38, 30)" {
			t.Errorf("focused field in error: %q, want identifier with the red border rgb(179, 38, 30)", got)
		}

		u.keys("#identifier", resetUser)
		u.click(`button[type=submit]`)
		u.waitPage("sent")
		u.waitText(".entered", resetUser)
		a.audit(u, "sent", false)
		m := u.mail(resetUser, subject)
		u.reloads(func() { u.keys("#code", "12\n") })
		u.waitVisible("#code-error")
		a.audit(u, "sent-error-format", false)
		u.reloads(func() { u.keys("#code", "0000 0000\n") })
		u.waitVisible("#code-error")
		a.audit(u, "sent-error-code", false)
		u.dropCookie("rg_flow")
		u.keys("#code", "1234 5678\n")
		u.waitPage("error")
		a.audit(u, "error-flow", false)

		mails.show(u, m)
		a.audit(u, "mail-reset", true)
		link, _ := testenv.ResetLink(t, m)
		revoke, _ := testenv.RevokeLink(t, m)

		u.open(link)
		u.waitPage("new")
		if n := u.eval(`String(document.querySelectorAll('.pw .toggle').length)`); (n == "2") != js {
			t.Errorf("JavaScript %v: %s show-password toggles", js, n)
		}
		a.audit(u, "new", false)
		u.keys("#password", "short")
		u.keys("#confirm", "shorter")
		if js {
			a.audit(u, "new-typing", false) // live hints marked
		}
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#password-error")
		a.audit(u, "new-error-short-mismatch", false)
		u.keys("#password", "password1234")
		u.keys("#confirm", "password1234")
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitText("#password-error", "too common")
		a.audit(u, "new-error-common", false)
		const good = "violet staircase under moonlight"
		u.keys("#password", good)
		u.keys("#confirm", good)
		u.click(`button[type=submit]`)
		u.waitPage("done")
		a.audit(u, "done", false)
		changed := u.mail(resetUser, "")
		mails.show(u, changed)
		a.audit(u, "mail-changed", true)

		u.open(link)
		u.waitPage("error")
		a.audit(u, "error-link", false)
		u.open(revoke)
		u.waitPage("revoke")
		a.audit(u, "revoke", false)
		u.click(`button[type=submit]`)
		u.waitPage("revoked")
		a.audit(u, "revoked", false)
		u.dropCookie("rg_revoke")
		u.open(env.BaseURL + "/password-reset/revoke")
		u.waitPage("error")
		a.audit(u, "error-revoke", false)

		// A fresh request, locked by wrong codes.
		u.open(env.BaseURL + "/password-reset/")
		u.keys("#identifier", resetUser+"\n")
		u.waitPage("sent")
		u.mail(resetUser, subject)
		for range 5 {
			u.reloads(func() { u.keys("#code", "1111 1111\n") })
		}
		u.waitPage("error")
		a.audit(u, "error-locked", false)

		// A form whose CSRF cookie is gone.
		u.open(env.BaseURL + "/password-reset/")
		u.dropCookie("rg_csrf")
		u.keys("#identifier", resetUser+"\n")
		u.waitPage("error")
		a.audit(u, "error-session", false)

		// The signed-in pages, as bob.
		u.open(env.BaseURL + "/password-reset/change")
		u.waitPage("error")
		a.audit(u, "error-signin", false)
		u.signIn(bob, bobPassword, "Bob Baumann")
		u.open(env.BaseURL + "/password-reset/passkeys")
		u.waitPage("passkeys")
		a.audit(u, "passkeys", false)
		if js {
			// A passkey added (a virtual authenticator): the notice and
			// the list; the second pass sees the list without script.
			u.addAuthenticator()
			// Adding needs a fresh proof: the current password first.
			u.keys("#password", bobPassword)
			u.click(`#passkey-reauth button[type=submit]`)
			u.waitPage("passkeys")
			a.audit(u, "passkeys-confirmed", false)
			u.waitJS(`!document.querySelector('#passkey-add fieldset').disabled`, "the add form enabled by passkey.js")
			u.keys("#passkey-name", "Laptop")
			u.click(`#passkey-add button[type=submit]`)
			u.waitText(".banner", "Passkey added.")
			a.audit(u, "passkeys-added", false)
		}
		u.open(env.BaseURL + "/password-reset/change")
		u.waitPage("change")
		a.audit(u, "change", false)
		next := "bridges need good foundations"
		if !js {
			next = "foundations before bridges, always"
		}
		u.keys("#old", "not my password")
		u.keys("#new", next)
		u.keys("#confirm", next)
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#old-error")
		a.audit(u, "change-error-old", false)
		u.keys("#old", bobPassword)
		u.keys("#new", "short")
		u.keys("#confirm", "short")
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#new-error")
		a.audit(u, "change-error-policy", false)
		u.keys("#old", bobPassword)
		u.keys("#new", next)
		u.keys("#confirm", next)
		u.click(`button[type=submit]`)
		u.waitPage("changed")
		a.audit(u, "changed", false)
		bobPassword = next
		if m := u.mail(bob, ""); js {
			mails.show(u, m)
			a.audit(u, "mail-changed-de", true)
		}
	}

	// require_passkey: bob has a passkey, so the mailed link first asks
	// for it, with and without the page script.
	env.Load(env.Caddyfile(accountBlock(env, true, themed+"\t\trequire_passkey\n")))
	for _, js := range []bool{true, false} {
		trail := "a11y-js-step"
		if !js {
			trail = "a11y-nojs-step"
		}
		u := newUser(t, browser, env, shots, trail, "")
		u.scripts(js)
		u.open(env.BaseURL + "/password-reset/")
		u.keys("#identifier", bob+"\n")
		u.waitPage("sent")
		link, _ := testenv.ResetLink(t, u.mail(bob, ""))
		u.open(link)
		u.waitPage("new")
		u.waitText("body", "This account is protected by a passkey.")
		a.audit(u, "new-passkey-step", false)
	}
	// The built-in theme, in the other languages.
	env.Load(env.Caddyfile(accountBlock(env, true, "")))
	for _, lang := range []string{"de", "fr", "es"} {
		u := newUser(t, browser, env, shots, "a11y-"+lang, lang)
		u.scripts(true)
		u.open(env.BaseURL + "/password-reset/")
		u.waitPage("forgot")
		u.expectLang(lang)
		a.audit(u, "forgot", false)
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#identifier-error")
		a.audit(u, "forgot-error-empty", false)
		u.keys("#identifier", alice+"\n")
		u.waitPage("sent")
		a.audit(u, "sent", false)
		m := u.mail(alice, "")
		link, _ := testenv.ResetLink(t, m)
		u.open(link)
		u.waitPage("new")
		a.audit(u, "new", false)
		u.keys("#password", "short")
		u.keys("#confirm", "shorter")
		u.reloads(func() { u.click(`button[type=submit]`) })
		u.waitVisible("#password-error")
		a.audit(u, "new-error-short-mismatch", false)
	}
	t.Logf("axe: %d audits in %s (of %s in all); screenshots in %s", a.audits, a.took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), shots)
}
