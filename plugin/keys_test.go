package plugin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/hkdf"
)

// The pooled HMAC states give exactly the keyed hashes a fresh HMAC does,
// from any number of goroutines at once: every stored key depends on it.
func TestMACKeyMatchesHMAC(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	k, err := deriveKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, []byte("resetgate/v1"), []byte("flow")), raw); err != nil {
		t.Fatal(err)
	}
	want := func(parts ...string) []byte {
		m := hmac.New(sha256.New, raw)
		m.Write([]byte(strings.Join(parts, "\x00")))
		return m.Sum(nil)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				parts := []string{strings.Repeat("x", i%70), "", "flow-" + strings.Repeat("y", g)}[:1+i%3]
				w := want(parts...)
				if got := k.flow.hex(parts...); got != hex.EncodeToString(w) {
					t.Errorf("hex(%q) = %s, want %x", parts, got, w)
					return
				}
				if got := k.flow.short(parts...); got != base64.RawURLEncoding.EncodeToString(w[:16]) {
					t.Errorf("short(%q) = %s", parts, got)
					return
				}
				if got := k.flow.appendHex([]byte("pre/"), parts...); string(got) != "pre/"+hex.EncodeToString(w) {
					t.Errorf("appendHex(pre/, %q) = %s", parts, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// The identifier's counter key put together in a buffer (the request
// handler's) is the one identKey gives (the background's and the store's),
// so both count one identifier together.
func TestAppendIdentKeyIsIdentKey(t *testing.T) {
	k, err := deriveKeys([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ident := range []string{"", "alice@example.test", strings.Repeat("é", 127)} {
		var buf [identKeyLen]byte
		got := k.appendIdentKey(buf[:0], ident)
		if want := k.identKey(ident); string(got) != want || len(want) != identKeyLen {
			t.Errorf("appendIdentKey(%q) = %q, identKey %q (len %d, identKeyLen %d)", ident, got, want, len(want), identKeyLen)
		}
	}
}
