// The owner filter: DeleteOwner's answer for an owner with no index
// entries, without asking Badger.

package badger

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"sync/atomic"

	badgerdb "github.com/dgraph-io/badger/v4"
)

// ownerFilterSlots is the number of slots in an ownerFilter (4 bytes each:
// 1 MiB). With k = 2 slots per owner it answers "none" for an owner
// without entries nearly always while fewer than about 100,000 owners have
// open records (20,000: 2% of the time), and less often beyond that; a
// "maybe" only costs the index scan every DeleteOwner did before.
const ownerFilterSlots = 1 << 18

// ownerFilter tells DeleteOwner when an owner cannot have a live index
// entry, which is the common case: ending a user's tokens after a
// completed reset usually finds nothing left to end. Asking Badger costs
// a prefix iterator over the memtables and every level-0 table (about
// 18 µs of CPU per call in the bench, two calls per completed reset);
// asking the filter costs two atomic loads.
//
// Each slot holds the latest expiry (Unix seconds, as Badger's ExpiresAt)
// of any index entry written for an owner that hashes to it. An owner has
// two slots; a live entry of the owner keeps both slots past now, so
// "both slots past now" is false only for an owner with no live entry:
// no false negatives. Expired entries age out of the filter on their own,
// so it needs no deletion and no rebuild while the process runs. It is
// filled at Open from the index entries on disk, and by Put before the
// entry is committed, so a DeleteOwner that could see the entry sees the
// slots raised first. Only Put writes index entries (Incr and
// CompareAndSwap keep a record's expiry; Consume and Delete remove
// entries, which the filter need not know).
type ownerFilter struct {
	seed  maphash.Seed
	slots []atomic.Uint32
}

func newOwnerFilter() *ownerFilter {
	return &ownerFilter{seed: maphash.MakeSeed(), slots: make([]atomic.Uint32, ownerFilterSlots)}
}

// at returns owner's two slots.
func (f *ownerFilter) at(owner string) (*atomic.Uint32, *atomic.Uint32) {
	h := maphash.String(f.seed, owner)
	const mask = ownerFilterSlots - 1
	return &f.slots[h&mask], &f.slots[(h>>32)&mask]
}

// add records that owner has an index entry expiring at exp (Unix seconds;
// 0, no expiry, counts as the latest time a slot holds).
func (f *ownerFilter) add(owner string, exp uint64) {
	v := uint32(math.MaxUint32)
	if exp != 0 && exp < math.MaxUint32 {
		v = uint32(exp)
	}
	a, b := f.at(owner)
	raise(a, v)
	raise(b, v)
}

// raise sets slot to v unless it holds a later time already.
func raise(slot *atomic.Uint32, v uint32) {
	for {
		cur := slot.Load()
		if cur >= v || slot.CompareAndSwap(cur, v) {
			return
		}
	}
}

// mayHave reports whether owner may have an index entry that is live at
// now (Unix seconds): false means it has none. Badger treats an entry as
// expired once its ExpiresAt is at or before now.
func (f *ownerFilter) mayHave(owner string, now int64) bool {
	if now < 0 {
		return true
	}
	a, b := f.at(owner)
	return int64(a.Load()) > now && int64(b.Load()) > now
}

// fill adds every index entry in db, reading keys only.
func (f *ownerFilter) fill(db *badgerdb.DB) error {
	prefix := []byte(indexPrefix)
	return db.View(func(txn *badgerdb.Txn) error {
		it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			owner, ok := indexOwner(item.Key())
			if !ok {
				return fmt.Errorf("index entry with a malformed key (%d bytes)", len(item.Key()))
			}
			f.add(owner, item.ExpiresAt())
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
