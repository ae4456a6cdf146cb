package caddymodule_test

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/plugin"
)

// Invariant 1: tokens carry 256 bits and only keyed hashes reach the
// database. An attacker with a copy of the Badger files finds neither the
// token nor the code nor the server key, so the copy resets nothing and the
// 8-digit codes cannot be brute-forced offline.
func TestInvariant1DatabaseHoldsNoSecrets(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	requestReset(t, env, alice)
	m := env.WaitMail(alice, "reset")
	_, token := testenv.ResetLink(t, m)
	code := testenv.Code(t, m)
	_, revoke := testenv.RevokeLink(t, m)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 32 {
		t.Fatalf("token %q does not carry 256 bits", token)
	}
	needles := map[string][]byte{
		"token": []byte(token), "raw token": raw, "code": []byte(code),
		"revoke token": []byte(revoke), "server key": []byte(env.Key),
	}
	files, journal := 0, 0
	err = filepath.WalkDir(filepath.Join(env.Dir, "db"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if filepath.Base(p) == "resetgate.journal" {
			journal = len(data)
		}
		for name, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("database file %s contains the %s", filepath.Base(p), name)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walking the database: %v (%d files)", err, files)
	}
	// The journal holds every write since the start (store/badger,
	// journal.go): it was searched with the rest.
	if journal == 0 {
		t.Errorf("resetgate.journal: %d bytes; want the writes since the start in it, searched with the rest", journal)
	}
}

// Invariant 4: request answers the same for known and unknown accounts:
// same status, same body shape, and no lookup is done before answering,
// so the time cannot depend on the account.
func TestInvariant4NoEnumeration(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	var bodies [2][]string
	for i := 0; i < 20; i++ {
		for j, ident := range []string{alice, "nobody-" + testenv.RandomString(6) + "@example.test"} {
			r := env.PostJSON("/password-reset/request", map[string]string{"identifier": ident})
			if r.StatusCode != 202 {
				t.Fatalf("%s: %d", ident, r.StatusCode)
			}
			// The flow id differs each time; everything else must not.
			bodies[j] = append(bodies[j], strings.Replace(string(r.Body), r.JSON()["flow_id"].(string), "ID", 1)+r.Header.Get("Content-Type")+r.Header.Get("Cache-Control"))
		}
	}
	for i := range bodies[0] {
		if bodies[0][i] != bodies[1][i] {
			t.Fatalf("known and unknown answers differ:\n%s\n%s", bodies[0][i], bodies[1][i])
		}
	}
}

// Invariant 5: links are built from base_url alone. A forged Host or
// X-Forwarded-Host (the classic reset-poisoning attack) changes nothing in
// the mail.
func TestInvariant5HostHeaderPoisoning(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/request", strings.NewReader(`{"identifier":"`+alice+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Forwarded", "host=evil.example")
	if r := env.Do(req); r.StatusCode != 202 {
		t.Fatalf("request: %d %s", r.StatusCode, r.Body)
	}
	m := env.WaitMail(alice, "reset")
	if strings.Contains(m.Text+m.HTML, "evil.example") {
		t.Fatal("the forged host reached the mail")
	}
	link, _ := testenv.ResetLink(t, m)
	if !strings.HasPrefix(link, env.BaseURL+"/password-reset/new?token=") {
		t.Fatalf("link %q is not built from base_url %s", link, env.BaseURL)
	}
	revoke, _ := testenv.RevokeLink(t, m)
	if !strings.HasPrefix(revoke, env.BaseURL+"/") {
		t.Fatalf("revoke link %q is not built from base_url", revoke)
	}
}

// Invariant 7: no token, code, password, hash or secret appears in a log
// line, and URLs that carry a token stay out of the access log.
func TestInvariant7LogsCarryNoSecrets(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	logDir := t.TempDir()
	cf := env.Caddyfile("")
	cf = strings.Replace(cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+filepath.Join(logDir, "caddy.log")+"\n\t\tlevel DEBUG\n\t}\n\tadmin off", 1)
	cf = strings.Replace(cf, "\treverse_proxy", "\tlog {\n\t\toutput file "+filepath.Join(logDir, "access.log")+"\n\t}\n\treverse_proxy", 1)
	env.Load(cf)

	requestReset(t, env, alice)
	m := env.WaitMail(alice, "reset")
	link, token := testenv.ResetLink(t, m)
	code := testenv.Code(t, m)
	_, revoke := testenv.RevokeLink(t, m)
	env.Get("/password-reset/tokens/" + token)
	u, _ := url.Parse(link)
	env.Get(u.RequestURI())
	env.Get("/password-reset/revoke?token=" + revoke)
	env.App.SetFailUpdates(1) // an upstream failure is logged with its cause
	pw := "Zebra-Kangaroo-Umbrella-42"
	env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw})
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw}); r.StatusCode != 200 {
		t.Fatalf("complete: %d %s", r.StatusCode, r.Body)
	}
	env.WaitMail(alice, "changed")
	// Stop Caddy so the logs are flushed.
	env.Load(env.Caddyfile(""))

	var all []byte
	for _, f := range []string{"caddy.log", "access.log"} {
		data, err := os.ReadFile(filepath.Join(logDir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		all = append(all, data...)
	}
	access, _ := os.ReadFile(filepath.Join(logDir, "access.log"))
	if !bytes.Contains(access, []byte("/password-reset/request")) {
		t.Fatalf("the access log works but did not record the request call:\n%s", access)
	}
	secrets := map[string]string{
		"token": token, "code": code, "revoke token": revoke, "password": pw,
		"webhook secret": strings.TrimPrefix(env.Secret, "whsec_"), "server key": env.Key,
	}
	for name, s := range secrets {
		if bytes.Contains(all, []byte(s)) {
			t.Errorf("a log line contains the %s", name)
		}
	}
	if !bytes.Contains(all, []byte(`"event":"reset"`)) {
		t.Errorf("the audit event for the reset is missing from the logs")
	}
}

// Invariant 8: GET never changes state (mail scanners follow links): the
// mailed link and the revoke link, fetched any number of times, leave the
// token usable. Revoking takes a POST, and then the token is dead.
func TestInvariant8GetNeverChangesState(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	requestReset(t, env, alice)
	m := env.WaitMail(alice, "reset")
	link, token := testenv.ResetLink(t, m)
	_, revoke := testenv.RevokeLink(t, m)
	u, _ := url.Parse(link)
	for i := 0; i < 3; i++ {
		env.Get(u.RequestURI())
		env.Get("/password-reset/revoke?token=" + revoke)
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 200 {
		t.Fatalf("token after GETs of both links: %d", r.StatusCode)
	}
	if r := env.PostJSON("/password-reset/revoke", map[string]string{"token": revoke}); r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	if r := env.Get("/password-reset/tokens/" + token); r.StatusCode != 404 {
		t.Fatalf("token after revoke: %d", r.StatusCode)
	}
	if r := env.PostJSON("/password-reset/revoke", map[string]string{"token": testenv.RandomString(43)}); r.StatusCode != 404 {
		t.Fatalf("revoke with an unknown token: %d", r.StatusCode)
	}
}

// Invariant 10: bad input gets 400 INVALID_REQUEST in the one error shape
// and changes no state: no lookup reaches the app, no mail goes out.
func TestInvariant10BadInputChangesNothing(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	big := `{"identifier":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := map[string]struct{ ct, body string }{
		"malformed JSON":        {"application/json", `{"identifier":`},
		"wrong content type":    {"text/plain", `{"identifier":"` + alice + `"}`},
		"form content type":     {"application/x-www-form-urlencoded", `identifier=` + alice},
		"body over 64 KiB":      {"application/json", big},
		"number for identifier": {"application/json", `{"identifier":42}`},
		"array body":            {"application/json", `["` + alice + `"]`},
		"invalid UTF-8":         {"application/json", "{\"identifier\":\"al\xffice@example.test\"}"},
		"unknown field":         {"application/json", `{"identifier":"` + alice + `","admin":true}`},
		"trailing data":         {"application/json", `{"identifier":"` + alice + `"} {"identifier":"x"}`},
		"missing identifier":    {"application/json", `{}`},
		"empty identifier":      {"application/json", `{"identifier":"   "}`},
		"control character":     {"application/json", `{"identifier":"alice\u0000@example.test"}`},
		"bidi override":         {"application/json", `{"identifier":"\u202ealice@example.test"}`},
		"zero-width joiner":     {"application/json", `{"identifier":"ali\u200dce@example.test"}`},
		"identifier too long":   {"application/json", `{"identifier":"` + strings.Repeat("a", 255) + `"}`},
		"null":                  {"application/json", `null`},
	}
	for name, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/request", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ct)
		r := env.Do(req)
		if r.StatusCode != 400 || len(r.ErrorCodes()) != 1 || r.ErrorCodes()[0] != "INVALID_REQUEST" {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
		}
	}
	for name, body := range map[string]string{
		"complete without password": `{"token":"` + testenv.RandomString(43) + `"}`,
		"complete with number":      `{"token":"x","password":12345678901234}`,
		"verify with object code":   `{"flow_id":"x","code":{}}`,
		"revoke with bool":          `{"token":true}`,
	} {
		path := "/password-reset/" + strings.Fields(name)[0]
		r := env.PostJSON(path, body)
		if r.StatusCode != 400 || r.ErrorCodes()[0] != "INVALID_REQUEST" {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
		}
	}
	// A well-formed request afterwards is processed normally, and it is
	// the only one the app and the mailbox ever saw.
	requestReset(t, env, alice)
	env.WaitMail(alice, "reset")
	if n := env.App.LookupsBesides(plugin.SelfTestIdentifier); n != 1 {
		t.Errorf("the app received %d lookups besides the self-test's, want 1 (bad input reached the app)", n)
	}
	if n := len(env.Mail.Messages()); n != 1 {
		t.Errorf("%d mails sent, want 1", n)
	}
}

// Invariant 11 and the 422 contract: a policy failure lists every failed
// rule and keeps the token alive; lengths count code points.
func TestPolicyViolationKeepsToken(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	token := mailedToken(t, env)
	r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": "zq-7k", "confirm": "zq-7j"})
	if r.StatusCode != 422 {
		t.Fatalf("weak password: %d %s", r.StatusCode, r.Body)
	}
	got := strings.Join(r.ErrorCodes(), ",")
	if got != "PASSWORD_POLICY_VIOLATED/TOO_SHORT,PASSWORD_POLICY_VIOLATED/MISMATCH" {
		t.Fatalf("violations = %s", got)
	}
	// 12 code points but 36 bytes: long enough; 11 emoji: too short.
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": strings.Repeat("😀", 11)}); r.StatusCode != 422 {
		t.Fatalf("11 code points accepted: %d", r.StatusCode)
	}
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": "alice-archer-rules-ok"}); r.StatusCode != 422 || r.ErrorCodes()[0] != "PASSWORD_POLICY_VIOLATED/CONTAINS_IDENTIFIER" {
		t.Fatalf("password with the user's name: %d %s", r.StatusCode, r.Body)
	}
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": "日本語のパスワードです十二"}); r.StatusCode != 200 {
		t.Fatalf("13 code points: %d %s", r.StatusCode, r.Body)
	}
}

// The hosted pages work without JavaScript: the mailed link moves the token
// out of the URL into a cookie, the form carries a CSRF token, and a
// forged form post without it is refused.
func TestPagesSetPasswordWithoutJavaScript(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	requestReset(t, env, alice)
	link, _ := testenv.ResetLink(t, env.WaitMail(alice, "reset"))
	u, _ := url.Parse(link)
	r := env.Get(u.RequestURI())
	if r.StatusCode != 303 || r.Header.Get("Location") != "/password-reset/new" {
		t.Fatalf("link: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	var cookies []*http.Cookie
	for _, c := range r.Cookies() {
		if !c.HttpOnly || c.SameSite == http.SameSiteNoneMode || c.Path != "/password-reset" {
			t.Errorf("cookie %s lacks HttpOnly/SameSite/path: %+v", c.Name, c)
		}
		cookies = append(cookies, c)
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/password-reset/new", nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	page := env.Do(req)
	if page.StatusCode != 200 || !strings.Contains(string(page.Body), `autocomplete="new-password"`) {
		t.Fatalf("form: %d %s", page.StatusCode, page.Body)
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if page.Header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, page.Header.Get(h), want)
		}
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q", csp)
	}
	for _, c := range page.Cookies() {
		cookies = append(cookies, c)
	}
	csrf := between(string(page.Body), `name="csrf" value="`, `"`)
	post := func(csrfValue, pw string) *testenv.Response {
		form := url.Values{"csrf": {csrfValue}, "password": {pw}, "confirm": {pw}}
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/new", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return env.Do(req)
	}
	if r := post("forged", "a perfectly fine password"); r.StatusCode != 403 {
		t.Fatalf("post without the CSRF token: %d", r.StatusCode)
	}
	if r := post(csrf, "short"); r.StatusCode != 422 || !strings.Contains(string(r.Body), "too short") {
		t.Fatalf("weak password on the page: %d %s", r.StatusCode, r.Body)
	}
	if r := post(csrf, "a perfectly fine password"); r.StatusCode != 303 || r.Header.Get("Location") != "/password-reset/done" {
		t.Fatalf("good password on the page: %d %s", r.StatusCode, r.Body)
	}
	if got := login(t, env, alice, "a perfectly fine password"); got != 200 {
		t.Fatalf("login: %d", got)
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return ""
}

// Invariant 6 (per IP): over the limit, request answers 429 with
// Retry-After; a forged X-Forwarded-For does not buy a fresh budget,
// because only Caddy's trusted_proxies decides whom to believe.
func TestPerIPLimitIgnoresForgedForwardedFor(t *testing.T) {
	env := testenv.New(t, testenv.Options{Block: "\t\trate_limit {\n\t\t\tper_ip 3 1m\n\t\t}"})
	statuses := []int{}
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/request", strings.NewReader(`{"identifier":"x@example.test"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		r := env.Do(req)
		statuses = append(statuses, r.StatusCode)
		if r.StatusCode == 429 {
			if r.Header.Get("Retry-After") == "" || r.ErrorCodes()[0] != "RATE_LIMITED" {
				t.Errorf("429 without Retry-After or code: %v %s", r.Header, r.Body)
			}
		}
	}
	if want := []int{202, 202, 202, 429, 429}; !equalInts(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
