package caddymodule_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 15.7 — the verify hook's "no" and a refusal of our call look alike
// (both 401).

// Attack/misconfiguration: the verify hook's secret is wrong (rotated at
// the app, mistyped in the Caddyfile), so the app answers every verify
// call 401 "invalid signature". Read as "not the current password", that
// silently switched SAME_AS_OLD off: a reset to the current password was
// accepted. Now a bare 401 fails the check (502, token kept) and the
// reset to the old password is not applied; with the right secret the
// app's 401 {"valid": false} still means "not the current password".
func TestVerifyHookWrongSecretKeepsSameAsOld(t *testing.T) {
	old := legacyapp.DemoAccounts()[0].Password
	t.Run("WrongSecret", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{NoStart: true})
		env.Load(env.Caddyfile("\t\tverify " + env.AppURL + "/internal/users/verify {\n\t\t\tsecret " + testenv.NewSecret() + "\n\t\t}"))
		requestReset(t, env, alice)
		token := mailedToken(t, env)
		r := postComplete(env, token, old)
		wantAPI(t, "complete with the current password, verify refused", r, http.StatusBadGateway, "UPSTREAM_FAILED")
		r = postComplete(env, token, "a brand new password 77")
		wantAPI(t, "complete with a new password, verify refused", r, http.StatusBadGateway, "UPSTREAM_FAILED")
		if n := len(env.App.Updates()); n != 0 {
			t.Fatalf("%d updates reached the app although SAME_AS_OLD could not be checked", n)
		}
		if st := env.Get("/password-reset/tokens/" + token).StatusCode; st != http.StatusOK {
			t.Fatalf("token after the failed checks: %d, want 200 (kept)", st)
		}
	})
	t.Run("RightSecret", func(t *testing.T) {
		env := testenv.New(t, testenv.Options{NoStart: true})
		env.Load(env.Caddyfile("\t\tverify " + env.AppURL + "/internal/users/verify"))
		requestReset(t, env, alice)
		token := mailedToken(t, env)
		r := postComplete(env, token, old)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(strings.Join(r.ErrorCodes(), ","), "SAME_AS_OLD") {
			t.Fatalf("complete with the current password: %d %s, want 422 SAME_AS_OLD", r.StatusCode, r.Body)
		}
		if r := postComplete(env, token, "a brand new password 77"); r.StatusCode != http.StatusOK {
			t.Fatalf("complete with a new password: %d %s", r.StatusCode, r.Body)
		}
	})
}

// An existing endpoint that says "wrong password" with a bare 401 can
// declare it (mismatch_status 401); its 403 (a wrong API key) still fails
// the check instead of passing it.
func TestVerifyHookMismatchStatus(t *testing.T) {
	old := legacyapp.DemoAccounts()[0].Password
	var status atomic.Int32
	status.Store(http.StatusUnauthorized)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load())) // never the current password, bare
	}))
	defer hook.Close()
	env := testenv.New(t, testenv.Options{NoStart: true})
	env.Load(env.Caddyfile("\t\tverify " + hook.URL + " {\n\t\t\tmismatch_status 401\n\t\t}"))
	requestReset(t, env, alice)
	token := mailedToken(t, env)
	status.Store(http.StatusForbidden)
	wantAPI(t, "bare 403", postComplete(env, token, old), http.StatusBadGateway, "UPSTREAM_FAILED")
	status.Store(http.StatusUnauthorized)
	if r := postComplete(env, token, "a brand new password 77"); r.StatusCode != http.StatusOK {
		t.Fatalf("bare 401 listed under mismatch_status: %d %s", r.StatusCode, r.Body)
	}
}
