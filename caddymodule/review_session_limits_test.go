package caddymodule_test

// Regression tests for the December 2026 security review, findings 5, 7,
// 10 and 11, each against a real Caddy in front of the legacy app.

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Finding 5. Attack: race the old-password limit of the signed-in change.
// The limit was checked before the verify call and the failure counted
// after it, so 60 parallel guesses all reached the app and the right one
// changed the password. Now each guess takes its slot of the account's
// budget (account_failures, here 3 per hour so that the app's bcrypt
// checks stay quick under the race detector) before the app sees it: the
// app's verify endpoint, slowed to widen the race, sees at most 3
// guesses, the rest answer 429 RATE_LIMITED, and afterwards even the right
// password is refused for the window.
func TestChangeOldPasswordLimitRace(t *testing.T) {
	const budget = 3
	env := testenv.New(t, testenv.Options{NoStart: true})
	spy := newAppSpy(t, env.App)
	env.Load(env.Caddyfile(passkeyBlock(spy.URL, "") + "\t\trate_limit {\n\t\t\taccount_failures " + itoa(budget) + " 1h\n\t\t}\n"))
	spy.Slow("/internal/users/verify", 300*time.Millisecond)
	client := &http.Client{Timeout: 2 * time.Minute}
	session := signIn(t, env, alice, alicePassword)
	const guesses = 60
	newPw := "the thief's new password 1"
	statuses := make([]int, guesses)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < guesses; i++ {
		old := "wrong guess number " + itoa(i)
		if i == guesses-1 {
			old = alicePassword // the right guess is among them
		}
		wg.Add(1)
		go func(i int, old string) {
			defer wg.Done()
			<-start
			body := `{"old":"` + old + `","new":"` + newPw + `","confirm":"` + newPw + `"}`
			req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/change", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(session)
			resp, err := client.Do(req)
			if err != nil {
				statuses[i] = -1 // reported below: no t.Fatal off the test goroutine
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i, old)
	}
	close(start)
	wg.Wait()
	// Guesses the app checked; a successful change also asks verify
	// whether the new password equals the old one (SAME_AS_OLD).
	verifyCalls := 0
	for _, b := range spy.Bodies("/internal/users/verify") {
		if !strings.Contains(string(b), newPw) {
			verifyCalls++
		}
	}
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	t.Logf("%d parallel guesses: the app's verify endpoint saw %d; answers %v", guesses, verifyCalls, counts)
	if verifyCalls > budget {
		t.Fatalf("the app checked %d guesses; the budget is %d", verifyCalls, budget)
	}
	// A guess the app checked answers 403 (or 200 for the right one; 502
	// if the app was too slow under load); every other one 429.
	if counts[403]+counts[200]+counts[502] != verifyCalls || counts[429] != guesses-verifyCalls {
		t.Fatalf("answers %v do not match the %d guesses the app checked", counts, verifyCalls)
	}
	if counts[200] == 0 && counts[403] == budget {
		// The right guess was refused unchecked and wrong ones spent the
		// budget: the password is unchanged, and now the right
		// password is refused too, for the window.
		if login(t, env, alice, alicePassword) != 200 {
			t.Fatal("the password changed although no change succeeded")
		}
		if r := change(env, session, nil, map[string]string{"old": alicePassword, "new": newPw, "confirm": newPw}); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the right password after the budget was spent: %d %s", r.StatusCode, r.Body)
		}
	}
}

// Finding 7. Attack: flood POST passkey/options with made-up flow ids;
// each call stored a 5-minute ceremony, without limit (about 1,600/s from
// one client). Now ceremonies are limited per client address (30 per 5
// minutes by default), per flow (5), and in total (max_ceremonies), and
// the refusals are 429 RATE_LIMITED with Retry-After.
func TestPasskeyCeremonyFlood(t *testing.T) {
	env, spy := passkeyEnv(t, "")
	flood := func(n int, flowID func() string) (ok, limited int) {
		for i := 0; i < n; i++ {
			r := env.PostJSON("/password-reset/passkey/options", map[string]any{"flow_id": flowID()})
			switch {
			case r.StatusCode == 200:
				ok++
			case r.StatusCode == 429 && r.ErrorCodes()[0] == "RATE_LIMITED" && r.Header.Get("Retry-After") != "":
				limited++
			default:
				t.Fatalf("ceremony %d: %d %s", i, r.StatusCode, r.Body)
			}
		}
		return ok, limited
	}
	fresh := func() string { return testenv.RandomString(43) }
	ok1, limited := flood(100, fresh)
	if ok1 != 30 || limited != 70 {
		t.Fatalf("one address, 100 ceremonies: %d stored, %d refused; want 30 and 70", ok1, limited)
	}

	// Per flow, with the per-address limit out of the way.
	env.Load(env.Caddyfile("\t\tmethods link code passkey\n" + passkeyBlock(spy.URL, "\t\t\tceremonies_per_ip 100000 5m\n\t\t\tmax_ceremonies 60")))
	one := fresh()
	ok2, limited := flood(20, func() string { return one })
	if ok2 != 5 || limited != 15 {
		t.Fatalf("one flow, 20 ceremonies: %d stored, %d refused; want 5 and 15", ok2, limited)
	}
	// In total: at most max_ceremonies per ceremony lifetime.
	ok3, limited := flood(100, fresh)
	if total := ok1 + ok2 + ok3; total > 60 || limited == 0 {
		t.Fatalf("%d ceremonies stored in one window (cap 60), %d refused", total, limited)
	}
	if r := env.PostJSON("/password-reset/passkey/options", map[string]any{}); r.StatusCode != 429 {
		t.Fatalf("a ceremony over the cap: %d %s", r.StatusCode, r.Body)
	}
}

// Finding 10. Attack (or accident): change the password A→B→A→B. The
// Idempotency-Key was an HMAC of the user and the new password only, so
// the third change to B repeated the first one's key: the app answered the
// replay, kept A, kept the old session, and resetgate said success. Now
// the key is unique per change, and every change lands.
func TestChangeBackReusesIdempotencyKey(t *testing.T) {
	env, _ := passkeyEnv(t, "")
	a, b := "first chosen password A1", "second chosen password B2"
	steps := []struct{ from, to string }{{alicePassword, a}, {a, b}, {b, a}, {a, b}}
	for i, s := range steps {
		session := signIn(t, env, alice, s.from)
		if r := change(env, session, nil, map[string]string{"old": s.from, "new": s.to, "confirm": s.to}); r.StatusCode != 200 {
			t.Fatalf("change %d: %d %s", i+1, r.StatusCode, r.Body)
		}
		if login(t, env, alice, s.to) != 200 || login(t, env, alice, s.from) == 200 {
			t.Fatalf("change %d reported success but the app did not take the new password", i+1)
		}
		if n := env.App.SessionCount("1001"); n != 1 {
			// Only the login with the new password above is live.
			t.Fatalf("change %d: %d sessions live; the old one survived", i+1, n)
		}
	}
	seen := map[string]bool{}
	for _, u := range env.App.Updates() {
		if u.IdempotencyKey == "" || seen[u.IdempotencyKey] {
			t.Fatalf("Idempotency-Key %q empty or used twice", u.IdempotencyKey)
		}
		seen[u.IdempotencyKey] = true
	}
	if len(seen) != len(steps) {
		t.Fatalf("the app applied %d updates for %d changes", len(seen), len(steps))
	}
}

// Finding 11. Attack surface: the session hook got the browser's whole
// Cookie header, resetgate's own cookies included: the live reset token
// (rg_token), the "this wasn't me" token (rg_revoke), the flow and the
// CSRF cookie, although they exist so that the app never sees them. Now
// no hook call carries them; the app's own cookies still arrive.
func TestSessionHookReceivesResetgateCookies(t *testing.T) {
	env, spy := passkeyEnv(t, "")
	session := signIn(t, env, alice, alicePassword)
	// Values shaped like resetgate's tokens: which values they hold does
	// not matter to the filter, only the names.
	secrets := map[string]string{}
	for _, name := range []string{"rg_token", "rg_revoke", "rg_flow", "rg_csrf", "rg_reauth"} {
		secrets[name] = testenv.RandomString(43)
	}
	jar := []*http.Cookie{session}
	for name, v := range secrets {
		jar = append(jar, &http.Cookie{Name: name, Value: v})
	}
	// The change page, the passkeys page and the JSON change and passkey
	// calls all ask the session hook (and the last two the verify hook).
	getPage(t, env, "/password-reset/change", nil, jar...)
	getPage(t, env, "/password-reset/passkeys", nil, jar...)
	postAs(env, "/password-reset/passkeys/register/options", map[string]any{"password": "wrong"}, jar...)
	if r := change(env, nil, map[string]string{"Cookie": cookieHeader(jar)}, map[string]string{"old": "wrong", "new": "whatever password 1"}); r.StatusCode != 403 {
		t.Fatalf("change: %d %s", r.StatusCode, r.Body)
	}
	calls := append(spy.Calls("/internal/session"), spy.Calls("/internal/users/verify")...)
	for _, c := range calls {
		all := strings.Join(c.Header.Values("Cookie"), "; ")
		for name, v := range secrets {
			if strings.Contains(all, name+"=") || strings.Contains(all, v) {
				t.Errorf("%s got resetgate's %s cookie", c.URL.Path, name)
			}
		}
		if c.URL.Path == "/internal/session" && !strings.Contains(all, legacyapp.SessionCookie+"="+session.Value) {
			t.Errorf("the session hook lost the app's own cookie")
		}
	}
	if n := len(spy.Calls("/internal/session")); n < 3 {
		t.Fatalf("the session hook was asked %d times", n)
	}
}

func cookieHeader(cs []*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}
