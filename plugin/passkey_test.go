package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/descope/virtualwebauthn"
)

const testOrigin = "https://app.example.test"

// device is a software authenticator holding one passkey.
type device struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// newTestCredential makes a software passkey. virtualwebauthn encodes an
// EC key's coordinates without their leading zero bytes (big.Int.Bytes), so
// about one key in 64 gives a COSE key that go-webauthn rightly refuses;
// only keys whose coordinates are a full 32 bytes are used.
func newTestCredential(t *testing.T) virtualwebauthn.Credential {
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

func passkeyHarness(t *testing.T, mod func(*Config)) *harness {
	return newHarness(t, func(c *Config) {
		c.Passkey = &PasskeyConfig{RPID: "app.example.test", RPName: "Acme", Origins: []string{testOrigin}}
		c.Methods = []string{MethodLink, MethodCode, MethodPasskey}
		if mod != nil {
			mod(c)
		}
	})
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// register adds a passkey for the signed-in alice and returns the device.
func register(t *testing.T, h *harness, origin string) *device {
	t.Helper()
	st, out := h.doAs(t, "alice-session", "POST", "/password-reset/passkeys/register/options", map[string]any{"password": oldPassword})
	if st != 200 {
		t.Fatalf("register options: %d %v", st, out)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(toJSON(out))
	if err != nil {
		t.Fatal(err)
	}
	handle := []byte(opts.UserID)
	d := &device{
		rp:   virtualwebauthn.RelyingParty{ID: "app.example.test", Name: "Acme", Origin: origin},
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: handle}),
		cred: newTestCredential(t),
	}
	resp := virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *opts)
	st, out = h.doAs(t, "alice-session", "POST", "/password-reset/passkeys/register/verify", map[string]any{
		"ceremony": out["ceremony"], "credential": json.RawMessage(resp), "name": "Laptop",
	})
	if st != 201 {
		t.Fatalf("register verify: %d %v", st, out)
	}
	d.auth.AddCredential(d.cred)
	return d
}

func (d *device) proof(t *testing.T, h *harness, body map[string]any) (int, map[string]any) {
	t.Helper()
	st, out := h.do(t, "POST", "/password-reset/passkey/options", body)
	if st != 200 {
		return st, out
	}
	opts, _ := virtualwebauthn.ParseAssertionOptions(toJSON(out))
	d.cred.Counter++
	resp := virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *opts)
	req := map[string]any{"ceremony": out["ceremony"], "credential": json.RawMessage(resp)}
	for k, v := range body {
		req[k] = v
	}
	return h.do(t, "POST", "/password-reset/passkey/verify", req)
}

// A registered passkey alone proves identity: no identifier asked, no
// credential listed, and the token sets a new password.
func TestPasskeyAloneResets(t *testing.T) {
	h := passkeyHarness(t, nil)
	d := register(t, h, testOrigin)
	st, out := d.proof(t, h, map[string]any{})
	if st != 200 || out["next_step"] != StepNewPasswordRequired {
		t.Fatalf("passkey verify: %d %v", st, out)
	}
	st, out = h.do(t, "POST", "/password-reset/complete", map[string]string{"token": out["token"].(string), "password": "Correct Zebra Battery Staple 9"})
	if st != 200 || len(h.up.updates) != 1 || h.up.updates[0]["user_id"] != "u1" {
		t.Fatalf("complete: %d %v %v", st, out, h.up.updates)
	}
	// Passkeys survive a reset (they are not reset tokens).
	st, out = h.doAs(t, "alice-session", "GET", "/password-reset/passkeys", nil)
	if list, _ := out["passkeys"].([]any); st != 200 || len(list) != 1 || list[0].(map[string]any)["last_used_at"] == nil {
		t.Fatalf("list after reset: %d %v", st, out)
	}
}

// Ceremonies are single-use: the same assertion sent twice is refused
// (go-webauthn alone would accept it).
func TestPasskeyReplayRefused(t *testing.T) {
	h := passkeyHarness(t, nil)
	d := register(t, h, testOrigin)
	st, out := h.do(t, "POST", "/password-reset/passkey/options", map[string]any{})
	opts, _ := virtualwebauthn.ParseAssertionOptions(toJSON(out))
	d.cred.Counter++
	resp := virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *opts)
	req := map[string]any{"ceremony": out["ceremony"], "credential": json.RawMessage(resp)}
	if st, out = h.do(t, "POST", "/password-reset/passkey/verify", req); st != 200 {
		t.Fatalf("first: %d %v", st, out)
	}
	if st, out = h.do(t, "POST", "/password-reset/passkey/verify", req); st != 400 || errCode(out) != "PASSKEY_INVALID" {
		t.Fatalf("replay: %d %v", st, out)
	}
}

// Wrong origin, wrong RP id, an unknown credential and a sign count that
// goes backwards (a cloned authenticator) are all PASSKEY_INVALID.
func TestPasskeyRefusals(t *testing.T) {
	h := passkeyHarness(t, nil)
	d := register(t, h, testOrigin)

	evil := *d
	evil.rp.Origin = "https://evil.example"
	if st, out := evil.proof(t, h, map[string]any{}); st != 400 || errCode(out) != "PASSKEY_INVALID" {
		t.Errorf("wrong origin: %d %v", st, out)
	}
	wrongRP := *d
	wrongRP.rp.ID = "example.test"
	if st, out := wrongRP.proof(t, h, map[string]any{}); st != 400 {
		t.Errorf("wrong RP id: %d %v", st, out)
	}
	stranger := &device{rp: d.rp, auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: d.auth.Options.UserHandle}), cred: newTestCredential(t)}
	stranger.auth.AddCredential(stranger.cred)
	if st, out := stranger.proof(t, h, map[string]any{}); st != 400 {
		t.Errorf("unknown credential: %d %v", st, out)
	}
	d.cred.Counter = 10
	if st, out := d.proof(t, h, map[string]any{}); st != 200 { // counter 11
		t.Fatalf("good proof: %d %v", st, out)
	}
	clone := *d
	clone.cred.Counter = 3 // becomes 4 < 11
	if st, out := clone.proof(t, h, map[string]any{}); st != 400 || errCode(out) != "PASSKEY_INVALID" {
		t.Errorf("sign-count regression: %d %v", st, out)
	}
}

// require_passkey: a user with a passkey cannot reset by mail alone. The
// mailed link's preflight and the code say PASSKEY_REQUIRED, complete is
// refused until the passkey is proven on that token, and someone else's
// passkey cannot lift it.
func TestRequirePasskeyStepUp(t *testing.T) {
	h := passkeyHarness(t, func(c *Config) { c.RequirePasskey = true })
	d := register(t, h, testOrigin)
	flowID, m := h.resetMail(t)
	token := tokenOf(t, m)
	if st, out := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 200 || out["next_step"] != StepPasskeyRequired {
		t.Fatalf("preflight: %d %v", st, out)
	}
	st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": codeOf(t, m)})
	if st != 200 || out["next_step"] != StepPasskeyRequired {
		t.Fatalf("code: %d %v", st, out)
	}
	pw := "Correct Zebra Battery Staple 9"
	if st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": pw}); st != 403 || errCode(out) != StepPasskeyRequired {
		t.Fatalf("complete without the passkey: %d %v", st, out)
	}
	// Holding the ceremony is not enough: the token must match.
	if st, _ := d.proof(t, h, map[string]any{"token": token + "x"}); st == 200 {
		t.Fatal("a malformed token passed")
	}
	st, out = d.proof(t, h, map[string]any{"token": token})
	if st != 200 || out["token"] != token || out["next_step"] != StepNewPasswordRequired {
		t.Fatalf("step-up: %d %v", st, out)
	}
	if st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": pw}); st != 200 {
		t.Fatalf("complete after the passkey: %d %v", st, out)
	}
}

// Registration needs a session; the list and delete endpoints too.
func TestPasskeyRegistrationNeedsSession(t *testing.T) {
	h := passkeyHarness(t, nil)
	if st, out := h.do(t, "POST", "/password-reset/passkeys/register/options", map[string]any{}); st != 401 {
		t.Fatalf("register without session: %d %v", st, out)
	}
	d := register(t, h, testOrigin)
	id := base64.RawURLEncoding.EncodeToString(d.cred.ID)
	if st, _ := h.do(t, "DELETE", "/password-reset/passkeys/"+id, nil); st != 401 {
		t.Fatalf("delete without session: %d", st)
	}
	if st, _ := h.doAs(t, "alice-session", "DELETE", "/password-reset/passkeys/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, out := d.proof(t, h, map[string]any{}); st != 400 {
		t.Fatalf("deleted passkey still works: %d %v", st, out)
	}
}
