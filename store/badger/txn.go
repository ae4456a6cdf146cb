// What every operation goes through: entering a live Store, read-write
// transactions retried on conflict, and the mapping of Badger's errors and
// expiries to the store's.

package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
)

// enter starts an operation: it refuses a done context and a closed
// Store, and otherwise returns holding s.mu for reading, which the caller
// releases.
func (s *Store) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/badger: %s: %w", op, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return unavailable(op, badgerdb.ErrDBClosed)
	}
	return nil
}

// enterKey is enter for an operation on one caller's key: it also waits
// until the key's last journaled write is applied (journal.settle), so the
// operation sees every write that returned before it.
func (s *Store) enterKey(ctx context.Context, op, key string) error {
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	if err := s.j.settle(ctx, key); err != nil {
		s.mu.RUnlock()
		return fmt.Errorf("store/badger: %s: %w", op, err)
	}
	return nil
}

// enterAll is enter for an operation over many keys: it also waits until
// every batch journaled before it is applied (journal.settleAll).
func (s *Store) enterAll(ctx context.Context, op string) error {
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	if err := s.j.settleAll(ctx); err != nil {
		s.mu.RUnlock()
		return fmt.Errorf("store/badger: %s: %w", op, err)
	}
	return nil
}

// update runs fn in a read-write transaction, again from the start when
// the commit reports a conflict, up to maxConflictRetries times. The
// result goes through mapError.
func (s *Store) update(ctx context.Context, op string, fn func(txn *badgerdb.Txn) error) error {
	if err := s.disk.room(); err != nil {
		return unavailable(op, err)
	}
	for attempt := 1; ; attempt++ {
		err := s.db.Update(fn)
		if !errors.Is(err, badgerdb.ErrConflict) {
			return mapError(op, err)
		}
		if attempt == maxConflictRetries {
			return unavailable(op, fmt.Errorf("gave up after %d conflicts: %w", attempt, err))
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store/badger: %s: %w", op, err)
		}
	}
}

// mapError turns Badger's errors into the store's: a missing key becomes
// store.ErrNotFound, the caller's mistakes pass through, and everything
// else is wrapped in store.ErrUnavailable (the Badger error stays
// reachable with errors.Is).
func mapError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badgerdb.ErrKeyNotFound):
		return store.ErrNotFound
	case errors.Is(err, errNotCounter):
		return err
	default:
		return unavailable(op, err)
	}
}

// unavailable wraps err so that errors.Is matches both it and
// store.ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("store/badger: %s: %w: %w", op, store.ErrUnavailable, err)
}

// checkTTL refuses a zero or negative TTL.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("store/badger: %s: ttl must be positive, got %v", op, ttl)
	}
	return nil
}

// expiresAt turns a TTL into Badger's expiry, a Unix time in whole
// seconds. It rounds up: rounding down could expire a key before its TTL,
// a sub-second one before the write returns.
func expiresAt(ttl time.Duration) uint64 {
	t := time.Now().Add(ttl)
	sec := t.Unix()
	if t.Nanosecond() != 0 {
		sec++
	}
	return uint64(sec)
}
