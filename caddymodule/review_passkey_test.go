package caddymodule_test

// Regression tests for the December 2026 security review, findings 2, 3
// and 8 (passkeys), each against a real Caddy in front of the legacy app.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
)

// Finding 2. Attack: under require_passkey, a custom portal (or whoever
// holds a leaked admin token, or a shell on the host with Caddy's admin
// endpoint) issues a reset token for a user who has a passkey, and sets a
// new password with it without the passkey. Both ways of issuing must say
// PASSKEY_REQUIRED, complete must refuse until the passkey is proven, and
// the app must keep the old password.
func TestAdminIssuedTokenBypassesRequirePasskey(t *testing.T) {
	issuer := testenv.RandomString(40)
	env := testenv.New(t, testenv.Options{NoStart: true})
	spy := newAppSpy(t, env.App)
	adminPort := testenv.FreePort(t)
	cf := env.Caddyfile(passkeyBlock(spy.URL, "") + "\t\trequire_passkey\n\t\tadmin_token sha256:" + sha256Hex(issuer) + " tokens:issue\n")
	env.Load(strings.Replace(cf, "admin off", "admin 127.0.0.1:"+itoa(adminPort), 1))
	d := mustAddPasskey(t, env, signIn(t, env, alice, alicePassword))

	viaAPI := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", issuer)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(adminPort)+"/password-reset/users/1001/reset-token", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	viaCaddyBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name, got := range map[string]struct {
		status int
		body   []byte
	}{"admin API": {viaAPI.StatusCode, viaAPI.Body}, "Caddy admin endpoint": {resp.StatusCode, viaCaddyBody}} {
		var issued struct {
			Token    string
			NextStep string `json:"next_step"`
		}
		json.Unmarshal(got.body, &issued)
		if got.status != 201 || issued.NextStep != "PASSKEY_REQUIRED" {
			t.Fatalf("%s: %d %s", name, got.status, got.body)
		}
		if r := env.Get("/password-reset/tokens/" + issued.Token); r.JSON()["next_step"] != "PASSKEY_REQUIRED" {
			t.Errorf("%s: preflight says %s", name, r.Body)
		}
		pw := "portal chosen password " + testenv.RandomString(6)
		if r := postComplete(env, issued.Token, pw); r.StatusCode != 403 || r.ErrorCodes()[0] != "PASSKEY_REQUIRED" {
			t.Fatalf("%s: complete without the passkey: %d %s", name, r.StatusCode, r.Body)
		}
		if login(t, env, alice, pw) == 200 || login(t, env, alice, alicePassword) != 200 {
			t.Fatalf("%s: the app's password changed without the passkey", name)
		}
	}
	// With the passkey proven on the token, the portal's reset works.
	var issued struct{ Token string }
	json.Unmarshal(viaAPI.Body, &issued)
	if r := d.prove(t, env, map[string]any{"token": issued.Token}); r.StatusCode != 200 {
		t.Fatalf("step-up: %d %s", r.StatusCode, r.Body)
	}
	pw := "portal chosen password 2"
	if r := postComplete(env, issued.Token, pw); r.StatusCode != 200 || login(t, env, alice, pw) != 200 {
		t.Fatalf("complete after the passkey: %d %s", r.StatusCode, r.Body)
	}
}

// Finding 3, first half. Attack: with only the victim's session cookie
// (stolen, or a browser left signed in), register a passkey of one's own,
// which then resets the password whenever one likes. Registering needs a
// fresh proof: without one, 403 REAUTH_REQUIRED; with a wrong password,
// 403 OLD_PASSWORD_WRONG; in both cases no passkey is stored and no
// passkey resets the password.
func TestStolenSessionRegistersPasskey(t *testing.T) {
	env, _ := passkeyEnv(t, "")
	session := signIn(t, env, alice, alicePassword)
	if _, r := addPasskey(t, env, session, map[string]any{}); r.StatusCode != 403 || r.ErrorCodes()[0] != "REAUTH_REQUIRED" {
		t.Fatalf("session alone: %d %s", r.StatusCode, r.Body)
	}
	if _, r := addPasskey(t, env, session, map[string]any{"password": "a guess at the password"}); r.StatusCode != 403 || r.ErrorCodes()[0] != "OLD_PASSWORD_WRONG" {
		t.Fatalf("session and a wrong password: %d %s", r.StatusCode, r.Body)
	}
	if n := passkeyCount(t, env, session); n != 0 {
		t.Fatalf("alice holds %d passkeys after the refused registrations", n)
	}
	if n := mailsTo(env, alice, "passkey"); n != 0 {
		t.Fatalf("%d passkey mails for refused registrations", n)
	}
}

// Finding 3, proofs that do work: the current password (the JSON API and
// the page's form without JavaScript) and an assertion of one of the
// user's own passkeys. Each new passkey mails the user.
func TestFreshProofAddsPasskey(t *testing.T) {
	env, _ := passkeyEnv(t, "")
	session := signIn(t, env, alice, alicePassword)
	first := mustAddPasskey(t, env, session)
	env.WaitMail(alice, "passkey was added")

	// An existing passkey is a fresh proof too.
	r := postAs(env, "/password-reset/passkeys/reauth/options", map[string]any{}, session)
	if r.StatusCode != 200 {
		t.Fatalf("reauth options: %d %s", r.StatusCode, r.Body)
	}
	proof := map[string]any{"ceremony": r.JSON()["ceremony"], "credential": first.sign(t, r.Body)}
	if d, r := addPasskey(t, env, session, proof); d == nil {
		t.Fatalf("adding with a passkey as proof: %d %s", r.StatusCode, r.Body)
	}
	// The page: a plain form asks for the password, then the add form
	// (run by passkey.js) may start a registration.
	page := getPage(t, env, "/password-reset/passkeys", session)
	if !strings.Contains(page.body, `action="/password-reset/passkeys/confirm"`) || strings.Contains(page.body, `data-passkey="register"`) {
		t.Fatalf("passkeys page before the password:\n%s", page.body)
	}
	form := url.Values{"csrf": {between(page.body, `name="csrf" value="`, `"`)}, "password": {alicePassword}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/passkeys/confirm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	for _, c := range page.cookies {
		req.AddCookie(c)
	}
	resp := env.Do(req)
	var grant *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "rg_reauth" {
			grant = c
		}
	}
	if resp.StatusCode != 303 || grant == nil || !grant.HttpOnly || grant.Path != "/password-reset" {
		t.Fatalf("password form: %d %v", resp.StatusCode, resp.Cookies())
	}
	if page := getPage(t, env, "/password-reset/passkeys", session, grant); !strings.Contains(page.body, `data-passkey="register"`) {
		t.Fatalf("passkeys page after the password:\n%s", page.body)
	}
	if d, r := addPasskey(t, env, session, map[string]any{}, grant); d == nil {
		t.Fatalf("adding with the page's grant: %d %s", r.StatusCode, r.Body)
	}
	// The grant is spent by the registration it allowed.
	if _, r := addPasskey(t, env, session, map[string]any{}, grant); r.StatusCode != 403 {
		t.Fatalf("the grant allowed a second registration: %d %s", r.StatusCode, r.Body)
	}
	if n := passkeyCount(t, env, session); n != 3 {
		t.Fatalf("alice holds %d passkeys, want 3", n)
	}
}

// Finding 3, second half. Attack: a passkey added behind the victim's back
// (here: by someone who also knew the password) keeps resetting the
// password after the victim noticed. The "a passkey was added" mail's link
// removes it (GET only shows a confirm page), and then it resets nothing.
func TestPasskeyAddedMailRemovesAttackerPasskey(t *testing.T) {
	env, _ := passkeyEnv(t, "")
	session := signIn(t, env, alice, alicePassword)
	attacker := mustAddPasskey(t, env, session)
	m := env.WaitMail(alice, "passkey was added")
	for _, want := range []string{"Laptop", "Remove this passkey"} {
		if !strings.Contains(m.Text+m.HTML, want) {
			t.Errorf("passkey mail lacks %q:\n%s", want, m.Text)
		}
	}
	link := between(m.Text, env.BaseURL, "\n")
	if !strings.HasPrefix(link, "/password-reset/passkeys/undo?token=") {
		t.Fatalf("no removal link in the mail:\n%s", m.Text)
	}
	page := getPage(t, env, strings.TrimSpace(link), nil)
	page = getPage(t, env, "/password-reset/passkeys/undo", nil, page.cookies...)
	if page.status != 200 || !strings.Contains(page.body, "remove the passkey") {
		t.Fatalf("confirm page: %d\n%s", page.status, page.body)
	}
	if n := passkeyCount(t, env, session); n != 1 {
		t.Fatalf("GET on the link changed the passkeys: %d", n)
	}
	form := url.Values{"csrf": {between(page.body, `name="csrf" value="`, `"`)}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/passkeys/undo", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range page.cookies {
		req.AddCookie(c)
	}
	if r := env.Do(req); r.StatusCode != 200 || !strings.Contains(string(r.Body), "The passkey has been removed") {
		t.Fatalf("removing by the mail's link: %d\n%s", r.StatusCode, r.Body)
	}
	if n := passkeyCount(t, env, session); n != 0 {
		t.Fatalf("alice still holds %d passkeys", n)
	}
	if r := attacker.prove(t, env, map[string]any{}); r.StatusCode != 400 || r.ErrorCodes()[0] != "PASSKEY_INVALID" {
		t.Fatalf("the removed passkey still proves: %d %s", r.StatusCode, r.Body)
	}
}

// Finding 3, for an app that sends its own mail (deliver): the notice of a
// new passkey must reach it too, or a passkey added behind the user's back
// goes unnoticed. The deliver hook gets a signed "passkey.added" with the
// removal link, whose token works at POST /revoke.
func TestPasskeyAddedReachesDeliverApp(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	spy := newAppSpy(t, env.App)
	delivered := newAppSpy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	env.Load(env.Caddyfile("\t\tmethods link code passkey\n" + passkeyBlock(spy.URL, "") + "\t\tdeliver " + delivered.URL + "/internal/mail\n"))
	session := signIn(t, env, alice, alicePassword)
	d := mustAddPasskey(t, env, session)
	var notice struct {
		Type        string
		User        struct{ ID string }
		PasskeyName string `json:"passkey_name"`
		RemoveLink  string `json:"remove_link"`
	}
	bodies := delivered.Bodies("/internal/mail")
	if len(bodies) != 1 || json.Unmarshal(bodies[0], &notice) != nil {
		t.Fatalf("deliver calls: %q", bodies)
	}
	if notice.Type != "passkey.added" || notice.User.ID != "1001" || notice.PasskeyName != "Laptop" || !strings.HasPrefix(notice.RemoveLink, env.BaseURL+"/password-reset/passkeys/undo?token=") {
		t.Fatalf("deliver payload %s", bodies[0])
	}
	if delivered.Calls("/internal/mail")[0].Header.Get("webhook-signature") == "" {
		t.Error("the passkey notice is not signed")
	}
	token := strings.TrimPrefix(notice.RemoveLink, env.BaseURL+"/password-reset/passkeys/undo?token=")
	if r := env.PostJSON("/password-reset/revoke", map[string]string{"token": token}); r.StatusCode != 200 {
		t.Fatalf("revoke with the notice's token: %d %s", r.StatusCode, r.Body)
	}
	if r := d.prove(t, env, map[string]any{}); r.StatusCode != 400 || passkeyCount(t, env, session) != 0 {
		t.Fatalf("the passkey survived its removal link: %d %s", r.StatusCode, r.Body)
	}
}

// Finding 3, "this wasn't me" and reset. Attack: the attacker's passkey
// survives the victim's reset and the victim's "this wasn't me". Now
// "this wasn't me" removes the passkeys added since the last reset (the
// victim's older passkey stays), and with passkey { remove_on_reset } a
// reset removes every passkey.
func TestPasskeySurvivesResetAndThisWasntMe(t *testing.T) {
	env, spy := passkeyEnv(t, "")
	session := signIn(t, env, alice, alicePassword)
	own := mustAddPasskey(t, env, session)
	pw := "a brand new password 1"
	if r := postComplete(env, mailedToken(t, env), pw); r.StatusCode != 200 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
	}
	alicePw := pw
	session = signIn(t, env, alice, alicePw)
	d, r := addPasskey(t, env, session, map[string]any{"password": alicePw})
	if d == nil {
		t.Fatalf("the attacker's passkey: %d %s", r.StatusCode, r.Body)
	}
	env.Mail.Clear()
	requestReset(t, env, alice)
	_, revoke := testenv.RevokeLink(t, env.WaitMail(alice, "reset"))
	if r := env.PostJSON("/password-reset/revoke", map[string]string{"token": revoke}); r.StatusCode != 200 {
		t.Fatalf("this wasn't me: %d %s", r.StatusCode, r.Body)
	}
	if r := d.prove(t, env, map[string]any{}); r.StatusCode != 400 || r.ErrorCodes()[0] != "PASSKEY_INVALID" {
		t.Fatalf("the passkey added after the reset survived \"this wasn't me\": %d %s", r.StatusCode, r.Body)
	}
	if n := passkeyCount(t, env, session); n != 1 {
		t.Fatalf("after \"this wasn't me\" alice holds %d passkeys, want her older one", n)
	}
	if r := own.prove(t, env, map[string]any{}); r.StatusCode != 200 {
		t.Fatalf("alice's passkey from before the reset: %d %s", r.StatusCode, r.Body)
	}

	// remove_on_reset: the next reset removes the older one too.
	env.Load(env.Caddyfile("\t\tmethods link code passkey\n" + passkeyBlock(spy.URL, "\t\t\tremove_on_reset")))
	if r := postComplete(env, mailedToken(t, env), "another new password 2"); r.StatusCode != 200 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
	}
	session = signIn(t, env, alice, "another new password 2")
	if n := passkeyCount(t, env, session); n != 0 {
		t.Fatalf("remove_on_reset kept %d passkeys", n)
	}
	if r := own.prove(t, env, map[string]any{}); r.StatusCode != 400 {
		t.Fatalf("a passkey proves after a reset under remove_on_reset: %d %s", r.StatusCode, r.Body)
	}
}

// Finding 8. Attack: with `methods link code` and require_passkey (the
// passkey meant as a second factor), the passkey alone, on one's own flow
// id, issued a token without the mailed code or link. Every passkey path
// that replaces the mail now needs passkey in methods, also for a ceremony
// or a token from before a reload that dropped it.
func TestPasskeyAloneBypassesMethods(t *testing.T) {
	env, spy := passkeyEnv(t, "")
	withPasskey := env.Caddyfile("\t\tmethods link code passkey\n" + passkeyBlock(spy.URL, ""))
	withoutPasskey := env.Caddyfile("\t\tmethods link code\n\t\trequire_passkey\n" + passkeyBlock(spy.URL, ""))
	env.Load(withPasskey)
	d := mustAddPasskey(t, env, signIn(t, env, alice, alicePassword))
	// Started while passkey was a method: a ceremony and a token.
	pending := env.PostJSON("/password-reset/passkey/options", map[string]any{})
	early := d.prove(t, env, map[string]any{})
	if pending.StatusCode != 200 || early.StatusCode != 200 {
		t.Fatalf("with passkey in methods: %d, %d %s", pending.StatusCode, early.StatusCode, early.Body)
	}
	earlyToken, _ := early.JSON()["token"].(string)

	env.Load(withoutPasskey)
	flowID := requestReset(t, env, alice)
	env.WaitMail(alice, "reset")
	for name, body := range map[string]map[string]any{"on the flow": {"flow_id": flowID}, "alone": {}} {
		if r := d.prove(t, env, body); r.StatusCode != 404 {
			t.Errorf("passkey %s without passkey in methods: %d %s", name, r.StatusCode, r.Body)
		}
	}
	late := map[string]any{"ceremony": pending.JSON()["ceremony"], "credential": d.sign(t, pending.Body)}
	if r := env.PostJSON("/password-reset/passkey/verify", late); r.StatusCode != 400 || r.ErrorCodes()[0] != "PASSKEY_INVALID" {
		t.Errorf("a ceremony from before the reload: %d %s", r.StatusCode, r.Body)
	}
	if r := postComplete(env, earlyToken, "a passkey only password 1"); r.StatusCode != 404 || r.ErrorCodes()[0] != "TOKEN_INVALID" {
		t.Errorf("a passkey-only token from before the reload: %d %s", r.StatusCode, r.Body)
	}
	if login(t, env, alice, alicePassword) != 200 {
		t.Fatal("the password changed")
	}
	// The code still works, and the passkey as the second step after it.
	m := env.WaitMail(alice, "reset")
	r := env.PostJSON("/password-reset/verify", map[string]string{"flow_id": flowID, "code": testenv.Code(t, m)})
	token, _ := r.JSON()["token"].(string)
	if r.StatusCode != 200 || r.JSON()["next_step"] != "PASSKEY_REQUIRED" {
		t.Fatalf("code: %d %s", r.StatusCode, r.Body)
	}
	if r := d.prove(t, env, map[string]any{"token": token}); r.StatusCode != 200 {
		t.Fatalf("step-up: %d %s", r.StatusCode, r.Body)
	}
	if r := postComplete(env, token, "code and passkey password 1"); r.StatusCode != 200 {
		t.Fatalf("complete: %d %s", r.StatusCode, r.Body)
	}
}

// fetchedPage is a fetched HTML page with the cookies it set.
type fetchedPage struct {
	status  int
	body    string
	cookies []*http.Cookie
}

// getPage fetches an HTML page through Caddy with cookies.
func getPage(t *testing.T, env *testenv.Env, path string, session *http.Cookie, cookies ...*http.Cookie) fetchedPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	if session != nil {
		req.AddCookie(session)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	r := env.Do(req)
	return fetchedPage{status: r.StatusCode, body: string(r.Body), cookies: append(r.Cookies(), cookies...)}
}
