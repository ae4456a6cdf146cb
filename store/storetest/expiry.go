// Conformance tests of TTLs: a key is live at once, expires on time, and a
// TTL must be positive.

package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

// testShortTTLIsLiveAtOnce pins rounding: a backend that keeps whole
// seconds must round a TTL up, not down, or a sub-second TTL can expire
// before the write returns.
func testShortTTLIsLiveAtOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		key := fmt.Sprint("short", i)
		if err := s.Put(ctx, key, []byte("v"), 500*time.Millisecond, ""); err != nil {
			t.Fatal(err)
		}
		wantValue(t, s, key, "v")
		if ok, err := s.PutIfAbsent(ctx, "lease"+key, []byte("v"), 500*time.Millisecond); err != nil || !ok {
			t.Fatalf("PutIfAbsent = %v, %v", ok, err)
		}
		wantValue(t, s, "lease"+key, "v")
		if n, err := s.Incr(ctx, "count"+key, 500*time.Millisecond); err != nil || n != 1 {
			t.Fatalf("Incr = %d, %v; want 1", n, err)
		}
		if n, err := s.Incr(ctx, "count"+key, 500*time.Millisecond); err != nil || n != 2 {
			t.Fatalf("second Incr = %d, %v; want 2", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testPutExpires(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if err := s.Put(ctx, "k", []byte("v"), time.Second, "owner"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "stays", "v", "")
	wantValue(t, s, "k", "v")
	waitMissing(t, s, "k", start, time.Second, 5*time.Second)
	if _, err := s.Consume(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Consume(expired) = %v, want ErrNotFound", err)
	}
	if _, err := s.CompareAndSwap(ctx, "k", []byte("v"), []byte("w")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompareAndSwap(expired) = %v, want ErrNotFound", err)
	}
	wantValue(t, s, "stays", "v")

	// A replacing Put sets a new TTL.
	start = time.Now()
	if err := s.Put(ctx, "r", []byte("v"), long, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "r", []byte("w"), time.Second, ""); err != nil {
		t.Fatal(err)
	}
	waitMissing(t, s, "r", start, time.Second, 5*time.Second)
}

func testInvalidTTL(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Put(ctx, "k", []byte("v"), ttl, ""); err == nil {
			t.Errorf("Put(ttl=%v) succeeded", ttl)
		} else if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Put(ttl=%v) = %v: a caller's mistake is not ErrUnavailable", ttl, err)
		}
		if _, err := s.PutIfAbsent(ctx, "k", []byte("v"), ttl); err == nil {
			t.Errorf("PutIfAbsent(ttl=%v) succeeded", ttl)
		} else if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("PutIfAbsent(ttl=%v) = %v: a caller's mistake is not ErrUnavailable", ttl, err)
		}
		if _, err := s.Incr(ctx, "k", ttl); err == nil {
			t.Errorf("Incr(ttl=%v) succeeded", ttl)
		} else if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Incr(ttl=%v) = %v: a caller's mistake is not ErrUnavailable", ttl, err)
		}
	}
	// Nothing was written by the refused calls.
	wantMissing(t, s, "k")
}
