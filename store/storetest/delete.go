// Conformance tests of Delete and DeleteOwner.

package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

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
