package e2e

import (
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// TestBrowserChangePassword changes a signed-in user's password on the
// hosted change page in headless Chromium: signed out it asks to sign in;
// signed in, a wrong current password is flagged on its field, a good
// change shows the "changed" page, and the new password signs in.
func TestBrowserChangePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Caddy; skipped with -short")
	}
	chrome := chromiumPath(t)
	shots := accountShots(t, "8-change")
	start := time.Now()
	env := testenv.New(t, testenv.Options{NoStart: true})
	env.Load(env.Caddyfile(accountBlock(env, false, "")))
	browser := &chromium{path: chrome}
	browser.start(t)
	old := legacyapp.DemoAccounts()[1].Password

	u := newUser(t, browser, env, shots, "8-change", "")
	u.open(env.BaseURL + "/password-reset/change")
	u.waitPage("error")
	u.waitText("h1", "Please sign in")
	u.shot("signed-out")
	u.click(`a.button`)
	u.waitText("h1", "Sign in")

	u.signIn(bob, old, "Bob Baumann")
	u.click(`a[href="/password-reset/change"]`)
	u.waitPage("change")
	u.waitText("h1", "Change your password")
	if got := u.eval(`['old','new','confirm'].map(id => document.getElementById(id).autocomplete).join(' ')`); got != "current-password new-password new-password" {
		t.Errorf("autocomplete: %s", got)
	}
	if id := u.eval(`document.activeElement.id`); id != "old" {
		t.Errorf("focus on %q, want the current password", id)
	}
	u.shot("change")

	const good = "bridges need good foundations"
	u.keys("#old", "not my password")
	u.keys("#new", good)
	u.keys("#confirm", good)
	u.click(`button[type=submit]`)
	u.waitVisible("#old-error")
	u.waitText("#old-error", "not your current password")
	if inv := u.eval(`document.getElementById('old').getAttribute('aria-invalid')`); inv != "true" {
		t.Errorf("old field aria-invalid=%q", inv)
	}
	u.shot("change-wrong-old")

	u.keys("#old", old)
	u.keys("#new", good)
	u.keys("#confirm", good)
	u.click(`button[type=submit]`)
	u.waitPage("changed")
	u.waitText("h1", "Password changed")
	u.shot("changed")
	u.mail(bob, "Ihr Passwort für Acme Demo wurde geändert") // bob's locale is de

	// The app ended bob's sessions; the new password signs in.
	u.click(`a.button`)
	u.waitText("h1", "Sign in")
	u.keys("#email", bob)
	u.keys("#password", old+"\n")
	u.waitText("body", "Invalid email or password")
	u.signIn(bob, good, "Bob Baumann")
	u.shot("app-welcome")
	t.Logf("change journey took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}
