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
	"errors"
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
		{"Add", testAdd},
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
