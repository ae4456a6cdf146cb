// The store.Store operations, each one command or one Lua script
// (scripts.go), and the checks and conversions they share.

package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resetgate/resetgate/store/internal/record"
)

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration, owner string) error {
	const op = "put"
	if err := checkTTL(op, ttl); err != nil {
		return err
	}
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	err := s.run(ctx, putScript,
		[]string{s.keyPrefix + key},
		record.Encode(owner, value), milliseconds(ttl), owner, s.ownerPrefix, key,
	).Err()
	return s.mapError(op, err)
}

// PutIfAbsent implements store.Store.
func (s *Store) PutIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	const op = "put if absent"
	if err := checkTTL(op, ttl); err != nil {
		return false, err
	}
	if err := s.enter(ctx, op); err != nil {
		return false, err
	}
	err := s.do(ctx, "SET", s.keyPrefix+key, record.Encode("", value), "PX", milliseconds(ttl), "NX").Err()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, s.mapError(op, err)
	}
	return true, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	const op = "get"
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	raw, err := s.client.Get(ctx, s.keyPrefix+key).Bytes()
	if err != nil {
		return nil, s.mapError(op, err)
	}
	return s.value(op, raw)
}

// Consume implements store.Store. The value is taken with GETDEL, in a
// script that also takes the key out of its owner's set.
func (s *Store) Consume(ctx context.Context, key string) ([]byte, error) {
	const op = "consume"
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	raw, err := s.run(ctx, consumeScript,
		[]string{s.keyPrefix + key},
		s.ownerPrefix, key,
	).Text()
	if err != nil {
		return nil, s.mapError(op, err)
	}
	return s.value(op, []byte(raw))
}

// CompareAndSwap implements store.Store. The swap keeps the key's TTL
// (SET KEEPTTL) and its owner.
func (s *Store) CompareAndSwap(ctx context.Context, key string, prev, next []byte) (bool, error) {
	const op = "compare and swap"
	if err := s.enter(ctx, op); err != nil {
		return false, err
	}
	n, err := s.run(ctx, casScript,
		[]string{s.keyPrefix + key},
		prev, next,
	).Int64()
	if err != nil {
		return false, s.mapError(op, err)
	}
	return n == 1, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	err := s.run(ctx, deleteScript,
		[]string{s.keyPrefix + key},
		s.ownerPrefix, key,
	).Err()
	return s.mapError(op, err)
}

// DeleteOwner implements store.Store. It runs as one script, so it is
// atomic: a key put under the owner while it runs is either removed or
// kept whole. The script's time grows with the owner's keys (Redis serves
// nothing else meanwhile); an owner has a handful.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (int, error) {
	const op = "delete owner"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	n, err := s.run(ctx, deleteOwnerScript,
		[]string{s.ownerPrefix + owner},
		s.keyPrefix, owner,
	).Int()
	if err != nil {
		return 0, s.mapError(op, err)
	}
	return n, nil
}

// errNotCounter is returned by Incr when the key holds something other
// than a counter.
var errNotCounter = errors.New("store/redis: incr: the key holds a value that is not a counter")

// Incr implements store.Store. A counter is stored as its decimal text (as
// in store/badger, Get on a counter's key returns, say, "3"); the first
// increment sets the TTL, later ones keep it (KEEPTTL).
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return s.add(ctx, "incr", key, 1, ttl)
}

// Add implements store.Store.
func (s *Store) Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	const op = "add"
	if delta < 1 {
		return 0, fmt.Errorf("store/redis: %s: delta %d is not positive", op, delta)
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
	n, err := s.run(ctx, incrScript,
		[]string{s.keyPrefix + key},
		milliseconds(ttl), delta,
	).Int64()
	if err != nil {
		return 0, s.mapError(op, err)
	}
	return n, nil
}

// enter starts an operation: it refuses a done context and a closed Store.
func (s *Store) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/redis: %s: %w", op, err)
	}
	if s.closed.Load() {
		return s.unavailable(op, goredis.ErrClosed)
	}
	return nil
}

// value decodes a stored value into the caller's value.
func (s *Store) value(op string, raw []byte) ([]byte, error) {
	_, value, err := record.Decode(raw)
	if err != nil {
		return nil, s.unavailable(op, err)
	}
	return value, nil
}

// checkTTL refuses a zero or negative TTL.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("store/redis: %s: ttl must be positive, got %v", op, ttl)
	}
	return nil
}

// milliseconds turns a TTL into Redis's PX argument, rounding up: rounding
// down could expire a key before its TTL, or make a sub-millisecond TTL
// zero, which Redis refuses.
func milliseconds(ttl time.Duration) string {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return strconv.FormatInt(ms, 10)
}
