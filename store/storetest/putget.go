// Conformance tests of Put and Get: values, replacement, empty values,
// missing keys, opaque keys, copied values.

package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/resetgate/resetgate/store"
)

func testPutGet(t *testing.T, s store.Store) {
	mustPut(t, s, "a", "alpha", "")
	mustPut(t, s, "b", "beta", "owner")
	wantValue(t, s, "a", "alpha")
	wantValue(t, s, "b", "beta")
	// Reading does not consume.
	wantValue(t, s, "a", "alpha")

	// Values are bytes, not text.
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	if err := s.Put(t.Context(), "binary", binary, long, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), "binary")
	if err != nil || !bytes.Equal(got, binary) {
		t.Fatalf("Get(binary) = %x, %v; want %x", got, err, binary)
	}
}

func testPutReplaces(t *testing.T, s store.Store) {
	mustPut(t, s, "k", "first", "")
	mustPut(t, s, "k", "second", "")
	wantValue(t, s, "k", "second")
	mustPut(t, s, "k", "", "")
	wantValue(t, s, "k", "")
}

func testEmptyValue(t *testing.T, s store.Store) {
	// An empty value is a value, not a missing key.
	if err := s.Put(t.Context(), "empty", nil, long, ""); err != nil {
		t.Fatalf("Put(nil): %v", err)
	}
	got, err := s.Get(t.Context(), "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Get = %q, %v; want empty value, nil", got, err)
	}
	got, err = s.Consume(t.Context(), "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Consume = %q, %v; want empty value, nil", got, err)
	}
	wantMissing(t, s, "empty")
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "never-written")
	// The sentinel must survive wrapping, and must not be confused with
	// the backend being down.
	_, err := s.Get(t.Context(), "never-written")
	if errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get(missing) = %v, also matches ErrUnavailable", err)
	}
}

// testKeysAreOpaque writes keys that look like a backend's own bookkeeping
// (NUL bytes, prefixes, separators) and checks that none of them collides
// with another or with an owner index.
func testKeysAreOpaque(t *testing.T, s store.Store) {
	keys := []string{
		"",
		"\x00",
		"\x00o\x00alice\x00k",
		"k\x00",
		"k\x00k",
		"o\x00alice",
		"alice",
		"k",
		"owner:alice",
		"\xff\xfe",
		"ключ",
	}
	for i, k := range keys {
		mustPut(t, s, k, fmt.Sprint("v", i), "")
	}
	mustPut(t, s, "owned", "mine", "alice")
	for i, k := range keys {
		wantValue(t, s, k, fmt.Sprint("v", i))
	}
	n, err := s.DeleteOwner(t.Context(), "alice")
	if err != nil || n != 1 {
		t.Fatalf("DeleteOwner(alice) = %d, %v; want 1, nil", n, err)
	}
	for i, k := range keys {
		wantValue(t, s, k, fmt.Sprint("v", i))
	}
	wantMissing(t, s, "owned")
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []byte("original")
	if err := s.Put(ctx, "k", in, long, ""); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	wantValue(t, s, "k", "original")

	out, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	copy(out, "YYYYYYYY")
	wantValue(t, s, "k", "original")

	in = []byte("lease")
	if ok, err := s.PutIfAbsent(ctx, "p", in, long); err != nil || !ok {
		t.Fatalf("PutIfAbsent = %v, %v", ok, err)
	}
	copy(in, "XXXXX")
	wantValue(t, s, "p", "lease")

	prev, next := []byte("original"), []byte("swapped!")
	if ok, err := s.CompareAndSwap(ctx, "k", prev, next); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	copy(next, "ZZZZZZZZ")
	wantValue(t, s, "k", "swapped!")

	out, err = s.Consume(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", "fresh", "")
	copy(out, "WWWWWWWW")
	wantValue(t, s, "k", "fresh")
}
