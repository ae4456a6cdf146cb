package plugin

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A sealed decoy id opens to its time and budget for the flow's lifetime
// and not after; it looks like a random flow id (length, alphabet, no
// shared bytes between ids of one identifier and second); any changed
// character, another server key, or a random id does not open.
func TestSealedDecoyID(t *testing.T) {
	k, err := deriveKeys([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := deriveKeys([]byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 500, time.UTC)
	ttl := 15 * time.Minute
	tag := k.budgetTag("Alice@Example.test")
	if tag != k.budgetTag("alice@example.test") || tag == k.budgetTag("bob@example.test") {
		t.Fatal("budget tag: not the identifier as typed, case-folded")
	}
	id, err := k.decoy.seal(now, tag)
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormedToken(id) || len(id) != tokenLen {
		t.Fatalf("sealed id %q is not shaped like a flow id", id)
	}
	for _, at := range []time.Time{now, now.Add(ttl - time.Second)} {
		created, got, ok := k.decoy.open(id, at, ttl)
		if !ok || got != tag || !created.Equal(now.Truncate(time.Second)) {
			t.Fatalf("open at %v: %v %v %v; want the seal's time and budget", at, created, got, ok)
		}
	}
	for _, at := range []time.Time{now.Add(ttl), now.Add(-2 * time.Second)} {
		if _, _, ok := k.decoy.open(id, at, ttl); ok {
			t.Fatalf("opened at %v, outside the flow's lifetime", at)
		}
	}
	if _, _, ok := other.decoy.open(id, now, ttl); ok {
		t.Fatal("opened under another server key")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(id)
	for i := range raw {
		for _, bit := range []byte{1, 0x80} {
			changed := append([]byte(nil), raw...)
			changed[i] ^= bit
			if _, _, ok := k.decoy.open(base64.RawURLEncoding.EncodeToString(changed), now, ttl); ok {
				t.Fatalf("opened with byte %d changed", i)
			}
		}
	}
	for i := 0; i < 1000; i++ {
		random, err := newToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := k.decoy.open(random, now, ttl); ok {
			t.Fatalf("a random flow id %q opened", random)
		}
	}
	// Two ids for one identifier in one second share no byte position
	// more than chance allows (deterministic parts would repeat).
	second, err := k.decoy.seal(now, tag)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := base64.RawURLEncoding.DecodeString(second)
	same := 0
	for i := range raw {
		if raw[i] == raw2[i] {
			same++
		}
	}
	if second == id || same > 4 {
		t.Fatalf("two sealed ids of one identifier and second share %d of 32 bytes", same)
	}
	if budgetKey(tag) != k.identifierOwnerKey("alice@example.test") {
		t.Fatal("a sealed id's budget key is not the identifier's budget key")
	}
}

// The reset request's 202 is written without encoding/json, byte for byte
// and header for header as writeJSON writes it, and falls back to it for
// values that would need escaping.
func TestAcceptedBodyAsEncoded(t *testing.T) {
	id, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []acceptedBody{
		{FlowID: id, NextStep: StepCodeRequired},
		{FlowID: id, NextStep: StepLinkRequired},
		{FlowID: `a<b>&"c\`, NextStep: "é"},
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, http.StatusAccepted, body)
		writeAccepted(got, body)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) {
			t.Fatalf("%+v: wrote %d %v %q, want %d %v %q", body, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}
