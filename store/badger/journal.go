package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
// cut), and answers its callers then. An applier goroutine applies the
// journaled batches to Badger behind the answers, as many as have queued
// in one transaction, which also records the last batch it holds (the key
// journalAppliedKey). Open replays the batches after that one and empties
// the file; the applier empties it whenever it has applied everything and
// the file has grown past journalRotate.
//
// A read must see a write that returned before it. The journal keeps the
// keys of batches not yet applied (pending); an operation on one key
// (Get, Consume, CompareAndSwap, Delete, PutIfAbsent, an increment) waits
// until the batch that last wrote it is applied, and an operation over
// many keys (DeleteOwner, CountPrefix) until every batch journaled before
// it is. A batch journaled while such an operation runs is concurrent with
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
	journalRetry   = 100 * time.Millisecond
	journalWaitMax = 10 * time.Second
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

	// beforeApply, when set (tests only, before the first write), runs
	// before each round of the applier.
	beforeApply func()
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

// replay applies the file's batches after the last one Badger holds, then
// empties the file. A torn or damaged record ends the file: a write(2) that
// did not complete was never answered.
func (j *journal) replay() error {
	old, err := os.ReadFile(filepath.Join(j.dir, journalOld))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading the journal: %w", err)
	}
	cur, err := io.ReadAll(io.NewSectionReader(j.f, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	last, err := j.lastApplied()
	if err != nil {
		return err
	}
	todo, last := parseJournal(old, last, nil)
	todo, last = parseJournal(cur, last, todo)
	if len(todo) > 0 {
		if err := j.apply(todo); err != nil {
			return fmt.Errorf("replaying the journal: %w", err)
		}
		j.log.Info("replayed the journal", zap.Int("batches", len(todo)))
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("emptying the journal: %w", err)
	}
	if err := os.Remove(filepath.Join(j.dir, journalOld)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the previous journal: %w", err)
	}
	j.seq = last
	j.applied.Store(last)
	return nil
}

// parseJournal appends to todo the batches of one file's data numbered
// after last, and returns them with the last number seen. A torn or
// damaged record ends the file.
func parseJournal(data []byte, last uint64, todo []journaled) ([]journaled, uint64) {
	for len(data) >= journalHeader {
		n := binary.LittleEndian.Uint32(data)
		sum := binary.LittleEndian.Uint32(data[4:])
		if uint64(len(data)-journalHeader) < uint64(n) {
			break
		}
		payload := data[journalHeader : journalHeader+int(n)]
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		seq, _ := binary.Uvarint(payload)
		if seq > last {
			todo = append(todo, journaled{seq: seq, data: payload})
			last = seq
		}
		data = data[journalHeader+int(n):]
	}
	return todo, last
}

// lastApplied reads journalAppliedKey (0 when absent).
func (j *journal) lastApplied() (uint64, error) {
	var last uint64
	err := j.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get(journalAppliedKey)
		if errors.Is(err, badgerdb.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("journal position of %d bytes", len(v))
			}
			last = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("reading the journal's position: %w", err)
	}
	return last, nil
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
	j.queue = append(j.queue, journaled{seq: seq, data: payload})
	j.queued += int64(len(payload))
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return nil
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// rotateLocked keeps the file small: past journalRotate it is emptied
// when everything in it is applied, or else set aside as journalOld (when
// no earlier file still is) and a new one started; the applier removes
// journalOld once it has applied its last batch (dropOldLocked). Called
// with fileMu and mu held.
func (j *journal) rotateLocked() {
	j.dropOldLocked()
	if j.size < j.rotateAt || j.broken {
		return
	}
	if j.applied.Load() == j.seq {
		if err := j.f.Truncate(0); err != nil {
			j.log.Warn("emptying the journal failed; it is tried again later", zap.Error(err))
			return
		}
		j.size = 0
		j.rotations++
		return
	}
	if j.old {
		return // the applier is a whole file behind: this one grows
	}
	path, oldPath := filepath.Join(j.dir, journalFile), filepath.Join(j.dir, journalOld)
	if err := os.Rename(path, oldPath); err != nil {
		j.log.Warn("setting the journal aside failed; it is tried again later", zap.Error(err))
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		// Keep writing to the file set aside, under its name again.
		if rerr := os.Rename(oldPath, path); rerr != nil {
			j.broken = true
			j.log.Error("starting a new journal failed and the previous one could not be put back; writes fail until a restart", zap.Error(err), zap.NamedError("rename", rerr))
			return
		}
		j.log.Warn("starting a new journal failed; it is tried again later", zap.Error(err))
		return
	}
	j.f.Close()
	j.f, j.size = f, 0
	j.old, j.oldLast = true, j.seq
	j.rotations++
}

// dropOldLocked removes journalOld once everything in it is applied.
// Called with fileMu and mu held.
func (j *journal) dropOldLocked() {
	if !j.old || j.applied.Load() < j.oldLast {
		return
	}
	if err := os.Remove(filepath.Join(j.dir, journalOld)); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.log.Warn("removing the previous journal failed; it is tried again later", zap.Error(err))
		return
	}
	j.old = false
}

// run is the applier: it applies what has queued, in one transaction per
// round, until stop; then it applies the rest.
func (j *journal) run() {
	defer close(j.stopped)
	for {
		select {
		case <-j.kick:
		case <-j.stop:
			j.applyQueued()
			return
		}
		j.applyQueued()
	}
}

// applyQueued applies every queued batch, trying again until Badger takes
// them. When the journal is stopping and Badger still refuses, the batches
// go back to the queue and stay in the file for the next Open.
func (j *journal) applyQueued() {
	if j.beforeApply != nil {
		j.beforeApply()
	}
	j.mu.Lock()
	batches := j.queue
	j.queue = j.spare[:0]
	j.spare = nil
	j.mu.Unlock()
	if len(batches) == 0 {
		return
	}
	for err := j.apply(batches); err != nil; err = j.apply(batches) {
		j.log.Error("applying the journal to the database failed; trying again", zap.Error(err))
		select {
		case <-j.stop:
			if err := j.apply(batches); err != nil {
				j.mu.Lock()
				j.queue = append(batches, j.queue...)
				j.mu.Unlock()
				return
			}
		case <-time.After(journalRetry):
			continue
		}
		break
	}
	last := batches[len(batches)-1].seq
	j.fileMu.Lock()
	j.mu.Lock()
	for _, b := range batches {
		forEachKey(b.data, func(k []byte) {
			if j.pending[string(k)] <= last {
				delete(j.pending, string(k))
			}
		})
	}
	for _, b := range batches {
		j.queued -= int64(len(b.data))
	}
	j.applied.Store(last)
	close(j.done)
	j.done = make(chan struct{})
	clear(batches)
	j.spare = batches[:0]
	j.rotateLocked()
	j.mu.Unlock()
	j.fileMu.Unlock()
}

// apply writes batches to Badger: in transactions of up to
// journalApplyMax records, each recording the last batch it completes.
func (j *journal) apply(batches []journaled) error {
	txn := j.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	ops := 0
	var done uint64 // the last batch wholly in txn
	commit := func() error {
		if done > 0 {
			var pos [8]byte
			binary.BigEndian.PutUint64(pos[:], done)
			if err := txn.Set(journalAppliedKey, pos[:]); err != nil {
				return err
			}
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		txn = j.db.NewTransaction(true)
		ops, done = 0, 0
		return nil
	}
	for _, b := range batches {
		p := b.data
		_, n := binary.Uvarint(p)
		p = p[n:]
		for len(p) > 0 {
			op, key, value, exp, rest, err := decodeOp(p)
			if err != nil {
				return fmt.Errorf("batch %d: %w", b.seq, err)
			}
			p = rest
			if ops >= journalApplyMax {
				if err := commit(); err != nil {
					return err
				}
			}
			err = j.set(txn, op, key, value, exp)
			if errors.Is(err, badgerdb.ErrTxnTooBig) {
				if err = commit(); err == nil {
					err = j.set(txn, op, key, value, exp)
				}
			}
			if err != nil {
				return err
			}
			ops++
		}
		done = b.seq
	}
	if ops == 0 {
		return nil // markers only, or nothing left after the last commit
	}
	return commit()
}

func (j *journal) set(txn *badgerdb.Txn, op byte, key, value []byte, exp uint64) error {
	if op == opDelete {
		return txn.Delete(key)
	}
	return txn.SetEntry(&badgerdb.Entry{Key: key, Value: value, ExpiresAt: exp})
}

var errJournalRecord = errors.New("damaged journal record")

// decodeOp reads one operation off p.
func decodeOp(p []byte) (op byte, key, value []byte, exp uint64, rest []byte, err error) {
	op, p = p[0], p[1:]
	if key, p, err = cutBytes(p); err != nil || op == opDelete {
		return op, key, nil, 0, p, err
	}
	if op != opSet {
		return 0, nil, nil, 0, nil, errJournalRecord
	}
	if value, p, err = cutBytes(p); err != nil {
		return 0, nil, nil, 0, nil, err
	}
	exp, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, nil, 0, nil, errJournalRecord
	}
	return op, key, value, exp, p[n:], nil
}

func cutBytes(p []byte) (v, rest []byte, err error) {
	l, n := binary.Uvarint(p)
	if n <= 0 || uint64(len(p)-n) < l {
		return nil, nil, errJournalRecord
	}
	return p[n : n+int(l)], p[n+int(l):], nil
}

// forEachKey calls fn with every key a payload writes or removes.
func forEachKey(payload []byte, fn func(k []byte)) {
	_, n := binary.Uvarint(payload)
	p := payload[n:]
	for len(p) > 0 {
		_, key, _, _, rest, err := decodeOp(p)
		if err != nil {
			return
		}
		fn(key)
		p = rest
	}
}

// settle waits until the last journaled write of the caller's key is
// applied, or ctx ends.
func (j *journal) settle(ctx context.Context, key string) error {
	if j == nil {
		return nil
	}
	var buf [128]byte
	pk := append(append(buf[:0], keyPrefix...), key...)
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

// await waits until batch seq is applied, or ctx ends.
func (j *journal) await(ctx context.Context, seq uint64) error {
	for {
		j.mu.Lock()
		done := j.done
		j.mu.Unlock()
		if j.applied.Load() >= seq {
			return nil
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
