package caddymodule_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

const alice = "alice@example.test"

// requestReset asks for a reset for identifier and returns the flow id.
func requestReset(t *testing.T, env *testenv.Env, identifier string) string {
	t.Helper()
	r := env.PostJSON("/password-reset/request", map[string]string{"identifier": identifier})
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("request: status %d, body %s", r.StatusCode, r.Body)
	}
	id, _ := r.JSON()["flow_id"].(string)
	if len(id) < 43 {
		t.Fatalf("request: flow_id %q too short", id)
	}
	return id
}

// mailedToken requests a reset for alice and returns the token of the link
// that arrived by mail.
func mailedToken(t *testing.T, env *testenv.Env) string {
	t.Helper()
	env.Mail.Clear()
	requestReset(t, env, alice)
	_, token := testenv.ResetLink(t, env.WaitMail(alice, "reset"))
	return token
}

// login signs in at the legacy app, through Caddy, and returns the status.
func login(t *testing.T, env *testenv.Env, email, password string) int {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return env.Do(req).StatusCode
}

// The walking skeleton: request, real mail, preflight, new password,
// login at the app with it; the old password stops working, the token is
// spent, the user gets a "changed" mail and the app was asked to end the
// user's sessions.
func TestJourneyResetByMailedLink(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	if got := login(t, env, alice, legacyapp.DemoAccounts()[0].Password); got != http.StatusOK {
		t.Fatalf("login with the demo password: %d", got)
	}
	token := mailedToken(t, env)

	pre := env.Get("/password-reset/tokens/" + token)
	if pre.StatusCode != 200 || pre.JSON()["valid"] != true || pre.JSON()["expires_at"] == nil {
		t.Fatalf("preflight: %d %s", pre.StatusCode, pre.Body)
	}
	if pre.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("preflight Cache-Control = %q", pre.Header.Get("Cache-Control"))
	}
	// The preflight never consumes (mail scanners prefetch links).
	if again := env.Get("/password-reset/tokens/" + token); again.StatusCode != 200 {
		t.Fatalf("second preflight: %d", again.StatusCode)
	}

	newPassword := "  a brand new Pässwörd with spaces  "
	done := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": newPassword, "confirm": newPassword})
	if done.StatusCode != 200 || done.JSON()["status"] != "password_updated" {
		t.Fatalf("complete: %d %s", done.StatusCode, done.Body)
	}
	// Invariant 11: forwarded exactly as typed, leading/trailing spaces too.
	if got := login(t, env, alice, newPassword); got != http.StatusOK {
		t.Fatalf("login with the new password: %d", got)
	}
	if got := login(t, env, alice, strings.TrimSpace(newPassword)); got == http.StatusOK {
		t.Fatal("a trimmed password logs in: the password was altered on the way")
	}
	if got := login(t, env, alice, legacyapp.DemoAccounts()[0].Password); got == http.StatusOK {
		t.Fatal("the old password still works")
	}
	ups := env.App.Updates()
	if len(ups) != 1 || ups[0].Type != "password.reset" || ups[0].UserID != "1001" || !ups[0].RevokeSessions || ups[0].IdempotencyKey == "" {
		t.Fatalf("upstream updates = %+v", ups)
	}
	// Invariant 2: used once.
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": "another long password 1"}); r.StatusCode != 404 {
		t.Fatalf("reused token: %d %s", r.StatusCode, r.Body)
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 404 || r.ErrorCodes()[0] != "TOKEN_INVALID" {
		t.Fatalf("preflight of a used token: %d %s", r.StatusCode, r.Body)
	}
	changed := env.WaitMail(alice, "changed")
	if strings.Contains(changed.Text, newPassword) || strings.Contains(changed.Text, token) {
		t.Fatal("the changed mail carries a secret")
	}
}

// Invariant 8: a successful reset kills every other open token of the user.
func TestResetKillsOtherOpenTokens(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	first := mailedToken(t, env)
	second := mailedToken(t, env)
	if first == second {
		t.Fatal("two requests gave the same token")
	}
	pw := "correct horse battery staple 2"
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": second, "password": pw, "confirm": pw}); r.StatusCode != 200 {
		t.Fatalf("complete: %d %s", r.StatusCode, r.Body)
	}
	if r := env.Get("/password-reset/tokens/" + first); r.StatusCode != 404 {
		t.Fatalf("the older token survived a reset: %d", r.StatusCode)
	}
}

// Invariant 2 under a race: 50 concurrent completes with one token give
// exactly one upstream update. The others see TOKEN_BUSY or TOKEN_INVALID.
func TestConcurrentCompleteUpdatesOnce(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	token := mailedToken(t, env)
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "racing password number " + strings.Repeat("x", i%7)
			statuses[i] = env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw}).StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 404, 409:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Errorf("%d completes succeeded, want exactly 1 (statuses %v)", ok, statuses)
	}
	if n := env.App.UpdateCalls(); n != 1 {
		t.Errorf("upstream received %d update calls, want exactly 1", n)
	}
}

// A failing upstream leaves the token usable: it is consumed only after a
// 2xx (502 UPSTREAM_FAILED first, then success with the same token).
func TestUpstreamFailureKeepsToken(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	token := mailedToken(t, env)
	env.App.SetFailUpdates(1)
	pw := "the first attempt fails 1"
	r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw})
	if r.StatusCode != 502 || r.ErrorCodes()[0] != "UPSTREAM_FAILED" {
		t.Fatalf("complete against a failing app: %d %s", r.StatusCode, r.Body)
	}
	if strings.Contains(string(r.Body), "500") {
		t.Errorf("the public error leaks the internal cause: %s", r.Body)
	}
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw}); r.StatusCode != 200 {
		t.Fatalf("retry after a 502: %d %s", r.StatusCode, r.Body)
	}
	if got := login(t, env, alice, pw); got != 200 {
		t.Fatalf("login after retry: %d", got)
	}
}

// A `caddy reload` provisions the new config before the old one is cleaned
// up; Badger is shared through a usage pool, so the reload succeeds and
// open tokens stay valid.
func TestReloadKeepsOpenTokens(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	token := mailedToken(t, env)
	env.Load(env.Caddyfile(`		token_ttl 30m`))
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 200 {
		t.Fatalf("token after reload: %d %s", r.StatusCode, r.Body)
	}
	env.Load(env.Caddyfile(``))
	pw := "reloaded twice and fine"
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw}); r.StatusCode != 200 {
		t.Fatalf("complete after two reloads: %d %s", r.StatusCode, r.Body)
	}
}

// Everything outside the prefix passes to the next handler untouched:
// method, headers, body.
func TestPassThroughUntouched(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	for _, p := range []string{"/", "/password-resetX", "/me"} {
		r := env.Get(p)
		if strings.Contains(string(r.Body), `"errors"`) {
			t.Errorf("%s was answered by resetgate: %s", p, r.Body)
		}
	}
	form := url.Values{"email": {alice}, "password": {legacyapp.DemoAccounts()[0].Password}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := env.Do(req); r.StatusCode != 200 || !strings.Contains(string(r.Body), "Welcome") {
		t.Fatalf("login through caddy: %d %s", r.StatusCode, r.Body)
	}
}
