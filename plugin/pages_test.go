package plugin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/webhook"
	"github.com/resetgate/resetgate/store"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// browser is a minimal form-posting client for the pages: it keeps the
// cookies the engine sets (Secure ones too: the harness's base_url is
// https while the test server is plain http) and never runs JavaScript.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	lang    string
}

type page struct {
	status int
	header http.Header
	body   string
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]*http.Cookie{}}
}

func (b *browser) send(req *http.Request) page {
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string) page {
	return b.send(httptest.NewRequest(http.MethodGet, path, nil))
}

func (b *browser) post(path string, form url.Values) page {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// submit posts a page's form with its CSRF token and the given fields.
func (b *browser) submit(from page, path string, fields url.Values) page {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(from.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", from.body)
	}
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("csrf", m[1])
	return b.post(path, fields)
}

var formRE = regexp.MustCompile(`(?s)<form[^>]*method="post"[^>]*>(.*?)</form>`)

// checkPage asserts what every page must carry.
func checkPage(t *testing.T, name string, p page) {
	t.Helper()
	h := p.header
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", name, k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %s", name, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows inline code: %q", name, csp)
	}
	if !regexp.MustCompile(`<html lang="[a-z]{2}" dir="ltr">`).MatchString(p.body) {
		t.Errorf("%s: no lang attribute", name)
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "<style") || strings.Contains(p.body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(p.body) {
		t.Errorf("%s: inline script or style", name)
	}
	for _, f := range formRE.FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(f[1], `name="csrf"`) {
			t.Errorf("%s: a form without a CSRF token:\n%s", name, f[0])
		}
	}
	// Every input has a label.
	for _, m := range regexp.MustCompile(`<input id="([a-z]+)"`).FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
			t.Errorf("%s: input #%s has no label", name, m[1])
		}
	}
}

// TestPagesJourneyHeadersAndForms walks every page without JavaScript and
// checks the headers, the CSRF token on each form and the labels.
func TestPagesJourneyHeadersAndForms(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)

	forgot := b.get("/password-reset/")
	checkPage(t, "forgot", forgot)
	if !strings.Contains(forgot.body, `autocomplete="username"`) || !strings.Contains(forgot.body, "Forgot your password?") {
		t.Fatalf("forgot page:\n%s", forgot.body)
	}
	for _, c := range b.cookies {
		if !c.Secure || !c.HttpOnly || c.SameSite == http.SameSiteNoneMode || c.SameSite == 0 || c.Path != "/password-reset" {
			t.Errorf("cookie %s: %+v", c.Name, c)
		}
	}

	r := b.submit(forgot, "/password-reset/", url.Values{"identifier": {"alice@example.test"}})
	if r.status != 303 || r.header.Get("Location") != "/password-reset/sent" {
		t.Fatalf("forgot submit: %d %v", r.status, r.header)
	}
	sent := b.get("/password-reset/sent")
	checkPage(t, "sent", sent)
	for _, want := range []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, `aria-describedby="code-hint"`, "15 minutes", "10 minutes"} {
		if !strings.Contains(sent.body, want) {
			t.Errorf("sent page lacks %s", want)
		}
	}
	m := waitResetMail(t, h)

	// A wrong code: the error is tied to the field.
	bad := b.submit(sent, "/password-reset/sent", url.Values{"code": {"0000 0000"}})
	if bad.status != 400 || !strings.Contains(bad.body, `aria-invalid="true" aria-describedby="code-hint code-error"`) || !strings.Contains(bad.body, `id="code-error"`) {
		t.Fatalf("wrong code: %d\n%s", bad.status, bad.body)
	}
	if !strings.Contains(bad.body, "<title>Error: Check your e-mail") {
		t.Error("the title does not say there is an error")
	}
	checkPage(t, "sent with error", bad)

	r = b.submit(bad, "/password-reset/sent", url.Values{"code": {codeOf(t, m)}})
	if r.status != 303 || r.header.Get("Location") != "/password-reset/new" {
		t.Fatalf("code: %d %s", r.status, r.body)
	}
	newPage := b.get("/password-reset/new")
	checkPage(t, "new", newPage)
	for _, want := range []string{`autocomplete="new-password"`, `name="username" autocomplete="username" value="alice@example.test"`, `minlength="12"`, `aria-describedby="password-rules"`, `data-rule="length"`, `data-policy="/password-reset/policy"`} {
		if !strings.Contains(newPage.body, want) {
			t.Errorf("new page lacks %s", want)
		}
	}
	if strings.Contains(newPage.body, `maxlength="`) {
		t.Error("a maxlength on a password field makes browsers cut pasted passwords silently")
	}

	weak := b.submit(newPage, "/password-reset/new", url.Values{"password": {"short"}, "confirm": {"shorter"}})
	if weak.status != 422 {
		t.Fatalf("weak: %d", weak.status)
	}
	checkPage(t, "new with errors", weak)
	for _, want := range []string{
		`aria-invalid="true" aria-describedby="password-error password-rules"`, `id="password-error"`,
		"too short: use at least 12 characters", `id="confirm-error"`, "do not match",
	} {
		if !strings.Contains(weak.body, want) {
			t.Errorf("weak-password page lacks %s", want)
		}
	}
	done := b.submit(weak, "/password-reset/new", url.Values{"password": {"a perfectly fine password"}, "confirm": {"a perfectly fine password"}})
	if done.status != 303 || done.header.Get("Location") != "/password-reset/done" {
		t.Fatalf("complete: %d %s", done.status, done.body)
	}
	if _, ok := b.cookies[cookieToken]; ok {
		t.Error("the token cookie outlived the reset")
	}
	donePage := b.get("/password-reset/done")
	checkPage(t, "done", donePage)
	if !strings.Contains(donePage.body, `href="https://app.example.test/"`) {
		t.Error("done page has no way back to the app")
	}

	// The token was used: the link now shows the error page at once,
	// without planting the dead token.
	gone := b.get("/password-reset/new?token=" + tokenOf(t, m))
	checkPage(t, "error", gone)
	// An old link is no one's fault: a calm notice, not an alert.
	if gone.status != 404 || !strings.Contains(gone.body, "This link does not work") || strings.Contains(gone.body, `role="alert"`) || strings.Contains(gone.body, "warn") {
		t.Errorf("used link: %d\n%s", gone.status, gone.body)
	}
}

func TestPagesRevoke(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	_, m := h.resetMail(t)
	link := regexp.MustCompile(`/password-reset/revoke\?token=[A-Za-z0-9_-]+`).FindString(m.Text)
	if link == "" {
		t.Fatalf("no revoke link:\n%s", m.Text)
	}
	if r := b.get(link); r.status != 303 || r.header.Get("Location") != "/password-reset/revoke" {
		t.Fatalf("revoke link: %d", r.status)
	}
	confirm := b.get("/password-reset/revoke")
	checkPage(t, "revoke", confirm)
	if !strings.Contains(confirm.body, "cancel the reset") {
		t.Fatalf("confirm page:\n%s", confirm.body)
	}
	done := b.submit(confirm, "/password-reset/revoke", nil)
	checkPage(t, "revoked", done)
	if done.status != 200 || !strings.Contains(done.body, "Reset cancelled") {
		t.Fatalf("revoked: %d\n%s", done.status, done.body)
	}
	b.get("/password-reset/new?token=" + tokenOf(t, m))
	if r := b.get("/password-reset/new"); r.status != 404 {
		t.Errorf("the reset link works after a revoke: %d", r.status)
	}
	fresh := newBrowser(t, h.e)
	if r := fresh.get("/password-reset/revoke"); r.status != 404 || !strings.Contains(r.body, "This link does not work") {
		t.Errorf("confirm page without a link: %d", r.status)
	}
}

func TestPagesTooManyCodes(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	forgot := b.get("/password-reset/")
	b.submit(forgot, "/password-reset/", url.Values{"identifier": {"alice@example.test"}})
	waitResetMail(t, h)
	p := b.get("/password-reset/sent")
	for i := 0; i < 5; i++ {
		p = b.submit(p, "/password-reset/sent", url.Values{"code": {"1111-1111"}})
	}
	checkPage(t, "locked", p)
	if !strings.Contains(p.body, "Too many attempts") {
		t.Fatalf("after 5 wrong codes: %d\n%s", p.status, p.body)
	}
	if r := b.submit(forgot, "/password-reset/sent", url.Values{"code": {"12345678"}}); !strings.Contains(r.body, "Request not found") {
		t.Errorf("the flow cookie outlived the lock: %d", r.status)
	}
}

func TestPagesCSRFAndOrigin(t *testing.T) {
	h := newHarness(t, nil)
	b := newBrowser(t, h.e)
	forgot := b.get("/password-reset/")
	if r := b.post("/password-reset/", url.Values{"identifier": {"alice@example.test"}, "csrf": {"forged"}}); r.status != 403 || !strings.Contains(r.body, "Session expired") {
		t.Errorf("forged CSRF token: %d", r.status)
	}
	m := csrfRE.FindStringSubmatch(forgot.body)
	req := httptest.NewRequest(http.MethodPost, "/password-reset/", strings.NewReader(url.Values{"identifier": {"a"}, "csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := b.send(req); r.status != 403 || !strings.Contains(r.body, "another site") {
		t.Errorf("cross-site post: %d", r.status)
	}
	if r := b.submit(forgot, "/password-reset/", url.Values{"identifier": {"  "}}); r.status != 400 || !strings.Contains(r.body, `aria-invalid="true" aria-describedby="identifier-error"`) {
		t.Errorf("empty identifier: %d\n%s", r.status, r.body)
	}
}

// TestPagesLanguages: Accept-Language picks the pages' language.
func TestPagesLanguages(t *testing.T) {
	h := newHarness(t, nil)
	for lang, want := range map[string][]string{
		"de-DE,de;q=0.9,en;q=0.5": {`lang="de"`, "Passwort vergessen?", "E-Mail oder Benutzername"},
		"fr":                      {`lang="fr"`, "Mot de passe oublié ?"},
		"es-MX, en;q=0.1":         {`lang="es"`, "¿Ha olvidado su contraseña?"},
		"ja":                      {`lang="en"`, "Forgot your password?"},
	} {
		b := newBrowser(t, h.e)
		b.lang = lang
		p := b.get("/password-reset/")
		for _, w := range want {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s: page lacks %q", lang, w)
			}
		}
		if p.header.Get("Content-Language") == "" {
			t.Errorf("%s: no Content-Language", lang)
		}
	}
	b := newBrowser(t, h.e)
	b.lang = "de"
	newPage := b.get("/password-reset/new")
	if !strings.Contains(newPage.body, "Dieser Link funktioniert nicht") {
		t.Errorf("German error page:\n%s", newPage.body)
	}
}

func TestPagesTheme(t *testing.T) {
	dir := t.TempDir()
	logo := filepath.Join(dir, "logo.png")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	if err := os.WriteFile(logo, png, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) {
		c.Pages = PageOptions{Color: "#0B6E4F", Accent: "#fb0", Logo: logo}
		c.SupportContact = "help@acme.test"
	})
	b := newBrowser(t, h.e)
	p := b.get("/password-reset/")
	if !strings.Contains(p.body, `<img class="logo" src="/password-reset/assets/logo?v=`) {
		t.Errorf("no logo:\n%s", p.body)
	}
	if !strings.Contains(p.body, `<a href="mailto:help@acme.test">help@acme.test</a>`) {
		t.Error("support address is not a mailto link")
	}
	css := b.get("/password-reset/assets/theme.css")
	if css.status != 200 || css.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("theme.css: %d %v", css.status, css.header)
	}
	for _, want := range []string{"--brand: #0b6e4f;", "--on-brand: #ffffff;", "--link: #0b6e4f;", "--accent: #ffbb00;"} {
		if !strings.Contains(css.body, want) {
			t.Errorf("theme.css lacks %s:\n%s", want, css.body)
		}
	}
	// Yellow on white fails 3:1: the focus ring keeps the main colour.
	// (On the dark card yellow reads, and becomes the dark scheme's ring.)
	if lightPart, _, _ := strings.Cut(css.body, "@media"); strings.Contains(lightPart, "--focus: #ffbb00") {
		t.Error("a low-contrast accent became the focus ring")
	}
	img := b.get("/password-reset/assets/logo")
	if img.status != 200 || img.header.Get("Content-Type") != "image/png" || !strings.Contains(img.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("logo: %d %v", img.status, img.header)
	}
	for _, a := range []string{"style.css", "app.js"} {
		if r := b.get("/password-reset/assets/" + a); r.status != 200 || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d", a, r.status)
		}
	}
	if r := b.get("/password-reset/assets/../engine.go"); r.status == 200 {
		t.Error("asset path escapes")
	}

	// A light main colour gets dark text, and links fall back to dark.
	_, light, err := themeCSS("#ffeb3b", "")
	if err != nil || !strings.Contains(string(light), "--on-brand: #1d2230;") || !strings.Contains(string(light), "--link: #1d2230;") {
		t.Errorf("light theme:\n%s %v", light, err)
	}

	// An external logo adds its origin to img-src, and only that.
	h2 := newHarness(t, func(c *Config) { c.Pages.Logo = "https://cdn.acme.test/brand/logo.svg" })
	p2 := newBrowser(t, h2.e).get("/password-reset/")
	if csp := p2.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.test;") {
		t.Errorf("CSP with external logo: %q", csp)
	}
	if !strings.Contains(p2.body, `src="https://cdn.acme.test/brand/logo.svg"`) {
		t.Error("external logo not shown")
	}
}

func TestPagesThemeRefusesBadValues(t *testing.T) {
	for name, o := range map[string]PageOptions{
		"color name":     {Color: "red"},
		"css injection":  {Color: "#fff;} body{background:url(//evil)}"},
		"accent":         {Accent: "rgb(1,2,3)"},
		"logo scheme":    {Logo: "javascript://alert(1)"},
		"logo missing":   {Logo: "/no/such/logo.png"},
		"templates dir":  {TemplatesDir: "/no/such/dir"},
		"logo with user": {Logo: "https://user:pw@cdn.example/logo.png"},
	} {
		if err := tryEngine(t, func(c *Config) { c.Pages = o }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	notImage := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(notImage, []byte("<html>not an image</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tryEngine(t, func(c *Config) { c.Pages.Logo = notImage }); err == nil || !strings.Contains(err.Error(), "not a PNG") {
		t.Errorf("non-image logo: %v", err)
	}
}

// tryEngine builds an engine and reports New's error.
func tryEngine(t *testing.T, mod func(*Config)) error {
	t.Helper()
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := Config{
		BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32)),
		Lookup: Hook{URL: "http://127.0.0.1:1/lookup", Client: &webhook.Client{}},
		Update: Hook{URL: "http://127.0.0.1:1/update", Client: &webhook.Client{}},
	}
	mod(&cfg)
	_, err = New(cfg, st, zap.NewNop())
	return err
}

func TestPagesTemplateOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("done.html", `<p class="custom">{{t "done.body"}} ({{.Site}})</p>`)
	write("style.css", `body { background: #000; }`)
	write("locales/nl.json", `{"meta.name": "Nederlands", "done.title": "Wachtwoord gewijzigd", "done.body": "Uw wachtwoord is gewijzigd."}`)
	write("locales/de.json", `{"done.title": "Kennwort geändert"}`)
	write("README.md", "ignored")
	h := newHarness(t, func(c *Config) { c.Pages.TemplatesDir = dir; c.SiteName = "Acme" })
	b := newBrowser(t, h.e)
	b.lang = "nl"
	p := b.get("/password-reset/done")
	if !strings.Contains(p.body, `<p class="custom">Uw wachtwoord is gewijzigd. (Acme)</p>`) || !strings.Contains(p.body, `<h1>Wachtwoord gewijzigd</h1>`) || !strings.Contains(p.body, `lang="nl"`) {
		t.Errorf("override:\n%s", p.body)
	}
	if p := b.get("/password-reset/"); !strings.Contains(p.body, "Forgot your password?") {
		t.Error("a message missing from the added language does not fall back to English")
	}
	b.lang = "de"
	if p := b.get("/password-reset/done"); !strings.Contains(p.body, "Kennwort geändert") {
		t.Error("a locale override did not replace the built-in message")
	}
	if css := b.get("/password-reset/assets/style.css"); css.body != `body { background: #000; }` {
		t.Errorf("style.css override: %q", css.body)
	}
	// The mails use the same catalog.
	if _, _, html, err := h.e.cfg.Templates.RenderLocale("changed", "nl", mailerChanged()); err != nil || !strings.Contains(html, `lang="nl"`) {
		t.Errorf("mail in an added language: %v", err)
	}

	write("forgotten.html", "typo")
	if err := tryEngine(t, func(c *Config) { c.Pages.TemplatesDir = dir }); err == nil || !strings.Contains(err.Error(), "forgotten.html") {
		t.Errorf("misspelt template: %v", err)
	}
	_ = os.Remove(filepath.Join(dir, "forgotten.html"))
	write("sent.html", "{{.Broken")
	if err := tryEngine(t, func(c *Config) { c.Pages.TemplatesDir = dir }); err == nil || !strings.Contains(err.Error(), "sent.html") {
		t.Errorf("broken template: %v", err)
	}
}

// failingStore fails every read once broken is set.
type failingStore struct {
	store.Store
	broken bool
}

func (f *failingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if f.broken {
		return nil, errors.New("disk on fire")
	}
	return f.Store.Get(ctx, key)
}

func TestPagesServiceUnavailable(t *testing.T) {
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &failingStore{Store: st}
	e, err := New(Config{
		BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32)),
		Lookup: Hook{URL: "http://127.0.0.1:1/lookup", Client: &webhook.Client{Timeout: time.Second}},
		Update: Hook{URL: "http://127.0.0.1:1/update", Client: &webhook.Client{Timeout: time.Second}},
	}, fs, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	fs.broken = true
	p := b.get("/password-reset/new?token=" + strings.Repeat("A", 43))
	checkPage(t, "unavailable", p)
	if p.status != 503 || !strings.Contains(p.body, "Service unavailable") || !strings.Contains(p.body, "Try again") {
		t.Errorf("store down: %d\n%s", p.status, p.body)
	}
}

func mailerChanged() mailer.ChangedData {
	return mailer.ChangedData{SiteName: "Acme", ChangedAt: time.Date(2026, 3, 3, 14, 5, 0, 0, time.UTC)}
}

// waitResetMail waits for the reset mail of a request the test made.
func waitResetMail(t *testing.T, h *harness) mailbox.Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := h.mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Subject, "eset") })
	if err != nil {
		t.Fatal(err)
	}
	h.mail.Clear()
	return m
}
