package badger

import (
	"errors"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
)

// Group commit of blind writes.
//
// Every reset request writes one record before its answer (its queue entry,
// or its decoy flow), so under load many Puts wait on Badger at once. Each
// in its own transaction pays Badger's per-transaction work: a read
// timestamp and two watermark updates (each a message to Badger's watermark
// goroutine), the oracle's commit lock, a write request and its wake-up.
// The batcher commits the Puts that arrive while one commit is under way in
// one transaction instead: a Put still returns only once its own record is
// committed, and it gets that commit's error.
//
// On disk a batch of blind writes is not committed to Badger by its leader
// but appended to the journal in one write(2), and applied to Badger
// behind the answers (journal.go); a batch with an increment, or with a
// large record, still takes a transaction of its own. What follows about
// commits holds for both.
//
// A Put reads nothing; the Puts in one batch are concurrent calls, whose
// order was never defined (two Puts of one key in a batch: the later one
// in the batch wins, as it would have committed later).
//
// Counters (Incr, Add) go through the batcher too: an increment reads its
// counter in the batch's transaction and writes the sum, and a later
// increment of the same counter in the batch reads that pending write (a
// transaction reads its own writes). After a flood of fresh identifiers,
// when the engine's in-memory counters are full, every reset request
// counts its identifier here; alone in a transaction each increment paid
// what a Put alone pays. Because increments read, a batch holding one can
// conflict with a transaction outside the batcher that wrote its counter
// meanwhile; the whole batch is then tried again, as a read-write
// transaction is (Store.update), from a new transaction that sees that
// write.
//
// The first call (a Put, an increment, a wait) to find no commit under
// way leads: it commits the batch (its own and whatever queued behind it
// meanwhile). When it is done it hands the lead to the oldest call still
// waiting, which commits the next batch, so no caller commits for others
// for longer than one batch.
//
// Before it takes its batch, a leader yields its thread (runtime.Gosched)
// while that lets more calls join, up to leaderYields times: goroutines
// already runnable, such as handlers a moment behind it, then reach the
// batcher first and share its commit instead of waiting for one of their
// own. Under load the batches grow (8 connections flooding one over-limit
// identifier through Caddy, every batch a marker: 2.0 calls per commit
// without the yield, 3.3 with it) and a commit's cost, a Badger
// transaction and its hand-offs between goroutines, is shared by more
// requests. Every batch yields alike, whatever it holds, so a wait still
// takes as long as a Put.
//
// A yield puts the leader behind every goroutine waiting for its thread,
// and one that computes (a bcrypt hash, a TLS handshake) keeps the thread
// for up to 10 ms before Go preempts it. So a leader yields only while
// calls come together (a call found a commit under way within the last
// togetherWindow), and when slowYields of the last 32 yields each took
// longer than slowYield, the yields stop for a pause: one second, then
// twice the last pause (up to a minute) until a run of fastYields fast
// yields in a row shows such work gone. While it goes on, a few commits a
// minute wait behind it. A slow yield now and then does not pause them:
// on a loaded machine the kernel takes the thread for a few milliseconds
// in the middle of one now and then (2–5 of some 7,000 yields in 2 s of
// bench/cpudiff.sh's flood). Calls one at a time, the usual case, never
// yield.

// maxBatch bounds the calls in one transaction: far below Badger's limit
// on a transaction (a share of the memtable), and a bound on how long one
// leader works for others.
const maxBatch = 64

// leaderYields bounds the yields of a leader before it takes its batch:
// it stops at the first that lets no call join.
const leaderYields = 4

// The yields' bounds (see the yield above). The handlers that join a batch
// take tens of microseconds to reach it; a goroutine that computes keeps
// the thread for milliseconds.
const (
	// togetherWindow: calls came together if one found a commit under
	// way this recently.
	togetherWindow = 10 * time.Millisecond
	// slowYield: a yield that took longer waited behind such work.
	slowYield = 500 * time.Microsecond
	// slowYields of the last 32 yields slow pause the yields, for
	// minYieldPause doubling up to maxYieldPause; fastYields fast ones in
	// a row bring the pause back to minYieldPause.
	slowYields    = 4
	fastYields    = 256
	minYieldPause = time.Second
	maxYieldPause = time.Minute
)

// putReq is one call waiting in the batcher (a Put, an increment or a
// wait). Requests are reused (batcher.reqs): every reset request makes
// one.
type putReq struct {
	entries []*badgerdb.Entry
	// deletes are keys removed in the same transaction (store.Batcher).
	deletes [][]byte
	// incr is a counter's increment, when incr.key is set (Store.Incr,
	// Store.Add).
	incr incrOp
	// wake gets a value when the Put is committed (err is its result) or
	// when it leads the next batch (lead is set): once per use, so that
	// the channel outlives the use.
	wake chan struct{}
	lead bool
	err  error
}

// batcher gathers concurrent Puts and increments into shared
// transactions.
type batcher struct {
	db *badgerdb.DB
	// j is the journal batches of blind writes go to, nil in memory
	// (journal.go).
	j *journal

	mu      sync.Mutex
	pending []*putReq
	busy    bool // a leader is committing
	// reqs holds putReqs between uses.
	reqs sync.Pool

	// batch is the leader's batch, reused: one leader at a time uses it,
	// and it is done with it before it hands the lead on.
	batch []*putReq
	// pulseKey and pulseValue are the pulse's (pulseEntry): made once
	// (newBatcher), read by the leaders.
	pulseKey, pulseValue []byte

	// gate decides when leaders yield; under mu (do, gather).
	gate yieldGate

	// batches counts the batches committed, slow the yields that took
	// longer than slowYield; for tests.
	batches atomic.Int64
	slow    atomic.Int64
}

// newBatcher returns a batcher committing to db.
func newBatcher(db *badgerdb.DB) *batcher {
	return &batcher{db: db, pulseKey: []byte(pulseKey), pulseValue: []byte{1}}
}

// put commits entries and removes the keys in deletes, in a transaction it
// may share with concurrent calls, and returns when they are committed.
// With neither it waits for the next commit (AwaitCommit).
func (b *batcher) put(entries []*badgerdb.Entry, deletes [][]byte) error {
	_, err := b.do(entries, deletes, incrOp{})
	return err
}

// add adds op.delta to the counter op.key in a transaction it may share
// with concurrent calls, and returns the counter's new value once that is
// committed.
func (b *batcher) add(op incrOp) (int64, error) {
	return b.do(nil, nil, op)
}

// do queues one call (put or add) and returns when it is committed, with
// the counter's value for an increment.
func (b *batcher) do(entries []*badgerdb.Entry, deletes [][]byte, op incrOp) (int64, error) {
	req, _ := b.reqs.Get().(*putReq)
	if req == nil {
		req = &putReq{wake: make(chan struct{}, 1)}
	}
	req.entries, req.deletes, req.incr, req.lead, req.err = entries, deletes, op, false, nil
	defer func() {
		req.entries, req.deletes, req.incr, req.err = nil, nil, incrOp{}, nil
		b.reqs.Put(req)
	}()
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if b.busy {
		b.gate.queuedAt = time.Now()
		b.mu.Unlock()
		<-req.wake
		if !req.lead {
			return req.incr.n, req.err
		}
		b.mu.Lock()
	}
	// Leading: req is the oldest pending Put, so this batch holds it.
	b.busy = true
	b.gather()
	n := min(len(b.pending), maxBatch)
	batch := append(b.batch[:0], b.pending[:n]...)
	b.batch = batch
	b.pending = append(b.pending[:0], b.pending[n:]...)
	b.mu.Unlock()

	b.commit(batch)
	b.batches.Add(1)

	for i, r := range batch {
		batch[i] = nil
		if r != req {
			r.wake <- struct{}{}
		}
	}
	b.mu.Lock()
	if len(b.pending) > 0 {
		next := b.pending[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		b.busy = false
	}
	b.mu.Unlock()
	return req.incr.n, req.err
}

// gather lets the calls that are runnable join the leader's batch before
// it is taken (see the yield above): it yields while that brings calls, if
// a call found a commit under way within togetherWindow and slow yields
// have not paused the yields.
// Called and returns with mu held.
func (b *batcher) gather() {
	if !b.gate.open(time.Now()) {
		return
	}
	for range leaderYields {
		n := len(b.pending)
		b.mu.Unlock()
		start := time.Now()
		runtime.Gosched()
		took := time.Since(start)
		b.mu.Lock()
		if b.gate.yielded(start.Add(took), took) {
			b.slow.Add(1)
			return
		}
		if len(b.pending) == n || len(b.pending) >= maxBatch {
			return
		}
	}
}

// yieldGate decides when leaders yield (see the yield above).
type yieldGate struct {
	// queuedAt is when a call last found a commit under way.
	queuedAt time.Time
	// recent has a bit set for each of the last 32 yields that was slow;
	// fastRun counts the fast ones in a row.
	recent  uint32
	fastRun int
	// from is the time before which leaders do not yield; pause is the
	// last pause.
	from  time.Time
	pause time.Duration
}

// open reports whether a leader yields at now: calls came together lately
// and no pause is under way.
func (g *yieldGate) open(now time.Time) bool {
	return now.Sub(g.queuedAt) <= togetherWindow && !now.Before(g.from)
}

// yielded records a yield that ended at now and took d, and reports
// whether it was slow (the leader then stops yielding for its batch).
func (g *yieldGate) yielded(now time.Time, d time.Duration) (slow bool) {
	if d <= slowYield {
		g.recent <<= 1
		if g.fastRun++; g.fastRun >= fastYields {
			g.pause = 0
		}
		return false
	}
	g.recent = g.recent<<1 | 1
	g.fastRun = 0
	if bits.OnesCount32(g.recent) >= slowYields {
		g.recent = 0
		g.pause = min(max(2*g.pause, minYieldPause), maxYieldPause)
		g.from = now.Add(g.pause)
	}
	return true
}

// commit writes the batch's entries in one transaction and sets each
// call's err. A batch Badger finds too big for one transaction (large
// values), or one in which an increment fails (a key that holds no
// counter), is committed one call per transaction instead, so that each
// call gets its own result: a Put too big on its own fails alone, and no
// Put is committed in part. A batch whose commit conflicts (it holds an
// increment) is tried again from the start, up to maxConflictRetries
// times.
func (b *batcher) commit(batch []*putReq) {
	if b.j != nil {
		if journalable(batch) {
			err := b.j.throttle()
			if err == nil {
				err = b.j.appendBatch(batch)
			}
			setErr(batch, err)
			return
		}
		// Straight to Badger: first the journaled writes of its keys.
		if err := b.j.settleBatch(batch); err != nil {
			setErr(batch, err)
			return
		}
	}
	b.commitDirect(batch)
}

// commitDirect commits batch in Badger transactions (see commit).
func (b *batcher) commitDirect(batch []*putReq) {
	for attempt := 1; ; attempt++ {
		split, err := b.try(batch)
		if split {
			for _, r := range batch {
				b.commitDirect([]*putReq{r})
			}
			return
		}
		if errors.Is(err, badgerdb.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		setErr(batch, err)
		return
	}
}

// journalable reports whether batch goes to the journal: it holds no
// increment (which reads) and no key or value larger than a small record's
// (Badger refuses some of those, and a refusal must reach its caller, not
// the applier).
func journalable(batch []*putReq) bool {
	for _, r := range batch {
		if r.incr.key != nil {
			return false
		}
		for _, e := range r.entries {
			if len(e.Key) > journalMaxKey || len(e.Value) > journalMaxValue {
				return false
			}
		}
		for _, k := range r.deletes {
			if len(k) > journalMaxKey {
				return false
			}
		}
	}
	return true
}

// try commits batch in one transaction and returns the result, or reports
// split when one of several calls could not be added to it (nothing is
// committed then).
func (b *batcher) try(batch []*putReq) (split bool, err error) {
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	if !hasEntries(batch) {
		// Only AwaitCommit calls: commit the marker, so that they wait
		// as long as a Put would.
		if err := txn.SetEntry(b.pulseEntry()); err != nil {
			return false, err
		}
	}
	for _, r := range batch {
		if err := r.add(txn); err != nil {
			return len(batch) > 1, err
		}
	}
	return false, txn.Commit()
}

// add sets r's entries and removals, or its increment, in txn.
func (r *putReq) add(txn *badgerdb.Txn) error {
	if r.incr.key != nil {
		return r.incr.apply(txn)
	}
	for _, e := range r.entries {
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	for _, k := range r.deletes {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func setErr(batch []*putReq, err error) {
	for _, r := range batch {
		r.err = err
	}
}

// hasEntries reports whether any call in batch writes or removes a record
// (an increment writes its counter).
func hasEntries(batch []*putReq) bool {
	for _, r := range batch {
		if len(r.entries) > 0 || len(r.deletes) > 0 || r.incr.key != nil {
			return true
		}
	}
	return false
}

// pulseEntry is the marker a batch of AwaitCommit calls alone commits:
// one key (pulseKey), overwritten each time, expiring a second later.
// Every pulse shares one key and value slice (Badger reads them and writes
// neither: it puts the key's version into a new slice).
func (b *batcher) pulseEntry() *badgerdb.Entry {
	return &badgerdb.Entry{Key: b.pulseKey, Value: b.pulseValue, ExpiresAt: expiresAt(time.Second)}
}
