package caddymodule_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/plugin"
)

// Regression tests for the informational items of the December 2026
// security review: Origin: null, CSRF pairs tied to the reset session,
// the mailed link planting any token, and duplicate JSON keys.

// postForm posts form to path with b's cookies and the extra headers; it
// does not follow a redirect.
func (b *pageClient) postForm(path string, form url.Values, hdr map[string]string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.env.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := *b.c
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp
}

// Attack (info item, "Origin: null" accepted on forms): a sandboxed
// iframe, a data: or file: page posts the forgot form with Origin: null.
// Now such a post is refused (403) unless the browser itself marks it
// same-origin (Sec-Fetch-Site, which pages cannot set: what a browser
// sends for our own forms under Referrer-Policy: no-referrer).
func TestAttackFormPostWithNullOrigin(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	b := newPageClient(t, env)
	b.get("/password-reset/")
	form := url.Values{"identifier": {alice}, "csrf": {between(b.last, `name="csrf" value="`, `"`)}}
	before := env.App.LookupsOf(alice)
	for name, hdr := range map[string]map[string]string{
		"null origin":                      {"Origin": "null"},
		"null origin, cross-site fetch":    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
		"null origin, same-site subdomain": {"Origin": "null", "Sec-Fetch-Site": "same-site"},
		"foreign origin":                   {"Origin": "https://evil.example"},
	} {
		if r := b.postForm("/password-reset/", form, hdr); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := env.App.LookupsOf(alice) - before; n != 0 {
		t.Fatalf("refused posts started %d resets", n)
	}
	if r := b.postForm("/password-reset/", form, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the browser's own same-origin post under no-referrer: %d, want 303", r.StatusCode)
	}
	env.WaitMail(alice, "reset")
}

// Attack (info item, CSRF pairs not tied to a session): the attacker
// takes a CSRF cookie and form token from his own visit, plants the
// cookie in the victim's browser (a sibling subdomain can set cookies) and
// posts the code form of the victim's reset with his token. Now the form
// token is bound to the reset session (the flow, token and revoke
// cookies), so the pair fails in the victim's session: 403, and the
// victim's flow counts no attempt.
func TestAttackCSRFPairPlantedFromAnotherSession(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	attacker := newPageClient(t, env)
	attacker.get("/password-reset/")
	attackerToken := between(attacker.last, `name="csrf" value="`, `"`)
	u, _ := url.Parse(env.URL + "/password-reset/")
	var attackerCookie *http.Cookie
	for _, c := range attacker.c.Jar.Cookies(u) {
		if c.Name == "rg_csrf" {
			attackerCookie = c
		}
	}
	if attackerCookie == nil || attackerToken == "" {
		t.Fatal("no CSRF pair on the forgot page")
	}

	victim := newPageClient(t, env)
	victim.submit("/password-reset/", url.Values{"identifier": {alice}})
	code := testenv.Code(t, env.WaitMail(alice, "reset"))
	// The planted cookie replaces the victim's own.
	victim.c.Jar.SetCookies(u, []*http.Cookie{{Name: "rg_csrf", Value: attackerCookie.Value, Path: "/password-reset"}})
	r := victim.postForm("/password-reset/sent", url.Values{"csrf": {attackerToken}, "code": {wrongCode(code)}}, nil)
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("a CSRF pair from another session acted on the victim's reset: %d, want 403", r.StatusCode)
	}
	// The victim's own form, reloaded, still works with the right code.
	if st, body := victim.submit("/password-reset/sent", url.Values{"code": {code}}); st != 200 || !strings.Contains(body, `autocomplete="new-password"`) {
		t.Fatalf("the victim's own code form: %d %s", st, pageKind(body))
	}
}

// Attack (info item, the mailed link plants any token): GET
// {prefix}/new?token=X moved any X into the token cookie and redirected,
// so a crafted link could fix a token in a victim's browser and the page
// only failed later. Now the token is checked first (read only): an
// unknown, used or expired one gets the error page at once and no cookie.
func TestAttackMailedLinkPlantsAnyToken(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	r := env.Get("/password-reset/new?token=" + testenv.RandomString(43))
	if r.StatusCode != http.StatusNotFound || !strings.Contains(string(r.Body), "This link does not work") {
		t.Fatalf("unknown token in the link: %d, want the 404 error page", r.StatusCode)
	}
	for _, c := range r.Cookies() {
		if c.Name == "rg_token" {
			t.Fatalf("an unknown token was planted in a cookie")
		}
	}
	token := mailedToken(t, env)
	r = env.Get("/password-reset/new?token=" + token)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/password-reset/new" {
		t.Fatalf("live token in the link: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 200 {
		t.Fatalf("checking the link consumed the token: %d", r.StatusCode)
	}
}

// Attack (info item, duplicate JSON keys): {"identifier":"a","identifier":"b"}
// was read as "b" by resetgate while a proxy or WAF in front may read "a".
// Now any repeated key, compared as encoding/json matches fields
// (case-insensitively), is 400 INVALID_REQUEST and changes nothing.
func TestAttackDuplicateJSONKeys(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	// Lookups besides the start-up self-test's (a reserved identifier).
	lookups := func() int { return env.App.LookupsBesides(plugin.SelfTestIdentifier) }
	before := lookups()
	for path, body := range map[string]string{
		"request same key":     `{"identifier":"nobody@example.test","identifier":"` + alice + `"}`,
		"request case variant": `{"identifier":"nobody@example.test","IDENTIFIER":"` + alice + `"}`,
		"request mixed case":   `{"Identifier":"nobody@example.test","identifier":"` + alice + `"}`,
	} {
		r := env.PostJSON("/password-reset/request", body)
		wantAPI(t, path, r, http.StatusBadRequest, "INVALID_REQUEST")
	}
	r := env.PostJSON("/password-reset/verify", `{"flow_id":"`+testenv.RandomString(43)+`","code":"12345678","Code":"87654321"}`)
	wantAPI(t, "verify with code twice", r, http.StatusBadRequest, "INVALID_REQUEST")
	r = env.PostJSON("/password-reset/complete", `{"token":"x","password":"a long enough password","password":"another long password"}`)
	wantAPI(t, "complete with password twice", r, http.StatusBadRequest, "INVALID_REQUEST")
	time.Sleep(300 * time.Millisecond)
	if n := lookups() - before; n != 0 {
		t.Fatalf("refused requests reached the app's lookup %d times", n)
	}
	if n := len(env.Mail.Messages()); n != 0 {
		t.Fatalf("refused requests sent %d mails", n)
	}
}
