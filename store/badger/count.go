package badger

import (
	"context"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
)

// CountPrefix implements store.Counter: it walks the keys (not the values)
// under prefix. Expired keys are skipped by Badger's iterator.
func (s *Store) CountPrefix(ctx context.Context, prefix string) (int, error) {
	const op = "count"
	if err := s.enterAll(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	n := 0
	err := s.db.View(func(txn *badgerdb.Txn) error {
		opts := badgerdb.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = primaryKey(prefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, mapError(op, err)
	}
	return n, nil
}

var _ store.Counter = (*Store)(nil)
