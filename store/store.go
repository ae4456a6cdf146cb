// Package store defines the storage contract resetgate keeps its tokens,
// flows and counters in. Backends live in sub-packages (store/badger,
// store/redis) and must all pass the conformance suite in store/storetest.
//
// Keys handed to a Store are already keyed hashes (never raw tokens or
// codes); a Store treats them as opaque strings.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a key does not exist or has expired.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable wraps every error that means the backend could not be
// reached or could not complete the operation (disk, network, closed).
// Callers answer 503 STORE_UNAVAILABLE for it.
var ErrUnavailable = errors.New("store: unavailable")

// Store is the storage contract. All methods are safe for concurrent use.
// TTLs are enforced by the backend; a zero or negative TTL is an error.
type Store interface {
	// Put stores value under key for ttl, replacing any previous value. When
	// owner is not empty the key is also indexed under owner, so that
	// DeleteOwner removes it.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration, owner string) error

	// PutIfAbsent stores value under key for ttl only if key does not exist
	// (or has expired). It reports whether this call created the key; among
	// concurrent callers exactly one wins. It is used for short leases.
	PutIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)

	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)

	// Consume atomically returns and deletes the value under key. Among
	// concurrent callers for one key exactly one gets the value; the others
	// get ErrNotFound.
	Consume(ctx context.Context, key string) ([]byte, error)

	// CompareAndSwap replaces the value under key with next only if the
	// current value equals prev, keeping the key's remaining TTL and owner
	// index. It reports whether the swap happened; among concurrent callers
	// with the same prev exactly one wins. A missing key gives ErrNotFound.
	CompareAndSwap(ctx context.Context, key string, prev, next []byte) (bool, error)

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// DeleteOwner removes every live key indexed under owner and reports how
	// many were removed.
	DeleteOwner(ctx context.Context, owner string) (int, error)

	// Incr adds one to the counter under key and returns the new value. The
	// first increment creates the counter with ttl (a fixed window); later
	// increments keep that expiry.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)

	// Add adds delta (positive) to the counter under key and returns the
	// new value, as Incr does for one: a queue reserves a block of entry
	// numbers with one call.
	Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)

	// Close releases the backend. It is idempotent.
	Close() error
}

// Counter is implemented by backends that can count live keys under a
// prefix, for an operator's status report. It may be slow on large stores
// (it walks the keys); it is never on a request path.
type Counter interface {
	// CountPrefix returns how many live keys start with prefix.
	CountPrefix(ctx context.Context, prefix string) (int, error)
}

// Exclusive is implemented by a Store that one process owns alone while it
// is open (Badger's directory lock). Epoch returns a value that is unique to
// this opening of the store: a lease that holds another epoch was taken by
// a process that has since died (kill -9), so it may be taken over at once
// instead of waiting for its TTL. Shared stores (Redis) do not implement it.
type Exclusive interface {
	Epoch() string
}

// Committer is implemented by a Store whose writes wait on a shared
// commit (Badger's group commit of Puts). AwaitCommit returns once a commit
// that starts after the call is done, as a Put made at that moment would,
// with the error such a Put would get, but writes no record of the
// caller's: when no Put shares that commit, the store commits a small
// marker of its own. The engine uses it so that a request that needs no
// record answers in the same time as one that writes its queue entry.
type Committer interface {
	AwaitCommit(ctx context.Context) error
}

// Record is one record of Batcher.Write: Put's arguments.
type Record struct {
	Key   string
	Value []byte
	TTL   time.Duration
	Owner string
}

// Batcher is implemented by a Store that commits several writes as one
// (Badger: one transaction of its group commit). Write stores every record
// of puts as Put would and removes every key of deletes, in one commit:
// all of them are done or none is. A key in deletes must have been stored
// without an owner: it is removed without being read, so an owner's index
// entry for it would stay until its TTL (removing a missing key is not an
// error). The engine writes through it where one step of a reset request
// stores several records, instead of one commit each; a Store without it
// gets one call per record. Redis does not implement it.
type Batcher interface {
	Write(ctx context.Context, puts []Record, deletes []string) error
}

// Locker is implemented by an Exclusive Store, which one process owns
// alone: short leases (one complete per token, one worker per queue entry)
// are kept in that process's memory instead of being written and deleted.
// A lease then ends with the process, so a crash leaves none behind.
// Shared stores (Redis) do not implement it: their leases are keys with a
// TTL (PutIfAbsent).
type Locker interface {
	// TryLock takes the lease named key unless it is held, and reports
	// whether it did; unlock gives it back (once).
	TryLock(key string) (unlock func(), ok bool)
}
