package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// The demo accounts of examples/legacyapp: alice (locale en), bob (de),
// carol (fr).
const (
	alice = "alice@example.test"
	bob   = "bob@example.test"
	carol = "carol@example.test"
)

// brand is the theme colour set in the Caddyfile below, as the browser
// computes it.
const (
	brandHex = "#0b6e4f"
	brandRGB = "rgb(11, 110, 79)"
)

// chromiumPath finds the browser, or ends the test: a missing browser is a
// failure (the journey is part of the suite) unless RESETGATE_SKIP_BROWSER=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RESETGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("RESETGATE_SKIP_BROWSER") == "1" {
		t.Skip("no Chromium found; skipped because RESETGATE_SKIP_BROWSER=1")
	}
	t.Fatal("no Chromium found for the browser tests. Install Debian's package (apt-get install -y chromium; scripts/test does it when run as root), " +
		"or point RESETGATE_CHROMIUM at a Chrome/Chromium binary, or set RESETGATE_SKIP_BROWSER=1 to skip these tests")
	return ""
}

// artifactsDir is where screenshots go: $RESETGATE_ARTIFACTS or
// e2e/artifacts (git-ignored). Each user's old screenshots are removed
// when it starts (newUser), so tests running side by side keep theirs.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RESETGATE_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// logoSVG is the theme's logo: a file that resetgate serves itself.
const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">
<rect width="40" height="40" rx="9" fill="#0b6e4f"/>
<path d="M12 29 L20 10 L28 29 M15.5 22 H24.5" stroke="#f5b400" stroke-width="4" fill="none" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`

// TestBrowserJourneys clicks and types the reset journeys in headless
// Chromium against real Caddy, the example app and an SMTP server: by
// link (English), by code (English pages, French mail), and in German
// (Accept-Language: de pages, German mail), plus the "this wasn't me" and
// dead-link pages. JavaScript is on, so the page script's toggle and hints
// run under the strict CSP; the no-JavaScript path is covered by
// caddymodule's TestPagesSetPasswordWithoutJavaScript and plugin's page
// tests.
func TestBrowserJourneys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Caddy; skipped with -short")
	}
	chrome := chromiumPath(t)
	shots := artifactsDir(t)
	start := time.Now()

	logo := filepath.Join(t.TempDir(), "acme-logo.svg")
	if err := os.WriteFile(logo, []byte(logoSVG), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testenv.New(t, testenv.Options{Block: fmt.Sprintf(`		support help@acme.test
		theme {
			color "%s"
			accent "#f5b400"
			logo %s
		}`, brandHex, logo)})

	browser := &chromium{path: chrome}
	browser.start(t)
	t.Run("link", func(t *testing.T) {
		u := newUser(t, browser, env, shots, "1-link", "")
		u.open(env.BaseURL + "/")
		u.waitText("h1", "Sign in")
		u.shot("app-sign-in")
		u.click(`a[href="/password-reset/"]`)
		u.waitPage("forgot")
		u.expectLang("en")
		u.waitText("h1", "Forgot your password?")
		// The DOM is ready before the stylesheet and the logo have loaded
		// (a fresh clone's suite under load missed both once).
		u.waitJS(`document.readyState === "complete"`, "the page's stylesheet and logo to load")
		if bg := u.eval(`getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor`); bg != brandRGB {
			t.Errorf("the theme colour did not reach the button: %s", bg)
		}
		if ok := u.eval(`String(document.querySelector('img.logo').naturalWidth > 0)`); ok != "true" {
			t.Error("the logo did not load")
		}
		u.shot("forgot")
		// Keyboard only: the field has the focus, Tab reaches the button
		// (with a visible focus ring), Enter sends the form.
		if id := u.eval(`document.activeElement.id`); id != "identifier" {
			t.Errorf("focus on %q, want the identifier field", id)
		}
		u.do(chromedp.KeyEvent(alice + "\t"))
		if got := u.eval(`document.activeElement.type + " " + getComputedStyle(document.activeElement).outlineStyle`); got != "submit solid" {
			t.Errorf("after Tab: focused %q, want the submit button with a visible outline", got)
		}
		u.shot("forgot-keyboard-focus")
		u.do(chromedp.KeyEvent("\r"))
		u.waitPage("sent")
		u.waitText("h1", "Check your e-mail")
		u.shot("sent")

		m := u.mail(alice, "Reset your Acme Demo password")
		u.showMail(m, "mail-reset")
		link, _ := testenv.ResetLink(t, m)
		u.open(link)
		u.waitPage("new")
		if loc := u.eval(`location.href`); strings.Contains(loc, "token") {
			t.Errorf("the token stayed in the address bar: %s", loc)
		}
		if id := u.eval(`document.activeElement.id`); id != "password" {
			t.Errorf("focus on %q, want the password field", id)
		}
		if n := u.eval(`String(document.querySelectorAll('.pw .toggle').length)`); n != "2" {
			t.Errorf("show-password toggles: %s (the page script did not run under the CSP?)", n)
		}
		u.shot("new")

		// A weak password: 12 characters, but on the common list.
		u.keys("#password", "password1234")
		u.keys("#confirm", "password1234")
		if cls := u.eval(`document.querySelector('li[data-rule=length]').className + ' ' + document.querySelector('li[data-rule=match]').className`); cls != "ok ok" {
			t.Errorf("live hints after a 12-character password typed twice: %q", cls)
		}
		u.shot("new-typed")
		u.click(`button[type=submit]`)
		u.waitVisible("#password-error")
		u.waitText("#password-error", "too common")
		if inv := u.eval(`document.getElementById('password').getAttribute('aria-invalid') + ' ' + document.getElementById('password').getAttribute('aria-describedby')`); inv != "true password-error password-rules" {
			t.Errorf("the error is not tied to the field: %q", inv)
		}
		if title := u.eval(`document.title`); !strings.HasPrefix(title, "Error: ") {
			t.Errorf("title %q does not say there is an error", title)
		}
		u.shot("new-weak-password")

		const good = "violet staircase under moonlight"
		u.keys("#password", good)
		u.click(`#password + .toggle`)
		if typ := u.eval(`document.getElementById('password').type`); typ != "text" {
			t.Errorf("show password: type %s", typ)
		}
		u.keys("#confirm", good)
		u.shot("new-good-password-shown")
		u.click(`button[type=submit]`)
		u.waitPage("done")
		u.waitText("h1", "Password changed")
		u.shot("done")

		u.click(`a.button`)
		u.waitText("h1", "Sign in")
		u.keys("#email", alice)
		u.keys("#password", good)
		u.click(`button[type=submit]`)
		u.waitText("h1", "Welcome")
		u.waitText("body", "Welcome, Alice Archer")
		u.shot("app-welcome")
		u.mail(alice, "Your Acme Demo password was changed")

		// The link again: used, so the clear error page.
		u.open(link)
		u.waitPage("error")
		u.waitText("h1", "This link does not work")
		u.shot("error-link-used")
	})

	t.Run("code", func(t *testing.T) {
		u := newUser(t, browser, env, shots, "2-code", "")
		u.open(env.BaseURL + "/password-reset/")
		u.waitPage("forgot")
		u.keys("#identifier", carol)
		u.click(`button[type=submit]`)
		u.waitPage("sent")
		if attrs := u.eval(`['autocomplete','inputmode'].map(a => document.getElementById('code').getAttribute(a)).join(' ')`); attrs != "one-time-code numeric" {
			t.Errorf("code field: %s", attrs)
		}
		// Carol's locale is fr: her mail is in French.
		m := u.mail(carol, "Réinitialisez votre mot de passe Acme Demo")
		u.showMail(m, "mail-reset-fr")
		code := testenv.Code(t, m)
		u.open(env.BaseURL + "/password-reset/sent") // back from reading the mail

		u.keys("#code", "0000 0000\n")
		u.waitVisible("#code-error")
		u.waitText("#code-error", "not right")
		u.shot("sent-wrong-code")
		u.keys("#code", code[:4]+" "+code[4:]+"\n")
		u.waitPage("new")
		const good = "croissants at the riverside"
		u.keys("#password", good)
		u.keys("#confirm", good+"\n")
		u.waitPage("done")
		u.shot("done")
		u.open(env.BaseURL + "/")
		u.keys("#email", carol)
		u.keys("#password", good+"\n")
		u.waitText("body", "Welcome, Carol Chevalier")
		u.shot("app-welcome")
	})

	t.Run("german", func(t *testing.T) {
		u := newUser(t, browser, env, shots, "3-de", "de-DE,de;q=0.9")
		u.open(env.BaseURL + "/")
		u.click(`a[href="/password-reset/"]`)
		u.waitPage("forgot")
		u.expectLang("de")
		u.waitText("h1", "Passwort vergessen?")
		u.waitText("label[for=identifier]", "E-Mail oder Benutzername")
		u.shot("forgot")
		u.keys("#identifier", bob)
		u.click(`button[type=submit]`)
		u.waitPage("sent")
		u.waitText("h1", "Prüfen Sie Ihre E-Mails")
		u.shot("sent")
		// Bob's locale is de: the mail is German.
		m := u.mail(bob, "Setzen Sie Ihr Passwort für Acme Demo zurück")
		for _, want := range []string{"Hallo Bob Baumann,", "Der Link funktioniert einmal und 15 Minuten lang", "Der Code funktioniert einmal und 10 Minuten lang", "Fragen? Wenden Sie sich an help@acme.test."} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("German mail lacks %q:\n%s", want, m.Text)
			}
		}
		u.showMail(m, "mail-reset-de")
		link, _ := testenv.ResetLink(t, m)
		u.open(link)
		u.waitPage("new")
		u.waitText("h1", "Neues Passwort festlegen")
		u.keys("#password", "kurz")
		u.keys("#confirm", "kurz\n")
		u.waitVisible("#password-error")
		u.waitText("#password-error", "zu kurz")
		u.shot("new-weak-password")
		const good = "Brezeln backen am Sonntag"
		u.keys("#password", good)
		u.keys("#confirm", good)
		u.click(`button[type=submit]`)
		u.waitPage("done")
		u.waitText("h1", "Passwort geändert")
		u.shot("done")
		u.click(`a.button`)
		u.keys("#email", bob)
		u.keys("#password", good+"\n")
		u.waitText("body", "Welcome, Bob Baumann")
		changed := u.mail(bob, "Ihr Passwort für Acme Demo wurde geändert")
		u.showMail(changed, "mail-changed-de")
	})

	t.Run("revoke", func(t *testing.T) {
		u := newUser(t, browser, env, shots, "4-revoke", "de")
		u.open(env.BaseURL + "/password-reset/")
		u.keys("#identifier", bob+"\n")
		u.waitPage("sent")
		m := u.mail(bob, "Setzen Sie Ihr Passwort für Acme Demo zurück")
		revoke, _ := testenv.RevokeLink(t, m)
		u.open(revoke)
		u.waitPage("revoke")
		u.waitText("h1", "Das waren Sie nicht?")
		u.shot("revoke-confirm")
		u.click(`button[type=submit]`)
		u.waitPage("revoked")
		u.waitText("h1", "Zurücksetzen abgebrochen")
		u.shot("revoked")
		link, _ := testenv.ResetLink(t, m)
		u.open(link)
		u.waitPage("error")
		u.waitText("h1", "Dieser Link funktioniert nicht")
		u.shot("error-link-dead")
		// Too many wrong codes: the flow locks.
		u.open(env.BaseURL + "/password-reset/")
		u.keys("#identifier", bob+"\n")
		u.waitPage("sent")
		u.mail(bob, "Setzen Sie Ihr Passwort")
		for i := 0; i < 5; i++ {
			u.reloads(func() { u.keys("#code", "1111 1111\n") })
		}
		u.waitPage("error")
		u.waitText("h1", "Zu viele Versuche")
		u.shot("error-too-many-codes")
	})

	t.Logf("browser journeys took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}

// chromium is one headless browser for the whole test.
type chromium struct {
	path string
	ctx  context.Context
}

// start launches the browser with the flags of NOTES.md and a fresh
// profile.
func (c *chromium) start(t *testing.T) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(c.path),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,PasswordLeakDetection,AutofillServerCommunication"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 860),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first run starts the browser; its context must outlive the test
	// steps, so it has no timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", c.path, err)
	}
	c.ctx = ctx
}

// user is one person at the browser: the browser's cookies cleared, an
// Accept-Language, and a numbered screenshot trail.
type user struct {
	t      *testing.T
	ctx    context.Context
	env    *testenv.Env
	dir    string
	prefix string
	n      int
}

func newUser(t *testing.T, c *chromium, env *testenv.Env, dir, prefix, acceptLanguage string) *user {
	t.Helper()
	if acceptLanguage == "" {
		acceptLanguage = "en-US,en;q=0.9"
	}
	// One tab serves every user in turn (the subtests run one after the
	// other); clearing the cookies makes each a stranger to the site.
	u := &user{t: t, ctx: c.ctx, env: env, dir: dir, prefix: prefix}
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"-*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	u.open("about:blank")
	u.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": acceptLanguage},
		})
		return err
	}))
	env.Mail.Clear()
	return u
}

const stepTimeout = 15 * time.Second

func (u *user) do(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.fail(err)
	}
}

// fail ends the test with the page's address and text, and a screenshot.
func (u *user) fail(err error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	u.shot("FAILED")
	u.t.Fatalf("%v\nat %s:\n%s", err, loc, body)
}

func (u *user) open(url string) { u.t.Helper(); u.do(chromedp.Navigate(url)) }

func (u *user) click(css string) {
	u.t.Helper()
	u.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// keys types into a field after emptying it; "\n" presses Enter.
func (u *user) keys(css, text string) {
	u.t.Helper()
	u.do(chromedp.WaitVisible(chromedp.CSS(css)), chromedp.Clear(chromedp.CSS(css)), chromedp.SendKeys(chromedp.CSS(css), text))
}

func (u *user) waitVisible(css string) {
	u.t.Helper()
	u.do(chromedp.WaitVisible(chromedp.CSS(css)))
}

// waitPage waits until the hosted page called name is shown.
func (u *user) waitPage(name string) {
	u.t.Helper()
	u.do(chromedp.WaitReady(chromedp.CSS("body.page-" + name)))
}

// waitText waits until the first element matching css contains text. It
// polls, and rides out the moments of a navigation when the page's
// JavaScript context is gone.
func (u *user) waitText(css, text string) {
	u.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.innerText.includes(%q); })()`, css, text)
	deadline := time.Now().Add(stepTimeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	u.fail(fmt.Errorf("waiting for %q in %s: %v", text, css, last))
}

// reloads runs step, which must lead to a new page (the same page again
// after a form error, say), and waits until that new page has loaded.
func (u *user) reloads(step func()) {
	u.t.Helper()
	u.eval(`window.__rgOld = "1"`)
	step()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		fresh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__rgOld === undefined && document.readyState === "complete"`))
		cancel()
		if err == nil && fresh {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	u.fail(errors.New("the page did not reload"))
}

func (u *user) eval(js string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		u.fail(fmt.Errorf("evaluating %s: %w", js, err))
	}
	return v
}

func (u *user) expectLang(want string) {
	u.t.Helper()
	if got := u.eval(`document.documentElement.lang`); got != want {
		u.t.Errorf("<html lang=%q>, want %q", got, want)
	}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// shot saves a full-page PNG as <prefix>-<nn>-<name>.png.
func (u *user) shot(name string) {
	u.t.Helper()
	u.n++
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(u.dir, fmt.Sprintf("%s-%02d-%s.png", u.prefix, u.n, unsafeName.ReplaceAllString(strings.ToLower(name), "-")))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		u.t.Errorf("writing %s: %v", file, err)
	}
}

// mail waits for a mail to addr whose subject starts with subject.
func (u *user) mail(addr, subject string) mailbox.Mail {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	m, err := u.env.Mail.WaitFor(ctx, func(m mailbox.Mail) bool {
		return len(m.To) > 0 && strings.EqualFold(m.To[0], addr) && strings.HasPrefix(m.Subject, subject)
	})
	if err != nil {
		var got []string
		for _, m := range u.env.Mail.Messages() {
			got = append(got, fmt.Sprintf("%v %q", m.To, m.Subject))
		}
		u.t.Fatalf("no mail to %s with subject %q: %v; have %v", addr, subject, err, got)
	}
	u.env.Mail.Clear()
	return m
}

// showMail renders a mail's HTML part in the browser for a screenshot.
func (u *user) showMail(m mailbox.Mail, name string) {
	u.t.Helper()
	if m.HTML == "" {
		u.t.Errorf("mail %q has no HTML part", m.Subject)
		return
	}
	u.open("data:text/html;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(m.HTML)))
	u.shot(name)
}
