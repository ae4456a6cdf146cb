// The journal's file: its records, the replay at Open, and how the file is
// kept small (journal.go).

package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// errJournalRecord is a record whose operations cannot be read.
var errJournalRecord = errors.New("damaged journal record")

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

// appendBytes appends v with its uvarint length.
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

// cutBytes reads a uvarint length and that many bytes off p.
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
