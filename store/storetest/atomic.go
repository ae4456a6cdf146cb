// Conformance tests of the single-winner operations: PutIfAbsent, Consume
// and CompareAndSwap, each alone and under a race.

package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

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
