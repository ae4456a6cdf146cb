// Package testenv starts the real parts resetgate's integration tests run
// against: an in-process SMTP server (internal/mailbox), the example legacy
// app behind an httptest server, and a real Caddy loaded from a Caddyfile
// with resetgate in its route and Badger on disk.
//
// Caddy keeps process-wide state: tests that use Env must not run in
// parallel with each other.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// The Caddyfile adapter and the standard modules (reverse_proxy).
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testsrv"

	// The module under test.
	_ "github.com/resetgate/resetgate/caddymodule"
)

// Env is one running set of parts.
type Env struct {
	t testing.TB
	// Mail is the SMTP server resetgate sends to.
	Mail *mailbox.Server
	// App is the example legacy app (the upstream).
	App *legacyapp.App
	// AppURL is the app's own address (bypassing Caddy).
	AppURL string
	// Port is Caddy's HTTP port on 127.0.0.1.
	Port int
	// URL is Caddy's base address, http://127.0.0.1:<port>.
	URL string
	// BaseURL is the base_url resetgate is configured with.
	BaseURL string
	// Dir is a scratch directory; Badger lives in Dir/db.
	Dir string
	// Secret is the webhook signing secret shared by resetgate and the app.
	Secret string
	// Key is resetgate's server key.
	Key string
	// Client talks to Caddy; it does not follow redirects.
	Client *http.Client
}

// Options tunes New.
type Options struct {
	// Block is extra lines inside the password_reset block.
	Block string
	// NoStart leaves Caddy unstarted (call Load yourself).
	NoStart bool
}

// New starts the mailbox and the app, and Caddy with the default Caddyfile
// plus opts.Block.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	e := &Env{t: t, Dir: t.TempDir(), Client: &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	var err error
	if e.Mail, err = mailbox.Start(mailbox.Options{}); err != nil {
		t.Fatalf("starting SMTP server: %v", err)
	}
	t.Cleanup(func() { e.Mail.Close() })
	e.Secret = NewSecret()
	e.Key = RandomString(48)
	if e.App, err = legacyapp.New(legacyapp.Config{WebhookSecret: e.Secret, Users: legacyapp.DemoUsers(), BcryptCost: 4}); err != nil {
		t.Fatalf("starting legacy app: %v", err)
	}
	srv := httptest.NewServer(e.App)
	t.Cleanup(srv.Close)
	e.AppURL = srv.URL
	e.Port = FreePort(t)
	e.URL = fmt.Sprintf("http://127.0.0.1:%d", e.Port)
	e.BaseURL = fmt.Sprintf("http://localhost:%d", e.Port)
	if !opts.NoStart {
		e.Load(e.Caddyfile(opts.Block))
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Logf("stopping caddy: %v", err)
		}
	})
	return e
}

// Caddyfile returns the test Caddyfile with extra lines in the
// password_reset block.
func (e *Env) Caddyfile(block string) string {
	return fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	http_port %[1]d
	storage file_system %[2]s
}

http://:%[1]d {
	password_reset {
		base_url %[3]s
		storage badger %[4]s
		key %[5]s
		site_name "Acme Demo"
		lookup %[6]s/internal/users/lookup
		update %[6]s/internal/users/password {
			secret %[7]s
		}
		email smtp %[8]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
%[9]s
	}
	reverse_proxy %[10]s
}
`, e.Port, filepath.Join(e.Dir, "caddy"), e.BaseURL, filepath.Join(e.Dir, "db"), e.Key,
		e.AppURL, e.Secret, e.Mail.Addr(), withRateLimitDefaults(block), strings.TrimPrefix(e.AppURL, "http://"))
}

// testRateLimits are the limits every test site starts with: high enough
// that a test's own requests are never limited unless it says so.
var testRateLimits = []string{"per_ip 1000 1m", "per_identifier 100 1m"}

// withRateLimitDefaults gives block the test limits. A block with its own
// rate_limit keeps it (the Caddyfile refuses a second one) and gains the
// test limits it does not set itself.
func withRateLimitDefaults(block string) string {
	const open = "rate_limit {\n"
	i := strings.Index(block, open)
	if i < 0 {
		return "\t\trate_limit {\n\t\t\t" + strings.Join(testRateLimits, "\n\t\t\t") + "\n\t\t}\n" + block
	}
	end := i + len(open)
	own := block[end:]
	if j := strings.Index(own, "}"); j >= 0 {
		own = own[:j]
	}
	var add strings.Builder
	for _, line := range testRateLimits {
		name := strings.Fields(line)[0]
		if !strings.Contains(own, name+" ") {
			add.WriteString("\t\t\t" + line + "\n")
		}
	}
	return block[:end] + add.String() + block[end:]
}

// Load adapts a Caddyfile and (re)loads Caddy with it, as `caddy reload`
// does.
func (e *Env) Load(caddyfile string) {
	e.t.Helper()
	if err := e.TryLoad(caddyfile); err != nil {
		e.t.Fatalf("loading Caddyfile: %v", err)
	}
	e.waitUp()
}

// TryLoad is Load returning the error.
func (e *Env) TryLoad(caddyfile string) error {
	cfg, err := Adapt(caddyfile)
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// Adapt turns a Caddyfile into Caddy's JSON.
func Adapt(caddyfile string) ([]byte, error) {
	cfg, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, fmt.Errorf("adapting: %w", err)
	}
	for _, w := range warns {
		if !strings.Contains(w.Message, "formatted") {
			return nil, fmt.Errorf("adapt warning: %s", w.String())
		}
	}
	return cfg, nil
}

func (e *Env) waitUp() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(e.URL + "/password-reset/policy")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("caddy did not come up on %s", e.URL)
}

// Response is an answer with its body read.
type Response struct {
	*http.Response
	Body []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// ErrorCodes lists the codes (and details) of an error body, e.g.
// ["PASSWORD_POLICY_VIOLATED/TOO_SHORT"].
func (r *Response) ErrorCodes() []string {
	var b struct {
		Errors []struct{ Code, Detail string }
	}
	_ = json.Unmarshal(r.Body, &b)
	var out []string
	for _, e := range b.Errors {
		s := e.Code
		if e.Detail != "" && e.Code == "PASSWORD_POLICY_VIOLATED" {
			s += "/" + e.Detail
		}
		out = append(out, s)
	}
	return out
}

// Do sends a request to Caddy.
func (e *Env) Do(req *http.Request) *Response {
	e.t.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &Response{Response: resp, Body: body}
}

// PostJSON posts v (a string is sent as is) to path on Caddy.
func (e *Env) PostJSON(path string, v any) *Response {
	e.t.Helper()
	var body []byte
	if s, ok := v.(string); ok {
		body = []byte(s)
	} else {
		body, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return e.Do(req)
}

// Get fetches path from Caddy.
func (e *Env) Get(path string) *Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	return e.Do(req)
}

// WaitMail waits for a mail to `to` whose subject contains subject.
func (e *Env) WaitMail(to, subject string) mailbox.Mail {
	e.t.Helper()
	return WaitMailTo(e.t, e.Mail, to, subject, 15*time.Second)
}

// WaitMailTo waits up to within for a mail in mb to the address to whose
// subject contains subject (case-insensitive), and fails t without one.
func WaitMailTo(t testing.TB, mb *mailbox.Server, to, subject string, within time.Duration) mailbox.Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	m, err := mb.WaitFor(ctx, mailTo(to, subject))
	if err != nil {
		t.Fatalf("no mail to %s with subject %q within %v: %v (have %d messages)", to, subject, within, err, len(mb.Messages()))
	}
	return m
}

// CountMailTo counts the mails in mb to the address to whose subject
// contains subject (case-insensitive), as WaitMailTo matches them.
func CountMailTo(mb *mailbox.Server, to, subject string) int {
	match, n := mailTo(to, subject), 0
	for _, m := range mb.Messages() {
		if match(m) {
			n++
		}
	}
	return n
}

// mailTo matches a mail to the address to whose subject contains subject
// (case-insensitive).
func mailTo(to, subject string) func(mailbox.Mail) bool {
	subject = strings.ToLower(subject)
	return func(m mailbox.Mail) bool {
		return len(m.To) > 0 && strings.EqualFold(m.To[0], to) && strings.Contains(strings.ToLower(m.Subject), subject)
	}
}

var (
	linkRE   = regexp.MustCompile(`https?://[^\s"<>]+/new\?token=([A-Za-z0-9_-]+)`)
	revokeRE = regexp.MustCompile(`https?://[^\s"<>]+/revoke\?token=([A-Za-z0-9_-]+)`)
	codeRE   = regexp.MustCompile(`\b(\d{4} \d{4})\b`)
)

// ResetLink returns the reset link and its token from a mail's text.
func ResetLink(t testing.TB, m mailbox.Mail) (link, token string) {
	t.Helper()
	sm := linkRE.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no reset link in mail text:\n%s", m.Text)
	}
	return sm[0], sm[1]
}

// RevokeLink returns the "this wasn't me" link and its token.
func RevokeLink(t testing.TB, m mailbox.Mail) (link, token string) {
	t.Helper()
	sm := revokeRE.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no revoke link in mail text:\n%s", m.Text)
	}
	return sm[0], sm[1]
}

// Code returns the 8-digit code of a mail, without its space.
func Code(t testing.TB, m mailbox.Mail) string {
	t.Helper()
	sm := codeRE.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no code in mail text:\n%s", m.Text)
	}
	return strings.ReplaceAll(sm[1], " ", "")
}

// FreePort returns a free TCP port on 127.0.0.1 (testsrv.FreePort).
func FreePort(t testing.TB) int {
	t.Helper()
	return testsrv.FreePort(t)
}

// NewSecret returns a fresh Standard Webhooks secret.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// RandomString returns n random URL-safe characters.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
