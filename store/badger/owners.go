package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store/internal/record"
)

// DeleteOwner implements store.Store. It removes the owner's keys in
// batches of separate transactions: keys put under the owner while it runs
// may or may not be removed.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (int, error) {
	const op = "delete owner"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()

	// The filter before the journal: a Put counts its index entry in the
	// filter before it is journaled, so "none" holds for the pending
	// writes too, and the common call (after a completed reset, whose
	// token is consumed) does not wait for them to be applied.
	if !s.owners.mayHave(owner, time.Now().Unix()) {
		return 0, nil
	}
	if err := s.j.settleAll(ctx); err != nil {
		return 0, fmt.Errorf("store/badger: %s: %w", op, err)
	}
	prefix := ownerPrefix(owner)
	removed := 0
	for {
		// Collect a batch of index entries. Expired ones are skipped by
		// the iterator.
		var batch [][]byte
		err := s.db.View(func(txn *badgerdb.Txn) error {
			it := txn.NewIterator(badgerdb.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Seek(prefix); it.ValidForPrefix(prefix) && len(batch) < ownerBatch; it.Next() {
				batch = append(batch, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return removed, mapError(op, err)
		}
		if len(batch) == 0 {
			return removed, nil
		}

		var (
			n    int
			gone []uint64 // the expiry of each index entry removed
		)
		err = s.update(ctx, op, func(txn *badgerdb.Txn) error {
			n, gone = 0, gone[:0]
			for _, ik := range batch {
				// Read in this transaction, so that an entry another
				// removal took meanwhile is neither removed nor
				// uncounted twice (ownerfilter.go).
				item, err := txn.Get(ik)
				if errors.Is(err, badgerdb.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				gone = append(gone, item.ExpiresAt())
				key := ik[len(prefix):]
				pk := primaryKey(string(key))
				mine, err := ownedBy(txn, pk, owner)
				if err != nil {
					return err
				}
				if mine {
					if err := txn.Delete(pk); err != nil {
						return err
					}
					n++
				}
				// Stale or not, the index entry goes.
				if err := txn.Delete(ik); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		now := time.Now().Unix()
		for _, exp := range gone {
			s.owners.remove(owner, exp, now)
		}
		removed += n
		if len(batch) < ownerBatch {
			return removed, nil
		}
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("store/badger: %s: %w", op, err)
		}
	}
}

// ownedBy reports whether the live key pk is recorded as owner's.
func ownedBy(txn *badgerdb.Txn, pk []byte, owner string) (bool, error) {
	item, err := txn.Get(pk)
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var mine bool
	err = item.Value(func(raw []byte) error {
		o, _, err := record.Decode(raw)
		mine = o == owner
		return err
	})
	return mine, err
}
