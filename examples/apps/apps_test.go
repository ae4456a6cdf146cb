// Journey tests for the third-party app recipes in this folder: each test
// installs and starts the real app on loopback in a throwaway directory,
// puts the recipe's own Caddyfile (examples/apps/<app>/Caddyfile, read as
// it is in the repository; only addresses and secrets come from the
// environment, through the variables the file names) in a real Caddy
// process built from ./xcaddy, creates a user the app's own way, signs in
// once, resets the password through resetgate's pages over HTTP like a
// browser (cookies, Origin, forms; the mail is read from a real SMTP
// server), and then signs in on the app's own login form: the new password
// works, the old one does not, and the earlier session is over (or, where
// the app cannot end it, the test pins what happens).
//
// The journeys are independent (separate Caddy processes, ports and data)
// and run in parallel. An app that cannot be installed or built fails the
// test with the reason; nothing is skipped silently.
package apps_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// scratch holds what the whole test binary shares (the Caddy binary).
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resetgate-apps-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	caddyOnce sync.Once
	caddyPath string
	caddyErr  error
)

// caddyBinary builds ./xcaddy (Caddy's standard modules plus resetgate)
// once per test run; Go's build cache makes it quick after the first time.
func caddyBinary(t testing.TB) string {
	t.Helper()
	caddyOnce.Do(func() {
		bin := filepath.Join(scratch, "caddy")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./xcaddy")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			caddyErr = fmt.Errorf("go build -o %s ./xcaddy: %v\n%s", bin, err, out)
			return
		}
		caddyPath = bin
	})
	if caddyErr != nil {
		t.Fatal(caddyErr)
	}
	return caddyPath
}

// stack is one recipe's Caddy process and the SMTP server it sends to.
type stack struct {
	t    testing.TB
	URL  string // Caddy, http://127.0.0.1:<port>; also the base_url
	Mail *mailbox.Server
	Dir  string // scratch space of this stack
	port int
}

// newStack starts the SMTP server and picks Caddy's port (so that an app
// can be told its public address before Caddy starts).
func newStack(t testing.TB) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("installs and runs a real app, a database and Caddy; skipped with -short")
	}
	mb, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatalf("starting SMTP server: %v", err)
	}
	t.Cleanup(func() { mb.Close() })
	port := testenv.FreePort(t)
	return &stack{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Mail: mb, Dir: t.TempDir(), port: port}
}

// start runs Caddy with the recipe's Caddyfile (path relative to the
// repository root). env adds variables to the ones every recipe reads
// (port, bind address, base_url, Badger's directory, the server key, the
// SMTP address). Caddy is killed when the test ends; its log is shown when
// the test failed.
func (s *stack) start(caddyfile string, env map[string]string) {
	s.t.Helper()
	s.run(filepath.Join(repoRoot(s.t), caddyfile), env, "/password-reset/policy")
}

// startPlain runs Caddy on the stack's port with a Caddyfile of the
// test's own (no resetgate: an app's setup before the recipe starts) and
// returns a function that stops it.
func (s *stack) startPlain(caddyfile string) (stop func()) {
	s.t.Helper()
	path := filepath.Join(s.Dir, "plain.Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return s.run(path, nil, "/")
}

// run starts the caddy binary with a config file and waits until probe
// answers (any status below 500 for "/", 200 otherwise).
func (s *stack) run(cfgPath string, env map[string]string, probe string) (stop func()) {
	t := s.t
	t.Helper()
	bin := caddyBinary(t)
	vars := map[string]string{
		"HOME":               s.Dir,
		"XDG_DATA_HOME":      filepath.Join(s.Dir, "data"),
		"XDG_CONFIG_HOME":    filepath.Join(s.Dir, "config"),
		"RESETGATE_PORT":     fmt.Sprint(s.port),
		"RESETGATE_BIND":     "127.0.0.1",
		"RESETGATE_BASE_URL": s.URL,
		"RESETGATE_DATA_DIR": filepath.Join(s.Dir, "resetgate"),
		"RESETGATE_KEY":      testenv.RandomString(48),
		"SMTP_ADDR":          s.Mail.Addr(),
	}
	for k, v := range env {
		vars[k] = v
	}
	cmdEnv := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmdEnv = append(cmdEnv, k+"="+v)
	}
	logPath := cfgPath + ".log"
	if !strings.HasPrefix(cfgPath, s.Dir) {
		logPath = filepath.Join(s.Dir, "caddy.log")
	}
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr, cmd.Env = lf, lf, cmdEnv
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		lf.Close()
		close(exited)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("caddy (%s) said:\n%s", cfgPath, logFile(logPath, 4000))
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.URL + probe); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || (probe == "/" && resp.StatusCode < 500) {
				return stop
			}
		}
		select {
		case <-exited:
			t.Fatalf("caddy exited at start (%s):\n%s", cfgPath, logFile(logPath, 4000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("caddy (%s) did not come up on %s", cfgPath, s.URL)
	return stop
}

// browser is an HTTP client that behaves like a browser for these
// journeys: it keeps cookies, follows redirects, and sends Origin with
// every form post. It runs no JavaScript.
type browser struct {
	t      testing.TB
	c      *http.Client
	origin string
}

// page is an answer, after redirects.
type page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

func newBrowser(t testing.TB, origin string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, origin: origin, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// noRedirects is the browser without redirect following (to see a 302).
func (b *browser) noRedirects() *http.Client {
	return &http.Client{Jar: b.c.Jar, Timeout: b.c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

// get loads a URL.
func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form to a URL.
func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	return b.do(req)
}

// submit fills the page's first POST form whose action contains
// actionPart (or whose id is actionPart): hidden fields as the page gave them (CSRF tokens), then
// fields; and posts it to the form's action, as a browser would.
func (b *browser) submit(p page, actionPart string, fields url.Values) page {
	b.t.Helper()
	action, hidden := postForm(b.t, p, actionPart)
	for k, v := range fields {
		hidden[k] = v
	}
	return b.post(action, hidden)
}

// cookie returns the value of the named cookie the browser holds for u.
func (b *browser) cookie(u, name string) string {
	pu, _ := url.Parse(u)
	for _, c := range b.c.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`(?is)\b([a-z_:-]+)\s*=\s*"([^"]*)"`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// postForm finds the page's first POST form whose action contains
// actionPart (or whose id is actionPart) and returns its absolute action URL and hidden fields.
func postForm(t testing.TB, p page, actionPart string) (string, url.Values) {
	t.Helper()
	for _, f := range formRE.FindAllStringSubmatch(p.Body, -1) {
		fa := attrs(f[1])
		if !strings.EqualFold(fa["method"], "post") || !(strings.Contains(fa["action"], actionPart) || fa["id"] == actionPart) {
			continue
		}
		// A form without an action posts to the page's own URL.
		action, err := p.URL.Parse(fa["action"])
		if err != nil {
			t.Fatalf("form action %q: %v", fa["action"], err)
		}
		vals := url.Values{}
		for _, in := range inputRE.FindAllString(f[2], -1) {
			ia := attrs(in)
			if strings.EqualFold(ia["type"], "hidden") && ia["name"] != "" {
				vals.Set(ia["name"], ia["value"])
			}
		}
		return action.String(), vals
	}
	t.Fatalf("no POST form with an action containing %q on %s (status %d):\n%s", actionPart, p.URL, p.Status, tail(p.Body, 3000))
	return "", nil
}

// requestReset walks resetgate's forgot form for identifier, from the
// page the app's own "lost password" link led to, and returns the link
// mailed to email.
func requestReset(t testing.TB, b *browser, s *stack, forgot page, identifier, email string) string {
	t.Helper()
	if !strings.Contains(forgot.URL.Path, "/password-reset") {
		t.Fatalf("the forgot page is %s, not resetgate's", forgot.URL)
	}
	sent := b.submit(forgot, "/password-reset/", url.Values{"identifier": {identifier}})
	if sent.Status != http.StatusOK || sent.URL.Path != "/password-reset/sent" {
		t.Fatalf("forgot form: %d at %s:\n%s", sent.Status, sent.URL, tail(sent.Body, 2000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(ctx, func(m mailbox.Mail) bool {
		return len(m.To) > 0 && strings.EqualFold(m.To[0], email) && strings.Contains(m.Text, "/new?token=")
	})
	if err != nil {
		t.Fatalf("no reset mail to %s: %v (%d messages in the mailbox)", email, err, len(s.Mail.Messages()))
	}
	link, _ := testenv.ResetLink(t, m)
	return link
}

// openResetLink follows the mailed link and returns the new-password page.
func openResetLink(t testing.TB, b *browser, link string) page {
	t.Helper()
	p := b.get(link)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("reset link: %d at %s:\n%s", p.Status, p.URL, tail(p.Body, 2000))
	}
	return p
}

// setNewPassword submits the new-password page and expects resetgate's
// done page, which it reaches only after the app (or its database)
// accepted the password.
func setNewPassword(t testing.TB, b *browser, p page, password string) {
	t.Helper()
	done := b.submit(p, "/password-reset/new", url.Values{"password": {password}, "confirm": {password}})
	if done.Status != http.StatusOK || done.URL.Path != "/password-reset/done" {
		t.Fatalf("new password: %d at %s:\n%s", done.Status, done.URL, tail(done.Body, 2000))
	}
}

// median of durations.
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// logFile returns the last n bytes of a file, for failure messages.
func logFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return tail(string(b), n)
}

// randomWord is 8 random letters and digits, for unique names and
// passwords.
func randomWord() string { return strings.ToLower(testenv.RandomString(8)) }

func minD(ds []time.Duration) time.Duration {
	m := time.Duration(0)
	for i, d := range ds {
		if i == 0 || d < m {
			m = d
		}
	}
	return m.Round(time.Millisecond)
}

func maxD(ds []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, d := range ds {
		if d > m {
			m = d
		}
	}
	return m.Round(time.Millisecond)
}

// assertNotLogged fails when Caddy's log holds any of the secrets (tokens,
// passwords, DSN passwords): they must never reach a log line.
func (s *stack) assertNotLogged(t testing.TB, secrets ...string) {
	t.Helper()
	log := logFile(filepath.Join(s.Dir, "caddy.log"), 1<<24)
	for i, sec := range secrets {
		if sec != "" && strings.Contains(log, sec) {
			t.Errorf("secret #%d is in Caddy's log", i+1)
		}
	}
}
