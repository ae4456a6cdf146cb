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
//
// Beside Badger's files the directory holds resetgate.journal, where
// concurrent blind writes are made durable together before they are
// applied to Badger (journal.go).
package badger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/store"
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

	epoch string // unique to this Open; see Epoch

	leases *leases // held in this process; see TryLock (locks.go)

	disk *diskGuard // nil in memory; see diskspace.go

	batch *batcher // commits concurrent Puts and increments together; see batch.go

	j *journal // the batcher's journal; nil in memory (journal.go)

	owners *ownerFilter // which owners may have index entries; see ownerfilter.go
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
)

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
		leases: newLeases(),
		batch:  newBatcher(db),
		owners: newOwnerFilter(),
	}
	if !opts.InMemory {
		if s.j, err = openJournal(opts.Dir, db, log); err != nil {
			db.Close()
			return nil, fmt.Errorf("store/badger: %w", err)
		}
		s.batch.j = s.j
	}
	if err := s.owners.fill(db); err != nil {
		s.closeJournal()
		db.Close()
		return nil, fmt.Errorf("store/badger: reading the owner index: %w", err)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		s.closeJournal()
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
	jerr := s.closeJournal()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/badger: close: %w", err)
	}
	if jerr != nil {
		return fmt.Errorf("store/badger: close: %w", jerr)
	}
	return nil
}

// closeJournal applies the journal's queue and closes its file (no-op in
// memory).
func (s *Store) closeJournal() error {
	if s.j == nil {
		return nil
	}
	return s.j.close()
}

// Destruct closes the Store. It lets a Store live in a caddy.UsagePool,
// which calls Destruct when the last user lets go.
func (s *Store) Destruct() error {
	return s.Close()
}

// Interface guard.
var (
	_ store.Store     = (*Store)(nil)
	_ store.Exclusive = (*Store)(nil)
	_ store.Locker    = (*Store)(nil)
	_ store.Committer = (*Store)(nil)
	_ store.Batcher   = (*Store)(nil)
)
