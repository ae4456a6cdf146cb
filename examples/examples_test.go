// Tests for the example configs: each example Caddyfile is loaded, as it
// is in the repository, into a real in-process Caddy (only addresses, the
// storage directory and secrets come from the environment, through the
// variables the file itself names), in front of the example app it was
// written for, with a real SMTP server receiving the mail. Each test walks
// a user's whole journey: ask, read the mail, follow the link, choose a
// password, sign in at the app with it.
//
// Caddy is process-wide: these tests must not run in parallel with each
// other (none calls t.Parallel).
package examples_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"

	"github.com/resetgate/resetgate/examples/formapp"
	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/examples/portal"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// stack is one running example: Caddy loaded from an example Caddyfile,
// and the SMTP server it sends to.
type stack struct {
	t      *testing.T
	url    string // Caddy, http://127.0.0.1:<port>; also the base_url
	mail   *mailbox.Server
	client *http.Client
}

// newStack starts the SMTP server and sets the variables every example
// Caddyfile reads: listen port and address, base_url, Badger's directory,
// the server key and the SMTP address. Caddy's own data and config
// directories go to the test's scratch space.
func newStack(t *testing.T) *stack {
	t.Helper()
	mb, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatalf("starting SMTP server: %v", err)
	}
	t.Cleanup(func() { mb.Close() })
	port := testenv.FreePort(t)
	s := &stack{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), mail: mb, client: &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("RESETGATE_PORT", strconv.Itoa(port))
	t.Setenv("RESETGATE_BIND", "127.0.0.1")
	t.Setenv("RESETGATE_BASE_URL", s.url)
	t.Setenv("RESETGATE_DATA_DIR", filepath.Join(dir, "resetgate"))
	t.Setenv("RESETGATE_KEY", testenv.RandomString(48))
	t.Setenv("SMTP_ADDR", mb.Addr())
	return s
}

// adaptStrict adapts a Caddyfile and fails on any warning, formatting
// included: an example must be what `caddy fmt` writes.
func adaptStrict(t *testing.T, path string) []byte {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": path})
	if err != nil {
		t.Fatalf("%s does not adapt: %v", path, err)
	}
	for _, w := range warns {
		t.Errorf("%s: adapt warning: %s", path, w.String())
	}
	return cfg
}

// load runs Caddy with the example Caddyfile at path, as `caddy run
// --config path` would, and waits until resetgate answers.
func (s *stack) load(path string) {
	s.t.Helper()
	cfg := adaptStrict(s.t, path)
	if err := caddy.Load(cfg, true); err != nil {
		s.t.Fatalf("loading %s: %v", path, err)
	}
	s.t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			s.t.Logf("stopping caddy: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/password-reset/policy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("caddy with %s did not come up on %s", path, s.url)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) errorCodes() []string {
	var b struct {
		Errors []struct{ Code, Detail string }
	}
	_ = json.Unmarshal([]byte(a.body), &b)
	var out []string
	for _, e := range b.Errors {
		if e.Detail != "" && e.Code == "PASSWORD_POLICY_VIOLATED" {
			out = append(out, e.Detail)
		} else {
			out = append(out, e.Code)
		}
	}
	return out
}

func (s *stack) do(req *http.Request) answer {
	s.t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// get fetches a path on Caddy, or an absolute URL.
func (s *stack) get(target string, cookies ...*http.Cookie) answer {
	s.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.url + target
	}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return s.do(req)
}

func (s *stack) postJSON(path string, v any, cookies ...*http.Cookie) answer {
	s.t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return s.do(req)
}

func (s *stack) postForm(path string, form url.Values) (answer, []*http.Cookie) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}, resp.Cookies()
}

// login signs in at the app, through Caddy, with its own form.
func (s *stack) login(email, password string) (answer, []*http.Cookie) {
	s.t.Helper()
	return s.postForm("/login", url.Values{"email": {email}, "password": {password}})
}

// waitMail waits for a mail to `to` that match accepts.
func (s *stack) waitMail(to string, match func(mailbox.Mail) bool) mailbox.Mail {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := s.mail.WaitFor(ctx, func(m mailbox.Mail) bool {
		return len(m.To) == 1 && strings.EqualFold(m.To[0], to) && match(m)
	})
	if err != nil {
		s.t.Fatalf("no mail to %s: %v (%d messages in the box)", to, err, len(s.mail.Messages()))
	}
	return m
}

// resetMail asks for a reset of identifier and returns the token of the
// mailed link.
func (s *stack) resetMail(identifier string) string {
	s.t.Helper()
	if r := s.postJSON("/password-reset/request", map[string]string{"identifier": identifier}); r.status != http.StatusAccepted {
		s.t.Fatalf("request: %d %s", r.status, r.body)
	}
	m := s.waitMail(identifier, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "token=") })
	link, token := testenv.ResetLink(s.t, m)
	if !strings.HasPrefix(link, s.url+"/password-reset/new?token=") {
		s.t.Fatalf("mailed link %q is not on base_url", link)
	}
	if r := s.get("/password-reset/tokens/" + token); r.status != 200 {
		s.t.Fatalf("preflight of the mailed token: %d %s", r.status, r.body)
	}
	return token
}

func hostPort(rawURL string) string { return strings.TrimPrefix(rawURL, "http://") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The form-posting legacy endpoint with Django hashes: request templates
// fit resetgate's hooks to find_user.php, set_password.php and
// check_password.php (form posts with an X-Api-Key header, the app's own
// answer layout), and the app receives a pbkdf2_sha256 hash that checks
// against the chosen password, never the password itself.
func TestFormappJourney(t *testing.T) {
	s := newStack(t)
	apiKey := testenv.RandomString(32)
	// The seeded hashes are cheap (the app accepts any it stores itself);
	// what resetgate sends must still have 100000 iterations.
	users, err := formapp.DemoUsers(1000)
	if err != nil {
		t.Fatal(err)
	}
	app, err := formapp.New(formapp.Config{APIKey: apiKey, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	t.Setenv("FORMAPP_ADDR", hostPort(srv.URL))
	t.Setenv("FORMAPP_API_KEY", apiKey)
	s.load("formapp/Caddyfile")

	dora := formapp.DemoAccounts()[0]
	if r, _ := s.login(dora.Mail, dora.Password); r.status != 200 || !strings.Contains(r.body, "Welcome, Dora Dreyfus") {
		t.Fatalf("sign-in with the demo password: %d %s", r.status, r.body)
	}
	if app.SessionCount(7) != 1 {
		t.Fatal("no session after sign-in")
	}

	token := s.resetMail(dora.Mail)

	// The verify hook (check_password.php) says it is the current password.
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": dora.Password}); r.status != 422 || !contains(r.errorCodes(), "SAME_AS_OLD") {
		t.Fatalf("completing with the current password: %d %s", r.status, r.body)
	}
	if n := len(app.Updates()); n != 0 {
		t.Fatalf("%d updates after a refused password", n)
	}
	newPW := "saffron kettle meadow 42"
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": newPW, "confirm": newPW}); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}

	ups := app.Updates()
	if len(ups) != 1 || ups[0].UID != 7 || !ups[0].KillSessions {
		t.Fatalf("updates: %+v", ups)
	}
	parts := strings.Split(ups[0].PwHash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" || parts[1] != "100000" || len(parts[2]) < 12 {
		t.Fatalf("the app received %q, not a pbkdf2_sha256 hash of 100000 iterations", redact(ups[0].PwHash))
	}
	if !djangoMatches(ups[0].PwHash, newPW) {
		t.Fatal("the received hash does not check against the new password")
	}
	if djangoMatches(ups[0].PwHash, dora.Password) || djangoMatches(ups[0].PwHash, newPW+" ") {
		t.Fatal("the received hash checks against another password")
	}
	if app.SessionCount(7) != 0 {
		t.Error("kill_sessions=1 did not end the user's sessions")
	}

	// Every call carried the API key, as a form post.
	seen := map[string]bool{}
	for _, c := range app.Calls() {
		seen[c.Path] = true
		if !c.APIKeyOK || c.ContentType != "application/x-www-form-urlencoded" {
			t.Errorf("call to %s: API key ok %v, content type %q", c.Path, c.APIKeyOK, c.ContentType)
		}
	}
	for _, p := range []string{"/legacy/find_user.php", "/legacy/check_password.php", "/legacy/set_password.php"} {
		if !seen[p] {
			t.Errorf("resetgate never called %s", p)
		}
	}

	if r, _ := s.login(dora.Mail, dora.Password); r.status != 401 {
		t.Fatalf("sign-in with the old password: %d", r.status)
	}
	if r, _ := s.login(dora.Mail, newPW); r.status != 200 || !strings.Contains(r.body, "Welcome, Dora Dreyfus") {
		t.Fatalf("sign-in with the new password: %d %s", r.status, r.body)
	}
	s.waitMail(dora.Mail, func(m mailbox.Mail) bool { return strings.Contains(strings.ToLower(m.Subject), "changed") })

	// The app's scripts are closed to the outside.
	before := len(app.Calls())
	if r, _ := s.postForm("/legacy/find_user.php", url.Values{"login": {dora.Mail}}); r.status != 404 {
		t.Fatalf("/legacy/ through Caddy: %d", r.status)
	}
	if len(app.Calls()) != before {
		t.Fatal("a request from outside reached the app's internal scripts")
	}
}

// djangoMatches checks a Django pbkdf2_sha256 hash independently of the
// app's own check.
func djangoMatches(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := pbkdf2.Key([]byte(password), []byte(parts[2]), iter, sha256.Size, sha256.New)
	return subtle.ConstantTimeCompare(got, want) == 1
}

func redact(hash string) string {
	if i := strings.LastIndexByte(hash, '$'); i >= 0 {
		return hash[:i+1] + "…"
	}
	return "…"
}

// The JSON webhook app: signed hooks (the app refuses unsigned calls), a
// bcrypt hash instead of the password, SAME_AS_OLD through the verify hook,
// and a signed-in change through the session hook.
func TestWebhookappJourney(t *testing.T) {
	s := newStack(t)
	secret := testenv.NewSecret()
	app := newLegacyApp(t, secret)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	t.Setenv("APP_ADDR", hostPort(srv.URL))
	t.Setenv("RESETGATE_SECRET", secret)
	s.load("webhookapp/Caddyfile")

	alice := legacyapp.DemoAccounts()[0]
	if r, _ := s.login(alice.Email, alice.Password); r.status != 200 {
		t.Fatalf("sign-in with the demo password: %d", r.status)
	}
	token := s.resetMail(alice.Email)
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": alice.Password}); r.status != 422 || !contains(r.errorCodes(), "SAME_AS_OLD") {
		t.Fatalf("completing with the current password: %d %s", r.status, r.body)
	}
	newPW := "saffron kettle meadow 42"
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": newPW, "confirm": newPW}); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	ups := app.Updates()
	if len(ups) != 1 || ups[0].UserID != "1001" || ups[0].Type != "password.reset" || ups[0].HashFormat != "bcrypt" ||
		ups[0].HadPlainPassword || !ups[0].RevokeSessions || ups[0].WebhookID == "" || ups[0].IdempotencyKey == "" {
		t.Fatalf("updates: %+v", ups)
	}
	u, _ := app.User("1001")
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost != 10 {
		t.Fatalf("stored hash cost %d (%v), want the config's 10", cost, err)
	}
	if app.SessionCount("1001") != 0 {
		t.Error("the reset did not end the user's sessions")
	}
	if r, _ := s.login(alice.Email, alice.Password); r.status != 401 {
		t.Fatalf("sign-in with the old password: %d", r.status)
	}
	r, _ := s.login(alice.Email, newPW)
	if r.status != 200 || !strings.Contains(r.body, "Welcome, Alice Archer") {
		t.Fatalf("sign-in with the new password: %d %s", r.status, r.body)
	}
	s.waitMail(alice.Email, func(m mailbox.Mail) bool { return strings.Contains(strings.ToLower(m.Subject), "changed") })

	// Signed in, a user changes the password: the session hook says who it
	// is, the verify hook checks the old password. (Carol, whose stored
	// hash is cheap: the verify hook's 5 s timeout holds under -race.)
	carol := legacyapp.DemoAccounts()[2]
	r, cookies := s.login(carol.Email, carol.Password)
	var session *http.Cookie
	for _, c := range cookies {
		if c.Name == legacyapp.SessionCookie {
			session = c
		}
	}
	if r.status != 200 || session == nil {
		t.Fatalf("carol's sign-in: %d, no session cookie", r.status)
	}
	changed := "juniper lantern rowboat 7"
	if r := s.postJSON("/password-reset/change", map[string]string{"old": carol.Password, "new": changed, "confirm": changed}); r.status != 401 {
		t.Fatalf("change without a session: %d %s", r.status, r.body)
	}
	if r := s.postJSON("/password-reset/change", map[string]string{"old": "not the password", "new": changed}, session); r.status != 403 {
		t.Fatalf("change with a wrong old password: %d %s", r.status, r.body)
	}
	if r := s.postJSON("/password-reset/change", map[string]string{"old": carol.Password, "new": carol.Password}, session); r.status != 422 || !contains(r.errorCodes(), "SAME_AS_OLD") {
		t.Fatalf("change to the same password: %d %s", r.status, r.body)
	}
	if r := s.postJSON("/password-reset/change", map[string]string{"old": carol.Password, "new": changed, "confirm": changed}, session); r.status != 200 {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if ups := app.Updates(); len(ups) != 2 || ups[1].Type != "password.changed" || ups[1].UserID != "1003" || ups[1].HashFormat != "bcrypt" {
		t.Fatalf("updates after the change: %+v", ups)
	}
	if r, _ := s.login(carol.Email, changed); r.status != 200 {
		t.Fatalf("sign-in with the changed password: %d", r.status)
	}

	if r := s.get("/internal/session", session); r.status != 404 {
		t.Fatalf("/internal/ through Caddy: %d", r.status)
	}
}

// newLegacyApp starts the JSON webhook app with the demo accounts
// (legacyapp.DemoUsers), their passwords hashed at bcrypt's lowest cost:
// under the race detector a bcrypt of cost 10 takes about a second. The
// hashes resetgate sends keep the config's cost.
func newLegacyApp(t *testing.T, secret string) *legacyapp.App {
	t.Helper()
	accs := legacyapp.DemoAccounts()
	users := []legacyapp.User{
		{ID: "1001", Email: accs[0].Email, Name: "Alice Archer", Role: "user", Locale: "en"},
		{ID: "1002", Email: accs[1].Email, Name: "Bob Baumann", Role: "admin", Locale: "de"},
		{ID: "1003", Email: accs[2].Email, Name: "Carol Chevalier", Role: "user", Locale: "fr"},
	}
	app, err := legacyapp.New(legacyapp.Config{WebhookSecret: secret, Users: users, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, acc := range accs {
		if err := app.SetPassword(users[i].ID, acc.Password); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

var portalLinkRE = regexp.MustCompile(`https?://\S+/portal/reset\?token=[A-Za-z0-9_-]+`)

// The custom portal: its command asks the admin API for a token with its
// bearer token, mails its own branded message, and the link opens the
// portal's page on link_path, whose script completes at resetgate. The
// no-JavaScript form works too; a user whose role is not allowed gets 403;
// a wrong bearer token 401; revoke ends a user's open tokens.
func TestPortalJourney(t *testing.T) {
	s := newStack(t)
	secret := testenv.NewSecret()
	app := newLegacyApp(t, secret)
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	page := &portal.Page{Brand: "Acme", ResetgateURL: s.url}
	pageSrv := httptest.NewServer(page.Handler())
	t.Cleanup(pageSrv.Close)

	adminToken := testenv.RandomString(40)
	sum := sha256.Sum256([]byte(adminToken))
	t.Setenv("APP_ADDR", hostPort(appSrv.URL))
	t.Setenv("PORTAL_ADDR", hostPort(pageSrv.URL))
	t.Setenv("RESETGATE_SECRET", secret)
	t.Setenv("PORTAL_ADMIN_TOKEN_SHA256", hex.EncodeToString(sum[:]))
	s.load("portal/Caddyfile")

	ctx := context.Background()
	penv := map[string]string{
		"PORTAL_RESETGATE_URL": s.url,
		"PORTAL_ADMIN_TOKEN":   adminToken,
		"PORTAL_SMTP_ADDR":     s.mail.Addr(),
		"PORTAL_MAIL_FROM":     "Acme Support <support@example.test>",
		"PORTAL_BRAND":         "Acme",
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut strings.Builder
		code := portal.Run(ctx, args, func(k string) string { return penv[k] }, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// Alice (role user): the portal command issues and mails.
	alice := legacyapp.DemoAccounts()[0]
	if code, out, errOut := run("send", "-user", "1001", "-to", alice.Email, "-name", "Alice"); code != 0 {
		t.Fatalf("portal send: exit %d\n%s%s", code, out, errOut)
	}
	m := s.waitMail(alice.Email, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/portal/reset?token=") })
	if m.Subject != "Your Acme password reset" || !strings.Contains(m.Header.Get("From"), "support@example.test") || !strings.Contains(m.Text, "Hello Alice") {
		t.Fatalf("not the portal's branded mail: subject %q, from %q", m.Subject, m.Header.Get("From"))
	}
	if n := len(s.mail.Messages()); n != 1 {
		t.Fatalf("%d mails after issuing: resetgate must not mail an issued token", n)
	}
	link := portalLinkRE.FindString(m.Text)
	if !strings.HasPrefix(link, s.url+"/portal/reset?token=") {
		t.Fatalf("the mailed link %q is not base_url + link_path", link)
	}
	token := strings.TrimPrefix(link, s.url+"/portal/reset?token=")

	// The link opens the portal's page, through Caddy.
	r := s.get(link)
	if r.status != 200 || !strings.Contains(r.body, `value="`+token+`"`) || !strings.Contains(r.body, `data-complete="/password-reset/complete"`) {
		t.Fatalf("portal page: %d %s", r.status, r.body)
	}
	if r.header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("portal page headers: %v", r.header)
	}
	if js := s.get("/portal/reset.js"); js.status != 200 || !strings.Contains(js.body, "data-complete") {
		t.Fatalf("portal script: %d", js.status)
	}
	// What the page's script sends: a weak password is refused and the
	// token survives; a good one is accepted.
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": "short", "confirm": "short"}); r.status != 422 || !contains(r.errorCodes(), "TOO_SHORT") {
		t.Fatalf("weak password: %d %s", r.status, r.body)
	}
	newPW := "saffron kettle meadow 42"
	if r := s.postJSON("/password-reset/complete", map[string]string{"token": token, "password": newPW, "confirm": newPW}); r.status != 200 {
		t.Fatalf("complete with the issued token: %d %s", r.status, r.body)
	}
	if r := s.get(link); r.status != 404 || !strings.Contains(r.body, "no longer valid") {
		t.Fatalf("portal page for a used token: %d", r.status)
	}
	if r, _ := s.login(alice.Email, newPW); r.status != 200 || !strings.Contains(r.body, "Welcome, Alice Archer") {
		t.Fatalf("sign-in with the new password: %d %s", r.status, r.body)
	}

	// Carol, without JavaScript: the form posts to the portal, which
	// completes at resetgate.
	client := &portal.Client{BaseURL: s.url, Token: adminToken}
	iss, err := client.IssueResetToken(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(iss.URL, s.url+"/portal/reset?token=") || time.Until(iss.ExpiresAt) <= 0 {
		t.Fatalf("issued %q until %v", iss.URL, iss.ExpiresAt)
	}
	carolPW := "juniper lantern rowboat 7"
	if r, _ := s.postForm("/portal/reset", url.Values{"token": {iss.Token}, "password": {carolPW}, "confirm": {carolPW + "x"}}); r.status != 422 || !strings.Contains(r.body, "differ") {
		t.Fatalf("no-JS form with a mismatch: %d %s", r.status, r.body)
	}
	if r, _ := s.postForm("/portal/reset", url.Values{"token": {iss.Token}, "password": {carolPW}, "confirm": {carolPW}}); r.status != 200 || !strings.Contains(r.body, "password was changed") {
		t.Fatalf("no-JS form: %d %s", r.status, r.body)
	}
	carol := legacyapp.DemoAccounts()[2]
	if r, _ := s.login(carol.Email, carolPW); r.status != 200 {
		t.Fatalf("carol's sign-in with the new password: %d", r.status)
	}

	// Bob is an admin: no token for him, neither from the command nor
	// from the client, and no mail.
	before := len(s.mail.Messages())
	if code, _, errOut := run("send", "-user", "1002", "-to", "bob@example.test"); code != 1 || !strings.Contains(errOut, "403 ROLE_NOT_ALLOWED") {
		t.Fatalf("portal send for an admin: exit %d, %q", code, errOut)
	}
	var apiErr *portal.APIError
	if _, err := client.IssueResetToken(ctx, "1002"); !asAPIError(err, &apiErr) || apiErr.Status != 403 || apiErr.Code != "ROLE_NOT_ALLOWED" {
		t.Fatalf("issue for an admin: %v", err)
	}
	wrong := &portal.Client{BaseURL: s.url, Token: adminToken + "x"}
	if _, err := wrong.IssueResetToken(ctx, "1001"); !asAPIError(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("issue with a wrong bearer token: %v", err)
	}
	if n := len(s.mail.Messages()); n != before {
		t.Fatalf("%d new mails after refused issues", n-before)
	}

	// Revoke: an open token dies.
	open, err := client.IssueResetToken(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("revoke", "-user", "1001"); code != 0 {
		t.Fatalf("portal revoke: exit %d\n%s%s", code, out, errOut)
	}
	if r := s.get("/password-reset/tokens/" + open.Token); r.status != 404 {
		t.Fatalf("token after revoke: %d", r.status)
	}
}

func asAPIError(err error, target **portal.APIError) bool {
	e, ok := err.(*portal.APIError)
	if ok {
		*target = e
	}
	return ok
}

// The variables scripts/test sets before `caddy adapt --validate` on every
// example Caddyfile, and what each example needs beyond them (operator
// inputs with no safe default, so a missing one must stop Caddy).
var (
	validateEnv = map[string]string{
		"RESETGATE_KEY":    "validate-only-key-0123456789abcdef0123456789",
		"RESETGATE_SECRET": "whsec_dmFsaWRhdGUtb25seS1zZWNyZXQtMDEyMzQ1Njc4OWFi",
		"SMTP_USER":        "demo",
		"SMTP_PASSWORD":    "demo",
	}
	requiredEnv = map[string]map[string]string{
		"demo/Caddyfile":   {"DEMO_DATA_DIR": ""}, // a scratch directory, set below
		"portal/Caddyfile": {"PORTAL_ADMIN_TOKEN_SHA256": strings.Repeat("ab", 32)},
	}
	// Variables the examples read; unset before validating, so that
	// defaults are what is checked.
	exampleVars = []string{"RESETGATE_PORT", "RESETGATE_BIND", "RESETGATE_BASE_URL", "RESETGATE_DATA_DIR", "SMTP_ADDR",
		"APP_ADDR", "FORMAPP_ADDR", "FORMAPP_API_KEY", "PORTAL_ADDR", "PORTAL_ADMIN_TOKEN_SHA256", "DEMO_DATA_DIR", "DEMO_PORT",
		"DEMO_APP_ADDR", "DEMO_SMTP_ADDR"}
)

func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "") // restores the old value at the end of the test
	os.Unsetenv(name)
}

// Every example Caddyfile adapts without any warning (formatting
// included), keeps its secrets out of the adapted JSON, and passes what
// `caddy adapt --validate` does (every module provisioned) with the
// environment scripts/test gives plus the example's documented required
// variables; without those, Caddy refuses the config and names the
// variable.
func TestExampleCaddyfilesValidate(t *testing.T) {
	files, err := filepath.Glob("*/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	for _, want := range []string{"formapp/Caddyfile", "portal/Caddyfile", "webhookapp/Caddyfile"} {
		if !contains(files, want) {
			t.Fatalf("%s missing (have %v)", want, files)
		}
	}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			for _, v := range exampleVars {
				unsetenv(t, v)
			}
			dir := t.TempDir()
			t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
			t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
			for k, v := range validateEnv {
				t.Setenv(k, v)
			}
			// Secrets a test could give: none may reach the adapted JSON.
			apiKey := testenv.RandomString(32)
			t.Setenv("FORMAPP_API_KEY", apiKey)
			cfgJSON := adaptStrict(t, f)
			for _, secret := range []string{validateEnv["RESETGATE_KEY"], validateEnv["RESETGATE_SECRET"], apiKey} {
				if strings.Contains(string(cfgJSON), secret) {
					t.Fatalf("a secret is in the adapted JSON of %s", f)
				}
			}

			validate := func() error {
				cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(mustRead(t, f), map[string]any{"filename": f})
				if err != nil {
					return err
				}
				var cfg caddy.Config
				if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
					return err
				}
				return caddy.Validate(&cfg)
			}
			required := requiredEnv[f]
			for name := range required {
				if err := validate(); err == nil || !strings.Contains(err.Error(), name) {
					t.Fatalf("validating without %s: %v", name, err)
				}
			}
			for name, v := range required {
				if v == "" {
					v = filepath.Join(dir, strings.ToLower(name))
				}
				t.Setenv(name, v)
			}
			if err := validate(); err != nil {
				t.Fatalf("caddy adapt --validate %s: %v", f, err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
