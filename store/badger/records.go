// The single-key operations of store.Store: Put, PutIfAbsent, Get, Consume,
// CompareAndSwap and Delete.

package badger

import (
	"bytes"
	"context"
	"errors"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/internal/record"
)

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration, owner string) error {
	const op = "put"
	if err := checkTTL(op, ttl); err != nil {
		return err
	}
	return s.write(ctx, op, s.recordEntries(make([]*badgerdb.Entry, 0, 2), key, value, expiresAt(ttl), owner)...)
}

// Write implements store.Batcher: the records and removals go into the
// batcher as one Put's entries would, so they share one transaction (and
// that transaction may be shared with concurrent Puts).
func (s *Store) Write(ctx context.Context, puts []store.Record, deletes []string) error {
	const op = "write"
	for _, r := range puts {
		if err := checkTTL(op, r.TTL); err != nil {
			return err
		}
	}
	entries := make([]*badgerdb.Entry, 0, 2*len(puts))
	for _, r := range puts {
		entries = s.recordEntries(entries, r.Key, r.Value, expiresAt(r.TTL), r.Owner)
	}
	removed := make([][]byte, len(deletes))
	for i, key := range deletes {
		removed[i] = primaryKey(key)
	}
	return s.writeBatch(ctx, op, entries, removed)
}

// recordEntries appends to entries what stores value under key until exp:
// the record, and with an owner its index entry, which is counted in the
// owner filter first: a DeleteOwner that could find the entry finds the
// filter raised (ownerfilter.go).
func (s *Store) recordEntries(entries []*badgerdb.Entry, key string, value []byte, exp uint64, owner string) []*badgerdb.Entry {
	entries = append(entries, &badgerdb.Entry{Key: primaryKey(key), Value: record.Encode(owner, value), ExpiresAt: exp})
	if owner == "" {
		return entries
	}
	s.owners.add(owner, exp, time.Now().Unix())
	return append(entries, &badgerdb.Entry{Key: ownerKey(owner, key), ExpiresAt: exp})
}

// AwaitCommit implements store.Committer: it waits for the next group
// commit as a Put would (batch.go), with the same checks and the same
// error, and writes nothing of the caller's.
func (s *Store) AwaitCommit(ctx context.Context) error {
	return s.write(ctx, "await commit")
}

// write is Put's path into the batcher for entries (none for
// AwaitCommit).
func (s *Store) write(ctx context.Context, op string, entries ...*badgerdb.Entry) error {
	return s.writeBatch(ctx, op, entries, nil)
}

// writeBatch commits entries and removes the keys in deletes through the
// batcher: a closed store or a full disk fails it first.
func (s *Store) writeBatch(ctx context.Context, op string, entries []*badgerdb.Entry, deletes [][]byte) error {
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()

	if err := s.disk.room(); err != nil {
		return unavailable(op, err)
	}
	return mapError(op, s.batch.put(entries, deletes))
}

// PutIfAbsent implements store.Store.
func (s *Store) PutIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	const op = "put if absent"
	if err := checkTTL(op, ttl); err != nil {
		return false, err
	}
	if err := s.enterKey(ctx, op, key); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()

	exp := expiresAt(ttl)
	raw := record.Encode("", value)
	var created bool
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		created = false
		pk := primaryKey(key)
		switch _, err := txn.Get(pk); {
		case err == nil:
			return nil
		case !errors.Is(err, badgerdb.ErrKeyNotFound):
			return err
		}
		if err := txn.SetEntry(&badgerdb.Entry{Key: pk, Value: raw, ExpiresAt: exp}); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created && err == nil, err
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	const op = "get"
	if err := s.enterKey(ctx, op, key); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	var value []byte
	err := s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get(primaryKey(key))
		if err != nil {
			return err
		}
		raw, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		_, value, err = record.Decode(raw)
		return err
	})
	if err != nil {
		return nil, mapError(op, err)
	}
	return value, nil
}

// Consume implements store.Store.
func (s *Store) Consume(ctx context.Context, key string) ([]byte, error) {
	const op = "consume"
	if err := s.enterKey(ctx, op, key); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	var (
		value []byte
		owner string
		exp   uint64
	)
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		value, owner = nil, ""
		pk := primaryKey(key)
		item, err := txn.Get(pk)
		if err != nil {
			return err
		}
		raw, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		exp = item.ExpiresAt()
		var v []byte
		owner, v, err = record.Decode(raw)
		if err != nil {
			return err
		}
		if err := txn.Delete(pk); err != nil {
			return err
		}
		if owner != "" {
			if err := txn.Delete(ownerKey(owner, key)); err != nil {
				return err
			}
		}
		value = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	if owner != "" {
		s.owners.remove(owner, exp, time.Now().Unix())
	}
	return value, nil
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, prev, next []byte) (bool, error) {
	const op = "compare and swap"
	if err := s.enterKey(ctx, op, key); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()

	var swapped bool
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		swapped = false
		pk := primaryKey(key)
		item, err := txn.Get(pk)
		if err != nil {
			return err
		}
		var raw []byte
		err = item.Value(func(cur []byte) error {
			owner, v, err := record.Decode(cur)
			if err != nil {
				return err
			}
			if bytes.Equal(v, prev) {
				raw = record.Encode(owner, next)
			}
			return nil
		})
		if err != nil || raw == nil {
			return err
		}
		// Same expiry: the owner index entry, written with it, stays valid
		// exactly as long as the key.
		if err := txn.SetEntry(&badgerdb.Entry{Key: pk, Value: raw, ExpiresAt: item.ExpiresAt()}); err != nil {
			return err
		}
		swapped = true
		return nil
	})
	return swapped && err == nil, err
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := s.enterKey(ctx, op, key); err != nil {
		return err
	}
	defer s.mu.RUnlock()

	var (
		owner string
		exp   uint64
	)
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		owner = ""
		pk := primaryKey(key)
		item, err := txn.Get(pk)
		if err != nil {
			return err
		}
		exp = item.ExpiresAt()
		err = item.Value(func(raw []byte) error {
			owner, _, err = record.Decode(raw)
			return err
		})
		if err != nil {
			return err
		}
		if err := txn.Delete(pk); err != nil {
			return err
		}
		if owner != "" {
			return txn.Delete(ownerKey(owner, key))
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil && owner != "" {
		s.owners.remove(owner, exp, time.Now().Unix())
	}
	return err
}
