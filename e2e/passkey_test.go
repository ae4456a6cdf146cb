package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// accountShots is the screenshot directory of browser_test.go, but it only
// clears the screenshots of the given trails: the journeys' screenshots
// stay when these tests run on their own.
func accountShots(t *testing.T, trails ...string) string {
	t.Helper()
	dir := os.Getenv("RESETGATE_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	for _, trail := range trails {
		old, _ := filepath.Glob(filepath.Join(dir, trail+"-*.png"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// accountBlock is the password_reset configuration of the signed-in
// pages: the app's session and verify hooks, and passkeys for
// http://localhost:<port> when passkeys is true.
func accountBlock(env *testenv.Env, passkeys bool, extra string) string {
	b := fmt.Sprintf("\t\tverify %[1]s/internal/users/verify\n\t\tsession %[1]s/internal/session\n", env.AppURL)
	if passkeys {
		b += fmt.Sprintf("\t\tmethods link code passkey\n\t\tpasskey {\n\t\t\trp_id localhost\n\t\t\trp_name \"Acme Demo\"\n\t\t\torigins %s\n\t\t}\n", env.BaseURL)
	}
	return b + extra
}

// signIn signs in at the example app's own login form (through Caddy),
// which sets the app's session cookie.
func (u *user) signIn(email, password, name string) {
	u.t.Helper()
	u.open(u.env.BaseURL + "/")
	u.waitText("h1", "Sign in")
	u.keys("#email", email)
	u.keys("#password", password+"\n")
	u.waitText("body", "Welcome, "+name)
}

// addAuthenticator gives the tab a DevTools virtual authenticator: a
// platform authenticator (internal transport) with resident keys and user
// verification that always succeeds, like a laptop's fingerprint reader.
func (u *user) addAuthenticator() {
	u.t.Helper()
	u.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return fmt.Errorf("WebAuthn.enable: %w", err)
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		if err != nil {
			return fmt.Errorf("WebAuthn.addVirtualAuthenticator: %w", err)
		}
		return nil
	}))
}

// waitJS waits until a JavaScript condition holds (the page script ran).
func (u *user) waitJS(js, what string) {
	u.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	u.fail(fmt.Errorf("waiting for %s (%s)", what, js))
}

// TestBrowserPasskeys registers a passkey on the hosted passkeys page in
// headless Chromium (a DevTools virtual authenticator stands in for the
// fingerprint reader), resets with that passkey alone from the forgot
// page, and, under require_passkey, resets by mail with the passkey as the
// second step. Each new password then signs in at the app.
func TestBrowserPasskeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Caddy; skipped with -short")
	}
	chrome := chromiumPath(t)
	shots := accountShots(t, "5-passkey-add", "6-passkey-reset", "7-passkey-step")
	start := time.Now()
	env := testenv.New(t, testenv.Options{NoStart: true})
	env.Load(env.Caddyfile(accountBlock(env, true, "\t\trequire_passkey\n")))
	browser := &chromium{path: chrome}
	browser.start(t)
	alicePassword := legacyapp.DemoAccounts()[0].Password

	// 1. Signed in at the app, alice adds a passkey named "Laptop".
	u := newUser(t, browser, env, shots, "5-passkey-add", "")
	u.addAuthenticator()
	u.signIn(alice, alicePassword, "Alice Archer")
	u.open(env.BaseURL + "/password-reset/passkeys")
	u.waitPage("passkeys")
	u.waitText("h1", "Your passkeys")
	u.waitText("body", "You have no passkeys yet.")
	// A session alone does not add a passkey: the page asks for the
	// current password first, in a plain form.
	u.waitText("#passkey-reauth", "To add a passkey, first confirm your current password.")
	u.shot("passkeys-password")
	u.keys("#password", alicePassword)
	u.click(`#passkey-reauth button[type=submit]`)
	u.waitPage("passkeys")
	u.waitJS(`!document.querySelector('#passkey-add fieldset').disabled`, "the add form enabled by passkey.js")
	if hidden := u.eval(`String(document.querySelector('[data-passkey-unsupported]').hidden)`); hidden != "true" {
		t.Error("the no-JavaScript note is still shown although WebAuthn works")
	}
	u.shot("passkeys-empty")
	u.keys("#passkey-name", "Laptop")
	u.click(`#passkey-add button[type=submit]`)
	u.waitText(".banner", "Passkey added.")
	u.waitText(".passkeys", "Laptop")
	u.waitText(".passkeys", "Not used yet")
	if n := u.eval(`String(document.querySelectorAll('.passkeys li').length)`); n != "1" {
		t.Errorf("passkeys listed: %s", n)
	}
	u.shot("passkeys-laptop")

	// 2. Signed out, she resets with the passkey alone.
	u = newUser(t, browser, env, shots, "6-passkey-reset", "")
	u.open(env.BaseURL + "/password-reset/")
	u.waitPage("forgot")
	u.waitVisible(`[data-passkey-start]`)
	u.waitText(`[data-passkey-start]`, "Use a passkey instead")
	u.shot("forgot-with-passkey")
	u.click(`[data-passkey-start]`)
	u.waitPage("new")
	u.waitText("h1", "Set a new password")
	if loc := u.eval(`location.href`); strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	u.waitText(".account", alice)
	u.shot("new")
	const viaPasskey = "fingerprints beat passwords"
	u.keys("#password", viaPasskey)
	u.keys("#confirm", viaPasskey)
	u.click(`button[type=submit]`)
	u.waitPage("done")
	u.waitText("h1", "Password changed")
	u.shot("done")
	u.signIn(alice, viaPasskey, "Alice Archer")
	u.shot("app-welcome")

	// 3. require_passkey: the mailed link alone is not enough; the page
	// asks for the passkey first, then shows the password form.
	u = newUser(t, browser, env, shots, "7-passkey-step", "")
	u.open(env.BaseURL + "/password-reset/")
	u.waitPage("forgot")
	u.keys("#identifier", alice+"\n")
	u.waitPage("sent")
	m := u.mail(alice, "Reset your Acme Demo password")
	link, _ := testenv.ResetLink(t, m)
	u.open(link)
	u.waitPage("new")
	u.waitText("body", "This account is protected by a passkey.")
	u.waitVisible(`[data-passkey-start]`)
	if n := u.eval(`String(document.querySelectorAll('#password').length)`); n != "0" {
		t.Error("the password form is shown before the passkey")
	}
	u.shot("new-passkey-step")
	u.click(`[data-passkey-start]`)
	u.waitVisible("#password")
	u.shot("new-after-passkey")
	const viaMail = "mail and passkey together"
	u.keys("#password", viaMail)
	u.keys("#confirm", viaMail)
	u.click(`button[type=submit]`)
	u.waitPage("done")
	u.waitText("h1", "Password changed")
	u.shot("done")
	u.signIn(alice, viaMail, "Alice Archer")
	u.shot("app-welcome")

	// The passkey page shows it was used.
	u.open(env.BaseURL + "/password-reset/passkeys")
	u.waitText(".passkeys", "Last used:")
	u.shot("passkeys-used")

	t.Logf("passkey journeys took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}
