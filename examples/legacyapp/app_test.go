package legacyapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

var (
	testKey    = bytes.Repeat([]byte("k3y!"), 8) // 32 bytes
	testSecret = "whsec_" + base64.StdEncoding.EncodeToString(testKey)
	testNow    = time.Unix(1_700_000_000, 0)
)

const (
	alicePW = "correct horse battery"
	aliceID = "1001"
	bobID   = "1002"
)

// quietLogger keeps test output readable.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testUsers are the demo users with cheap bcrypt hashes (cost 4), so the
// race detector does not make the suite crawl.
func testUsers(t *testing.T) []User {
	t.Helper()
	users := []User{
		{ID: aliceID, Email: "alice@example.test", Name: "Alice Archer", Role: "user", Locale: "en"},
		{ID: bobID, Email: "Bob@Example.test", Name: "Bob Baumann", Role: "admin", Locale: "de"},
	}
	for i, pw := range []string{alicePW, "bob builds bridges"} {
		users[i].PasswordHash = bcryptHash(t, pw)
	}
	return users
}

func bcryptHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argonHash(pw string, m, tm uint32) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, tm, m, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=1$%s$%s", m, tm, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// paddedArgonHash encodes salt and hash with base64 padding, as some
// libraries do.
func paddedArgonHash(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 1024, 1, 32)
	enc := base64.StdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
}

func newTestApp(t *testing.T, secret string) *App {
	t.Helper()
	a, err := New(Config{WebhookSecret: secret, Users: testUsers(t), Now: func() time.Time { return testNow }, BcryptCost: bcrypt.MinCost, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sign computes a Standard Webhooks v1 signature, independently of the
// code under test.
func sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type hookOpts struct {
	key       []byte // nil: testKey
	ts        int64  // 0: testNow
	unsigned  bool
	sigHeader string // overrides the computed signature
	idemKey   string
	cookie    *http.Cookie
	id        string
}

func callHook(t *testing.T, h http.Handler, method, path string, body []byte, o hookOpts) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if !o.unsigned {
		key, ts, id := o.key, o.ts, o.id
		if key == nil {
			key = testKey
		}
		if ts == 0 {
			ts = testNow.Unix()
		}
		if id == "" {
			id = "msg_test"
		}
		sig := sign(key, id, ts, body)
		if o.sigHeader != "" {
			sig = o.sigHeader
		}
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
	}
	if o.idemKey != "" {
		req.Header.Set("Idempotency-Key", o.idemKey)
	}
	if o.cookie != nil {
		req.AddCookie(o.cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func login(t *testing.T, h http.Handler, email, pw string) (*httptest.ResponseRecorder, *http.Cookie) {
	t.Helper()
	form := url.Values{"email": {email}, "password": {pw}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie && c.Value != "" {
			return rec, c
		}
	}
	return rec, nil
}

func mustLogin(t *testing.T, h http.Handler, email, pw string) *http.Cookie {
	t.Helper()
	rec, c := login(t, h, email, pw)
	if rec.Code != http.StatusOK || c == nil {
		t.Fatalf("login %s: status %d, cookie %v, body %s", email, rec.Code, c, rec.Body)
	}
	return c
}

func mustFailLogin(t *testing.T, h http.Handler, email, pw string) {
	t.Helper()
	rec, c := login(t, h, email, pw)
	if rec.Code != http.StatusUnauthorized || c != nil {
		t.Fatalf("login %s should fail: status %d, cookie %v", email, rec.Code, c)
	}
	if !strings.Contains(rec.Body.String(), "Invalid email or password") {
		t.Fatalf("401 body lacks the message: %s", rec.Body)
	}
}

func me(h http.Handler, c *http.Cookie) int {
	req := httptest.NewRequest("GET", "/me", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func lookupBody(ident string) []byte {
	b, _ := json.Marshal(map[string]string{"identifier": ident})
	return b
}

func TestSignature(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	body := lookupBody("alice@example.test")
	otherKey := bytes.Repeat([]byte("nope"), 8)
	good := sign(testKey, "msg_test", testNow.Unix(), body)
	cases := []struct {
		name string
		o    hookOpts
		body []byte
		want int
	}{
		{"valid", hookOpts{}, body, 200},
		{"timestamp 4m old", hookOpts{ts: testNow.Add(-4 * time.Minute).Unix()}, body, 200},
		{"timestamp 4m ahead", hookOpts{ts: testNow.Add(4 * time.Minute).Unix()}, body, 200},
		{"one of several signatures", hookOpts{sigHeader: "v1a,AAAA v1,Zm9v " + good}, body, 200},
		{"unsigned", hookOpts{unsigned: true}, body, 401},
		{"wrong key", hookOpts{key: otherKey}, body, 401},
		{"timestamp 6m old", hookOpts{ts: testNow.Add(-6 * time.Minute).Unix()}, body, 401},
		{"timestamp 6m ahead", hookOpts{ts: testNow.Add(6 * time.Minute).Unix()}, body, 401},
		{"tampered body", hookOpts{sigHeader: good}, lookupBody("bob@example.test"), 401},
		{"other webhook-id", hookOpts{sigHeader: good, id: "msg_other"}, body, 401},
		{"signature without version", hookOpts{sigHeader: strings.TrimPrefix(good, "v1,")}, body, 401},
		{"wrong version tag", hookOpts{sigHeader: "v2," + strings.TrimPrefix(good, "v1,")}, body, 401},
		{"garbage", hookOpts{sigHeader: "v1,!!!"}, body, 401},
	}
	valid := 0
	for _, tc := range cases {
		rec := callHook(t, a, "POST", "/internal/users/lookup", tc.body, tc.o)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, rec.Code, tc.want, rec.Body)
		}
		if tc.want == 200 {
			valid++
		}
	}
	if a.Lookups() != valid {
		t.Errorf("Lookups() = %d, want %d (refused calls must not count)", a.Lookups(), valid)
	}

	// A bad timestamp header is refused too.
	req := httptest.NewRequest("POST", "/internal/users/lookup", bytes.NewReader(body))
	req.Header.Set("webhook-id", "msg_test")
	req.Header.Set("webhook-timestamp", "soon")
	req.Header.Set("webhook-signature", good)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("non-numeric timestamp: status %d", rec.Code)
	}

	// Every internal endpoint is guarded.
	for _, ep := range []struct{ method, path string }{
		{"POST", "/internal/users/password"}, {"POST", "/internal/users/verify"}, {"GET", "/internal/session"},
	} {
		if rec := callHook(t, a, ep.method, ep.path, []byte(`{}`), hookOpts{key: otherKey}); rec.Code != 401 {
			t.Errorf("%s %s with wrong key: status %d", ep.method, ep.path, rec.Code)
		}
	}
	if a.UpdateCalls() != 0 {
		t.Errorf("refused update counted: %d", a.UpdateCalls())
	}
}

func TestNoSecretAcceptsUnsigned(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, "")
	if rec := callHook(t, a, "POST", "/internal/users/lookup", lookupBody(aliceID), hookOpts{unsigned: true}); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := New(Config{WebhookSecret: secret, Logger: quietLogger()}); err == nil {
			t.Errorf("secret %q accepted", secret)
		} else if strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	dup := []User{{ID: "1", Email: "a@x.test"}, {ID: "2", Email: "A@X.test"}}
	if _, err := New(Config{Users: dup, Logger: quietLogger()}); err == nil {
		t.Error("duplicate e-mail accepted")
	}
	if _, err := New(Config{Users: []User{{ID: "1"}, {ID: "1"}}, Logger: quietLogger()}); err == nil {
		t.Error("duplicate ID accepted")
	}
	if _, err := New(Config{ResetPath: "reset", Logger: quietLogger()}); err == nil {
		t.Error("relative ResetPath accepted")
	}
	if _, err := New(Config{BcryptCost: 40, Logger: quietLogger()}); err == nil {
		t.Error("bcrypt cost 40 accepted")
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	for _, ident := range []string{"alice@example.test", "  ALICE@Example.Test ", aliceID} {
		rec := callHook(t, a, "POST", "/internal/users/lookup", lookupBody(ident), hookOpts{})
		if rec.Code != 200 {
			t.Fatalf("%q: status %d", ident, rec.Code)
		}
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"id": aliceID, "email": "alice@example.test", "name": "Alice Archer", "role": "user", "locale": "en"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: got %v, want %v", ident, got, want)
		}
		if strings.Contains(rec.Body.String(), "$2") {
			t.Error("lookup leaks the password hash")
		}
	}
	rec := callHook(t, a, "POST", "/internal/users/lookup", lookupBody("bob@example.test"), hookOpts{})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"role":"admin"`) || !strings.Contains(rec.Body.String(), `"locale":"de"`) {
		t.Errorf("bob: %d %s", rec.Code, rec.Body)
	}
	rec = callHook(t, a, "POST", "/internal/users/lookup", lookupBody("mallory@example.test"), hookOpts{})
	if rec.Code != 404 || strings.TrimSpace(rec.Body.String()) != `{"error":"not found"}` {
		t.Errorf("unknown: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []string{`{`, `{"identifier": 5}`, `[]`, `{"identifier":""}`} {
		if rec := callHook(t, a, "POST", "/internal/users/lookup", []byte(bad), hookOpts{}); rec.Code != 400 {
			t.Errorf("%s: status %d, want 400", bad, rec.Code)
		}
	}
}

func update(t *testing.T, a *App, req map[string]any, o hookOpts) *httptest.ResponseRecorder {
	t.Helper()
	return callHook(t, a, "POST", "/internal/users/password", jsonBody(t, req), o)
}

func TestUpdatePlainPassword(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	newPW := "  tricky Ünïcödé new pässword " // kept exactly as typed
	rec := update(t, a, map[string]any{"type": "password.reset", "user_id": aliceID, "password": newPW}, hookOpts{id: "msg_1", idemKey: "k1"})
	if rec.Code != 204 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	u, _ := a.User(aliceID)
	if !strings.HasPrefix(u.PasswordHash, "$2a$04$") {
		t.Errorf("stored hash %q is not bcrypt at the configured cost", u.PasswordHash[:7])
	}
	rec2, _ := login(t, a, "alice@example.test", newPW)
	if rec2.Code != 200 || !strings.Contains(rec2.Body.String(), "Welcome, Alice Archer") {
		t.Fatalf("login with new password: %d %s", rec2.Code, rec2.Body)
	}
	mustFailLogin(t, a, "alice@example.test", alicePW)
	mustFailLogin(t, a, "alice@example.test", strings.TrimSpace(newPW))

	ups := a.Updates()
	want := Update{Type: "password.reset", UserID: aliceID, HadPlainPassword: true, IdempotencyKey: "k1", WebhookID: "msg_1", At: testNow}
	if len(ups) != 1 || ups[0] != want {
		t.Errorf("Updates() = %+v, want [%+v]", ups, want)
	}
}

func TestUpdateLongPasswordNotTruncated(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	long := strings.Repeat("é", 50) // 100 bytes, beyond bcrypt's 72
	if rec := update(t, a, map[string]any{"type": "password.reset", "user_id": aliceID, "password": long}, hookOpts{}); rec.Code != 204 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if u, _ := a.User(aliceID); !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("long password stored as %q, want argon2id", u.PasswordHash[:10])
	}
	mustLogin(t, a, "alice@example.test", long)
	mustFailLogin(t, a, "alice@example.test", long[:72])
}

func TestUpdateWithHash(t *testing.T) {
	t.Parallel()
	bcryptA := bcryptHash(t, "bcrypt-made elsewhere")
	cases := []struct {
		format, hash, pw string
	}{
		{"bcrypt", bcryptA, "bcrypt-made elsewhere"},
		{"bcrypt", "$2b$" + bcryptHash(t, "two-b variant here")[4:], "two-b variant here"},
		{"bcrypt", "$2y$" + bcryptHash(t, "php made this one")[4:], "php made this one"},
		{"argon2id", argonHash("argon made this one", 19*1024, 2), "argon made this one"},
		{"argon2id", paddedArgonHash("padded base64 too"), "padded base64 too"},
	}
	for _, tc := range cases {
		a := newTestApp(t, testSecret)
		c := mustLogin(t, a, "alice@example.test", alicePW)
		rec := update(t, a, map[string]any{"type": "password.changed", "user_id": aliceID, "password_hash": tc.hash, "hash_format": tc.format, "revoke_sessions": true}, hookOpts{})
		if rec.Code != 204 {
			t.Fatalf("%s %s: status %d %s", tc.format, tc.hash[:4], rec.Code, rec.Body)
		}
		if u, _ := a.User(aliceID); u.PasswordHash != tc.hash {
			t.Errorf("%s: hash not stored as-is", tc.format)
		}
		mustLogin(t, a, "alice@example.test", tc.pw)
		mustFailLogin(t, a, "alice@example.test", alicePW)
		if me(a, c) != 401 {
			t.Errorf("%s: old session survived revoke_sessions", tc.format)
		}
		ups := a.Updates()
		if len(ups) != 1 || ups[0].HashFormat != tc.format || ups[0].HadPlainPassword || !ups[0].RevokeSessions || ups[0].Type != "password.changed" {
			t.Errorf("%s: Updates() = %+v", tc.format, ups)
		}
	}
}

func TestUpdateRejectsBadRequests(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	good := bcryptHash(t, "whatever it is")
	cases := []struct {
		name string
		body string
		want int
	}{
		{"malformed JSON", `{"type":"password.reset",`, 400},
		{"trailing garbage", `{"type":"password.reset","user_id":"1001","password":"x y z w v u"} x`, 400},
		{"wrong types", `{"type":"password.reset","user_id":1001,"password":"abcdefghijkl"}`, 400},
		{"unknown user", `{"type":"password.reset","user_id":"9999","password":"abcdefghijkl"}`, 404},
		{"unknown type", `{"type":"password.stolen","user_id":"1001","password":"abcdefghijkl"}`, 400},
		{"missing type", `{"user_id":"1001","password":"abcdefghijkl"}`, 400},
		{"missing user", `{"type":"password.reset","password":"abcdefghijkl"}`, 400},
		{"no password", `{"type":"password.reset","user_id":"1001"}`, 400},
		{"both", `{"type":"password.reset","user_id":"1001","password":"abcdefghijkl","password_hash":"` + good + `","hash_format":"bcrypt"}`, 400},
		{"unknown hash_format", `{"type":"password.reset","user_id":"1001","password_hash":"` + good + `","hash_format":"md5"}`, 400},
		{"scrypt not supported", `{"type":"password.reset","user_id":"1001","password_hash":"$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA","hash_format":"scrypt"}`, 400},
		{"hash without format", `{"type":"password.reset","user_id":"1001","password_hash":"` + good + `"}`, 400},
		{"format mismatch", `{"type":"password.reset","user_id":"1001","password_hash":"` + good + `","hash_format":"argon2id"}`, 400},
		{"malformed bcrypt", `{"type":"password.reset","user_id":"1001","password_hash":"$2a$10$short","hash_format":"bcrypt"}`, 400},
		{"argon2i not id", `{"type":"password.reset","user_id":"1001","password_hash":"$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA","hash_format":"argon2id"}`, 400},
		{"argon2id too costly", `{"type":"password.reset","user_id":"1001","password_hash":"` + strings.Replace(argonHash("x", 1024, 1), "m=1024", "m=4194304", 1) + `","hash_format":"argon2id"}`, 400},
		{"argon2id bad version", `{"type":"password.reset","user_id":"1001","password_hash":"` + strings.Replace(argonHash("x", 1024, 1), "v=19", "v=16", 1) + `","hash_format":"argon2id"}`, 400},
		{"plain with hash_format", `{"type":"password.reset","user_id":"1001","password":"abcdefghijkl","hash_format":"bcrypt"}`, 400},
	}
	for _, tc := range cases {
		rec := callHook(t, a, "POST", "/internal/users/password", []byte(tc.body), hookOpts{})
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, rec.Code, tc.want, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "$2a$") || strings.Contains(rec.Body.String(), "abcdefghijkl") {
			t.Errorf("%s: answer repeats a secret: %s", tc.name, rec.Body)
		}
	}
	if n := len(a.Updates()); n != 0 {
		t.Errorf("%d updates applied by bad requests", n)
	}
	mustLogin(t, a, "alice@example.test", alicePW)

	// Oversized body.
	huge := `{"type":"password.reset","user_id":"1001","password":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	if rec := callHook(t, a, "POST", "/internal/users/password", []byte(huge), hookOpts{}); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: status %d", rec.Code)
	}
	// A "none" hash_format beside a plain password is harmless.
	if rec := callHook(t, a, "POST", "/internal/users/password",
		[]byte(`{"type":"password.reset","user_id":"1001","password":"abcdefghijkl","hash_format":"none"}`), hookOpts{}); rec.Code != 204 {
		t.Errorf("hash_format none: status %d %s", rec.Code, rec.Body)
	}
}

func TestIdempotencyKeyAppliesOnce(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	first := map[string]any{"type": "password.reset", "user_id": aliceID, "password": "first new password"}
	if rec := update(t, a, first, hookOpts{idemKey: "flow-1"}); rec.Code != 204 {
		t.Fatalf("first: %d", rec.Code)
	}
	// The same key again, even with another password, changes nothing.
	second := map[string]any{"type": "password.reset", "user_id": aliceID, "password": "second new password"}
	rec := update(t, a, second, hookOpts{idemKey: "flow-1", id: "msg_retry"})
	if rec.Code != 200 {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if n := len(a.Updates()); n != 1 {
		t.Fatalf("%d updates applied, want 1", n)
	}
	mustLogin(t, a, "alice@example.test", "first new password")
	mustFailLogin(t, a, "alice@example.test", "second new password")

	// The same key for another user is a client bug.
	if rec := update(t, a, map[string]any{"type": "password.reset", "user_id": bobID, "password": "bob's new password"}, hookOpts{idemKey: "flow-1"}); rec.Code != 422 {
		t.Errorf("key reused for another user: %d", rec.Code)
	}
	// Without a key, every call applies.
	for range 2 {
		if rec := update(t, a, second, hookOpts{}); rec.Code != 204 {
			t.Fatalf("keyless: %d", rec.Code)
		}
	}
	if n := len(a.Updates()); n != 3 {
		t.Errorf("%d updates, want 3", n)
	}
	if a.UpdateCalls() != 5 {
		t.Errorf("UpdateCalls() = %d, want 5", a.UpdateCalls())
	}
}

func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			body := jsonBody(t, map[string]any{"type": "password.reset", "user_id": aliceID, "password": fmt.Sprintf("racing password %d", i)})
			codes[i] = callHook(t, a, "POST", "/internal/users/password", body, hookOpts{idemKey: "same"}).Code
		})
	}
	wg.Wait()
	applied := 0
	for _, c := range codes {
		switch c {
		case 204:
			applied++
		case 200:
		default:
			t.Errorf("status %d", c)
		}
	}
	if applied != 1 || len(a.Updates()) != 1 {
		t.Errorf("applied %d times (Updates %d), want once", applied, len(a.Updates()))
	}
}

func TestFailUpdates(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	a.SetFailUpdates(2)
	req := map[string]any{"type": "password.reset", "user_id": aliceID, "password": "after the outage"}
	for i := range 2 {
		if rec := update(t, a, req, hookOpts{idemKey: "k"}); rec.Code != 500 {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	mustLogin(t, a, "alice@example.test", alicePW)
	if rec := update(t, a, req, hookOpts{idemKey: "k"}); rec.Code != 204 {
		t.Fatalf("retry after failures: %d", rec.Code)
	}
	if len(a.Updates()) != 1 || a.UpdateCalls() != 3 {
		t.Errorf("Updates %d, calls %d", len(a.Updates()), a.UpdateCalls())
	}
	mustLogin(t, a, "alice@example.test", "after the outage")
}

func TestRevokeSessions(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	c1 := mustLogin(t, a, "alice@example.test", alicePW)
	c2 := mustLogin(t, a, "ALICE@example.test", alicePW)
	cb := mustLogin(t, a, "bob@example.test", "bob builds bridges")
	if a.SessionCount(aliceID) != 2 {
		t.Fatalf("SessionCount = %d", a.SessionCount(aliceID))
	}

	// Without revoke_sessions the sessions stay.
	if rec := update(t, a, map[string]any{"type": "password.changed", "user_id": aliceID, "password": "keeps sessions ok"}, hookOpts{}); rec.Code != 204 {
		t.Fatal(rec.Code)
	}
	if me(a, c1) != 200 || me(a, c2) != 200 {
		t.Fatal("sessions ended without revoke_sessions")
	}

	if rec := update(t, a, map[string]any{"type": "password.reset", "user_id": aliceID, "password": "ends all sessions", "revoke_sessions": true}, hookOpts{}); rec.Code != 204 {
		t.Fatal(rec.Code)
	}
	if me(a, c1) != 401 || me(a, c2) != 401 {
		t.Error("alice's sessions survived revoke_sessions")
	}
	if me(a, cb) != 200 {
		t.Error("bob's session ended too")
	}
	if a.SessionCount(aliceID) != 0 || a.SessionCount(bobID) != 1 {
		t.Errorf("SessionCount alice %d bob %d", a.SessionCount(aliceID), a.SessionCount(bobID))
	}
	if rec := callHook(t, a, "GET", "/internal/session", nil, hookOpts{cookie: c1}); rec.Code != 401 {
		t.Errorf("session hook after revoke: %d", rec.Code)
	}
}

func TestVerifyHook(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	verify := func(id, pw string) int {
		return callHook(t, a, "POST", "/internal/users/verify", jsonBody(t, map[string]string{"user_id": id, "password": pw}), hookOpts{}).Code
	}
	if c := verify(aliceID, alicePW); c != 200 {
		t.Errorf("right password: %d", c)
	}
	if c := verify(aliceID, alicePW+" "); c != 401 {
		t.Errorf("wrong password: %d", c)
	}
	if c := verify("9999", alicePW); c != 401 {
		t.Errorf("unknown user: %d", c)
	}
	if rec := callHook(t, a, "POST", "/internal/users/verify", []byte(`{`), hookOpts{}); rec.Code != 400 {
		t.Errorf("malformed: %d", rec.Code)
	}
	if c := callHook(t, a, "POST", "/internal/users/verify", jsonBody(t, map[string]string{"user_id": aliceID, "password": alicePW}), hookOpts{key: []byte("another key of 16+ bytes")}).Code; c != 401 {
		t.Errorf("bad signature: %d", c)
	}
}

func TestSessionHookAndPages(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	if rec := callHook(t, a, "GET", "/internal/session", nil, hookOpts{}); rec.Code != 401 {
		t.Errorf("no cookie: %d", rec.Code)
	}
	rec, c := login(t, a, "alice@example.test", alicePW)
	if rec.Code != 200 || c == nil {
		t.Fatalf("login: %d", rec.Code)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie attributes: %+v", c)
	}
	rec = callHook(t, a, "GET", "/internal/session", nil, hookOpts{cookie: c})
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"id":"1001"}` {
		t.Errorf("session hook: %d %s", rec.Code, rec.Body)
	}
	// Bearer works as well as the cookie.
	req := httptest.NewRequest("GET", "/me", nil)
	req.Header.Set("Authorization", "Bearer "+c.Value)
	req.Header.Set("Accept", "application/json")
	rr := httptest.NewRecorder()
	a.ServeHTTP(rr, req)
	if rr.Code != 200 || !strings.Contains(rr.Body.String(), `"email":"alice@example.test"`) {
		t.Errorf("/me json: %d %s", rr.Code, rr.Body)
	}

	// Home page when signed in.
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	rr = httptest.NewRecorder()
	a.ServeHTTP(rr, req)
	if !strings.Contains(rr.Body.String(), "Welcome, Alice Archer") || !strings.Contains(rr.Body.String(), `href="/password-reset/change"`) {
		t.Errorf("signed-in home: %s", rr.Body)
	}

	// Logout ends the session.
	req = httptest.NewRequest("POST", "/logout", nil)
	req.AddCookie(c)
	rr = httptest.NewRecorder()
	a.ServeHTTP(rr, req)
	if rr.Code != http.StatusSeeOther {
		t.Errorf("logout: %d", rr.Code)
	}
	if me(a, c) != 401 {
		t.Error("/me after logout")
	}
	if rec := callHook(t, a, "GET", "/internal/session", nil, hookOpts{cookie: c}); rec.Code != 401 {
		t.Errorf("session hook after logout: %d", rec.Code)
	}

	// Unknown e-mail gets the same answer as a wrong password.
	mustFailLogin(t, a, "nobody@example.test", alicePW)
	mustFailLogin(t, a, "alice@example.test", "")
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := New(Config{Users: testUsers(t), Now: clock, SessionTTL: time.Hour, BcryptCost: bcrypt.MinCost, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := mustLogin(t, a, "alice@example.test", alicePW)
	if me(a, c) != 200 {
		t.Fatal("fresh session refused")
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if me(a, c) != 401 {
		t.Error("expired session accepted")
	}
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cfg, want string }{{"", "/password-reset/"}, {"/account/reset/", "/account/reset/"}} {
		a, err := New(Config{ResetPath: tc.cfg, BcryptCost: bcrypt.MinCost, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		body := rec.Body.String()
		for _, want := range []string{
			`action="/login"`, `name="email"`, `autocomplete="username"`,
			`name="password"`, `autocomplete="current-password"`,
			`<a href="` + tc.want + `">Forgot your password?</a>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("home page lacks %q", want)
			}
		}
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("home: %d %s", rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Error("home page can be framed")
		}
	}
	a := newTestApp(t, testSecret)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", "/me", nil))
	if rec.Code != 401 {
		t.Errorf("/me signed out: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", "/nowhere", nil))
	if rec.Code != 404 {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

func TestLoginRefusesCrossSiteForm(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	form := url.Values{"email": {"alice@example.test"}, "password": {alicePW}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site login: %d", rec.Code)
	}
}

func TestDemoUsers(t *testing.T) {
	t.Parallel()
	users := DemoUsers()
	accs := DemoAccounts()
	if len(users) != 3 || len(accs) != 3 {
		t.Fatalf("%d users, %d accounts", len(users), len(accs))
	}
	want := []struct{ email, role, locale string }{
		{"alice@example.test", "user", "en"}, {"bob@example.test", "admin", "de"}, {"carol@example.test", "user", "fr"},
	}
	for i, u := range users {
		if u.Email != want[i].email || u.Role != want[i].role || u.Locale != want[i].locale || u.ID == "" || u.Name == "" {
			t.Errorf("user %d: %+v", i, u)
		}
		if accs[i].Email != u.Email || !checkPassword(u.PasswordHash, accs[i].Password) {
			t.Errorf("%s: documented password does not match", u.Email)
		}
	}
	if accs[0].Password != "correct horse battery" {
		t.Errorf("alice's password is %q", accs[0].Password)
	}
	a, err := New(Config{Users: users, BcryptCost: bcrypt.MinCost, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mustLogin(t, a, "alice@example.test", "correct horse battery")
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testSecret)
	if err := a.SetPassword(aliceID, "set by the test"); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, a, "alice@example.test", "set by the test")
	if err := a.SetPassword("9999", "x"); err == nil {
		t.Error("unknown user accepted")
	}
	if len(a.Updates()) != 0 {
		t.Error("SetPassword recorded as an update")
	}
}
