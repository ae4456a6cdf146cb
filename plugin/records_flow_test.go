package plugin

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The binary flow record keeps everything a flow needs, real or decoy;
// what it cannot hold stays JSON, and flows stored as JSON by earlier
// versions read back unchanged.
func TestFlowRecordRoundTrip(t *testing.T) {
	// The binary form lists the fields one by one: a new field must be
	// added there too, or flows would lose it.
	if n := reflect.TypeOf(flowRecord{}).NumField(); n != 10 {
		t.Fatalf("flowRecord has %d fields; encodeFlow and decodeFlow know 10", n)
	}
	created := time.Date(2026, 12, 4, 5, 6, 7, 891011121, time.UTC)
	mac := strings.Repeat("0123456789abcdef", 4)
	for _, f := range []flowRecord{
		{User: User{ID: "u1", Email: "alice@example.test", Name: "Alice", Role: "user", Locale: "de"}, Identifier: "alice@example.test",
			CodeMAC: mac, CodeExpiry: created.Add(10 * time.Minute), TokenKey: "t/abc", CreatedAt: created, ExpiresAt: created.Add(time.Hour),
			IP: "203.0.113.7", Budget: "u/" + mac},
		{User: User{ID: "u1", Email: "alice@example.test"}, Identifier: "Alice", TokenKey: "t/abc", CreatedAt: created, ExpiresAt: created.Add(time.Hour), IP: "::1"},
		{User: User{ID: "u1"}, CreatedAt: created, ExpiresAt: created, Budget: "u/" + strings.ToUpper(mac)},
		{User: User{ID: "u1"}, CreatedAt: created, ExpiresAt: created, Budget: "fo/" + mac},
		{Decoy: true, Budget: "u/" + mac, CodeMAC: mac, CodeExpiry: created.Add(10 * time.Minute), CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute)},
	} {
		data, err := encodeRecord(f)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != flowV1 {
			t.Fatalf("%+v: not the binary form: %q", f, data)
		}
		var got flowRecord
		if err := decodeRecord(data, &got); err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if got != f {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, f)
		}
		for i := range len(data) {
			if err := decodeFlow(data[:i], &got); err == nil {
				t.Fatalf("%+v: truncated to %d bytes decoded", f, i)
			}
		}
		if f.Decoy {
			legacy, _ := json.Marshal(f)
			if len(data) > 100 || len(data)*3 > len(legacy) {
				t.Fatalf("decoy flow: %d bytes (JSON: %d)", len(data), len(legacy))
			}
		}
	}
	// A code MAC that is not 64 hex digits, or a time beyond Unix
	// nanoseconds, stays JSON; so does what earlier versions stored.
	for _, odd := range []flowRecord{
		{CodeMAC: "ABCDEF", CreatedAt: created, ExpiresAt: created},
		{CodeMAC: strings.ToUpper(mac), CreatedAt: created, ExpiresAt: created},
		{User: User{ID: "u1"}, CreatedAt: created},
	} {
		data := encodeFlow(odd)
		var got flowRecord
		if data[0] != '{' {
			t.Fatalf("%+v: not JSON: %q", odd, data)
		} else if err := decodeRecord(data, &got); err != nil || got != odd {
			t.Fatalf("%+v: read back %+v %v", odd, got, err)
		}
	}
	var got flowRecord
	if err := decodeRecord([]byte{tokenV1, 0}, &got); err == nil {
		t.Fatal("a token record decoded as a flow")
	}
}

// A flow an earlier version stored (JSON, under the long hex key) still
// takes its code after an upgrade, once; wrong codes count against it as
// before.
func TestFlowStoredByEarlierVersionStillWorks(t *testing.T) {
	h := newHarness(t, nil)
	flowID, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	now := h.clk.Now()
	legacy, _ := json.Marshal(flowRecord{
		User: User{ID: "u1", Email: "alice@example.test"}, Identifier: "alice@example.test",
		CodeMAC: h.e.keys.codeMAC(flowID, "12345678"), CodeExpiry: now.Add(10 * time.Minute),
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute),
	})
	ctx := context.Background()
	if err := h.e.store.Put(ctx, h.e.keys.legacyFlowKey(flowID), legacy, 15*time.Minute, h.e.keys.ownerKey("u1")); err != nil {
		t.Fatal(err)
	}
	if h.e.keys.legacyFlowKey(flowID) == h.e.keys.flowKey(flowID) {
		t.Fatal("the legacy and the current flow key are the same")
	}
	verify := func(code string) (int, map[string]any) {
		return h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code})
	}
	if st, out := verify("87654321"); st != 400 || errCode(out) != CodeCodeInvalid {
		t.Fatalf("a wrong code on an old flow: %d %v", st, out)
	}
	st, out := verify("12345678")
	if st != 200 || out["token"] == nil {
		t.Fatalf("the right code on an old flow: %d %v", st, out)
	}
	if st, out := verify("12345678"); st != 400 || errCode(out) != CodeCodeInvalid {
		t.Fatalf("the code again: %d %v, want 400 CODE_INVALID (single use)", st, out)
	}
}
