// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a constructor for fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := badger.Open(badger.Options{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Expiry is checked against the wall clock with TTLs of one or two seconds
// (Badger keeps expiry in whole seconds), so the whole suite takes about
// fifteen seconds.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

// Run runs the conformance suite against the backend that newStore opens.
// newStore is called once per sub-test and must return an empty store that
// no other sub-test sees; Run closes it when the sub-test ends, so newStore
// need not (a second Close is harmless: Close is idempotent). Sub-tests run
// one after another, so backends that share a server may flush it in
// newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGet", testPutGet},
		{"PutReplaces", testPutReplaces},
		{"EmptyValue", testEmptyValue},
		{"GetMissing", testGetMissing},
		{"KeysAreOpaque", testKeysAreOpaque},
		{"ValuesAreCopied", testValuesAreCopied},
		{"ShortTTLIsLiveAtOnce", testShortTTLIsLiveAtOnce},
		{"PutExpires", testPutExpires},
		{"InvalidTTL", testInvalidTTL},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentAfterExpiry", testPutIfAbsentAfterExpiry},
		{"PutIfAbsentOneWinner", testPutIfAbsentOneWinner},
		{"Consume", testConsume},
		{"ConsumeOneWinner", testConsumeOneWinner},
		{"CompareAndSwap", testCompareAndSwap},
		{"CompareAndSwapOneWinner", testCompareAndSwapOneWinner},
		{"CompareAndSwapKeepsTTL", testCompareAndSwapKeepsTTL},
		{"Delete", testDelete},
		{"DeleteOwner", testDeleteOwner},
		{"DeleteOwnerFollowsReplace", testDeleteOwnerFollowsReplace},
		{"DeleteOwnerForgetsRemovedKeys", testDeleteOwnerForgetsRemovedKeys},
		{"DeleteOwnerNamesAreExact", testDeleteOwnerNamesAreExact},
		{"DeleteOwnerSkipsExpired", testDeleteOwnerSkipsExpired},
		{"Incr", testIncr},
		{"IncrConcurrent", testIncrConcurrent},
		{"IncrWindowExpires", testIncrWindowExpires},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

const (
	long = time.Hour
	// racers is how many goroutines contend for one key in the race tests.
	racers = 16
)

// mustPut stores value under key for an hour and fails the test on error.
func mustPut(t *testing.T, s store.Store, key, value, owner string) {
	t.Helper()
	if err := s.Put(t.Context(), key, []byte(value), long, owner); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// wantValue fails the test unless key holds value.
func wantValue(t *testing.T, s store.Store, key, value string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, value)
	}
	if string(got) != value {
		t.Fatalf("Get(%q) = %q, want %q", key, got, value)
	}
}

// wantMissing fails the test unless Get(key) gives ErrNotFound.
func wantMissing(t *testing.T, s store.Store, key string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// waitMissing polls key until it is gone and fails the test if that takes
// longer than within. It also fails the test if the key disappears before
// atLeast has passed since start: a TTL is a lower bound as well.
func waitMissing(t *testing.T, s store.Store, key string, start time.Time, atLeast, within time.Duration) {
	t.Helper()
	deadline := start.Add(within)
	for {
		_, err := s.Get(t.Context(), key)
		now := time.Now()
		if errors.Is(err, store.ErrNotFound) {
			if lived := now.Sub(start); lived < atLeast {
				t.Fatalf("key %q expired after %v, before its TTL of %v", key, lived, atLeast)
			}
			return
		}
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		if now.After(deadline) {
			t.Fatalf("key %q still present %v after it was written", key, now.Sub(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// race starts n goroutines that wait on one barrier and then call fn with
// their index; it returns once all of them have finished.
func race(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

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

func testPutIfAbsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	ok, err := s.PutIfAbsent(ctx, "lease", []byte("first"), long)
	if err != nil || !ok {
		t.Fatalf("PutIfAbsent(new) = %v, %v; want true, nil", ok, err)
	}
	ok, err = s.PutIfAbsent(ctx, "lease", []byte("second"), long)
	if err != nil || ok {
		t.Fatalf("PutIfAbsent(existing) = %v, %v; want false, nil", ok, err)
	}
	wantValue(t, s, "lease", "first")

	// Once the key is gone, the next caller wins again.
	if err := s.Delete(ctx, "lease"); err != nil {
		t.Fatal(err)
	}
	ok, err = s.PutIfAbsent(ctx, "lease", []byte("third"), long)
	if err != nil || !ok {
		t.Fatalf("PutIfAbsent(after Delete) = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, "lease", "third")
}

func testPutIfAbsentAfterExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if ok, err := s.PutIfAbsent(ctx, "lease", []byte("first"), time.Second); err != nil || !ok {
		t.Fatalf("PutIfAbsent = %v, %v", ok, err)
	}
	waitMissing(t, s, "lease", start, time.Second, 5*time.Second)
	ok, err := s.PutIfAbsent(ctx, "lease", []byte("second"), long)
	if err != nil || !ok {
		t.Fatalf("PutIfAbsent(after expiry) = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, "lease", "second")
}

func testPutIfAbsentOneWinner(t *testing.T, s store.Store) {
	const rounds = 20
	for round := range rounds {
		key := fmt.Sprint("lease", round)
		var (
			mu      sync.Mutex
			winners []int
			errs    []error
		)
		race(racers, func(i int) {
			ok, err := s.PutIfAbsent(context.Background(), key, []byte(fmt.Sprint(i)), long)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners = append(winners, i)
			}
		})
		if len(errs) > 0 {
			t.Fatalf("round %d: %d PutIfAbsent calls failed, first: %v", round, len(errs), errs[0])
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		wantValue(t, s, key, fmt.Sprint(winners[0]))
	}
}

func testConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "token", "payload", "")
	got, err := s.Consume(ctx, "token")
	if err != nil || string(got) != "payload" {
		t.Fatalf("Consume = %q, %v; want payload, nil", got, err)
	}
	wantMissing(t, s, "token")
	if got, err := s.Consume(ctx, "token"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Consume = %q, %v; want ErrNotFound", got, err)
	}
	if got, err := s.Consume(ctx, "never-written"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Consume(missing) = %q, %v; want ErrNotFound", got, err)
	}
	// A consumed key leaves its owner's index.
	mustPut(t, s, "owned", "v", "alice")
	if _, err := s.Consume(ctx, "owned"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 0 {
		t.Fatalf("DeleteOwner after Consume = %d, %v; want 0, nil", n, err)
	}
}

func testConsumeOneWinner(t *testing.T, s store.Store) {
	const rounds = 50
	for round := range rounds {
		key := fmt.Sprint("token", round)
		want := fmt.Sprint("payload", round)
		mustPut(t, s, key, want, "owner")
		var (
			mu      sync.Mutex
			winners []int
			errs    []error
		)
		race(racers, func(i int) {
			got, err := s.Consume(context.Background(), key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
				if string(got) != want {
					errs = append(errs, fmt.Errorf("racer %d got %q, want %q", i, got, want))
				}
			case !errors.Is(err, store.ErrNotFound):
				errs = append(errs, err)
			}
		})
		if len(errs) > 0 {
			t.Fatalf("round %d: %d Consume calls failed, first: %v", round, len(errs), errs[0])
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d racers consumed the key %v, want exactly 1", round, len(winners), winners)
		}
		wantMissing(t, s, key)
	}
}

func testCompareAndSwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CompareAndSwap(ctx, "missing", []byte("a"), []byte("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompareAndSwap(missing) = %v, want ErrNotFound", err)
	}
	wantMissing(t, s, "missing")

	mustPut(t, s, "flow", "step1", "")
	ok, err := s.CompareAndSwap(ctx, "flow", []byte("wrong"), []byte("step2"))
	if err != nil || ok {
		t.Fatalf("CompareAndSwap(wrong prev) = %v, %v; want false, nil", ok, err)
	}
	wantValue(t, s, "flow", "step1")
	// A prefix of the value is not the value.
	ok, err = s.CompareAndSwap(ctx, "flow", []byte("step"), []byte("step2"))
	if err != nil || ok {
		t.Fatalf("CompareAndSwap(prefix prev) = %v, %v; want false, nil", ok, err)
	}
	ok, err = s.CompareAndSwap(ctx, "flow", []byte("step1"), []byte("step2"))
	if err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, "flow", "step2")
	// The old value no longer matches.
	ok, err = s.CompareAndSwap(ctx, "flow", []byte("step1"), []byte("step3"))
	if err != nil || ok {
		t.Fatalf("CompareAndSwap(stale prev) = %v, %v; want false, nil", ok, err)
	}
	wantValue(t, s, "flow", "step2")

	// Empty values compare like any other.
	mustPut(t, s, "empty", "", "")
	ok, err = s.CompareAndSwap(ctx, "empty", nil, []byte("full"))
	if err != nil || !ok {
		t.Fatalf("CompareAndSwap(empty prev) = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, "empty", "full")
}

func testCompareAndSwapOneWinner(t *testing.T, s store.Store) {
	const rounds = 20
	for round := range rounds {
		key := fmt.Sprint("flow", round)
		mustPut(t, s, key, "start", "")
		var (
			mu      sync.Mutex
			winners []int
			errs    []error
		)
		race(racers, func(i int) {
			ok, err := s.CompareAndSwap(context.Background(), key, []byte("start"), []byte(fmt.Sprint("racer", i)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners = append(winners, i)
			}
		})
		if len(errs) > 0 {
			t.Fatalf("round %d: %d CompareAndSwap calls failed, first: %v", round, len(errs), errs[0])
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		wantValue(t, s, key, fmt.Sprint("racer", winners[0]))
	}
}

func testCompareAndSwapKeepsTTL(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if err := s.Put(ctx, "flow", []byte("step1"), 2*time.Second, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "other", []byte("v"), 2*time.Second, "alice"); err != nil {
		t.Fatal(err)
	}
	ok, err := s.CompareAndSwap(ctx, "flow", []byte("step1"), []byte("step2"))
	if err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v; want true, nil", ok, err)
	}
	// The owner index still covers the swapped key.
	n, err := s.DeleteOwner(ctx, "alice")
	if err != nil || n != 2 {
		t.Fatalf("DeleteOwner after CompareAndSwap = %d, %v; want 2, nil", n, err)
	}
	wantMissing(t, s, "flow")

	// The swapped key expires when the original would have.
	if err := s.Put(ctx, "flow", []byte("step1"), 2*time.Second, "bob"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompareAndSwap(ctx, "flow", []byte("step1"), []byte("step2")); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v; want true, nil", ok, err)
	}
	wantValue(t, s, "flow", "step2")
	waitMissing(t, s, "flow", start, 2*time.Second, 6*time.Second)
	if n, err := s.DeleteOwner(ctx, "bob"); err != nil || n != 0 {
		t.Fatalf("DeleteOwner after expiry = %d, %v; want 0, nil", n, err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", "v", "")
	mustPut(t, s, "other", "v", "")
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "other", "v")
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete(already deleted): %v", err)
	}
	if err := s.Delete(ctx, "never-written"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
}

func testDeleteOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 3 {
		mustPut(t, s, fmt.Sprint("alice", i), "v", "alice")
	}
	mustPut(t, s, "bob0", "v", "bob")
	mustPut(t, s, "nobody", "v", "")

	n, err := s.DeleteOwner(ctx, "alice")
	if err != nil || n != 3 {
		t.Fatalf("DeleteOwner(alice) = %d, %v; want 3, nil", n, err)
	}
	for i := range 3 {
		wantMissing(t, s, fmt.Sprint("alice", i))
	}
	wantValue(t, s, "bob0", "v")
	wantValue(t, s, "nobody", "v")

	n, err = s.DeleteOwner(ctx, "alice")
	if err != nil || n != 0 {
		t.Fatalf("second DeleteOwner(alice) = %d, %v; want 0, nil", n, err)
	}
	n, err = s.DeleteOwner(ctx, "carol")
	if err != nil || n != 0 {
		t.Fatalf("DeleteOwner(unknown) = %d, %v; want 0, nil", n, err)
	}

	// Many keys under one owner are all removed.
	const many = 300
	for i := range many {
		mustPut(t, s, fmt.Sprint("many", i), "v", "dave")
	}
	n, err = s.DeleteOwner(ctx, "dave")
	if err != nil || n != many {
		t.Fatalf("DeleteOwner(dave) = %d, %v; want %d, nil", n, err, many)
	}
	for i := range many {
		wantMissing(t, s, fmt.Sprint("many", i))
	}
	wantValue(t, s, "bob0", "v")
}

func testDeleteOwnerFollowsReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A key put again under another owner belongs to the new owner only.
	mustPut(t, s, "k", "alice's", "alice")
	mustPut(t, s, "k", "bob's", "bob")
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 0 {
		t.Fatalf("DeleteOwner(old owner) = %d, %v; want 0, nil", n, err)
	}
	wantValue(t, s, "k", "bob's")

	// A key put again without an owner belongs to nobody.
	mustPut(t, s, "j", "v", "bob")
	mustPut(t, s, "j", "w", "")
	if n, err := s.DeleteOwner(ctx, "bob"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner(bob) = %d, %v; want 1 (k only), nil", n, err)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "j", "w")

	// Put twice under the same owner counts once.
	mustPut(t, s, "twice", "1", "carol")
	mustPut(t, s, "twice", "2", "carol")
	if n, err := s.DeleteOwner(ctx, "carol"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner(carol) = %d, %v; want 1, nil", n, err)
	}
}

func testDeleteOwnerForgetsRemovedKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "deleted", "v", "alice")
	mustPut(t, s, "consumed", "v", "alice")
	mustPut(t, s, "kept", "v", "alice")
	if err := s.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consume(ctx, "consumed"); err != nil {
		t.Fatal(err)
	}
	// A later write of the same key without an owner must not be swept.
	mustPut(t, s, "deleted", "new", "")
	if ok, err := s.PutIfAbsent(ctx, "consumed", []byte("new"), long); err != nil || !ok {
		t.Fatalf("PutIfAbsent = %v, %v", ok, err)
	}
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner = %d, %v; want 1, nil", n, err)
	}
	wantMissing(t, s, "kept")
	wantValue(t, s, "deleted", "new")
	wantValue(t, s, "consumed", "new")
}

// testDeleteOwnerNamesAreExact checks that owners are matched whole: one
// owner's name being a prefix of another's, or sharing a separator byte,
// must not let DeleteOwner reach the other's keys.
func testDeleteOwnerNamesAreExact(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", "v", "a\x00b")
	mustPut(t, s, "b\x00k", "v", "a")
	mustPut(t, s, "x", "v", "ab")
	mustPut(t, s, "y", "v", "a:")
	n, err := s.DeleteOwner(ctx, "a")
	if err != nil || n != 1 {
		t.Fatalf("DeleteOwner(a) = %d, %v; want 1, nil", n, err)
	}
	wantMissing(t, s, "b\x00k")
	wantValue(t, s, "k", "v")
	wantValue(t, s, "x", "v")
	wantValue(t, s, "y", "v")
	n, err = s.DeleteOwner(ctx, "a\x00b")
	if err != nil || n != 1 {
		t.Fatalf("DeleteOwner(a\\x00b) = %d, %v; want 1, nil", n, err)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "x", "v")
}

func testDeleteOwnerSkipsExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if err := s.Put(ctx, "short", []byte("v"), time.Second, "alice"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "long", "v", "alice")
	waitMissing(t, s, "short", start, time.Second, 5*time.Second)
	n, err := s.DeleteOwner(ctx, "alice")
	if err != nil || n != 1 {
		t.Fatalf("DeleteOwner = %d, %v; want 1 (only the live key), nil", n, err)
	}
	wantMissing(t, s, "long")
}

func testIncr(t *testing.T, s store.Store) {
	ctx := t.Context()
	for want := int64(1); want <= 5; want++ {
		got, err := s.Incr(ctx, "counter", long)
		if err != nil || got != want {
			t.Fatalf("Incr = %d, %v; want %d, nil", got, err, want)
		}
	}
	got, err := s.Incr(ctx, "other", long)
	if err != nil || got != 1 {
		t.Fatalf("Incr(other) = %d, %v; want 1, nil", got, err)
	}
	// Deleting a counter resets it.
	if err := s.Delete(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	got, err = s.Incr(ctx, "counter", long)
	if err != nil || got != 1 {
		t.Fatalf("Incr after Delete = %d, %v; want 1, nil", got, err)
	}
}

func testIncrConcurrent(t *testing.T, s store.Store) {
	const perRacer = 100
	var (
		mu   sync.Mutex
		seen []int64
		errs []error
	)
	race(racers, func(int) {
		got := make([]int64, 0, perRacer)
		var err error
		for range perRacer {
			var n int64
			n, err = s.Incr(context.Background(), "hot", long)
			if err != nil {
				break
			}
			got = append(got, n)
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, got...)
		if err != nil {
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d racers failed, first: %v", len(errs), errs[0])
	}
	// Every value from 1 to racers*perRacer was handed out exactly once.
	slices.Sort(seen)
	for i, n := range seen {
		if n != int64(i+1) {
			t.Fatalf("Incr results sorted: position %d holds %d, want %d (lost or repeated increment)", i, n, i+1)
		}
	}
	if len(seen) != racers*perRacer {
		t.Fatalf("got %d results, want %d", len(seen), racers*perRacer)
	}
	got, err := s.Incr(t.Context(), "hot", long)
	if err != nil || got != racers*perRacer+1 {
		t.Fatalf("final Incr = %d, %v; want %d", got, err, racers*perRacer+1)
	}
}

func testIncrWindowExpires(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	if n, err := s.Incr(ctx, "window", time.Second); err != nil || n != 1 {
		t.Fatalf("Incr = %d, %v; want 1", n, err)
	}
	// A later increment with a longer TTL does not extend the window.
	if n, err := s.Incr(ctx, "window", long); err != nil || n != 2 {
		t.Fatalf("Incr = %d, %v; want 2", n, err)
	}
	waitMissing(t, s, "window", start, time.Second, 5*time.Second)
	// The next increment opens a new window.
	if n, err := s.Incr(ctx, "window", long); err != nil || n != 1 {
		t.Fatalf("Incr after the window = %d, %v; want 1", n, err)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	mustPut(t, s, "k", "v", "alice")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Put": func() error { return s.Put(ctx, "k2", []byte("v"), long, "") },
		"PutIfAbsent": func() error {
			_, err := s.PutIfAbsent(ctx, "k3", []byte("v"), long)
			return err
		},
		"Get": func() error {
			_, err := s.Get(ctx, "k")
			return err
		},
		"Consume": func() error {
			_, err := s.Consume(ctx, "k")
			return err
		},
		"CompareAndSwap": func() error {
			_, err := s.CompareAndSwap(ctx, "k", []byte("v"), []byte("w"))
			return err
		},
		"Delete": func() error { return s.Delete(ctx, "k") },
		"DeleteOwner": func() error {
			_, err := s.DeleteOwner(ctx, "alice")
			return err
		},
		"Incr": func() error {
			_, err := s.Incr(ctx, "n", long)
			return err
		},
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		err := calls[name]()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error matching context.Canceled", name, err)
		}
	}
	// A refused Consume did not consume.
	wantValue(t, s, "k", "v")
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", "v", "")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A closed store answers ErrUnavailable, never a value or ErrNotFound.
	if got, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get after Close = %q, %v; want ErrUnavailable", got, err)
	}
	if err := s.Put(ctx, "k", []byte("v"), long, ""); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Put after Close = %v; want ErrUnavailable", err)
	}
	if got, err := s.Consume(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Consume after Close = %q, %v; want ErrUnavailable", got, err)
	}
	if _, err := s.DeleteOwner(ctx, "o"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("DeleteOwner after Close = %v; want ErrUnavailable", err)
	}
	if _, err := s.Incr(ctx, "n", long); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Incr after Close = %v; want ErrUnavailable", err)
	}
}
