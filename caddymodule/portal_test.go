package caddymodule_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/plugin/webhook"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func adminCall(env *testenv.Env, method, path, bearer string) *testenv.Response {
	req, _ := http.NewRequest(method, env.URL+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return env.Do(req)
}

// Invariant 9: without admin_token the admin API does not exist (404), so
// there is nothing to attack.
func TestAdminAPIAbsentWhenUnconfigured(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	r := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", "anything")
	if r.StatusCode != 404 {
		t.Fatalf("admin API without admin_token: %d %s", r.StatusCode, r.Body)
	}
}

// The custom-portal case (Cryptlex thread): a scoped admin token issues a
// reset token for a plain user, never for an admin (a leaked portal token
// cannot take over administrators); a revoke-only token cannot issue; bad
// tokens get 401; the issued token works once at complete; DELETE kills
// every open token of the user.
func TestAdminAPIRolesAndScopes(t *testing.T) {
	issuer, revoker := testenv.RandomString(40), testenv.RandomString(40)
	env := testenv.New(t, testenv.Options{Block: "\t\tadmin_token sha256:" + sha256Hex(issuer) + " tokens:issue\n\t\tadmin_token sha256:" + sha256Hex(revoker) + " tokens:revoke\n\t\tlink_path /portal/reset"})

	for name, bearer := range map[string]string{"no token": "", "wrong token": "x" + issuer, "hash as token": sha256Hex(issuer)} {
		if r := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", bearer); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d", name, r.StatusCode)
		}
	}
	if r := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", revoker); r.StatusCode != 403 || r.ErrorCodes()[0] != "INSUFFICIENT_SCOPE" {
		t.Errorf("revoke-only token issuing: %d %s", r.StatusCode, r.Body)
	}
	if r := adminCall(env, "POST", "/password-reset/admin/users/1002/reset-token", issuer); r.StatusCode != 403 || r.ErrorCodes()[0] != "ROLE_NOT_ALLOWED" {
		t.Errorf("token for an admin user: %d %s", r.StatusCode, r.Body)
	}
	if r := adminCall(env, "POST", "/password-reset/admin/users/9999/reset-token", issuer); r.StatusCode != 404 || r.ErrorCodes()[0] != "USER_NOT_FOUND" {
		t.Errorf("unknown user: %d %s", r.StatusCode, r.Body)
	}
	r := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", issuer)
	if r.StatusCode != 201 {
		t.Fatalf("issue: %d %s", r.StatusCode, r.Body)
	}
	var issued struct {
		Token, URL string
		ExpiresAt  string `json:"expires_at"`
	}
	json.Unmarshal(r.Body, &issued)
	if !strings.HasPrefix(issued.URL, env.BaseURL+"/portal/reset?token="+issued.Token) || issued.ExpiresAt == "" {
		t.Fatalf("issued %+v", issued)
	}
	if len(env.Mail.Messages()) != 0 {
		t.Fatal("the admin API sent a mail: the portal sends its own")
	}
	second := adminCall(env, "POST", "/password-reset/admin/users/1001/reset-token", issuer)
	var other struct{ Token string }
	json.Unmarshal(second.Body, &other)

	if r := adminCall(env, "DELETE", "/password-reset/admin/users/1001/reset-tokens", issuer); r.StatusCode != 403 {
		t.Errorf("issue-only token revoking: %d", r.StatusCode)
	}
	pw := "portal chosen password 1"
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": issued.Token, "password": pw}); r.StatusCode != 200 {
		t.Fatalf("complete with an issued token: %d %s", r.StatusCode, r.Body)
	}
	if got := login(t, env, alice, pw); got != 200 {
		t.Fatalf("login: %d", got)
	}
	third := adminCall(env, "POST", "/password-reset/admin/users/1003/reset-token", issuer)
	var carol struct{ Token string }
	json.Unmarshal(third.Body, &carol)
	if r := adminCall(env, "DELETE", "/password-reset/admin/users/1003/reset-tokens", revoker); r.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	if r := env.Get("/password-reset/tokens/" + carol.Token); r.StatusCode != 404 {
		t.Fatalf("token after admin revoke: %d", r.StatusCode)
	}
}

// signIn logs in at the app through Caddy and returns the session cookie.
func signIn(t *testing.T, env *testenv.Env, email, password string) *http.Cookie {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", env.URL)
	r := env.Do(req)
	for _, c := range r.Cookies() {
		if c.Name == legacyapp.SessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie from login: %d", r.StatusCode)
	return nil
}

func change(env *testenv.Env, cookie *http.Cookie, hdr map[string]string, body map[string]string) *testenv.Response {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/change", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return env.Do(req)
}

// The signed-in change (RESTful answer): identity comes from the app's
// session only. Forged identity headers get 401; a wrong old password 403;
// a weak new one 422; a good one 200, the app's sessions are ended and a
// "changed" mail goes out.
func TestChangePasswordSignedIn(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	env.Load(env.Caddyfile("\t\tverify " + env.AppURL + "/internal/users/verify\n\t\tsession " + env.AppURL + "/internal/session"))
	old := legacyapp.DemoAccounts()[0].Password

	spoof := map[string]string{"X-User-Id": "1001", "X-Forwarded-User": "1001", "X-Remote-User": alice, "Remote-User": alice}
	if r := change(env, nil, spoof, map[string]string{"old": old, "new": "a new password 42 ok"}); r.StatusCode != 401 || r.ErrorCodes()[0] != "NOT_SIGNED_IN" {
		t.Fatalf("forged identity headers: %d %s", r.StatusCode, r.Body)
	}
	if r := change(env, &http.Cookie{Name: legacyapp.SessionCookie, Value: "forged"}, nil, map[string]string{"old": old, "new": "a new password 42 ok"}); r.StatusCode != 401 {
		t.Fatalf("forged session cookie: %d", r.StatusCode)
	}
	cookie := signIn(t, env, alice, old)
	if r := change(env, cookie, nil, map[string]string{"old": "not my password", "new": "a new password 42 ok"}); r.StatusCode != 403 || r.ErrorCodes()[0] != "OLD_PASSWORD_WRONG" {
		t.Fatalf("wrong old password: %d %s", r.StatusCode, r.Body)
	}
	if r := change(env, cookie, nil, map[string]string{"old": old, "new": "short", "confirm": "short"}); r.StatusCode != 422 {
		t.Fatalf("weak new password: %d %s", r.StatusCode, r.Body)
	}
	if r := change(env, cookie, nil, map[string]string{"old": old, "new": old}); r.StatusCode != 422 || !strings.Contains(strings.Join(r.ErrorCodes(), ","), "SAME_AS_OLD") {
		t.Fatalf("same as old: %d %s", r.StatusCode, r.Body)
	}
	pw := "a new password 42 ok"
	if r := change(env, cookie, spoof, map[string]string{"old": old, "new": pw, "confirm": pw}); r.StatusCode != 200 {
		t.Fatalf("change: %d %s", r.StatusCode, r.Body)
	}
	ups := env.App.Updates()
	if len(ups) != 1 || ups[0].Type != "password.changed" || !ups[0].RevokeSessions || ups[0].UserID != "1001" {
		t.Fatalf("updates %+v", ups)
	}
	if env.App.SessionCount("1001") != 0 {
		t.Error("the user's sessions survived the change")
	}
	if got := login(t, env, alice, pw); got != 200 {
		t.Fatalf("login with the changed password: %d", got)
	}
	env.WaitMail(alice, "changed")
}

// deliver hands each reset to the app, signed, with the user, link and
// code, so the app sends its own mail; mail may be off entirely.
func TestDeliverHookReceivesReset(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	signer, _ := webhook.ParseSecret(env.Secret)
	var mu sync.Mutex
	var got []map[string]any
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signer.Verify(r.Header, body, time.Now(), time.Minute); err != nil {
			http.Error(w, "bad signature", 401)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer app.Close()
	cf := env.Caddyfile("\t\tdeliver " + app.URL + "/internal/mail")
	env.Load(cf)
	requestReset(t, env, alice)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("deliver calls: %d", len(got))
	}
	d := got[0]
	user, _ := d["user"].(map[string]any)
	link, _ := d["link"].(string)
	code, _ := d["code"].(string)
	if d["type"] != "password_reset.requested" || user["id"] != "1001" || !strings.HasPrefix(link, env.BaseURL+"/password-reset/new?token=") || len(code) != 8 || d["expires_at"] == nil {
		t.Fatalf("deliver payload %v", d)
	}
	token := strings.TrimPrefix(link, env.BaseURL+"/password-reset/new?token=")
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 200 {
		t.Fatalf("delivered link's token: %d", r.StatusCode)
	}
}

// Operators on the host get the same operations on Caddy's admin endpoint
// (admin.api.password_reset), subject to the same role allow-list.
func TestCaddyAdminEndpoint(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	adminPort := testenv.FreePort(t)
	env.Load(strings.Replace(env.Caddyfile(""), "admin off", "admin 127.0.0.1:"+itoa(adminPort), 1))
	admin := "http://127.0.0.1:" + itoa(adminPort)
	post := func(path string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", admin+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("/password-reset/users/1001/reset-token")
	if resp.StatusCode != 201 {
		t.Fatalf("issue via caddy admin: %d %s", resp.StatusCode, body)
	}
	var issued struct{ Token string }
	json.Unmarshal(body, &issued)
	if r := env.Get("/password-reset/tokens/" + issued.Token); r.StatusCode != 200 {
		t.Fatalf("issued token: %d", r.StatusCode)
	}
	if resp, body := post("/password-reset/users/1002/reset-token"); resp.StatusCode != 403 || !strings.Contains(string(body), "ROLE_NOT_ALLOWED") {
		t.Fatalf("admin user via caddy admin: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("DELETE", admin+"/password-reset/users/1001/reset-tokens", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke via caddy admin: %v %v", resp, err)
	}
	if r := env.Get("/password-reset/tokens/" + issued.Token); r.StatusCode != 404 {
		t.Fatalf("token after revoke: %d", r.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
