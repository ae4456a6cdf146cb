package badger

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store/internal/record"
)

// errNotCounter is returned by Incr when the key holds something other
// than a counter.
var errNotCounter = errors.New("store/badger: incr: the key holds a value that is not a counter")

// Incr implements store.Store. A counter is stored as its decimal text, so
// Get on a counter's key returns, say, "3".
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return s.add(ctx, "incr", key, 1, ttl)
}

// Add implements store.Store.
func (s *Store) Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	const op = "add"
	if delta < 1 {
		return 0, fmt.Errorf("store/badger: %s: delta %d is not positive", op, delta)
	}
	return s.add(ctx, op, key, delta, ttl)
}

func (s *Store) add(ctx context.Context, op, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := checkTTL(op, ttl); err != nil {
		return 0, err
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()

	lock := &s.counters[maphash.String(s.seed, key)%counterStripes]
	lock.Lock()
	defer lock.Unlock()

	var n int64
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		pk := primaryKey(key)
		var (
			owner string
			cur   int64
			exp   = expiresAt(ttl)
		)
		item, err := txn.Get(pk)
		switch {
		case err == nil:
			exp = item.ExpiresAt()
			err = item.Value(func(raw []byte) error {
				var v []byte
				owner, v, err = record.Decode(raw)
				if err != nil {
					return err
				}
				if cur, err = strconv.ParseInt(string(v), 10, 64); err != nil {
					return errNotCounter
				}
				return nil
			})
			if err != nil {
				return err
			}
		case !errors.Is(err, badgerdb.ErrKeyNotFound):
			return err
		}
		n = cur + delta
		raw := record.Encode(owner, strconv.AppendInt(nil, n, 10))
		return txn.SetEntry(&badgerdb.Entry{Key: pk, Value: raw, ExpiresAt: exp})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
