// Package badger is the embedded store.Store backend, on Badger v4. It is
// resetgate's default storage: one database directory per Caddy instance,
// tuned to stay small beside a web server.
//
// Only one Store can hold a directory at a time (Badger keeps a lock file in
// it), and Caddy provisions a new config before it cleans up the old one.
// Share one Store per directory across config reloads, for instance through
// a caddy.UsagePool keyed by the absolute path: Store has the Destruct
// method such a pool calls.
//
// # Layout
//
// Every key the caller hands in is stored under "k\x00" + key, with the
// value prefixed by its owner (a uvarint length, then the owner's bytes),
// so that CompareAndSwap, Delete and Consume know which index entry goes
// with a key. A key with an owner also has an index entry, empty and with
// the same expiry, under
//
//	"o\x00" + uvarint(len(owner)) + owner + key
//
// The length prefix keeps owners apart when one owner's name is a prefix of
// another's; the different first byte keeps index entries apart from keys,
// whatever bytes a key holds. Put writes blind (it does not read the key
// first), so replacing a key under another owner leaves a stale index entry
// behind until it expires; DeleteOwner checks each key's recorded owner
// before it deletes, and drops stale entries as it meets them.
package badger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/internal/record"
)

// Options configures Open.
type Options struct {
	// Dir is the directory that holds the database; Open creates it if it
	// does not exist. Only one open Store may use a directory at a time.
	// Required unless InMemory is set, and must be empty if it is.
	Dir string

	// InMemory keeps the database in memory only: nothing is written to
	// disk and everything is lost on Close. Meant for tests. Default: false.
	InMemory bool

	// Logger receives Badger's own log lines: errors and warnings at their
	// level, Badger's info and debug lines at Debug. Default: no logging.
	Logger *zap.Logger

	// GCInterval is how often the value log is garbage-collected to give
	// back the disk space of deleted and expired values. Zero means the
	// default; a negative value turns the collection off. Ignored when
	// InMemory is set. Default: 10m.
	GCInterval time.Duration
}

// Store is a store.Store kept in a Badger database. It is safe for
// concurrent use; create it with Open.
type Store struct {
	db  *badgerdb.DB
	log *zap.Logger

	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and no operation reaches a
	// closed database (Badger panics on some of those).
	mu     sync.RWMutex
	closed bool

	stop   chan struct{} // closed by Close to end the GC loop
	gcDone chan struct{} // closed by the GC loop when it ends; nil if none

	// counters serialises Incr per key (striped by a hash of the key): a
	// hot counter under optimistic transactions alone runs out of conflict
	// retries.
	seed     maphash.Seed
	counters [counterStripes]sync.Mutex

	epoch string // unique to this Open; see Epoch

	leases *leases // held in this process; see TryLock (locks.go)

	disk *diskGuard // nil in memory; see diskspace.go

	batch *batcher // commits concurrent Puts together; see batch.go
}

const (
	// defaultGCInterval is used when Options.GCInterval is zero.
	defaultGCInterval = 10 * time.Minute

	// gcDiscardRatio is the share of a value-log file that must be garbage
	// before the file is rewritten.
	gcDiscardRatio = 0.5

	// maxConflictRetries bounds how often a read-write transaction is tried
	// again after Badger reports a conflict. A loser of a race sees the
	// winner's write on its next try and stops there, so this is only
	// reached under sustained writes to one key.
	maxConflictRetries = 32

	// ownerBatch is how many index entries DeleteOwner removes per
	// transaction, which keeps each transaction far below Badger's size
	// limit.
	ownerBatch = 256

	// counterStripes is the number of locks Incr spreads keys over.
	counterStripes = 256
)

// Memory profile. Badger's defaults allocate about 85 MiB of heap at Open,
// nearly all of it the 64 MiB memtable arena (plus 15% of it twice for the
// largest batch); a sidecar holding short-lived tokens needs far less.
// Open's heap with this profile is measured by TestOpenHeap: 5.3 MiB
// (go1.26.8, linux/amd64, Badger v4.9.6), against 85.6 MiB with Badger's
// defaults. The memtable size hardly moves the CPU cost of a Consume
// (BenchmarkConsume: about 15 µs of CPU per consume at 4 MiB and at 16
// MiB), so the small one is kept.
const (
	// memTableSize is the size of one memtable's arena, allocated at Open.
	// About 20k small entries each; a full one is flushed to a level-0
	// table in the background.
	memTableSize = 4 << 20

	// numMemtables bounds the memtables in memory at once (the active one
	// plus those waiting to be flushed), and so the memory a write burst
	// can take.
	numMemtables = 3

	// valueThreshold: values up to this size live in the LSM tree next to
	// their keys; larger ones go to the value log. Badger requires it to be
	// at most 15% of memTableSize (the largest batch), so it must come down
	// with the memtable: Badger's 1 MiB default makes Open fail here.
	// resetgate's values (tokens' records, flow state, WebAuthn session
	// data) are far below it, so the value log acts as a write-ahead log
	// only and value-log GC rarely has work.
	valueThreshold = 64 << 10

	// tableSize is the size of a level-1 table (deeper levels' tables are
	// larger by Badger's multiplier). Badger's default is 2 MiB.
	tableSize = 1 << 20

	// valueLogFileSize is the size of one value-log file. Badger's default
	// is 1 GiB; smaller files are rewritten by GC in smaller steps. It is
	// also the largest value that can be stored.
	valueLogFileSize = 64 << 20
)

// badgerOptions turns Options into Badger's options with the memory
// profile above.
func badgerOptions(opts Options, log *zap.Logger) badgerdb.Options {
	bo := badgerdb.DefaultOptions(opts.Dir)
	if opts.InMemory {
		bo = badgerdb.DefaultOptions("").WithInMemory(true)
	}
	return bo.
		WithLogger(zapLogger{l: log}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		// Keys are keyed hashes and values mostly random bytes: compression
		// gains little, and without it no block cache is needed (tables
		// are read through mmap). Badger's default is a 256 MiB cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// Without encryption Badger reads table indexes and bloom filters
		// straight from the mmapped table files; a cache would only add
		// heap. With a million tokens stored the heap settles at 8-38 MiB,
		// near the low end once compactions finish (the files' pages count
		// as page cache, not heap; bench/tokenmem measures both).
		WithIndexCacheSize(0).
		// Two compactors is Badger's minimum (one is refused) and plenty
		// for this write rate on a small machine.
		WithNumCompactors(2).
		// A compaction builds up to 8 tables at once, each in a buffer
		// twice the table's size, and keeps the buffers pooled for a few
		// seconds after. Loading a million tokens with owners as fast as
		// possible peaked at 252 MiB of heap with Badger's 2 MiB tables and
		// 134-205 MiB with 1 MiB ones (three runs of bench/tokenmem on a
		// loaded machine); once idle the heap is back near 8-38 MiB.
		WithBaseTableSize(tableSize).
		// Level 0 takes up to 10 tables before compacting them into level
		// 1 (Badger's default: 5), and stalls writes at 30 (15): under a
		// flood of reset requests (one small record each) each compaction
		// then merges twice as much per rewrite of level 1. Measured with
		// bench's BenchmarkRequestHandler over 400k requests, interleaved
		// three times on a loaded machine: 49 -> 42 µs of CPU per request,
		// and fewer write stalls. A read looks at up to 10 level-0 tables,
		// each behind a bloom filter.
		WithNumLevelZeroTables(10).
		WithNumLevelZeroTablesStall(30).
		// The expvar metrics are process-global and unused here.
		WithMetricsEnabled(false).
		// Conflict detection is what makes Consume, CompareAndSwap and
		// PutIfAbsent single-winner: it must stay on (Badger's default).
		WithDetectConflicts(true)
}

// Open opens (or creates) the database that opts describes and starts its
// value-log GC. The Store must be closed with Close. Open fails if another
// Store, in this process or another, has the directory open.
func Open(opts Options) (*Store, error) {
	switch {
	case opts.InMemory && opts.Dir != "":
		return nil, errors.New("store/badger: Dir must be empty when InMemory is set")
	case !opts.InMemory && opts.Dir == "":
		return nil, errors.New("store/badger: Dir is required")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	db, err := badgerdb.Open(badgerOptions(opts, log))
	if err != nil {
		return nil, fmt.Errorf("store/badger: open %q: %w", opts.Dir, err)
	}
	s := &Store{
		db:     db,
		log:    log,
		stop:   make(chan struct{}),
		seed:   maphash.MakeSeed(),
		leases: newLeases(),
		batch:  &batcher{db: db},
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		db.Close()
		return nil, fmt.Errorf("store/badger: drawing an epoch: %w", err)
	}
	s.epoch = hex.EncodeToString(nonce[:])
	if !opts.InMemory {
		s.disk = newDiskGuard(opts.Dir)
	}
	interval := opts.GCInterval
	if interval == 0 {
		interval = defaultGCInterval
	}
	if !opts.InMemory && interval > 0 {
		s.gcDone = make(chan struct{})
		go s.collectGarbage(interval)
	}
	return s, nil
}

// collectGarbage runs value-log GC every interval until Close.
func (s *Store) collectGarbage(interval time.Duration) {
	defer close(s.gcDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		// One call rewrites at most one file: go on while there is work.
		for {
			err := s.db.RunValueLogGC(gcDiscardRatio)
			if err != nil {
				// ErrNoRewrite: nothing worth rewriting. ErrRejected: a GC
				// is already running or the database is closing.
				if !errors.Is(err, badgerdb.ErrNoRewrite) && !errors.Is(err, badgerdb.ErrRejected) {
					s.log.Warn("badger value log GC failed", zap.Error(err))
				}
				break
			}
			select {
			case <-s.stop:
				return
			default:
			}
		}
	}
}

// Epoch implements store.Exclusive: Badger's directory lock lets one
// process at a time open the database, so a lease that names another epoch
// was left by a process that is gone.
func (s *Store) Epoch() string { return s.epoch }

// Close stops the GC loop, waits for operations in flight and closes the
// database. It is idempotent; operations after Close fail with
// store.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	close(s.stop)
	if s.gcDone != nil {
		<-s.gcDone
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/badger: close: %w", err)
	}
	return nil
}

// Destruct closes the Store. It lets a Store live in a caddy.UsagePool,
// which calls Destruct when the last user lets go.
func (s *Store) Destruct() error {
	return s.Close()
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration, owner string) error {
	const op = "put"
	if err := checkTTL(op, ttl); err != nil {
		return err
	}
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()

	if err := s.disk.room(); err != nil {
		return unavailable(op, err)
	}
	exp := expiresAt(ttl)
	raw := record.Encode(owner, value)
	entry := &badgerdb.Entry{Key: primaryKey(key), Value: raw, ExpiresAt: exp}
	if owner == "" {
		return mapError(op, s.batch.put(entry))
	}
	return mapError(op, s.batch.put(entry, &badgerdb.Entry{Key: ownerKey(owner, key), ExpiresAt: exp}))
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
	if err := s.enter(ctx, op); err != nil {
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
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	var value []byte
	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		value = nil
		pk := primaryKey(key)
		item, err := txn.Get(pk)
		if err != nil {
			return err
		}
		raw, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		owner, v, err := record.Decode(raw)
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
	return value, nil
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, prev, next []byte) (bool, error) {
	const op = "compare and swap"
	if err := s.enter(ctx, op); err != nil {
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
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()

	err := s.update(ctx, op, func(txn *badgerdb.Txn) error {
		pk := primaryKey(key)
		item, err := txn.Get(pk)
		if err != nil {
			return err
		}
		var owner string
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
	return err
}

// DeleteOwner implements store.Store. It removes the owner's keys in
// batches of separate transactions: keys put under the owner while it runs
// may or may not be removed.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (int, error) {
	const op = "delete owner"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()

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

		var n int
		err = s.update(ctx, op, func(txn *badgerdb.Txn) error {
			n = 0
			for _, ik := range batch {
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

// errNotCounter is returned by Incr when the key holds something other
// than a counter.
var errNotCounter = errors.New("store/badger: incr: the key holds a value that is not a counter")

// Incr implements store.Store. A counter is stored as its decimal text, so
// Get on a counter's key returns, say, "3".
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	const op = "incr"
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
		n = cur + 1
		raw := record.Encode(owner, strconv.AppendInt(nil, n, 10))
		return txn.SetEntry(&badgerdb.Entry{Key: pk, Value: raw, ExpiresAt: exp})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

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

const (
	keyPrefix   = "k\x00" // a caller's key
	indexPrefix = "o\x00" // an owner index entry
)

// primaryKey is where the caller's key is stored.
func primaryKey(key string) []byte {
	b := make([]byte, 0, len(keyPrefix)+len(key))
	return append(append(b, keyPrefix...), key...)
}

// ownerPrefix is the prefix of every index entry of owner.
func ownerPrefix(owner string) []byte {
	b := make([]byte, 0, len(indexPrefix)+binary.MaxVarintLen64+len(owner))
	b = append(b, indexPrefix...)
	b = binary.AppendUvarint(b, uint64(len(owner)))
	return append(b, owner...)
}

// ownerKey is the index entry that lists key under owner.
func ownerKey(owner, key string) []byte {
	return append(ownerPrefix(owner), key...)
}

// Interface guard.
var (
	_ store.Store     = (*Store)(nil)
	_ store.Exclusive = (*Store)(nil)
	_ store.Locker    = (*Store)(nil)
)
