package badger

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestOwnerFilter(t *testing.T) {
	f := newOwnerFilter()
	now := time.Now().Unix()
	if f.mayHave("alice", now) {
		t.Fatal("empty filter: mayHave(alice) = true")
	}
	f.add("alice", uint64(now+100))
	f.add("alice", uint64(now+5)) // an earlier expiry does not lower the slot
	if !f.mayHave("alice", now+50) {
		t.Fatal("mayHave(alice) = false before her latest entry expires")
	}
	if f.mayHave("alice", now+100) {
		t.Fatal("mayHave(alice) = true once every entry expired (Badger: ExpiresAt <= now)")
	}
	f.add("bob", 0)
	if !f.mayHave("bob", now+1e9) {
		t.Fatal("an entry without expiry aged out")
	}

	// False positives stay rare at the bench's scale.
	g := newOwnerFilter()
	const n = 20000
	for i := range n {
		g.add("user-"+strconv.Itoa(i), uint64(now+900))
	}
	fp := 0
	for i := range n {
		if !g.mayHave("user-"+strconv.Itoa(i), now) {
			t.Fatalf("false negative for user-%d", i)
		}
		if g.mayHave("other-"+strconv.Itoa(i), now) {
			fp++
		}
	}
	if fp > n/10 {
		t.Fatalf("%d of %d owners without entries reported as maybe", fp, n)
	}
	t.Logf("false positives: %d of %d", fp, n)
}

func TestIndexOwner(t *testing.T) {
	for _, owner := range []string{"", "a", "t\x00user-1", string(make([]byte, 300))} {
		got, ok := indexOwner(ownerKey(owner, "k/1"))
		if !ok || got != owner {
			t.Fatalf("indexOwner(ownerKey(%q)) = %q, %v", owner, got, ok)
		}
	}
	for _, key := range [][]byte{[]byte(indexPrefix), []byte(indexPrefix + "\x05ab"), []byte(indexPrefix + "\xff")} {
		if _, ok := indexOwner(key); ok {
			t.Fatalf("indexOwner(%q) accepted a malformed key", key)
		}
	}
}

// BenchmarkDeleteOwnerNone is DeleteOwner for an owner without entries
// (the common case after a completed reset) in a store holding others'.
func BenchmarkDeleteOwnerNone(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 20000 {
		k := "k-" + strconv.Itoa(i)
		if err := s.Put(ctx, k, []byte("v"), time.Hour, "owner-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if n, err := s.DeleteOwner(ctx, "none-"+strconv.Itoa(i)); err != nil || n != 0 {
			b.Fatalf("DeleteOwner = %d, %v", n, err)
		}
	}
}
