package badger

import (
	"context"
	"errors"
	"fmt"
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

	if err := s.disk.room(); err != nil {
		return 0, unavailable(op, err)
	}
	// No lock per counter: increments of one counter either share a
	// batch, where each reads the one before it, or are in batches
	// committed one after the other (batch.go). A hot counter's
	// increments therefore share commits instead of taking turns.
	n, err := s.batch.add(incrOp{key: primaryKey(key), delta: delta, exp: expiresAt(ttl)})
	if err != nil {
		return 0, mapError(op, err)
	}
	return n, nil
}

// incrOp is one increment in the batcher: delta added to the counter under
// key (a primary key), which a first increment creates to expire at exp.
type incrOp struct {
	key   []byte
	delta int64
	exp   uint64
	n     int64 // the counter's new value, once applied
}

// apply adds op.delta to its counter in txn and keeps the sum in op.n. A
// counter keeps its expiry and its owner (a counter written by Put with
// one).
func (op *incrOp) apply(txn *badgerdb.Txn) error {
	var (
		owner string
		cur   int64
		exp   = op.exp
	)
	item, err := txn.Get(op.key)
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
	op.n = cur + op.delta
	raw := record.Encode(owner, strconv.AppendInt(nil, op.n, 10))
	return txn.SetEntry(&badgerdb.Entry{Key: op.key, Value: raw, ExpiresAt: exp})
}
