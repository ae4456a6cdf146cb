package badger

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
)

func TestOwnerFilter(t *testing.T) {
	f := newOwnerFilter()
	now := time.Now().Unix()
	at := func(d int64) uint64 { return uint64(now + d) }
	if f.mayHave("alice", now) {
		t.Fatal("empty filter: mayHave(alice) = true")
	}
	// Two entries: both must go before the answer is "none".
	f.add("alice", at(100), now)
	f.add("alice", at(50), now)
	f.remove("alice", at(50), now)
	if !f.mayHave("alice", now) {
		t.Fatal("mayHave(alice) = false with one of her two entries left")
	}
	f.remove("alice", at(100), now)
	if f.mayHave("alice", now) {
		t.Fatal("mayHave(alice) = true once both entries were removed")
	}
	// An entry that expires is not there any more.
	f.add("bob", at(5), now)
	if !f.mayHave("bob", now+4) || f.mayHave("bob", now+5) {
		t.Fatal("mayHave(bob) does not follow his entry's expiry (Badger: expired once ExpiresAt <= now)")
	}
	// Once every entry a slot counts has expired, the next add starts it
	// from zero: removing the new entry leaves none (without the restart,
	// the expired entry's count would keep the answer at "maybe").
	f.add("bob", at(100), now+10)
	f.remove("bob", at(100), now+10)
	if f.mayHave("bob", now+10) {
		t.Fatal("an expired entry's count outlived its slot's expiry")
	}
	// Removing an entry that has expired meanwhile uncounts nothing: it
	// may be one a restarted slot no longer counts.
	f.add("dan", at(5), now)
	f.add("dan", at(100), now)
	f.remove("dan", at(5), now+6)
	f.remove("dan", at(100), now+6)
	if !f.mayHave("dan", now+6) {
		t.Fatal("removing an expired entry uncounted a slot")
	}
	f.add("eve", 0, now) // no expiry
	if !f.mayHave("eve", now+1e9) {
		t.Fatal("an entry without expiry aged out")
	}
	f.remove("eve", 0, now)
	if f.mayHave("eve", now) {
		t.Fatal("mayHave(eve) = true after her entry without expiry was removed")
	}

	// False positives stay rare at the bench's scale.
	g := newOwnerFilter()
	const n = 20000
	for i := range n {
		g.add("user-"+strconv.Itoa(i), at(900), now)
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

// Under concurrent Puts, Consumes, Deletes and DeleteOwners of a few
// owners' keys, the filter never answers "none" for an owner with a live
// index entry, and a record consumed leaves its owner's slots at "none"
// when nothing else of the owner is open.
func TestOwnerFilterUnderRaces(t *testing.T) {
	s, err := Open(Options{InMemory: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	owners := []string{"o-a", "o-b", "o-c", "o-d"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1500 {
				key := "k-" + strconv.Itoa((w*7+i)%40)
				owner := owners[(i+w)%len(owners)]
				var err error
				switch (i * (w + 1)) % 5 {
				case 0, 1:
					err = s.Put(ctx, key, []byte("v"), time.Hour, owner)
				case 2:
					_, err = s.Consume(ctx, key)
				case 3:
					err = s.Delete(ctx, key)
				default:
					_, err = s.DeleteOwner(ctx, owner)
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	now := time.Now().Unix()
	for _, o := range owners {
		live := 0
		err := s.db.View(func(txn *badgerdb.Txn) error {
			prefix := ownerPrefix(o)
			it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				live++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if live > 0 && !s.owners.mayHave(o, now) {
			t.Fatalf("%s has %d live index entries but the filter says none", o, live)
		}
		if _, err := s.DeleteOwner(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// With everything ended, a fresh record and its Consume leave "none".
	if err := s.Put(ctx, "fresh", []byte("v"), time.Hour, "o-fresh"); err != nil {
		t.Fatal(err)
	}
	if !s.owners.mayHave("o-fresh", now) {
		t.Fatal("a fresh record's owner reads as none")
	}
	if _, err := s.Consume(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	// (o-fresh could share a slot with another owner's leftover count,
	// which is allowed, but with four other owners in 2^18 slots that
	// happens about once in 10,000 runs.)
	if s.owners.mayHave("o-fresh", time.Now().Unix()) {
		t.Fatal("a consumed record still counts for its owner")
	}
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
