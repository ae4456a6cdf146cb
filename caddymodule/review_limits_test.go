package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Regression tests for the December 2026 security review, findings 4 and
// 6: guessing the current password through complete, and the per-IP limit
// and request queue.

// Attack (finding 4, guessing the current password through complete):
// anyone holding a reset token sent password=<guess> with a different
// confirm; SAME_AS_OLD appeared in the 422 only when the guess was the
// current password, nothing was counted and the token was kept (81
// guesses found it), and each call cost the app a password check. Now a
// MISMATCH (or any other violation) never asks the app, each SAME_AS_OLD
// check is bounded per token (3) and taken from the account's
// old-password budget, and beyond that the check is skipped rather than
// answered: no answer depends on the current password any more.
func TestAttackGuessCurrentPasswordThroughComplete(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	var verifyCalls atomic.Int64
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/internal/users/verify" {
			verifyCalls.Add(1)
		}
		env.App.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	env.Load(env.Caddyfile(reviewLimits("100 1m", "4 1h") + "\n\t\tverify " + counting.URL + "/internal/users/verify"))
	old := legacyapp.DemoAccounts()[0].Password
	// Rehash at the app's test cost: the demo hash's bcrypt cost, under
	// the race detector on a loaded machine, can outlast the hook timeout.
	if err := env.App.SetPassword("1001", old); err != nil {
		t.Fatal(err)
	}
	complete := func(token, pw, confirm string) *testenv.Response {
		return env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw, "confirm": confirm})
	}

	token := mailedToken(t, env)
	// The guess with a different confirm: MISMATCH only, the app not asked.
	for i := 0; i < 10; i++ {
		r := complete(token, old, old+"x")
		if r.StatusCode != 422 || strings.Join(r.ErrorCodes(), ",") != "PASSWORD_POLICY_VIOLATED/MISMATCH" {
			t.Fatalf("guess %d with a mismatching confirm: %d %s, want 422 MISMATCH alone", i, r.StatusCode, r.Body)
		}
	}
	if n := verifyCalls.Load(); n != 0 {
		t.Fatalf("mismatching guesses reached the app's verify hook %d times", n)
	}
	// A well-formed guess is checked: 3 times per token.
	for i := 0; i < 3; i++ {
		if r := complete(token, old, old); r.StatusCode != 422 || strings.Join(r.ErrorCodes(), ",") != "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD" {
			t.Fatalf("check %d of the old password: %d %s", i, r.StatusCode, r.Body)
		}
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 200 {
		t.Fatalf("the token died after SAME_AS_OLD answers: %d", r.StatusCode)
	}
	// A second token of the same account: its first check is the 4th of
	// the account's budget (4 per hour); after that no check reaches the
	// app, whatever the token.
	token2 := mailedToken(t, env)
	if r := complete(token2, old, old); r.StatusCode != 422 || strings.Join(r.ErrorCodes(), ",") != "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD" {
		t.Fatalf("first check on a second token: %d %s", r.StatusCode, r.Body)
	}
	if n := verifyCalls.Load(); n != 4 {
		t.Fatalf("%d verify calls, want 4 (3 on the first token, 1 on the second)", n)
	}
	// The 4th check on the first token and the 2nd on the second are
	// over a bound: the check is skipped, the password is set, the app was
	// not asked.
	pw := "a brand new passphrase 73"
	if r := complete(token, pw, pw); r.StatusCode != 200 {
		t.Fatalf("complete after the per-token bound: %d %s", r.StatusCode, r.Body)
	}
	if n := verifyCalls.Load(); n != 4 {
		t.Fatalf("the app's verify hook was asked %d times, want the bound 4", n)
	}
	if got := login(t, env, alice, pw); got != 200 {
		t.Fatalf("login with the new password: %d", got)
	}
}

// forwardedRequest posts a reset request through Caddy as a trusted proxy
// would, with the client's address in X-Forwarded-For.
func forwardedRequest(t *testing.T, env *testenv.Env, clientIP string) *testenv.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/request", strings.NewReader(`{"identifier":"nobody@example.test"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", clientIP)
	return env.Do(req)
}

// Attack (finding 6, dodging the per-IP limit by rotating IPv6 addresses):
// the limit counted exact addresses, so one client rotating through its
// /64 got 60 × 202 and never a 429. Now IPv6 clients are counted by their
// /64 (rate_limit ipv6_prefix, default 64), IPv4 clients by their address
// (ipv4_prefix, default 32).
func TestAttackPerIPLimitDodgedByIPv6Rotation(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	trusted := func(block string) string {
		cf := env.Caddyfile(block)
		return cfReplace(t, cf, "{\n\tadmin off", "{\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n\tadmin off")
	}
	env.Load(trusted("\t\trate_limit {\n\t\t\tper_ip 3 1m\n\t\t}"))
	for i := 1; i <= 6; i++ {
		r := forwardedRequest(t, env, fmt.Sprintf("2001:db8:77:1:%x::%x", i*7919, i))
		want := 202
		if i > 3 {
			want = 429
		}
		if r.StatusCode != want {
			t.Fatalf("request %d from a rotating address in one /64: %d, want %d", i, r.StatusCode, want)
		}
		if want == 429 && r.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
	}
	if r := forwardedRequest(t, env, "2001:db8:77:2::1"); r.StatusCode != 202 {
		t.Fatalf("another /64: %d, want 202", r.StatusCode)
	}
	for i := 1; i <= 3; i++ {
		if r := forwardedRequest(t, env, "198.51.100.7"); r.StatusCode != 202 {
			t.Fatalf("IPv4 request %d: %d", i, r.StatusCode)
		}
	}
	if r := forwardedRequest(t, env, "198.51.100.8"); r.StatusCode != 202 {
		t.Fatalf("the IPv4 neighbour shares a limit by default: %d", r.StatusCode)
	}

	// ipv6_prefix 48 groups wider; ipv4_prefix 24 groups IPv4 neighbours.
	env.Load(trusted("\t\trate_limit {\n\t\t\tper_ip 3 1m\n\t\t\tipv6_prefix 48\n\t\t\tipv4_prefix 24\n\t\t}"))
	for i, ip := range []string{"2001:db8:77:1::1", "2001:db8:77:2::1", "2001:db8:77:3::1", "2001:db8:77:4::1"} {
		want := 202
		if i == 3 {
			want = 429
		}
		if r := forwardedRequest(t, env, ip); r.StatusCode != want {
			t.Fatalf("ipv6_prefix 48, request %d from %s: %d, want %d", i, ip, r.StatusCode, want)
		}
	}
	for i := 1; i <= 4; i++ {
		want := 202
		if i == 4 {
			want = 429
		}
		if r := forwardedRequest(t, env, fmt.Sprintf("198.51.100.%d", i)); r.StatusCode != want {
			t.Fatalf("ipv4_prefix 24, request %d: %d, want %d", i, r.StatusCode, want)
		}
	}
}

// Attack (finding 6, a full queue drops accepted requests): 4,400 requests
// against a slow lookup filled the 4,096-slot queue, and the victim's
// request got 202 but never a mail. Now every request is written to the
// store (the durable request queue) before its 202 leaves, so a full
// in-memory queue loses nothing: the victim's request, accepted while
// every worker hangs in the lookup and the queue is full, is walked from
// the store and its mail arrives once the lookups come back. A request
// the store cannot take is 503, never 202 (TestStoreDownAtStartup).
func TestAttackQueueFloodDropsAcceptedRequest(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	up := startFaultUpstream(t, env.App)
	release := make(chan struct{})
	var held atomic.Int64
	up.SetLookup(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if !strings.Contains(r.URL.Path, "lookup") {
			return false
		}
		held.Add(1)
		<-release
		return false
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before Caddy stops, so that it drains at once
	cf := env.Caddyfile("\t\trate_limit {\n\t\t\tper_ip 1000 1m\n\t\t\tqueue_size 2\n\t\t}")
	cf = cfReplace(t, cf, "lookup "+env.AppURL+lookupPath, "lookup "+up.URL+lookupPath)
	env.Load(cf)

	// Four workers take four requests and hang in the lookup.
	for i := 0; i < 4; i++ {
		requestReset(t, env, fmt.Sprintf("flood%d@example.test", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for held.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d lookups in progress", held.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Two more fill the in-memory queue.
	requestReset(t, env, "flood4@example.test")
	requestReset(t, env, "flood5@example.test")
	// The victim's request is accepted: it is in the store already.
	requestReset(t, env, alice)
	b := newPageClient(t, env)
	if st, body := b.submit("/password-reset/", map[string][]string{"identifier": {alice}}); st != http.StatusOK || !strings.Contains(body, `page-sent`) {
		t.Errorf("forgot form with a full queue: %d %s", st, pageKind(body))
	}
	// Once the lookups come back, the victim's mail arrives.
	free()
	env.WaitMail(alice, "reset")
}
