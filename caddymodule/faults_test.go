package caddymodule_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 8.3 — faults: the upstream down, slow, failing or answering
// garbage; Caddy killed with SIGKILL in the middle of a complete; the SMTP
// server down. resetgate must answer what the contract says, keep every
// token whose password the app did not take, never apply a password twice,
// log what went wrong, and never panic.

const (
	lookupPath = "/internal/users/lookup"
	updatePath = "/internal/users/password"
)

// hookFault answers a hook call in place of the app. It returns false to
// let the app answer (body is the request body, already read).
type hookFault func(w http.ResponseWriter, r *http.Request, body []byte) bool

// faultUpstream stands between resetgate and the legacy app on the lookup
// and update hooks: it passes calls through, or answers them itself with
// the configured faults, and it can go down and come back on the same
// address.
type faultUpstream struct {
	t    *testing.T
	app  http.Handler
	addr string
	// URL is the upstream's base address, http://127.0.0.1:<port>.
	URL string

	mu       sync.Mutex
	srv      *http.Server
	lookup   hookFault
	update   hookFault
	idemKeys []string
}

func startFaultUpstream(t *testing.T, app http.Handler) *faultUpstream {
	t.Helper()
	u := &faultUpstream{t: t, app: app, addr: "127.0.0.1:0"}
	u.Start()
	u.URL = "http://" + u.addr
	t.Cleanup(u.Stop)
	return u
}

// Start listens (again) on the upstream's address.
func (u *faultUpstream) Start() {
	u.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("upstream listen on %s: %v", u.addr, err)
	}
	u.mu.Lock()
	u.addr = l.Addr().String()
	u.srv = &http.Server{Handler: u}
	srv := u.srv
	u.mu.Unlock()
	go srv.Serve(l)
}

// Stop closes the listener and every connection: calls are refused.
func (u *faultUpstream) Stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (u *faultUpstream) SetLookup(f hookFault) { u.mu.Lock(); u.lookup = f; u.mu.Unlock() }
func (u *faultUpstream) SetUpdate(f hookFault) { u.mu.Lock(); u.update = f; u.mu.Unlock() }

// IdempotencyKeys returns the Idempotency-Key of every update call.
func (u *faultUpstream) IdempotencyKeys() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.idemKeys...)
}

func (u *faultUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	var f hookFault
	switch r.URL.Path {
	case lookupPath:
		f = u.lookup
	case updatePath:
		u.idemKeys = append(u.idemKeys, r.Header.Get("Idempotency-Key"))
		f = u.update
	}
	u.mu.Unlock()
	if f != nil && f(w, r, body) {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	u.app.ServeHTTP(w, r)
}

// faultAnswer is a fault that answers status with body.
func faultAnswer(status int, contentType, body string) hookFault {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/internal/users/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}

// hugeAnswer answers status with n bytes of JSON-looking padding.
func hugeAnswer(status, n int) hookFault {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"id":"1001","email":"alice@example.test","pad":"`)
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for written := 0; written < n; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return true // the client stopped reading: fine
			}
		}
		io.WriteString(w, `"}`)
		return true
	}
}

// faultEnv starts the mailbox, the app and Caddy, with the lookup and
// update hooks pointed at a faultUpstream in front of the app (the site's
// reverse_proxy still goes to the app directly), extra lines in the
// password_reset block and in the update block, and Caddy's log in a file.
func faultEnv(t *testing.T, block, updateBlock string) (*testenv.Env, *faultUpstream, string) {
	t.Helper()
	env := testenv.New(t, testenv.Options{NoStart: true})
	up := startFaultUpstream(t, env.App)
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	cf := env.Caddyfile(block)
	cf = cfReplace(t, cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+logPath+"\n\t\tlevel INFO\n\t}\n\tadmin off")
	cf = cfReplace(t, cf, "lookup "+env.AppURL+lookupPath, "lookup "+up.URL+lookupPath)
	cf = cfReplace(t, cf, "update "+env.AppURL+updatePath+" {\n", "update "+up.URL+updatePath+" {\n"+updateBlock)
	env.Load(cf)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("caddy log:\n%s", tail(string(data), 4000))
		}
	})
	return env, up, logPath
}

// logLines counts the lines of the log file that contain every one of
// parts.
func logLines(path string, parts ...string) int {
	data, _ := os.ReadFile(path)
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// waitLogLines waits until at least n lines of the log contain all of parts.
func waitLogLines(t *testing.T, path string, n int, timeout time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for logLines(path, parts...) < n {
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(path)
			t.Fatalf("after %s, %d log lines with %q, want %d; log:\n%s", timeout, logLines(path, parts...), parts, n, tail(string(data), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resetMailCount counts the reset mails to alice in the mailbox.
func resetMailCount(m *mailbox.Server) int {
	n := 0
	for _, msg := range m.Messages() {
		if len(msg.To) > 0 && strings.EqualFold(msg.To[0], alice) && strings.Contains(msg.Text, "/new?token=") {
			n++
		}
	}
	return n
}

func postComplete(env *testenv.Env, token, pw string) *testenv.Response {
	return env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw})
}

func wantAPI(t *testing.T, what string, r *testenv.Response, status int, code string) {
	t.Helper()
	if r.StatusCode != status || (code != "" && (len(r.ErrorCodes()) == 0 || r.ErrorCodes()[0] != code)) {
		t.Fatalf("%s: %d %s, want %d %s", what, r.StatusCode, r.Body, status, code)
	}
}

// The app is down (its server closed): request still answers 202 at once
// (the lookup happens in the background, and fails there, logged); complete
// answers 502 UPSTREAM_FAILED and keeps the token; once the app is back,
// the same token sets the password.
func TestFaultUpstreamDown(t *testing.T) {
	env, up, logPath := faultEnv(t, "", "")
	token := mailedToken(t, env)
	env.Mail.Clear()
	up.Stop()

	start := time.Now()
	r := env.PostJSON("/password-reset/request", map[string]string{"identifier": alice})
	wantAPI(t, "request with the app down", r, http.StatusAccepted, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("request took %s with the app down", d)
	}
	waitLogLines(t, logPath, 1, 10*time.Second, "processing reset request", "lookup")

	pw := "set while the app was away 1"
	r = postComplete(env, token, pw)
	wantAPI(t, "complete with the app down", r, http.StatusBadGateway, "UPSTREAM_FAILED")
	if strings.Contains(string(r.Body), "refused") || strings.Contains(string(r.Body), "127.0.0.1") {
		t.Errorf("the public error leaks the cause: %s", r.Body)
	}
	waitLogLines(t, logPath, 1, 5*time.Second, "reset request failed", "UPSTREAM_FAILED")
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != http.StatusOK {
		t.Fatalf("preflight after a 502: %d %s", r.StatusCode, r.Body)
	}
	if n := len(env.App.Updates()); n != 0 {
		t.Fatalf("the app applied %d updates while down", n)
	}

	up.Start()
	wantAPI(t, "complete after the app came back", postComplete(env, token, pw), http.StatusOK, "")
	if got := login(t, env, alice, pw); got != http.StatusOK {
		t.Fatalf("login with the new password: %d", got)
	}
	if n := len(env.App.Updates()); n != 1 {
		t.Fatalf("%d updates applied, want 1", n)
	}
	if resetMailCount(env.Mail) != 0 {
		t.Errorf("a reset mail went out while the lookup was failing")
	}
	// And requests work again.
	env.Mail.Clear()
	requestReset(t, env, alice)
	env.WaitMail(alice, "reset")
}

// A slow upstream: the update outlives `update { timeout 300ms }`. The
// complete answers 502 and keeps the token; the app, which did apply the
// call after resetgate gave up (a lost answer), sees the retry with the
// same Idempotency-Key and does not apply it twice. A lookup that hangs
// does not delay the request answer.
func TestFaultUpstreamSlowUpdate(t *testing.T) {
	env, up, logPath := faultEnv(t, "", "\t\t\ttimeout 300ms\n")
	token := mailedToken(t, env)

	var once sync.Once
	applied := make(chan struct{})
	up.SetUpdate(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		first := false
		once.Do(func() { first = true })
		if !first {
			return false
		}
		// Slower than the timeout: the app answers only after resetgate
		// has given up on the call and closed it, then applies it anyway.
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		env.App.ServeHTTP(httptest.NewRecorder(), r)
		close(applied)
		return true
	})
	pw := "slow but steady wins 7"
	start := time.Now()
	r := postComplete(env, token, pw)
	took := time.Since(start)
	wantAPI(t, "complete against a slow app", r, http.StatusBadGateway, "UPSTREAM_FAILED")
	if took > 2*time.Second {
		t.Errorf("complete took %s; the update timeout is 300ms (and the app answers only after it)", took)
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != http.StatusOK {
		t.Fatalf("preflight after a timeout: %d %s", r.StatusCode, r.Body)
	}
	select {
	case <-applied:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow update never reached the app")
	}
	if n := len(env.App.Updates()); n != 1 {
		t.Fatalf("app updates after the slow call: %d, want 1", n)
	}
	// The user retries with the same password: same Idempotency-Key, the
	// app answers "already applied", resetgate consumes the token.
	wantAPI(t, "retry", postComplete(env, token, pw), http.StatusOK, "")
	if n := len(env.App.Updates()); n != 1 {
		t.Fatalf("the retry applied the password again: %d updates", n)
	}
	if n := env.App.UpdateCalls(); n != 2 {
		t.Errorf("update calls at the app: %d, want 2", n)
	}
	keys := up.IdempotencyKeys()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("Idempotency-Keys of the two calls: %q, want the same non-empty key", keys)
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != http.StatusNotFound {
		t.Fatalf("token after the successful retry: %d", r.StatusCode)
	}
	if got := login(t, env, alice, pw); got != http.StatusOK {
		t.Fatalf("login with the new password: %d", got)
	}
	waitLogLines(t, logPath, 1, 5*time.Second, "reset request failed", "UPSTREAM_FAILED")

	// A lookup that hangs for longer than the lookup timeout does not hold
	// up the answer.
	up.SetLookup(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		return false
	})
	for i := 0; i < 3; i++ {
		start := time.Now()
		requestReset(t, env, alice)
		if d := time.Since(start); d > time.Second {
			t.Errorf("request took %s while the lookup hangs (3s)", d)
		}
	}
}

// The app answers 5xx, or garbage, on lookup: no mail, no panic, and the
// failure is logged (with its cause, and without anything secret). Once
// the lookup answers properly again, the reset mail goes out as before.
func TestFaultUpstreamLookupGarbage(t *testing.T) {
	env, up, logPath := faultEnv(t, "", "")
	cases := []struct {
		name  string
		fault hookFault
		cause string // in the logged error
	}{
		{"500", faultAnswer(500, "application/json", `{"error":"boom"}`), "status 500"},
		{"503 html", faultAnswer(503, "text/html", "<html><body>Service Unavailable</body></html>"), "status 503"},
		{"302", faultAnswer(302, "", ""), "status 302"},
		{"401", faultAnswer(401, "application/json", `{}`), "status 401"},
		{"200 not JSON", faultAnswer(200, "text/html", "<html>Welcome back!</html>"), "without a user id"},
		{"200 JSON without id", faultAnswer(200, "application/json", `{"email":"alice@example.test","name":"Alice"}`), "without a user id"},
		{"200 JSON empty id", faultAnswer(200, "application/json", `{"id":"","email":"alice@example.test"}`), "without a user id"},
		{"200 JSON array", faultAnswer(200, "application/json", `[{"id":"1001"}]`), "without a user id"},
		{"200 JSON null", faultAnswer(200, "application/json", `null`), "without a user id"},
		{"200 empty", faultAnswer(200, "application/json", ``), "without a user id"},
		{"200 truncated", faultAnswer(200, "application/json", `{"id":"1001","email":"alice@exa`), "without a user id"},
		{"200 10 MB", hugeAnswer(200, 10<<20), "too large"},
	}
	for i, c := range cases {
		up.SetLookup(c.fault)
		r := env.PostJSON("/password-reset/request", map[string]string{"identifier": alice})
		wantAPI(t, c.name+": request", r, http.StatusAccepted, "")
		waitLogLines(t, logPath, i+1, 10*time.Second, "processing reset request")
		if logLines(logPath, "processing reset request", c.cause) == 0 {
			t.Errorf("%s: no logged error mentions %q", c.name, c.cause)
		}
	}
	if n := resetMailCount(env.Mail); n != 0 {
		t.Fatalf("%d reset mails went out on garbage lookups", n)
	}
	if logLines(logPath, "panic") != 0 {
		t.Fatalf("a panic was logged")
	}
	if r := env.Get("/password-reset/policy"); r.StatusCode != 200 {
		t.Fatalf("caddy after the garbage: %d", r.StatusCode)
	}
	// Good answers again: exactly one mail, from this request.
	up.SetLookup(nil)
	requestReset(t, env, alice)
	env.WaitMail(alice, "reset")
	time.Sleep(300 * time.Millisecond)
	if n := resetMailCount(env.Mail); n != 1 {
		t.Fatalf("%d reset mails, want 1", n)
	}
}

// The app answers 5xx (SetFailUpdates), or garbage, on update. Garbage
// with a 2xx status is success (the contract: any 2xx = done); with a 3xx,
// 4xx or 5xx status it is 502 UPSTREAM_FAILED and the token stays usable.
func TestFaultUpstreamUpdateGarbage(t *testing.T) {
	env, up, logPath := faultEnv(t, "", "")
	token := mailedToken(t, env)
	pw := "garbage in, garbage out 9"

	env.App.SetFailUpdates(2)
	for i := 0; i < 2; i++ {
		wantAPI(t, "complete against SetFailUpdates", postComplete(env, token, pw), http.StatusBadGateway, "UPSTREAM_FAILED")
	}
	waitLogLines(t, logPath, 2, 5*time.Second, "reset request failed", "status 500")

	failing := []struct {
		name  string
		fault hookFault
	}{
		{"301", faultAnswer(301, "text/html", "<a href=x>moved</a>")},
		{"302 to the app's own endpoint", func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			http.Redirect(w, r, env.AppURL+updatePath, http.StatusFound)
			return true
		}},
		{"304", faultAnswer(304, "", "")},
		{"400 garbage", faultAnswer(400, "text/plain", "\x00\x01\x02 not json")},
		{"404", faultAnswer(404, "application/json", `{"error":"not found"}`)},
		{"409", faultAnswer(409, "application/json", `{"status":"already applied"}`)},
		{"422", faultAnswer(422, "application/json", `{"ok":true}`)},
		{"500 garbage", faultAnswer(500, "application/json", `{"id":`)},
		{"503 html", faultAnswer(503, "text/html", "<html>maintenance</html>")},
		{"500 10 MB", hugeAnswer(500, 10<<20)},
	}
	for _, c := range failing {
		up.SetUpdate(c.fault)
		r := postComplete(env, token, pw)
		wantAPI(t, c.name, r, http.StatusBadGateway, "UPSTREAM_FAILED")
		if pre := env.Get("/password-reset/tokens/" + token); pre.StatusCode != http.StatusOK {
			t.Fatalf("%s: the token did not survive: preflight %d", c.name, pre.StatusCode)
		}
	}
	if n := len(env.App.Updates()); n != 0 {
		t.Fatalf("the app applied %d updates, want 0", n)
	}

	// 2xx with garbage: done.
	up.SetUpdate(faultAnswer(200, "text/html", "<html>OK!!1 {not json</html>"))
	wantAPI(t, "200 with garbage", postComplete(env, token, pw), http.StatusOK, "")
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != http.StatusNotFound {
		t.Fatalf("token after a 2xx: %d", r.StatusCode)
	}
	for _, c := range []struct {
		name  string
		fault hookFault
	}{
		{"201 empty", faultAnswer(201, "", "")},
		{"202 JSON error", faultAnswer(202, "application/json", `{"errors":[{"code":"NOPE"}]}`)},
		{"204", faultAnswer(204, "", "")},
	} {
		up.SetUpdate(c.fault)
		tok := mailedToken(t, env)
		wantAPI(t, c.name, postComplete(env, tok, pw), http.StatusOK, "")
		if r := env.Get("/password-reset/tokens/" + tok); r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: token after a 2xx: %d", c.name, r.StatusCode)
		}
	}
	if logLines(logPath, "panic") != 0 {
		t.Fatalf("a panic was logged")
	}
}

// The update answers 2xx with a 10 MB body. The app has taken the password
// ("any 2xx = done"), so resetgate must not report UPSTREAM_FAILED and
// leave the token and the user's other tokens alive, without the
// "password changed" mail (invariant 8).
func TestFaultUpstreamUpdateHugeSuccessAnswer(t *testing.T) {
	env, up, _ := faultEnv(t, "", "")
	token := mailedToken(t, env)
	other := mailedToken(t, env)
	pw := "huge answers are still yes 3"
	up.SetUpdate(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(body))
		env.App.ServeHTTP(rec, r)
		if rec.Code/100 != 2 {
			w.WriteHeader(rec.Code)
			return true
		}
		return hugeAnswer(200, 10<<20)(w, r, body)
	})
	r := postComplete(env, token, pw)
	if n := len(env.App.Updates()); n != 1 {
		t.Fatalf("app updates: %d, want 1", n)
	}
	if r.StatusCode != http.StatusOK {
		pre := env.Get("/password-reset/tokens/" + other)
		t.Fatalf("the app applied the password (2xx with a 10 MB body) but complete answered %d %s; "+
			"the user's other token is still alive (preflight %d) and no \"changed\" mail is sent",
			r.StatusCode, r.Body, pre.StatusCode)
	}
	if r := env.Get("/password-reset/tokens/" + other); r.StatusCode != http.StatusNotFound {
		t.Fatalf("other token after the reset: %d", r.StatusCode)
	}
	env.WaitMail(alice, "changed")
}

// ---- SIGKILL in the middle of complete ------------------------------------

// badgerCaddy describes what a restarted process must share with the one
// before: the Badger directory and the server key.
type badgerCaddy struct {
	bin, dbDir, key  string
	upstream, appURL string
	secret, smtp     string
	updateTimeout    string
}

// start runs the caddy binary with Badger in c.dbDir.
func (c badgerCaddy) start(t *testing.T) *caddyProc {
	t.Helper()
	block := fmt.Sprintf(`		storage badger %[1]s
		key %[2]s
		lookup %[3]s%[4]s
		update %[3]s%[5]s {
			secret %[6]s
			timeout %[7]s
		}
		email smtp %[8]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
		rate_limit {
			per_ip 1000 1m
			per_identifier 100 1m
		}`, c.dbDir, c.key, c.upstream, lookupPath, updatePath, c.secret, c.updateTimeout, c.smtp)
	return serveCaddy(t, c.bin, block, c.appURL)
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *caddyProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("caddy survived SIGKILL")
	}
}

func (p *caddyProc) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mailedTokenFrom asks p for a reset for alice and returns the mailed
// token.
func mailedTokenFrom(t *testing.T, p *caddyProc, mail *mailbox.Server) string {
	t.Helper()
	mail.Clear()
	if st, body := post(t, p.url+"/password-reset/request", `{"identifier":"`+alice+`"}`); st != 202 {
		t.Fatalf("request: %d %s", st, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	m, err := mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") })
	if err != nil {
		t.Fatalf("no reset mail: %v", err)
	}
	_, tok := testenv.ResetLink(t, m)
	return tok
}

// completeAfterLease posts complete until the lease of the killed process
// (update timeout + 10s) has run out, and returns the first answer that is
// not 409 TOKEN_BUSY.
func completeAfterLease(t *testing.T, p *caddyProc, body string, within time.Duration) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		st, b := post(t, p.url+"/password-reset/complete", body)
		if st != http.StatusConflict {
			return st, b, time.Since(start)
		}
		if !strings.Contains(b, "TOKEN_BUSY") {
			t.Fatalf("409 without TOKEN_BUSY: %s", b)
		}
		if time.Since(start) > within {
			t.Fatalf("still TOKEN_BUSY after %s", within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Caddy is killed with SIGKILL while a complete waits for the app's
// update, and restarted on the same Badger directory and key. Whatever the
// moment of the kill, the token ends either consumed with the app updated,
// or still usable; never consumed while the app did not apply the
// password, and a retry never applies it twice. The "password changed"
// mail, held in the outbox before the call, arrives after the restart.
func TestKill9DuringComplete(t *testing.T) {
	bin := caddyBinary(t)
	for _, order := range []string{"BeforeAppApplies", "AfterAppApplied"} {
		t.Run(order, func(t *testing.T) {
			mail, err := mailbox.Start(mailbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer mail.Close()
			secret := testenv.NewSecret()
			app, err := legacyapp.New(legacyapp.Config{WebhookSecret: secret, Users: legacyapp.DemoUsers(), BcryptCost: 4})
			if err != nil {
				t.Fatal(err)
			}
			appSrv := httptest.NewServer(app)
			defer appSrv.Close()
			up := startFaultUpstream(t, app)
			cfg := badgerCaddy{
				bin: bin, dbDir: filepath.Join(t.TempDir(), "db"), key: testenv.RandomString(48),
				upstream: up.URL, appURL: appSrv.URL, secret: secret, smtp: mail.Addr(),
				updateTimeout: "1s", // the lease left by the crash is this + 10s
			}
			p := cfg.start(t)
			token := mailedTokenFrom(t, p, mail)

			entered := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			up.SetUpdate(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				first := false
				once.Do(func() { first = true })
				if !first {
					return false
				}
				if order == "AfterAppApplied" {
					// The app applies it, but the answer waits until
					// Caddy is dead.
					r.Body = io.NopCloser(bytes.NewReader(body))
					rec := httptest.NewRecorder()
					app.ServeHTTP(rec, r)
					if rec.Code/100 != 2 {
						t.Errorf("the app refused the first update: %d %s", rec.Code, rec.Body)
					}
				}
				close(entered)
				<-release
				w.WriteHeader(http.StatusNoContent) // to nobody
				return true
			})
			pw := "survives a kill minus nine"
			body := `{"token":"` + token + `","password":"` + pw + `"}`
			clientErr := make(chan error, 1)
			go func() {
				resp, err := http.Post(p.url+"/password-reset/complete", "application/json", strings.NewReader(body))
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					err = fmt.Errorf("complete answered %d %s before the kill", resp.StatusCode, b)
				}
				clientErr <- err
			}()
			select {
			case <-entered:
			case err := <-clientErr:
				t.Fatalf("the update never blocked: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the update call never arrived")
			}
			p.kill9(t)
			close(release)
			if err := <-clientErr; err == nil || strings.Contains(err.Error(), "answered") {
				t.Fatalf("the client got an answer although caddy was killed: %v", err)
			}

			applied := len(app.Updates())
			want := map[string]int{"BeforeAppApplies": 0, "AfterAppApplied": 1}[order]
			if applied != want {
				t.Fatalf("app updates at the kill: %d, want %d", applied, want)
			}

			p2 := cfg.start(t)
			// The "password changed" mail was stored, held, before the
			// app was asked: the restarted process sends it once the
			// hold (the update timeout + 10s) is over, whether or not
			// the app applied the password, which resetgate cannot know.
			testenv.WaitMailTo(t, mail, alice, "changed", 30*time.Second)
			pre := p2.get(t, "/password-reset/tokens/"+token)
			switch {
			case pre == http.StatusOK:
				// Still usable: a complete (after the dead process's
				// lease) must succeed and leave exactly one update.
				st, b, waited := completeAfterLease(t, p2, body, 20*time.Second)
				t.Logf("token usable after restart; TOKEN_BUSY for %s", waited.Round(100*time.Millisecond))
				if st != http.StatusOK {
					t.Fatalf("complete after restart: %d %s", st, b)
				}
				if pre := p2.get(t, "/password-reset/tokens/"+token); pre != http.StatusNotFound {
					t.Fatalf("token after the successful complete: %d", pre)
				}
			case pre == http.StatusNotFound:
				// Consumed: only allowed when the app applied it.
				if applied == 0 {
					t.Fatal("the token was consumed although the app never applied the password")
				}
				t.Logf("token consumed by the killed process")
			default:
				t.Fatalf("preflight after restart: %d", pre)
			}
			if n := len(app.Updates()); n != 1 {
				t.Fatalf("app updates in all: %d, want exactly 1 (no double apply)", n)
			}
			if keys := up.IdempotencyKeys(); len(keys) >= 2 && keys[0] != keys[len(keys)-1] {
				t.Errorf("the retry after restart carried another Idempotency-Key: %q", keys)
			}
			// The app has the new password.
			resp, err := http.PostForm(appSrv.URL+"/login", url.Values{"email": {alice}, "password": {pw}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login at the app with the new password: %d", resp.StatusCode)
			}
		})
	}
}

// ---- SMTP down --------------------------------------------------------------

// The SMTP server refuses (451) or is down (connection refused) for a
// while: the mail outbox retries with backoff, logs the failures, and the
// reset mail arrives, once, when the server is back.
func TestMailRetriedWhileSMTPDown(t *testing.T) {
	t.Run("Rejecting", func(t *testing.T) {
		env, _, logPath := faultEnv(t, "", "")
		env.Mail.SetReject(true)
		requestReset(t, env, alice)
		// The first attempt and its retry (1s later) both fail.
		waitLogLines(t, logPath, 2, 10*time.Second, "mail send failed; will retry")
		env.Mail.SetReject(false)
		m := env.WaitMail(alice, "reset")
		testenv.ResetLink(t, m)
		time.Sleep(300 * time.Millisecond)
		if n := resetMailCount(env.Mail); n != 1 {
			t.Fatalf("%d reset mails, want 1", n)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		env, _, logPath := faultEnv(t, "", "")
		addr := env.Mail.Addr()
		env.Mail.Close()
		requestReset(t, env, alice)
		// The first attempt and its retry (1s later) both fail.
		waitLogLines(t, logPath, 2, 10*time.Second, "mail send failed; will retry")
		var err error
		for i := 0; i < 50; i++ {
			var m *mailbox.Server
			if m, err = mailbox.Start(mailbox.Options{Addr: addr}); err == nil {
				env.Mail = m // closed by testenv's cleanup
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("restarting the SMTP server on %s: %v", addr, err)
		}
		env.WaitMail(alice, "reset")
		if logLines(logPath, "mail dropped") != 0 {
			t.Fatal("a mail was dropped although the server came back within the retries")
		}
	})
}

// The durable outbox: a reset mail that could not be sent yet (the SMTP
// server refusing) survives a SIGKILL of Caddy and goes out after the
// restart, with a link that works.
func TestMailOutboxSurvivesKill9(t *testing.T) {
	bin := caddyBinary(t)
	mail, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	secret := testenv.NewSecret()
	app, err := legacyapp.New(legacyapp.Config{WebhookSecret: secret, Users: legacyapp.DemoUsers(), BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	appSrv := httptest.NewServer(app)
	defer appSrv.Close()
	cfg := badgerCaddy{
		bin: bin, dbDir: filepath.Join(t.TempDir(), "db"), key: testenv.RandomString(48),
		upstream: appSrv.URL, appURL: appSrv.URL, secret: secret, smtp: mail.Addr(), updateTimeout: "5s",
	}
	p := cfg.start(t)
	mail.SetReject(true)
	if st, body := post(t, p.url+"/password-reset/request", `{"identifier":"`+alice+`"}`); st != 202 {
		t.Fatalf("request: %d %s", st, body)
	}
	// Wait for a refused attempt: the mail is queued, not sent.
	deadline := time.Now().Add(10 * time.Second)
	for logLines(p.logPath, "mail send failed; will retry") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed send attempt was logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Kill between two attempts (the next one is 1s after the first), so
	// that no per-entry send lease (1 minute) is left behind; a kill in
	// the middle of a send would only delay the mail by that lease.
	time.Sleep(200 * time.Millisecond)
	p.kill9(t)
	if n := resetMailCount(mail); n != 0 {
		t.Fatalf("%d reset mails arrived while the server was refusing", n)
	}
	mail.SetReject(false)
	start := time.Now()
	p2 := cfg.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	m, err := mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") })
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the reset mail queued before the SIGKILL never arrived after the restart")
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("the mail arrived %s after the restart", time.Since(start).Round(10*time.Millisecond))
	_, token := testenv.ResetLink(t, m)
	if st := p2.get(t, "/password-reset/tokens/"+token); st != http.StatusOK {
		t.Fatalf("preflight of the link mailed after the restart: %d", st)
	}
	time.Sleep(300 * time.Millisecond)
	if n := resetMailCount(mail); n != 1 {
		t.Fatalf("%d reset mails, want 1", n)
	}
}
