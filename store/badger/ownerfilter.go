// The owner filter: DeleteOwner's answer for an owner with no index
// entries, without asking Badger.

package badger

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
)

// ownerFilterSlots is the number of slots in an ownerFilter (8 bytes each:
// 4 MiB of heap, resident only where owners hash; no pointers, so the
// garbage collector does not walk it). With k = 2 slots per owner it
// answers "none" for an owner without entries 96% of the time while
// 60,000 owners have open records (as after bench/run.sh's request loads,
// where with half the slots, 88%, the scans still took 6% of Caddy's CPU
// during the completes), 72% at 200,000; a "maybe" only costs the index
// scan every DeleteOwner did before.
const ownerFilterSlots = 1 << 19

// ownerFilter tells DeleteOwner when an owner cannot have a live index
// entry, which is the common case: ending a user's tokens after a
// completed reset usually finds nothing left to end (the token just used
// is consumed first). Asking Badger costs a prefix iterator over the
// memtables and every level-0 table (about 18 µs of CPU per call in the
// bench, two calls per completed reset); asking the filter costs two
// atomic loads.
//
// An owner hashes to two slots. A slot counts the index entries of the
// owners that hash to it and holds the latest expiry among them (Unix
// seconds, as Badger's ExpiresAt). An entry is counted before it is
// committed (Put) and uncounted after its removal is committed (Consume,
// Delete, DeleteOwner), so a live entry keeps both its slots' counts
// above zero and their expiry past now: "both slots counted and not
// expired" is false only for an owner with no live entry. There are no
// false negatives, provided that a removal never uncounts an entry the
// slot no longer counts:
//   - An entry that expires is never removed and never uncounted; its
//     count goes when its slot's latest expiry passes, as the next add
//     to the slot then starts it again from zero.
//   - So a removal uncounts only an entry still live when it is
//     uncounted: the slot has held an expiry at or after that entry's
//     since it was counted, so it cannot have started again from zero.
//   - Every removal is of an entry that exists at its commit (Consume and
//     Delete read the record, DeleteOwner reads the index entry, in the
//     removing transaction), so no entry is uncounted twice.
//
// Overwriting a record of the same owner counts its one index entry twice,
// which only leaves a slot counted longer. The filter is filled at Open
// from the live index entries on disk. Only Put writes index entries
// (Incr and CompareAndSwap keep a record's owner and expiry).
type ownerFilter struct {
	seed  maphash.Seed
	slots []atomic.Uint64 // expiry << 32 | count
}

// newOwnerFilter returns an empty filter. Its pages are left untouched:
// the kernel maps each on its first use (a read maps the zero page, the
// first CAS copies it: two page faults, 10-50 µs each on this machine's
// virtual CPUs), so the first few thousand Puts with an owner after a
// start pay about 1024 pairs of faults between them, inside their commits
// (5% of Caddy's CPU in the first 2 s of bench/openloop.sh on a fresh
// Caddy, none after). Writing one slot per page here instead moved those
// faults to Open, but put the filter's 4 MiB into the idle RSS from the
// start (84.0 MiB in one bench run, whose target is 80), so it was taken
// back.
func newOwnerFilter() *ownerFilter {
	return &ownerFilter{seed: maphash.MakeSeed(), slots: make([]atomic.Uint64, ownerFilterSlots)}
}

// at returns owner's two slots.
func (f *ownerFilter) at(owner string) (*atomic.Uint64, *atomic.Uint64) {
	h := maphash.String(f.seed, owner)
	const mask = ownerFilterSlots - 1
	return &f.slots[h&mask], &f.slots[(h>>32)&mask]
}

// expiry32 is exp (Unix seconds; 0, no expiry) as a slot holds it: 0 and
// times past 2106 as the latest time a slot holds.
func expiry32(exp uint64) uint64 {
	if exp == 0 || exp >= math.MaxUint32 {
		return math.MaxUint32
	}
	return exp
}

// add counts an index entry of owner expiring at exp, at now (Unix
// seconds).
func (f *ownerFilter) add(owner string, exp uint64, now int64) {
	e := expiry32(exp)
	a, b := f.at(owner)
	for _, slot := range []*atomic.Uint64{a, b} {
		for {
			cur := slot.Load()
			at, n := cur>>32, cur&math.MaxUint32
			if int64(at) <= now { // every entry counted here has expired
				at, n = 0, 0
			}
			next := max(at, e)<<32 | min(n+1, math.MaxUint32)
			if slot.CompareAndSwap(cur, next) {
				break
			}
		}
	}
}

// remove uncounts an index entry of owner expiring at exp whose removal
// was committed, at now. An entry already expired is left counted (see
// ownerFilter).
func (f *ownerFilter) remove(owner string, exp uint64, now int64) {
	if int64(expiry32(exp)) <= now {
		return
	}
	a, b := f.at(owner)
	for _, slot := range []*atomic.Uint64{a, b} {
		for {
			cur := slot.Load()
			if cur&math.MaxUint32 == 0 || slot.CompareAndSwap(cur, cur-1) {
				break
			}
		}
	}
}

// mayHave reports whether owner may have an index entry that is live at
// now (Unix seconds): false means it has none. Badger treats an entry as
// expired once its ExpiresAt is at or before now.
func (f *ownerFilter) mayHave(owner string, now int64) bool {
	a, b := f.at(owner)
	for _, slot := range []*atomic.Uint64{a, b} {
		cur := slot.Load()
		if cur&math.MaxUint32 == 0 || int64(cur>>32) <= now {
			return false
		}
	}
	return true
}

// fill adds every index entry in db, reading keys only.
func (f *ownerFilter) fill(db *badgerdb.DB) error {
	prefix := []byte(indexPrefix)
	now := time.Now().Unix()
	return db.View(func(txn *badgerdb.Txn) error {
		it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			owner, ok := indexOwner(item.Key())
			if !ok {
				return fmt.Errorf("index entry with a malformed key (%d bytes)", len(item.Key()))
			}
			f.add(owner, item.ExpiresAt(), now)
		}
		return nil
	})
}

// indexOwner returns the owner of an index entry's key (ownerKey).
func indexOwner(key []byte) (string, bool) {
	rest := key[len(indexPrefix):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n {
		return "", false
	}
	return string(rest[w : w+int(n)]), true
}
