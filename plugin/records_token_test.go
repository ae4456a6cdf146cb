package plugin

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The binary token record keeps everything a token needs, for every way
// a token is issued; what it cannot hold stays JSON.
func TestTokenRecordRoundTrip(t *testing.T) {
	// The binary form lists User's fields one by one: a new field must be
	// added there too, or tokens would lose it.
	if n := reflect.TypeOf(User{}).NumField(); n != 5 {
		t.Fatalf("User has %d fields; encodeToken and decodeToken know 5", n)
	}
	exp := time.Date(2026, 12, 4, 5, 6, 7, 891011121, time.UTC)
	for _, rec := range []tokenRecord{
		{User: User{ID: "u1", Email: "alice@example.test", Name: "Alice", Role: "user", Locale: "de"}, Identifier: "alice@example.test", Via: MethodLink, ExpiresAt: exp},
		{User: User{ID: "u1", Email: "alice@example.test"}, Identifier: "Alice", Via: MethodCode, NeedsPasskey: true, ExpiresAt: exp},
		{User: User{ID: "ü-ß", Name: "Zoë \x00 Ω"}, Identifier: "", Via: "admin", ExpiresAt: exp},
		{User: User{ID: "u2", Email: "bob@example.test"}, Identifier: "bob@example.test", Via: MethodPasskey, ExpiresAt: exp},
	} {
		data, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != tokenV1 {
			t.Fatalf("%+v: not the binary form: %q", rec, data)
		}
		var got tokenRecord
		if err := decodeRecord(data, &got); err != nil {
			t.Fatalf("%+v: %v", rec, err)
		}
		if got != rec {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
		}
		// Every truncation is refused, not misread.
		for i := range len(data) {
			if err := decodeToken(data[:i], &got); err == nil {
				t.Fatalf("%+v: truncated to %d bytes decoded", rec, i)
			}
		}
	}
	// An unknown via, or an expiry beyond Unix nanoseconds (the zero
	// time), stays JSON and reads back as written.
	for _, odd := range []tokenRecord{
		{User: User{ID: "u1"}, Via: "other", ExpiresAt: exp},
		{User: User{ID: "u1"}, Via: MethodLink},
	} {
		data := encodeToken(odd)
		var got tokenRecord
		if data[0] != '{' {
			t.Fatalf("%+v: not JSON: %q", odd, data)
		} else if err := decodeToken(data, &got); err != nil || got != odd {
			t.Fatalf("%+v: read back %+v %v", odd, got, err)
		}
	}
	// A token of the bench's shape fits in well under 100 bytes (the JSON
	// form took about 330).
	bench := tokenRecord{User: User{ID: "b-123456", Email: "known-123456@bench.test", Name: "Bench Known", Role: "user", Locale: "en"},
		Identifier: "known-123456@bench.test", Via: MethodLink, ExpiresAt: exp}
	if n := len(encodeToken(bench)); n > 70 {
		t.Fatalf("bench token record: %d bytes", n)
	}
}

// legacyToken is a token record as versions before the binary form
// stored it: JSON, with the fields those versions wrote.
type legacyToken struct {
	User       User      `json:"user"`
	Identifier string    `json:"identifier"`
	FlowKey    string    `json:"flow_key,omitempty"`
	Via        string    `json:"via"`
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// putLegacyToken stores a token as an earlier version did: JSON under
// "t/" + 64 hex digits, indexed under the long owner key.
func putLegacyToken(t *testing.T, h *harness, via string) string {
	t.Helper()
	token, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	now := h.clk.Now()
	data, _ := json.Marshal(legacyToken{User: User{ID: "u1", Email: "alice@example.test", Name: "Alice"}, Identifier: "alice@example.test",
		FlowKey: h.e.keys.flowKey("f"), Via: via, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err := h.e.store.Put(context.Background(), h.e.keys.legacyTokenKey(token), data, time.Hour, h.e.keys.ownerKey("u1")); err != nil {
		t.Fatal(err)
	}
	return token
}

// A rolling upgrade with open tokens: a token an earlier version stored
// (JSON, long keys) still passes the preflight and sets a password once;
// a password set through a new token ends the old tokens too, and an
// admin's revoke ends both forms (invariant 8).
func TestTokenStoredByEarlierVersionStillWorks(t *testing.T) {
	h := newHarness(t, nil)
	old := putLegacyToken(t, h, MethodLink)
	if st, out := h.do(t, "GET", "/password-reset/tokens/"+old, nil); st != 200 || out["next_step"] != StepNewPasswordRequired {
		t.Fatalf("preflight of an old token: %d %v", st, out)
	}
	complete := func(token string) int {
		st, _ := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "a long enough new password"})
		return st
	}
	if st := complete(old); st != 200 {
		t.Fatalf("complete with an old token: %d", st)
	}
	if st := complete(old); st != 404 {
		t.Fatalf("second complete with an old token: %d, want 404 (single use)", st)
	}
	if len(h.up.updates) != 1 || h.up.updates[0]["user_id"] != "u1" {
		t.Fatalf("updates: %v", h.up.updates)
	}

	// An old and a new token of one user: the new one sets the password,
	// the old one is dead.
	old = putLegacyToken(t, h, MethodCode)
	_, m := h.resetMail(t)
	if st := complete(tokenOf(t, m)); st != 200 {
		t.Fatalf("complete with a new token: %d", st)
	}
	if st, _ := h.do(t, "GET", "/password-reset/tokens/"+old, nil); st != 404 {
		t.Fatalf("an old token survived the password change: %d", st)
	}

	// An admin's revoke ends the user's tokens under both owner keys.
	old = putLegacyToken(t, h, "admin")
	issued, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	rec := tokenRecord{User: User{ID: "u1", Email: "alice@example.test"}, Identifier: "alice@example.test", Via: "admin", ExpiresAt: h.clk.Now().Add(time.Hour)}
	if err := h.e.putToken(context.Background(), h.e.keys.tokenKey(issued), rec); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.do(t, "GET", "/password-reset/tokens/"+issued, nil); st != 200 {
		t.Fatalf("preflight of a new token: %d", st)
	}
	if perr := h.e.RevokeUserTokens(context.Background(), "u1", "test"); perr != nil {
		t.Fatal(perr)
	}
	for _, tok := range []string{old, issued} {
		if st, _ := h.do(t, "GET", "/password-reset/tokens/"+tok, nil); st != 404 {
			t.Fatalf("a token survived the admin's revoke: %d", st)
		}
	}
}
