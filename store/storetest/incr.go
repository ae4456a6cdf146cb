// Conformance tests of Incr: counting, concurrent increments, and the
// window's expiry.

package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

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

// testAdd: Add counts by its delta, shares the counter with Incr, keeps
// the first call's window, and refuses a delta below one without
// touching the counter.
func testAdd(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		delta, want int64
	}{{16, 16}, {1, 17}, {16, 33}}
	for _, st := range steps {
		var got int64
		var err error
		if st.delta == 1 {
			got, err = s.Incr(ctx, "blocks", time.Second)
		} else {
			got, err = s.Add(ctx, "blocks", st.delta, time.Second)
		}
		if err != nil || got != st.want {
			t.Fatalf("add %d = %d, %v; want %d, nil", st.delta, got, err, st.want)
		}
	}
	for _, bad := range []int64{0, -3} {
		if _, err := s.Add(ctx, "blocks", bad, time.Second); err == nil {
			t.Fatalf("Add(delta %d) succeeded", bad)
		}
	}
	wantValue(t, s, "blocks", "33")
	start := time.Now()
	waitMissing(t, s, "blocks", start, 0, 5*time.Second)
	if got, err := s.Add(ctx, "blocks", 16, long); err != nil || got != 16 {
		t.Fatalf("Add after the window = %d, %v; want 16, nil", got, err)
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
