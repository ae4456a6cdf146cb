package plugin

// Fuzz targets for every JSON request decoder of the public and admin API
// (issue 8, point 4). `go test` runs their seed corpora (testdata/fuzz) as
// regular tests; scripts/fuzz runs each one under the fuzzer for a few
// seconds; `go test -run '^$' -fuzz '^FuzzAPI$' ./plugin` runs one for as
// long as you like.
//
// A bug a target finds is reported, and the input that shows it stays in
// testdata/fuzz/<target>/, where `go test` replays it. The regression-*
// seeds are such inputs of bugs since fixed: JSON bodies followed by a
// stray } or ] were accepted (dec.More() is false before them).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/plugin/webhook"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// The fuzz harness: the engine of engine_test.go's harness, built once per
// target (newHarness takes a *testing.T and costs a Badger, an HTTP server
// and an SMTP server each time), with passkeys, the admin API and the
// signed-in routes switched on, and limits raised so that the fuzzer keeps
// reaching the handlers instead of the rate limiter.

const (
	fzPrefix        = "/password-reset"
	fzOldPassword   = "my current long password"
	fzSession       = "alice-session"
	fzAdminFull     = "fuzz-admin-token-full"
	fzAdminRevoke   = "fuzz-admin-token-revoke-only"
	fzGoodCode      = "12345678" // the code of every $FLOW the harness makes
	fzOrigin        = "https://app.example.test"
	fzAnswerTimeout = 10 * time.Second
)

type fzHarness struct {
	e    *Engine
	logs *observer.ObservedLogs
	mail *mailbox.Server
}

// fzUpstream is the app: alice (u1) is a user, boss (u2) an admin; it
// accepts every update.
func fzUpstream(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch r.URL.Path {
	case "/lookup":
		switch body["identifier"] {
		case "alice@example.test", "u1":
			_ = json.NewEncoder(w).Encode(User{ID: "u1", Email: "alice@example.test", Name: "Alice", Role: "user"})
		case "boss@example.test", "u2":
			_ = json.NewEncoder(w).Encode(User{ID: "u2", Email: "boss@example.test", Name: "Boss", Role: "admin"})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	case "/session":
		if c, err := r.Cookie("sid"); err == nil && c.Value == fzSession {
			_ = json.NewEncoder(w).Encode(map[string]string{"id": "u1"})
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	case "/verify":
		if body["user_id"] == "u1" && body["password"] == fzOldPassword {
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"valid": false}`)
	case "/update":
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func fzAdminToken(tb testing.TB, raw string, scopes ...string) AdminToken {
	tb.Helper()
	sum := sha256.Sum256([]byte(raw))
	tok, err := ParseAdminToken("sha256:"+hex.EncodeToString(sum[:]), scopes)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func newFuzzHarness(tb testing.TB) *fzHarness {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(fzUpstream))
	tb.Cleanup(srv.Close)
	mb, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mb.Close() })
	smtp, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: mb.Addr(), From: "t@example.test", TLS: "none"})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	core, logs := observer.New(zapcore.DebugLevel)
	lots := Limit{Count: 1 << 30, Window: time.Hour}
	cfg := Config{
		BaseURL: fzOrigin, Key: []byte(strings.Repeat("k", 32)),
		Lookup:  Hook{URL: srv.URL + "/lookup", Client: &webhook.Client{}},
		Update:  Hook{URL: srv.URL + "/update", Client: &webhook.Client{}},
		Verify:  Hook{URL: srv.URL + "/verify", Client: &webhook.Client{}},
		Session: Hook{URL: srv.URL + "/session", Client: &webhook.Client{}},
		Mail:    smtp,
		Passkey: &PasskeyConfig{RPID: "app.example.test", RPName: "Acme", Origins: []string{fzOrigin}},
		Methods: []string{MethodLink, MethodCode, MethodPasskey},
		AdminTokens: []AdminToken{
			fzAdminToken(tb, fzAdminFull, ScopeIssue, ScopeRevoke),
			fzAdminToken(tb, fzAdminRevoke, ScopeRevoke),
		},
		PerIP: lots, AccountFailures: lots, MailBudget: lots,
		Policy: policy.Policy{MinScore: 3, ContextWords: []string{"acmecorp"}},
	}
	e, err := New(cfg, st, zap.New(core))
	if err != nil {
		tb.Fatal(err)
	}
	e.Start()
	tb.Cleanup(e.Stop)
	return &fzHarness{e: e, logs: logs, mail: mb}
}

// fzRoute is one API call. With param, the fuzzed bytes fill the {id} of
// the path (the call reads no body, or only that); otherwise they are the
// body.
type fzRoute struct {
	method, path string
	param        bool
	json         bool // the handler decodes a JSON body
}

var fzRoutes = []fzRoute{
	{"POST", "/request", false, true},
	{"POST", "/verify", false, true},
	{"POST", "/complete", false, true},
	{"POST", "/revoke", false, true},
	{"POST", "/change", false, true},
	{"POST", "/passkey/options", false, true},
	{"POST", "/passkey/verify", false, true},
	{"POST", "/passkeys/reauth/options", false, true},
	{"POST", "/passkeys/register/options", false, true},
	{"POST", "/passkeys/register/verify", false, true},
	{"POST", "/admin/users/{id}/reset-token", true, false},
	{"DELETE", "/admin/users/{id}/reset-tokens", true, false},
	{"GET", "/tokens/{id}", true, false},
	{"GET", "/policy", false, false},
	{"GET", "/passkeys", false, false},
	{"DELETE", "/passkeys/{id}", true, false},
}

// Flags of a fuzzed call.
const (
	fzFlagSession     = 1 << 0 // send alice's session cookie
	fzFlagAuthShift   = 1      // bits 1-2: 0 none, 1 full admin, 2 revoke-only admin, 3 a wrong bearer
	fzFlagAuthMask    = 3 << fzFlagAuthShift
	fzFlagForeignHost = 1 << 3 // forged Host and X-Forwarded-Host
	fzFlagMethodShift = 4      // bits 4-5: the route's method, or GET, PUT, OPTIONS instead
	fzFlagMethodMask  = 3 << fzFlagMethodShift
)

// expand replaces placeholders by live values, so that the fuzzer reaches
// the success paths: $TOKEN a fresh reset token of alice, $FLOW a fresh
// flow of alice whose code is 12345678, $REVOKE a fresh "this wasn't me"
// token, $CEREMONY a passkey login ceremony, $REGCEREMONY a passkey
// registration ceremony of alice.
func (h *fzHarness) expand(t *testing.T, b []byte) []byte {
	if !bytes.Contains(b, []byte("$")) {
		return b
	}
	ctx := context.Background()
	for _, ph := range []struct {
		name string
		make func() string
	}{
		{"$TOKEN", func() string {
			tok, perr := h.e.IssueResetToken(ctx, "u1", "fuzz")
			if perr != nil {
				t.Fatalf("issuing a token for $TOKEN: %+v", perr)
			}
			return tok.Token
		}},
		{"$FLOW", func() string {
			flowID, _ := newToken()
			now := h.e.now()
			u := User{ID: "u1", Email: "alice@example.test", Name: "Alice", Role: "user"}
			tok, _ := newToken()
			rec := flowRecord{User: u, Identifier: u.Email, CodeMAC: h.e.keys.codeMAC(flowID, fzGoodCode),
				CodeExpiry: now.Add(time.Hour), TokenKey: h.e.keys.tokenKey(tok), CreatedAt: now, ExpiresAt: now.Add(time.Hour), IP: "192.0.2.1"}
			if err := h.e.putRecord(ctx, h.e.keys.flowKey(flowID), rec, time.Hour, h.e.keys.ownerKey(u.ID)); err != nil {
				t.Fatal(err)
			}
			return flowID
		}},
		{"$REVOKE", func() string {
			tok, _ := newToken()
			if err := h.e.putRecord(ctx, h.e.keys.revokeKey(tok), revokeRecord{UserID: "u1"}, time.Hour, ""); err != nil {
				t.Fatal(err)
			}
			return tok
		}},
		{"$REGCEREMONY", func() string { return h.ceremony(t, "/passkeys/register/options", true) }},
		{"$CEREMONY", func() string { return h.ceremony(t, "/passkey/options", false) }},
	} {
		for bytes.Contains(b, []byte(ph.name)) {
			b = bytes.Replace(b, []byte(ph.name), []byte(ph.make()), 1)
		}
	}
	return b
}

func (h *fzHarness) ceremony(t *testing.T, p string, session bool) string {
	body := "{}"
	if session {
		// Adding a passkey needs a fresh proof: the current password.
		body = `{"password":"` + fzOldPassword + `"}`
	}
	req := httptest.NewRequest("POST", fzPrefix+p, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if session {
		req.AddCookie(&http.Cookie{Name: "sid", Value: fzSession})
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	var out struct{ Ceremony string }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Ceremony == "" {
		t.Fatalf("%s for a placeholder: %d %s", p, rec.Code, rec.Body)
	}
	return out.Ceremony
}

// fzParam makes the {id} of a path from fuzzed bytes. Segments the mux
// would clean away ("", ".", "..", and any "/" that unescapes into the
// path) are kept out: the mux answers those with a redirect to the clean
// path before any resetgate code runs.
func fzParam(b []byte) string {
	s := string(b)
	if s == "" || s == "." || s == ".." {
		s = "x" + s
	}
	return url.PathEscape(s)
}

// fzMethod is the method a call uses: the route's own, unless the flags
// ask for another.
func fzMethod(rt fzRoute, flags uint8) string {
	return []string{rt.method, "GET", "PUT", "OPTIONS"}[(flags&fzFlagMethodMask)>>fzFlagMethodShift]
}

func (h *fzHarness) request(rt fzRoute, flags uint8, contentType string, body []byte) *http.Request {
	p := rt.path
	if rt.param {
		p = strings.Replace(p, "{id}", fzParam(body), 1)
	}
	req := httptest.NewRequest(fzMethod(rt, flags), fzPrefix+p, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if flags&fzFlagSession != 0 {
		req.AddCookie(&http.Cookie{Name: "sid", Value: fzSession})
	}
	switch (flags & fzFlagAuthMask) >> fzFlagAuthShift {
	case 1:
		req.Header.Set("Authorization", "Bearer "+fzAdminFull)
	case 2:
		req.Header.Set("Authorization", "Bearer "+fzAdminRevoke)
	case 3:
		req.Header.Set("Authorization", "Bearer not-a-configured-token")
	}
	if flags&fzFlagForeignHost != 0 {
		req.Host = "evil.example"
		req.Header.Set("X-Forwarded-Host", "evil.example")
		req.Header.Set("Forwarded", "host=evil.example")
	}
	return req
}

// serve runs the call; a panic or a hang fails t with the call named.
func (h *fzHarness) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Sprintf("panic: %v\n%s", v, debug.Stack())
			}
		}()
		h.e.ServeHTTP(rec, req)
		done <- ""
	}()
	select {
	case p := <-done:
		if p != "" {
			t.Fatalf("%s %s: %s", req.Method, req.URL, p)
		}
	case <-time.After(fzAnswerTimeout):
		t.Fatalf("%s %s did not answer within %s", req.Method, req.URL, fzAnswerTimeout)
	}
	return rec
}

// secretFields are the request fields that carry a password, a code or a
// token: none may come back in an answer or reach a log line.
var secretFields = []string{"password", "confirm", "old", "new", "code", "token"}

// fzSecrets returns the secret values of a call, as the handlers read
// them (encoding/json matches field names case-insensitively, so every
// match counts), and whether the call carries one at all.
func fzSecrets(rt fzRoute, body []byte) (values []string, has bool) {
	if rt.param {
		// Only a token in the path is a secret (user ids and passkey
		// ids are not).
		if rt.path == "/tokens/{id}" {
			return []string{string(body)}, true
		}
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(body)).Decode(&obj) != nil {
		return nil, false
	}
	for k, raw := range obj {
		for _, f := range secretFields {
			if !strings.EqualFold(k, f) {
				continue
			}
			// The step-up answer of passkey/verify gives back the token
			// its caller holds, by design.
			if f == "token" && rt.path == "/passkey/verify" {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" {
				values = append(values, s)
			}
		}
	}
	return values, len(values) > 0
}

// fzLeaks reports where secret shows up: the answer's body or headers, or
// a log line.
func fzLeaks(rec *httptest.ResponseRecorder, logs []observer.LoggedEntry, secret string) string {
	forms := []string{secret}
	if b, err := json.Marshal(secret); err == nil && string(b[1:len(b)-1]) != secret {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	for _, f := range forms {
		if strings.Contains(rec.Body.String(), f) {
			return "answer body"
		}
		for k, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(v, f) {
					return "answer header " + k
				}
			}
		}
		for _, l := range logs {
			if strings.Contains(l.Message, f) {
				return "log message " + l.Message
			}
			for k, v := range l.ContextMap() {
				if strings.Contains(fmt.Sprint(v), f) {
					return "log field " + k + " of " + l.Message
				}
			}
		}
	}
	return ""
}

var fzErrorCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

func fzHeader(t *testing.T, rec *httptest.ResponseRecorder, name, want string) {
	t.Helper()
	if got := rec.Header().Get(name); !strings.Contains(got, want) {
		t.Fatalf("%d answer: %s is %q, want %q; body %q", rec.Code, name, got, want, rec.Body)
	}
}

// checkPageAnswer reports whether the answer is a hosted page, and holds
// it to the pages' contract: no-store, the strict CSP, no framing, and a
// redirect only to our own pages.
func checkPageAnswer(t *testing.T, rec *httptest.ResponseRecorder) bool {
	t.Helper()
	st := rec.Code
	isPage := strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		(st >= 300 && st < 400 && rec.Header().Get("Content-Security-Policy") != "")
	if !isPage {
		return false
	}
	fzHeader(t, rec, "Cache-Control", "no-store")
	fzHeader(t, rec, "Content-Security-Policy", "default-src 'none'")
	fzHeader(t, rec, "X-Frame-Options", "DENY")
	if st >= 300 && st < 400 {
		loc := rec.Header().Get("Location")
		if st != http.StatusSeeOther || !(strings.HasPrefix(loc, fzPrefix+"/") || loc == fzPrefix || strings.HasPrefix(loc, fzOrigin+fzPrefix)) {
			t.Fatalf("page redirect %d to %q", st, loc)
		}
	}
	return true
}

// checkAnswer holds every answer to the API's contract.
func checkAnswer(t *testing.T, rt fzRoute, req *http.Request, contentType string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	st := rec.Code
	if st >= 500 {
		t.Fatalf("%s %s: %d on client input (Content-Type %q, body %q): %s", req.Method, req.URL.Path, st, contentType, body, rec.Body)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); req.Method == "GET" || (req.Method == "POST" && mt == "application/x-www-form-urlencoded") {
		// A GET may ask for a hosted page (GET /revoke is the "this
		// wasn't me" page), and a form post may come from one (that page
		// posts to /revoke, the change page to /change): either may get a
		// page, or the page's redirect, instead of JSON.
		if checkPageAnswer(t, rec) {
			return
		}
	}
	if st >= 300 && st < 400 {
		// Only the mux's redirect to a clean path may answer 3xx.
		if path.Clean(req.URL.Path) == req.URL.Path {
			t.Fatalf("%s %s: unexpected redirect %d to %q", req.Method, req.URL.Path, st, rec.Header().Get("Location"))
		}
		return
	}
	fzHeader(t, rec, "Cache-Control", "no-store")
	if st == http.StatusNoContent {
		if rec.Body.Len() != 0 {
			t.Fatalf("204 with a body %q", rec.Body)
		}
		return
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Fatalf("%d answer: Content-Type %q, want application/json; body %q", st, got, rec.Body)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%d answer is not JSON: %q", st, rec.Body)
	}
	if st >= 200 && st < 300 {
		if rt.json && req.Method == rt.method {
			if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
				t.Fatalf("%s %s: %d for Content-Type %q", req.Method, rt.path, st, contentType)
			}
			if !utf8.Valid(body) {
				t.Fatalf("%s %s: %d for a body that is not UTF-8: %q", req.Method, rt.path, st, body)
			}
			if !json.Valid(body) {
				t.Fatalf("%s %s answered %d to a body that is not one JSON value: %q", req.Method, rt.path, st, body)
			}
		}
		return
	}
	// The documented error shape, and nothing else.
	var shape map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var items []struct {
		Code    string `json:"code"`
		Detail  string `json:"detail"`
		Pointer string `json:"pointer"`
	}
	if err := dec.Decode(&shape); err != nil || len(shape) != 1 || shape["errors"] == nil {
		t.Fatalf("%d answer is not {\"errors\":[…]}: %q", st, rec.Body)
	}
	idec := json.NewDecoder(bytes.NewReader(shape["errors"]))
	idec.DisallowUnknownFields()
	if err := idec.Decode(&items); err != nil || len(items) == 0 {
		t.Fatalf("%d answer: errors is not a non-empty list of {code,detail,pointer}: %q (%v)", st, rec.Body, err)
	}
	for _, it := range items {
		if !fzErrorCodeRE.MatchString(it.Code) {
			t.Fatalf("%d answer: error code %q", st, it.Code)
		}
		if it.Pointer != "" && !strings.HasPrefix(it.Pointer, "/") {
			t.Fatalf("%d answer: pointer %q is not a JSON pointer", st, it.Pointer)
		}
	}
	if st == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	if st == http.StatusUnauthorized && strings.HasPrefix(rt.path, "/admin/") && rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("admin 401 without WWW-Authenticate")
	}
}

// fzCanary is a stand-in for a secret: letters no answer or log line
// holds by chance.
func fzCanary(i, n int) string {
	b := []byte(fmt.Sprintf("Cq%dZ", i))
	for len(b) < n {
		b = append(b, "QZXJKVWqzxjkvw"[len(b)%14])
	}
	return string(b)
}

// fzMinSecret is the shortest secret looked for: a shorter one may be a
// piece of any answer.
const fzMinSecret = 8

// runAPI sends one fuzzed call and checks the answer, then the secrets.
func (h *fzHarness) runAPI(t *testing.T, route, flags uint8, contentType string, body []byte) {
	rt := fzRoutes[int(route)%len(fzRoutes)]
	h.logs.TakeAll()
	h.mail.Clear() // nobody reads the mails: keep the memory flat
	body = h.expand(t, body)
	req := h.request(rt, flags, contentType, body)
	rec := h.serve(t, req)
	t.Logf("%s %s → %d %.200s", req.Method, req.URL.Path, rec.Code, rec.Body) // shown with -v
	checkAnswer(t, rt, req, contentType, body, rec)
	if flags&fzFlagForeignHost != 0 && !bytes.Contains(body, []byte("evil.example")) && strings.Contains(rec.Body.String(), "evil.example") {
		t.Fatalf("a forged Host reached the answer: %q", rec.Body)
	}
	logs := h.logs.TakeAll()
	secrets, has := fzSecrets(rt, body)
	if !has {
		return
	}
	type suspect struct {
		what, seen string
	}
	var suspects []suspect
	for _, s := range secrets {
		if len(s) >= fzMinSecret {
			if where := fzLeaks(rec, logs, s); where != "" {
				suspects = append(suspects, suspect{s, where})
			}
		}
	}
	if len(body) >= 2*fzMinSecret {
		if where := fzLeaks(rec, logs, string(body)); where != "" {
			suspects = append(suspects, suspect{string(body), where})
		}
	}
	if len(suspects) == 0 {
		return
	}
	// A value may just happen to be a piece of a fixed answer
	// ("password_updated"). Send the call again with canaries in place of
	// the secrets: a real echo echoes the canary too.
	cbody := body
	canary := map[string]string{}
	for i, s := range secrets {
		c := fzCanary(i, len(s))
		canary[s] = c
		cbody = bytes.ReplaceAll(cbody, []byte(s), []byte(c))
		if js, err := json.Marshal(s); err == nil {
			cbody = bytes.ReplaceAll(cbody, js[1:len(js)-1], []byte(c))
		}
	}
	crec := h.serve(t, h.request(rt, flags, contentType, cbody))
	clogs := h.logs.TakeAll()
	for _, sp := range suspects {
		c, ok := canary[sp.what]
		if !ok { // the whole body
			c = string(cbody)
		}
		if cwhere := fzLeaks(crec, clogs, c); cwhere != "" {
			t.Fatalf("%s %s: the secret %q comes back in the %s (a canary in its place too, in the %s); answer %d %q",
				req.Method, rt.path, sp.what, sp.seen, cwhere, crec.Code, crec.Body)
		}
	}
}

// FuzzAPI sends arbitrary bodies, content types, path parameters and
// credentials to every API call. Invariants: no panic, no 5xx, no
// redirect; every answer carries Cache-Control: no-store; every non-2xx
// answer is exactly {"errors":[{"code",…}]} as application/json (the form
// post of the "this wasn't me" page excepted: it gets a page); a 2xx needs
// a JSON content type and one well-formed JSON value; and no password,
// code or token of the request comes back in the answer or reaches a log
// line.
func FuzzAPI(f *testing.F) {
	h := newFuzzHarness(f)
	// Seeds too big for testdata/fuzz: a body over the 64 KiB limit, and
	// a long password.
	f.Add(uint8(0), uint8(0), "application/json", append([]byte(`{"identifier":"`), bytes.Repeat([]byte("a"), maxBody)...))
	f.Add(uint8(2), uint8(0), "application/json", []byte(`{"token":"$TOKEN","password":"`+strings.Repeat("pass phrase ", 300)+`"}`))
	f.Fuzz(func(t *testing.T, route, flags uint8, contentType string, body []byte) {
		h.runAPI(t, route, flags, contentType, body)
	})
}

// fzShapes are the request structs of the handlers, field for field (they
// are anonymous in the handlers: keep these in step).
var fzShapes = []struct {
	name   string
	fields []string
	new    func() any
}{
	{"request", []string{"identifier"}, func() any {
		return new(struct {
			Identifier *string `json:"identifier"`
		})
	}},
	{"verify", []string{"flow_id", "code"}, func() any {
		return new(struct {
			FlowID *string `json:"flow_id"`
			Code   *string `json:"code"`
		})
	}},
	{"complete", []string{"token", "password", "confirm"}, func() any {
		return new(struct {
			Token    *string `json:"token"`
			Password *string `json:"password"`
			Confirm  *string `json:"confirm"`
		})
	}},
	{"revoke", []string{"token"}, func() any {
		return new(struct {
			Token *string `json:"token"`
		})
	}},
	{"change", []string{"old", "new", "confirm"}, func() any {
		return new(struct {
			Old     *string `json:"old"`
			New     *string `json:"new"`
			Confirm *string `json:"confirm"`
		})
	}},
	{"passkey/options", []string{"flow_id", "token"}, func() any {
		return new(struct {
			FlowID *string `json:"flow_id"`
			Token  *string `json:"token"`
		})
	}},
	{"passkey/verify", []string{"ceremony", "credential", "flow_id", "token"}, func() any {
		return new(struct {
			Ceremony   *string         `json:"ceremony"`
			Credential json.RawMessage `json:"credential"`
			FlowID     *string         `json:"flow_id"`
			Token      *string         `json:"token"`
		})
	}},
	{"passkeys/register/options", []string{"password", "ceremony", "credential"}, func() any { return new(reauthInput) }},
	{"passkeys/register/verify", []string{"ceremony", "credential", "name"}, func() any {
		return new(struct {
			Ceremony   *string         `json:"ceremony"`
			Credential json.RawMessage `json:"credential"`
			Name       string          `json:"name"`
		})
	}},
}

// FuzzDecodeJSON feeds arbitrary bytes to decodeJSONBytes with every
// request struct. Invariants: no panic; a refusal is 400 INVALID_REQUEST
// with an empty pointer or one naming a field of the struct; an
// acceptance means valid UTF-8, exactly one JSON value, an object (or
// null) whose every key is a field of the struct (encoding/json matches
// names case-insensitively).
func FuzzDecodeJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, shape uint8, body []byte) {
		s := fzShapes[int(shape)%len(fzShapes)]
		dst := s.new()
		apiErr := decodeJSONBytes(body, dst)
		known := func(k string) bool {
			for _, f := range s.fields {
				if strings.EqualFold(k, f) {
					return true
				}
			}
			return false
		}
		if apiErr != nil {
			if apiErr.status != http.StatusBadRequest || len(apiErr.items) != 1 || apiErr.items[0].Code != CodeInvalidRequest {
				t.Fatalf("%s: refusal %v for %q", s.name, apiErr, body)
			}
			if p := apiErr.items[0].Pointer; p != "" && p != "/" && !known(strings.TrimPrefix(p, "/")) {
				t.Fatalf("%s: pointer %q names no field, for %q", s.name, p, body)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("%s: accepted invalid UTF-8 %q", s.name, body)
		}
		if !json.Valid(body) {
			t.Fatalf("%s: accepted %q, which is not one JSON value", s.name, body)
		}
		if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("%s: accepted %q, which is not an object: %v", s.name, body, err)
		}
		for k := range obj {
			if !known(k) {
				t.Fatalf("%s: accepted the unknown field %q in %q", s.name, k, body)
			}
		}
		// What was decoded encodes again.
		if _, err := json.Marshal(dst); err != nil {
			t.Fatalf("%s: decoded value does not encode: %v", s.name, err)
		}
	})
}

// FuzzNormaliseCode: a code is accepted exactly when, spaces and hyphens
// removed, it is 8 ASCII digits, and what comes out is those digits; the
// mail's "1234 5678" form always goes back.
func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"12345678", "1234 5678", "1234-5678", " 1234 - 5678 ", "１２３４５６７８", "1234567", "123456789", "abcdefgh", "1234\u00a05678", "1234\t5678", "", "--------12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normaliseCode(s)
		stripped := strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' {
				return -1
			}
			return r
		}, s)
		want := len(stripped) == 8 && strings.Trim(stripped, "0123456789") == ""
		if ok != want {
			t.Fatalf("normaliseCode(%q) ok=%v, want %v", s, ok, want)
		}
		if ok {
			if got != stripped {
				t.Fatalf("normaliseCode(%q) = %q, want %q", s, got, stripped)
			}
			if again, ok2 := normaliseCode(mailer.FormatCode(got)); !ok2 || again != got {
				t.Fatalf("the mailed form of %q does not go back: %q %v", got, again, ok2)
			}
		} else if got != "" {
			t.Fatalf("normaliseCode(%q) refused but returned %q", s, got)
		}
	})
}

// FuzzCleanText: an accepted text is the input without surrounding
// spaces, non-empty, at most max code points, and holds no control or
// format character (bidi overrides, zero-width joiners); cleaning it again
// changes nothing.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"alice@example.test", "  alice  ", "", " ", "a\u202eb", "a\u200db", "a\x00b", "a\nb", "\u00a0x\u00a0", strings.Repeat("é", 254), strings.Repeat("é", 255), "\xff\xfe", "user\u2028id"} {
		f.Add(s, uint8(254))
	}
	f.Add("abc", uint8(2))
	f.Add("abc", uint8(0))
	f.Fuzz(func(t *testing.T, s string, max uint8) {
		got, ok := cleanText(s, int(max))
		if !ok {
			if got != "" {
				t.Fatalf("cleanText(%q) refused but returned %q", s, got)
			}
			return
		}
		if got == "" || got != strings.TrimSpace(s) {
			t.Fatalf("cleanText(%q) = %q", s, got)
		}
		if n := utf8.RuneCountInString(got); n > int(max) {
			t.Fatalf("cleanText(%q, %d) kept %d code points", s, max, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("cleanText(%q) kept %U", s, r)
			}
		}
		if again, ok := cleanText(got, int(max)); !ok || again != got {
			t.Fatalf("cleanText is not idempotent on %q: %q %v", got, again, ok)
		}
	})
}

// FuzzWellFormedToken: whatever wellFormedToken accepts is 43 bytes that
// decode as base64url to 32 bytes, so no other garbage reaches the store;
// every token newToken makes is accepted.
func FuzzWellFormedToken(f *testing.F) {
	tok, _ := newToken()
	for _, s := range []string{tok, tok[:42], tok + "A", strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("+", 43), strings.Repeat("A", 42) + "=", strings.Repeat("A", 42) + "\n", "", "\r" + strings.Repeat("-", 42)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !wellFormedToken(s) {
			return
		}
		if len(s) != tokenLen {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) > tokenBytes {
			t.Fatalf("accepted %q: %d bytes, %v", s, len(b), err)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '\r' || c == '\n') {
				t.Fatalf("accepted %q with the byte %q", s, c)
			}
		}
	})
}

// FuzzPlainStringField: the reset request's fast path takes a body only
// when the strict decoder accepts it too and gives the same identifier.
func FuzzPlainStringField(f *testing.F) {
	for _, seed := range []string{
		`{"identifier":"alice@example.test"}`, `{"identifier":"Ünïcødé"}`, `{"identifier":""}`,
		`{"identifier":"a\"b"}`, `{"identifier":"a\\b"}`, `{"identifier":"a\u0001"}`,
		"{\"identifier\":\"\xff\"}", "{\"identifier\":\"a\x01\"}", `{"identifier":"a"} `,
		`{"identifier":"a","identifier":"b"}`, `{"Identifier":"a"}`, `{"identifier":"a","pow":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := plainStringField(body, "identifier")
		if !ok {
			return
		}
		var in struct {
			Identifier *string      `json:"identifier"`
			Pow        *PowSolution `json:"pow"`
		}
		if apiErr := decodeJSONBytes(body, &in); apiErr != nil || in.Identifier == nil || *in.Identifier != got || in.Pow != nil {
			t.Fatalf("fast path took %q as %q; the decoder: %v %+v", body, got, apiErr, in)
		}
	})
}

// The fast path takes the usual body and leaves every other shape to the
// decoder.
func TestPlainStringField(t *testing.T) {
	for body, want := range map[string]bool{
		`{"identifier":"alice@example.test"}`: true,
		`{"identifier":"Ünïcødé"}`:            true,
		`{"identifier":"a\"b"}`:               false,
		`{"identifier":"a\\b"}`:               false,
		"{\"identifier\":\"\xff\"}":           false,
		"{\"identifier\":\"a\x01\"}":          false,
		`{"identifier":"a"} `:                 false,
		`{ "identifier":"a"}`:                 false,
		`{"Identifier":"a"}`:                  false,
		`{"identifier":"a","pow":null}`:       false,
		`{"identifier":"a","identifier":"b"}`: false,
	} {
		if _, ok := plainStringField([]byte(body), "identifier"); ok != want {
			t.Errorf("%q: fast path %v, want %v", body, ok, want)
		}
	}
}

// FuzzDuplicateKey checks the flat fast path against the full scan: where
// flatDuplicateKey answers, the token-by-token scan gives the same answer.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{
		`{"token":"t","password":"p"}`, `{"token":"t","Token":"p"}`, `{"a":1,"b":-0.5e+3,"A":true}`,
		`{"a":null,"b":false}`, `{"a":"x\"y","a":"\u0041"}`, `{"a":"\q","a":1}`, `{"a":01,"a":1}`,
		`{"a":x,"a":1}`, `{"a":1}{"a":2}`, ` { "k" : "v" , "K" : 1 } `, `{"a":{"b":1},"a":2}`,
		`{"\u0061":1,"a":2}`, `{"k":1,"K":2}`, `{}`, `{"a":"` + "\x01" + `","a":1}`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dup, ok := flatDuplicateKey(body)
		if !ok {
			return
		}
		if want := scanDuplicateKey(body); dup != want {
			t.Fatalf("flatDuplicateKey(%q) = %v, the full scan says %v", body, dup, want)
		}
		if !json.Valid(body) {
			t.Fatalf("flatDuplicateKey answered for %q, which is not valid JSON", body)
		}
	})
}
