package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// The journal: the group commit's writes, durable in one write(2).
//
// A Badger transaction costs about 9 µs of CPU in process and about 23 µs
// in Caddy, however small (BENCHMARKS.md, round nineteen): a read and a
// commit timestamp, watermark messages, a write request and its goroutine.
// Every reset request waits for one, its queue entry's or a marker's. On
// disk the batcher therefore makes a batch of blind writes durable by
// appending it to a journal file in the database's directory in one
// write(2), as durable as Badger's own write-ahead log (a file in the page
// cache, not synced; it survives a kill -9 of the process, not a power
// cut), and answers its callers then. The journaled batches are applied to
// Badger behind the answers, as many as have queued in one transaction,
// which also records the last batch it holds (the key journalAppliedKey):
// by an operation that needs one of them, in its own goroutine, or else by
// a background applier that lets them gather for journalApplyDelay first. Open replays the batches after that one and empties
// the file. A file past journalRotate is emptied once everything in it is
// applied, or else set aside for a new one until it is; past
// journalBacklog a batch waits for the applier (journal_file.go,
// journal_apply.go).
//
// A read must see a write that returned before it. The journal keeps the
// keys of batches not yet applied (pending); an operation on one key
// (Get, Consume, CompareAndSwap, Delete, PutIfAbsent, an increment) waits
// until the batch that last wrote it is applied, and an operation over
// many keys (DeleteOwner, CountPrefix) until every batch journaled before
// it is; DeleteOwner of an owner the owner filter rules out (ownerfilter.go)
// answers without waiting, as the filter counts a write before it is
// journaled. A batch journaled while such an operation runs is concurrent with
// it, and is applied after it: its write comes last, as if the operation
// had come first, which it may.
//
// A batch that holds an increment reads in its transaction, so it is
// committed to Badger directly, as before the journal, once its counters'
// pending writes are applied. A batch of AwaitCommit calls alone appends a
// small marker record (the wait must take as long as a Put's: DESIGN.md,
// "HTTP API") and has nothing to apply.
//
// In memory (Options.InMemory) there is no journal: the batcher commits
// every batch to Badger.

const (
	// journalFile is the journal's name in the database's directory, and
	// journalOld the previous file's while batches in it are not applied.
	journalFile = "resetgate.journal"
	journalOld  = "resetgate.journal.old"
	// journalRotate is the size past which the file is emptied, once
	// everything in it is applied, or else set aside as journalOld for a
	// new one (when no earlier file is still set aside).
	journalRotate = 4 << 20
	// journalBacklog bounds the bytes journaled and not yet applied: past
	// it a batch waits for the applier before it is appended, so writers
	// that outrun Badger are held to its pace, as without the journal,
	// instead of growing the file and the queue.
	journalBacklog = 4 << 20
	// journalApplyMax bounds the records of one applying transaction, far
	// below Badger's limit on a transaction (a share of the memtable).
	journalApplyMax = 4096
	// journalRetry is the pause before an applier whose commit failed tries
	// again; journalWaitMax bounds a batch leader's wait for pending
	// counters (an operation's wait is bounded by its context).
	journalRetry = 100 * time.Millisecond
	// journalApplyDelay is how long the background applier lets batches
	// gather before a round: one transaction and one wake-up for all of
	// them. A read that needs one of them applies them sooner itself.
	journalApplyDelay = 2 * time.Millisecond
	journalWaitMax    = 10 * time.Second
	// journalMaxKey and journalMaxValue bound what the journal takes; a
	// batch with a larger key or value is committed to Badger directly.
	journalMaxKey   = 1 << 10
	journalMaxValue = valueThreshold
)

// journalAppliedKey holds the number of the last batch applied to Badger
// (8 bytes, big-endian): outside the callers' keys and the owner index.
var journalAppliedKey = []byte("p\x00journal")

// Record layout: a header of the payload's length and its CRC-32C (4 bytes
// each, little-endian), then the payload: the batch's number (uvarint),
// then its operations, each an op byte, the key (uvarint length, bytes)
// and, for a set, the value (uvarint length, bytes) and the expiry
// (uvarint, Unix seconds; 0: none).
const (
	journalHeader = 8
	opSet         = 1
	opDelete      = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errJournalBroken fails every write after a failed append that could not
// be cut off the file again: what follows it would not be replayed.
var errJournalBroken = errors.New("the journal could not be repaired after a failed write; restart to replay it")

// journaled is one batch written and not yet applied.
type journaled struct {
	seq  uint64
	data []byte // the payload
}

// journal is the database's journal file and its applier.
type journal struct {
	db  *badgerdb.DB
	log *zap.Logger

	// fileMu serialises the file's writes and truncations; one leader
	// appends at a time, the applier truncates.
	fileMu sync.Mutex
	dir    string
	f      *os.File
	size   int64
	broken bool
	// rotateAt is journalRotate (lower in tests).
	rotateAt int64
	// backlog is journalBacklog (lower in tests); queued the bytes of the
	// batches not applied yet (under mu).
	backlog, queued int64
	// appended counts the bytes written, rotations the files emptied or
	// set aside; for tests.
	appended, rotations int64
	// old is set while journalOld holds batches not all applied, up to
	// batch oldLast.
	old     bool
	oldLast uint64
	// marker is the buffer of a marker's record (nothing to apply, so
	// nothing keeps it).
	marker [journalHeader + binary.MaxVarintLen64]byte

	mu      sync.Mutex
	seq     uint64            // the last batch journaled
	queue   []journaled       // journaled, not applied, in order
	pending map[string]uint64 // a key's last journaled, unapplied batch
	// done is closed, and replaced, whenever applied moves.
	done    chan struct{}
	applied atomic.Uint64 // the last batch applied (or with nothing to apply)
	// spare is the applier's last queue, handed back for reuse.
	spare []journaled

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	// applyMu makes rounds of applying take turns: the background
	// applier's and those of operations that need a pending key.
	applyMu sync.Mutex

	// beforeApply, when set (tests only, before the first write), runs
	// before each round; an error fails the round, as Badger's would.
	beforeApply func() error
}

// openJournal replays dir's journal into db, empties it and starts the
// applier.
func openJournal(dir string, db *badgerdb.DB, log *zap.Logger) (*journal, error) {
	path := filepath.Join(dir, journalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the journal: %w", err)
	}
	j := &journal{
		db: db, log: log, f: f, dir: dir, rotateAt: journalRotate, backlog: journalBacklog,
		pending: map[string]uint64{},
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := j.replay(); err != nil {
		f.Close()
		return nil, err
	}
	go j.run()
	return j, nil
}

// throttle waits, for up to journalWaitMax, until the applier has caught
// up, when more than backlog bytes wait for it (the batch leader calls it
// before appendBatch).
func (j *journal) throttle() error {
	j.mu.Lock()
	behind, seq := j.queued > j.backlog, j.seq
	j.mu.Unlock()
	if !behind {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalWaitMax)
	defer cancel()
	return j.await(ctx, seq)
}

// appendBatch makes batch durable in one write(2) and returns once it is
// (the batch leader calls it; one at a time). Its keys are pending until
// the applier has applied it.
func (j *journal) appendBatch(batch []*putReq) error {
	size := 0
	for _, r := range batch {
		for _, e := range r.entries {
			size += 1 + 3*binary.MaxVarintLen64 + len(e.Key) + len(e.Value)
		}
		for _, k := range r.deletes {
			size += 1 + binary.MaxVarintLen64 + len(k)
		}
	}
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	if j.broken {
		return errJournalBroken
	}
	j.mu.Lock()
	seq := j.seq + 1
	j.mu.Unlock()

	var rec []byte
	if size == 0 {
		rec = j.marker[:journalHeader]
	} else {
		rec = make([]byte, journalHeader, journalHeader+binary.MaxVarintLen64+size)
	}
	rec = binary.AppendUvarint(rec, seq)
	for _, r := range batch {
		for _, e := range r.entries {
			rec = append(rec, opSet)
			rec = appendBytes(rec, e.Key)
			rec = appendBytes(rec, e.Value)
			rec = binary.AppendUvarint(rec, e.ExpiresAt)
		}
		for _, k := range r.deletes {
			rec = append(rec, opDelete)
			rec = appendBytes(rec, k)
		}
	}
	payload := rec[journalHeader:]
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(payload, castagnoli))
	if n, err := j.f.Write(rec); err != nil {
		// Cut off what part of the record reached the file: a record
		// after a torn one would not be replayed.
		if n > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.broken = true
				j.log.Error("the journal could not be cut back after a failed write; writes fail until a restart", zap.Error(terr))
			}
		}
		return fmt.Errorf("writing the journal: %w", err)
	}
	j.size += int64(len(rec))
	j.appended += int64(len(rec))

	j.mu.Lock()
	j.seq = seq
	if size == 0 && j.applied.Load() == seq-1 {
		// A marker with nothing before it to apply: applied at once.
		j.applied.Store(seq)
		j.rotateLocked()
		j.mu.Unlock()
		return nil
	}
	j.rotateLocked()
	if size > 0 {
		for _, r := range batch {
			for _, e := range r.entries {
				j.pending[string(e.Key)] = seq
			}
			for _, k := range r.deletes {
				j.pending[string(k)] = seq
			}
		}
	}
	if size == 0 {
		payload = nil // a marker: nothing to apply
	}
	first := len(j.queue) == 0
	j.queue = append(j.queue, journaled{seq: seq, data: payload})
	j.queued += int64(len(payload))
	j.mu.Unlock()
	if first {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// settle waits until the last journaled write of the caller's key is
// applied, or ctx ends.
func (j *journal) settle(ctx context.Context, key string) error {
	if j == nil {
		return nil
	}
	var buf [128]byte
	pk := appendPrimaryKey(buf[:0], key)
	j.mu.Lock()
	seq, ok := j.pending[string(pk)]
	j.mu.Unlock()
	if !ok {
		return nil
	}
	return j.await(ctx, seq)
}

// settleBatch waits, for up to journalWaitMax, until the journaled writes
// of every key batch writes, removes or increments are applied: batch is
// committed to Badger directly, and must come after them.
func (j *journal) settleBatch(batch []*putReq) error {
	var seq uint64
	j.mu.Lock()
	for _, r := range batch {
		if r.incr.key != nil {
			seq = max(seq, j.pending[string(r.incr.key)])
		}
		for _, e := range r.entries {
			seq = max(seq, j.pending[string(e.Key)])
		}
		for _, k := range r.deletes {
			seq = max(seq, j.pending[string(k)])
		}
	}
	j.mu.Unlock()
	if seq == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalWaitMax)
	defer cancel()
	return j.await(ctx, seq)
}

// settleAll waits until every batch journaled before the call is applied,
// or ctx ends.
func (j *journal) settleAll(ctx context.Context) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	seq := j.seq
	j.mu.Unlock()
	return j.await(ctx, seq)
}

// await returns once batch seq is applied, or when ctx ends. When no
// round is under way it applies the queue itself, in its own goroutine
// (no hand-off to the applier); otherwise it waits for the round under
// way and looks again. A round of its own that fails is left to the
// background applier, which tries again.
func (j *journal) await(ctx context.Context, seq uint64) error {
	helped := false
	for {
		j.mu.Lock()
		done := j.done
		j.mu.Unlock()
		if j.applied.Load() >= seq {
			return nil
		}
		if !helped && j.applyMu.TryLock() {
			err := j.applyLocked()
			j.applyMu.Unlock()
			if err == nil {
				continue
			}
			helped = true
			select {
			case j.kick <- struct{}{}:
			default:
			}
		}
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the journal: %w", ctx.Err())
		}
	}
}

// close applies what is queued, empties the file if everything is applied
// and closes it. No append may come after it.
func (j *journal) close() error {
	close(j.stop)
	<-j.stopped
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	j.mu.Lock()
	emptied := j.applied.Load() == j.seq && !j.broken
	j.mu.Unlock()
	if emptied {
		j.dropOldLocked()
		if err := j.f.Truncate(0); err != nil {
			j.log.Warn("emptying the journal at close failed; the next open replays it", zap.Error(err))
		}
	}
	return j.f.Close()
}
