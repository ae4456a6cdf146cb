package plugin

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// asBrowser makes the test requests look like a browser's navigation on
// base_url: its Host, and an Accept that prefers HTML.
type asBrowser struct{ h http.Handler }

func (a asBrowser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Host = "app.example.test"
	if r.Header.Get("Accept") == "" {
		r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	}
	a.h.ServeHTTP(w, r)
}

// signedIn is a form-posting browser with alice's app session cookie.
func signedIn(t *testing.T, h *harness) *browser {
	b := newBrowser(t, asBrowser{h.e})
	b.cookies["sid"] = &http.Cookie{Name: "sid", Value: "alice-session"}
	return b
}

func wantAll(t *testing.T, name, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %s", name, w)
		}
	}
}

// The change-password page works without JavaScript: a form with the
// password-manager hints, errors on the field they concern, the sign-in
// error page without a session, and a "changed" page.
func TestPagesChangePassword(t *testing.T) {
	h := newHarness(t, nil)

	stranger := newBrowser(t, asBrowser{h.e})
	p := stranger.get("/password-reset/change")
	checkPage(t, "change signed out", p)
	if p.status != 401 || !strings.Contains(p.body, "Please sign in") || !strings.Contains(p.body, `href="https://app.example.test/"`) {
		t.Fatalf("signed out: %d\n%s", p.status, p.body)
	}

	b := signedIn(t, h)
	form := b.get("/password-reset/change")
	checkPage(t, "change", form)
	if form.status != 200 {
		t.Fatalf("change page: %d\n%s", form.status, form.body)
	}
	wantAll(t, "change page", form.body,
		`action="/password-reset/change"`, `id="old" name="old" type="password" autocomplete="current-password"`,
		`id="new" name="new" type="password" autocomplete="new-password"`, `id="confirm" name="confirm" type="password" autocomplete="new-password"`,
		`name="username" autocomplete="username" value="alice@example.test"`, `<label for="old">Current password</label>`, "Change your password")
	if strings.Count(form.body, `autocomplete="new-password"`) != 2 {
		t.Error("want two new-password fields")
	}

	// No CSRF token: refused.
	if r := b.post("/password-reset/change", url.Values{"old": {oldPassword}, "new": {"x"}}); r.status != 403 {
		t.Fatalf("without CSRF: %d", r.status)
	}

	wrong := b.submit(form, "/password-reset/change", url.Values{"old": {"not it"}, "new": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}, "username": {"alice@example.test"}})
	checkPage(t, "change wrong old", wrong)
	if wrong.status != 403 {
		t.Fatalf("wrong old password: %d\n%s", wrong.status, wrong.body)
	}
	wantAll(t, "wrong-old page", wrong.body, `aria-invalid="true" aria-describedby="old-error"`, `id="old-error"`, "That is not your current password.", "<title>Error: ")
	if strings.Contains(wrong.body, `id="new-error"`) {
		t.Error("the old password's error landed on the new field")
	}

	weak := b.submit(wrong, "/password-reset/change", url.Values{"old": {oldPassword}, "new": {"short"}, "confirm": {"shorter"}})
	checkPage(t, "change weak", weak)
	if weak.status != 422 {
		t.Fatalf("weak: %d\n%s", weak.status, weak.body)
	}
	wantAll(t, "weak page", weak.body,
		`aria-invalid="true" aria-describedby="new-error password-rules"`, `id="new-error"`, "too short: use at least 12 characters",
		`id="confirm-error"`, "do not match")
	if strings.Contains(weak.body, `id="old-error"`) {
		t.Error("a policy error landed on the old field")
	}
	if len(h.up.updates) != 0 {
		t.Fatalf("updates after refusals: %v", h.up.updates)
	}

	pw := "a brand new passphrase"
	ok := b.submit(weak, "/password-reset/change", url.Values{"old": {oldPassword}, "new": {pw}, "confirm": {pw}})
	if ok.status != 303 || ok.header.Get("Location") != "/password-reset/changed" {
		t.Fatalf("change: %d %v\n%s", ok.status, ok.header, ok.body)
	}
	if len(h.up.updates) != 1 || h.up.updates[0]["type"] != "password.changed" || h.up.updates[0]["password"] != pw {
		t.Fatalf("updates: %v", h.up.updates)
	}
	changed := b.get("/password-reset/changed")
	checkPage(t, "changed", changed)
	wantAll(t, "changed page", changed.body, "Your password has been changed.", `href="https://app.example.test/"`)

	// The JSON API is still there for a client's own front end.
	if st, out := h.doAs(t, "alice-session", "POST", "/password-reset/change", map[string]string{"old": "nope", "new": pw}); st != 403 || errCode(out) != "OLD_PASSWORD_WRONG" {
		t.Fatalf("JSON change: %d %v", st, out)
	}

	// Without a session the form post gets the sign-in page.
	form2 := stranger.get("/password-reset/") // any page, for a CSRF token
	if r := stranger.submit(form2, "/password-reset/change", url.Values{"old": {oldPassword}, "new": {pw}}); r.status != 401 || !strings.Contains(r.body, "Please sign in") {
		t.Fatalf("signed-out post: %d\n%s", r.status, r.body)
	}
}

// Without the verify hook there is no change page (nor API).
func TestPagesChangeNeedsHooks(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Verify = Hook{} })
	b := signedIn(t, h)
	if p := b.get("/password-reset/change"); p.status != 404 {
		t.Fatalf("change page without verify: %d", p.status)
	}
	if p := b.post("/password-reset/change", url.Values{"old": {"x"}}); p.status != 404 {
		t.Fatalf("change post without verify: %d", p.status)
	}
}

var removeIDRE = regexp.MustCompile(`name="id" value="([A-Za-z0-9_-]+)"`)

// The passkeys page lists the signed-in user's passkeys from the engine,
// removes one by form POST without JavaScript, and leaves GET
// {prefix}/passkeys a JSON list for API clients.
func TestPagesPasskeys(t *testing.T) {
	h := passkeyHarness(t, nil)
	d := register(t, h, testOrigin)

	stranger := newBrowser(t, asBrowser{h.e})
	if p := stranger.get("/password-reset/passkeys"); p.status != 401 || !strings.Contains(p.body, "Please sign in") {
		t.Fatalf("signed out: %d\n%s", p.status, p.body)
	}

	b := signedIn(t, h)
	list := b.get("/password-reset/passkeys")
	checkPage(t, "passkeys", list)
	if list.status != 200 {
		t.Fatalf("passkeys page: %d\n%s", list.status, list.body)
	}
	id := base64.RawURLEncoding.EncodeToString(d.cred.ID)
	wantAll(t, "passkeys page", list.body,
		"Your passkeys", "Laptop", "Added: Friday, 2 January 2026 at 03:04 UTC", "Not used yet", "On one device only",
		`action="/password-reset/passkeys/remove"`, `name="id" value="`+id+`"`, `aria-label="Remove the passkey Laptop"`,
		`action="/password-reset/passkeys/confirm"`, `autocomplete="current-password"`, `src="/password-reset/assets/passkey.js?v=`)
	if strings.Contains(list.body, `data-passkey="register"`) {
		t.Fatalf("the add form is offered before the password was confirmed:\n%s", list.body)
	}
	// A wrong password keeps the form, with its error.
	if p := b.submit(list, "/password-reset/passkeys/confirm", url.Values{"password": {"wrong"}}); p.status != 403 || !strings.Contains(p.body, "That is not your current password.") {
		t.Fatalf("wrong password: %d\n%s", p.status, p.body)
	}
	// The right one, without JavaScript, unlocks the add form.
	if p := b.submit(list, "/password-reset/passkeys/confirm", url.Values{"password": {oldPassword}}); p.status != 303 {
		t.Fatalf("password confirmed: %d\n%s", p.status, p.body)
	}
	list = b.get("/password-reset/passkeys")
	wantAll(t, "passkeys page after the password", list.body,
		`data-passkey="register"`, `data-options="/password-reset/passkeys/register/options"`, `<label for="passkey-name">`,
		`<fieldset disabled>`, "Passkeys need JavaScript", `src="/password-reset/assets/passkey.js?v=`)

	// Used once: the page says when.
	if st, out := d.proof(t, h, map[string]any{}); st != 200 {
		t.Fatalf("proof: %d %v", st, out)
	}
	if p := b.get("/password-reset/passkeys"); !strings.Contains(p.body, "Last used: Friday") {
		t.Errorf("last use not shown:\n%s", p.body)
	}

	// API clients still get JSON from the same address.
	if st, out := h.doAs(t, "alice-session", "GET", "/password-reset/passkeys", nil); st != 200 || len(out["passkeys"].([]any)) != 1 {
		t.Fatalf("JSON list: %d %v", st, out)
	}
	req, _ := http.NewRequest(http.MethodGet, "/password-reset/passkeys", nil)
	req.Header.Set("Accept", "application/json")
	if p := b.send(req); p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Fatalf("JSON list on base_url's host: %d %s", p.status, p.header.Get("Content-Type"))
	}

	// Remove: CSRF required, then gone.
	if p := b.post("/password-reset/passkeys/remove", url.Values{"id": {id}}); p.status != 403 {
		t.Fatalf("remove without CSRF: %d", p.status)
	}
	r := b.submit(list, "/password-reset/passkeys/remove", url.Values{"id": {id}})
	if r.status != 303 || r.header.Get("Location") != "/password-reset/passkeys?done=removed" {
		t.Fatalf("remove: %d %v\n%s", r.status, r.header, r.body)
	}
	after := b.get(r.header.Get("Location"))
	checkPage(t, "passkeys after remove", after)
	wantAll(t, "page after remove", after.body, "Passkey removed.", "You have no passkeys yet.")
	if removeIDRE.MatchString(after.body) {
		t.Error("the removed passkey is still listed")
	}
	if st, out := h.doAs(t, "alice-session", "GET", "/password-reset/passkeys", nil); st != 200 || len(out["passkeys"].([]any)) != 0 {
		t.Fatalf("JSON list after remove: %d %v", st, out)
	}
	if st, _ := d.proof(t, h, map[string]any{}); st != 400 {
		t.Fatalf("the removed passkey still works: %d", st)
	}
	// A second click (another tab) is harmless.
	if r := b.submit(list, "/password-reset/passkeys/remove", url.Values{"id": {id}}); r.status != 303 || r.header.Get("Location") != "/password-reset/passkeys" {
		t.Fatalf("second remove: %d %v", r.status, r.header)
	}
	if r := b.submit(list, "/password-reset/passkeys/remove", url.Values{"id": {"%%%"}}); r.status != 400 {
		t.Fatalf("malformed id: %d", r.status)
	}
}

// The forgot page offers a passkey only when methods include it; the
// script is served like app.js.
func TestPagesForgotOffersPasskey(t *testing.T) {
	with := newBrowser(t, passkeyHarness(t, nil).e).get("/password-reset/")
	checkPage(t, "forgot with passkey", with)
	wantAll(t, "forgot page", with.body, `data-passkey="login"`, `data-options="/password-reset/passkey/options"`, `data-next="/password-reset/new?token="`, "Use a passkey instead", `src="/password-reset/assets/passkey.js?v=`)
	h := newHarness(t, nil)
	without := newBrowser(t, h.e).get("/password-reset/")
	if strings.Contains(without.body, "data-passkey") || strings.Contains(without.body, "passkey.js") {
		t.Error("the forgot page offers a passkey that is not enabled")
	}
	js := newBrowser(t, h.e).get("/password-reset/assets/passkey.js")
	if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "navigator.credentials.get") {
		t.Fatalf("passkey.js: %d %s", js.status, js.header.Get("Content-Type"))
	}
}

// require_passkey: the new-password page shows the passkey step (with the
// token for the script) instead of the form, a form post is sent back to
// it, and after the passkey the form appears.
func TestPagesNewPasswordPasskeyStep(t *testing.T) {
	h := passkeyHarness(t, func(c *Config) { c.RequirePasskey = true })
	d := register(t, h, testOrigin)
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	b := newBrowser(t, h.e)
	if r := b.get("/password-reset/new?token=" + token); r.status != 303 {
		t.Fatalf("link: %d", r.status)
	}
	step := b.get("/password-reset/new")
	checkPage(t, "new passkey step", step)
	if step.status != 200 {
		t.Fatalf("step page: %d", step.status)
	}
	wantAll(t, "passkey step", step.body, `data-passkey="stepup"`, `data-token="`+token+`"`, "Confirm with your passkey", `src="/password-reset/assets/passkey.js?v=`)
	if strings.Contains(step.body, `name="password"`) {
		t.Error("the password form is shown before the passkey")
	}
	// A crafted post cannot skip the step.
	forgot := b.get("/password-reset/")
	if r := b.submit(forgot, "/password-reset/new", url.Values{"password": {"Correct Zebra Battery Staple 9"}, "confirm": {"Correct Zebra Battery Staple 9"}}); r.status != 303 || r.header.Get("Location") != "/password-reset/new" {
		t.Fatalf("post before the passkey: %d %v", r.status, r.header)
	}
	if len(h.up.updates) != 0 {
		t.Fatal("a password was set without the passkey")
	}
	if st, out := d.proof(t, h, map[string]any{"token": token}); st != 200 {
		t.Fatalf("step-up: %d %v", st, out)
	}
	form := b.get("/password-reset/new")
	if !strings.Contains(form.body, `name="password"`) || strings.Contains(form.body, "data-token") {
		t.Fatalf("after the passkey:\n%s", form.body)
	}
}
