// The journal's applier: the journaled batches into Badger, behind the
// answers (journal.go).

package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// run is the background applier. Kicked by the first batch queued after
// an empty queue, it waits journalApplyDelay for more to queue and applies
// them all in one round; a round that fails is tried again every
// journalRetry. At stop it tries once more: what Badger still refuses
// stays in the file for the next Open.
func (j *journal) run() {
	defer close(j.stopped)
	delay := time.NewTimer(time.Hour)
	delay.Stop()
	for {
		select {
		case <-j.kick:
		case <-j.stop:
			j.drain()
			return
		}
		delay.Reset(journalApplyDelay)
		select {
		case <-delay.C:
		case <-j.stop:
			j.drain()
			return
		}
		for {
			err := j.applyRound()
			if err == nil {
				break
			}
			j.log.Error("applying the journal to the database failed; trying again", zap.Error(err))
			delay.Reset(journalRetry)
			select {
			case <-delay.C:
			case <-j.stop:
				j.drain()
				return
			}
		}
	}
}

// drain is the applier's last round, at stop.
func (j *journal) drain() {
	if err := j.applyRound(); err != nil {
		j.log.Error("applying the journal to the database at close failed; the next open replays it", zap.Error(err))
	}
}

// applyRound applies every queued batch in one round, once: on failure the
// batches go back to the front of the queue. Rounds take turns (applyMu),
// so batches are applied in order.
func (j *journal) applyRound() error {
	j.applyMu.Lock()
	defer j.applyMu.Unlock()
	return j.applyLocked()
}

// applyLocked is applyRound's work; called with applyMu held.
func (j *journal) applyLocked() error {
	if j.beforeApply != nil {
		if err := j.beforeApply(); err != nil {
			return err
		}
	}
	j.mu.Lock()
	batches := j.queue
	j.queue = j.spare[:0]
	j.spare = nil
	j.mu.Unlock()
	if len(batches) == 0 {
		return nil
	}
	if err := j.apply(batches); err != nil {
		j.mu.Lock()
		j.queue = append(batches, j.queue...)
		j.mu.Unlock()
		return err
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
	return nil
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

// set adds one decoded operation to txn.
func (j *journal) set(txn *badgerdb.Txn, op byte, key, value []byte, exp uint64) error {
	if op == opDelete {
		return txn.Delete(key)
	}
	return txn.SetEntry(&badgerdb.Entry{Key: key, Value: value, ExpiresAt: exp})
}
