package caddymodule_test

// Helpers for the regression tests of the December 2026 security review
// (review_*_test.go): a signed-in browser at the legacy app, a software
// passkey (descope/virtualwebauthn) that registers and signs through a
// real Caddy, and a spy in front of the app that counts and records the
// hook calls it forwards.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// alicePassword is alice's password at the legacy app.
var alicePassword = legacyapp.DemoAccounts()[0].Password

// appSpy sits between resetgate's hooks and the legacy app: it forwards
// every call, counts and records them per path, and can slow one path.
type appSpy struct {
	app    http.Handler
	URL    string
	mu     sync.Mutex
	calls  map[string][]*http.Request
	bodies map[string][][]byte
	slow   map[string]time.Duration
}

func newAppSpy(t *testing.T, app http.Handler) *appSpy {
	s := &appSpy{app: app, calls: map[string][]*http.Request{}, bodies: map[string][][]byte{}, slow: map[string]time.Duration{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *appSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	seen := r.Clone(r.Context())
	seen.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.calls[r.URL.Path] = append(s.calls[r.URL.Path], seen)
	s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], body)
	d := s.slow[r.URL.Path]
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	s.app.ServeHTTP(w, r)
}

// Calls returns the requests the app got on path.
func (s *appSpy) Calls(path string) []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.calls[path]...)
}

// Bodies returns the bodies of the calls the app got on path.
func (s *appSpy) Bodies(path string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies[path]...)
}

// Slow delays every call on path by d.
func (s *appSpy) Slow(path string, d time.Duration) {
	s.mu.Lock()
	s.slow[path] = d
	s.mu.Unlock()
}

// passkeyEnv starts Caddy with the session and verify hooks (through a
// spy), methods link code passkey, and sub in the passkey block.
func passkeyEnv(t *testing.T, sub string) (*testenv.Env, *appSpy) {
	t.Helper()
	env := testenv.New(t, testenv.Options{NoStart: true})
	spy := newAppSpy(t, env.App)
	env.Load(env.Caddyfile("\t\tmethods link code passkey\n" + passkeyBlock(spy.URL, sub)))
	return env, spy
}

// passkeyBlock is the verify and session hooks at hooks and a passkey
// block holding sub. The hooks get 30 s instead of 5 s: under the race
// detector on a loaded machine, the app's bcrypt check (cost 10) of
// several parallel guesses takes longer than 5 s.
func passkeyBlock(hooks, sub string) string {
	return "\t\tverify " + hooks + "/internal/users/verify {\n\t\t\ttimeout 30s\n\t\t}\n\t\tsession " + hooks + "/internal/session {\n\t\t\ttimeout 30s\n\t\t}\n\t\tpasskey {\n" + sub + "\n\t\t}\n"
}

// postAs posts JSON to Caddy with the given cookies.
func postAs(env *testenv.Env, path string, body any, cookies ...*http.Cookie) *testenv.Response {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, env.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return env.Do(req)
}

// passkeyDevice is a software authenticator holding one passkey.
type passkeyDevice struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// newPasskeyCredential makes a P-256 passkey whose coordinates are full
// length (virtualwebauthn drops leading zero bytes otherwise).
func newPasskeyCredential(t *testing.T) virtualwebauthn.Credential {
	t.Helper()
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

func toJSONString(v any) string { b, _ := json.Marshal(v); return string(b) }

// addPasskey runs a registration for the signed-in browser with the given
// proof ({"password": ...}, a passkey assertion, or nothing). It returns
// the device, and the first refusal (options or verify) when there is one.
func addPasskey(t *testing.T, env *testenv.Env, session *http.Cookie, proof map[string]any, extra ...*http.Cookie) (*passkeyDevice, *testenv.Response) {
	t.Helper()
	cookies := append([]*http.Cookie{session}, extra...)
	r := postAs(env, "/password-reset/passkeys/register/options", proof, cookies...)
	if r.StatusCode != 200 {
		return nil, r
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(r.Body))
	if err != nil {
		t.Fatalf("attestation options: %v\n%s", err, r.Body)
	}
	d := &passkeyDevice{
		rp:   virtualwebauthn.RelyingParty{ID: "localhost", Name: "Acme Demo", Origin: env.BaseURL},
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(opts.UserID)}),
		cred: newPasskeyCredential(t),
	}
	att := virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *opts)
	r = postAs(env, "/password-reset/passkeys/register/verify", map[string]any{
		"ceremony": r.JSON()["ceremony"], "credential": json.RawMessage(att), "name": "Laptop",
	}, cookies...)
	if r.StatusCode != 201 {
		return nil, r
	}
	d.auth.AddCredential(d.cred)
	return d, r
}

// mustAddPasskey registers a passkey for the signed-in browser with its
// current password.
func mustAddPasskey(t *testing.T, env *testenv.Env, session *http.Cookie) *passkeyDevice {
	t.Helper()
	d, r := addPasskey(t, env, session, map[string]any{"password": alicePassword})
	if d == nil {
		t.Fatalf("adding a passkey with the password: %d %s", r.StatusCode, r.Body)
	}
	return d
}

// sign answers a ceremony's options (the body of an options call) with
// the device's passkey.
func (d *passkeyDevice) sign(t *testing.T, options []byte) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		t.Fatalf("assertion options: %v\n%s", err, options)
	}
	d.cred.Counter++
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *opts))
}

// prove runs passkey/options with body, signs, and posts passkey/verify
// with body's fields. It returns the refusal of options, or verify's
// answer.
func (d *passkeyDevice) prove(t *testing.T, env *testenv.Env, body map[string]any) *testenv.Response {
	t.Helper()
	r := env.PostJSON("/password-reset/passkey/options", body)
	if r.StatusCode != 200 {
		return r
	}
	req := map[string]any{"ceremony": r.JSON()["ceremony"], "credential": d.sign(t, r.Body)}
	for k, v := range body {
		req[k] = v
	}
	return env.PostJSON("/password-reset/passkey/verify", req)
}

// passkeyCount is the number of passkeys the signed-in browser's account
// holds, as the JSON list says.
func passkeyCount(t *testing.T, env *testenv.Env, session *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/password-reset/passkeys", nil)
	req.AddCookie(session)
	r := env.Do(req)
	if r.StatusCode != 200 {
		t.Fatalf("passkey list: %d %s", r.StatusCode, r.Body)
	}
	list, _ := r.JSON()["passkeys"].([]any)
	return len(list)
}

// mailsTo counts the mails to `to` whose subject contains subject.
func mailsTo(env *testenv.Env, to, subject string) int {
	n := 0
	for _, m := range env.Mail.Messages() {
		if len(m.To) > 0 && strings.EqualFold(m.To[0], to) && strings.Contains(strings.ToLower(m.Subject), strings.ToLower(subject)) {
			n++
		}
	}
	return n
}
