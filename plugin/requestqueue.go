package plugin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/store"
)

// The request queue makes a 202 a promise kept across crashes: a reset
// request is written to the store before the answer leaves, so a kill -9
// between the answer and the lookup loses nothing.
//
// Each accepted request is entry "rq/<n>" (sealed like the outbox: it
// carries the identifier and the flow id). It is handed to a worker in
// memory at once; a walker in every instance takes entries that no worker
// took (after a crash, or from an instance that died) once they are older
// than requestGrace. Whoever works on entry n holds the lease
// "rq/lease/<n>", so several instances share the queue.
//
// Processing turns the entry, in one compare-and-swap, into the reset
// mail (an outbox entry with its Message-ID), which the walker then sends
// and deletes: so a request gives exactly one mail, never none and never
// two, whenever the process dies. (The one exception is the SMTP
// transaction itself: a kill after the mail server took the mail but
// before the entry is deleted sends it again, with the same Message-ID.)
// A request for an unknown account, or one that sends no mail, is deleted
// once processed.
// The keys are laid out in keyspace.go.
const (
	// requestTTL bounds how long an accepted request may wait.
	requestTTL = 24 * time.Hour
	// requestGrace is how long an entry is left to the in-memory worker
	// before the walker takes it.
	requestGrace = 2 * time.Second
	// requestLeaseTTL bounds one processing (lookup, stores, deliver hook).
	requestLeaseTTL = time.Minute
	// requestMaxAttempts bounds the processing of a request whose lookup
	// keeps failing (1s, 2s, 4s, 8s, 16s apart).
	requestMaxAttempts = 6
	requestPoll        = 500 * time.Millisecond

	// Entry numbers are handed out in blocks of requestBlock, one Incr
	// of requestSeq per block: a counter every request increments would
	// serialise all requests on one key. A block is used for at most
	// requestBlockLife, well inside missingGrace, so a number not used by
	// then never will be and the walkers may pass it. The block is small
	// because at low traffic most of it goes unused, and walkers look up
	// each unused number until missingGrace has passed.
	requestBlock     = 16
	requestBlockLife = time.Second
)

// requestQueue is the durable queue of accepted reset requests.
type requestQueue struct {
	e    *Engine
	aead cipher.AEAD
	// shared: as outbox.shared.
	shared bool
	wake   chan struct{}
	walk   queueWalk

	mu    sync.Mutex  // guards block, blocks and mailed
	block numberBlock // this instance's entry numbers
	// blocks holds, by first number, when (engine clock) this instance
	// reserved each of its blocks, until requestGrace has passed: every
	// entry of such a block is younger than requestGrace, so the walker
	// passes it without reading it (see young).
	blocks map[int64]time.Time
	// mailed holds entries of those blocks that a worker turned into a
	// mail: the walker sends them at once, young or not.
	mailed map[int64]struct{}
}

func newRequestQueue(e *Engine) (*requestQueue, error) {
	block, err := aes.NewCipher(e.keys.outbox)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	q := &requestQueue{e: e, aead: aead, wake: make(chan struct{}, 1), walk: newQueueWalk(requestSeq, requestTail, requestPrefix), blocks: map[int64]time.Time{}, mailed: map[int64]struct{}{}}
	q.walk.block = requestBlock
	_, exclusive := e.store.(store.Exclusive)
	q.shared = !exclusive
	q.walk.young = q.young
	return q, nil
}

// number hands out the next entry number, reserving a new block when this
// one is used up or too old.
func (q *requestQueue) number(ctx context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, fresh, _, err := q.block.take(requestBlock, requestBlockLife, func() (int64, error) {
		b, err := q.e.store.Incr(ctx, requestSeq, outboxSeqTTL)
		return (b-1)*requestBlock + 1, err
	})
	if fresh {
		q.blocks[n] = q.e.now()
	}
	return n, err
}

// young reports whether entry n is in a block this instance reserved less
// than requestGrace ago: it was accepted after the block was reserved, so
// the in-memory worker still has it and the walker would only read it to
// leave it (each pass, at thousands of requests a second, the largest part
// of the walker's cost). A retry due inside that time waits for it to end.
func (q *requestQueue) young(n int64) bool {
	first := n - (n-1)%requestBlock
	q.mu.Lock()
	defer q.mu.Unlock()
	at, ok := q.blocks[first]
	if _, mailed := q.mailed[n]; mailed || !ok {
		return false
	}
	return q.e.now().Sub(at) < requestGrace
}

// sendNow marks entry n, just turned into a mail, as one for the walker to
// send at once (see young).
func (q *requestQueue) sendNow(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.blocks[n-(n-1)%requestBlock]; ok {
		q.mailed[n] = struct{}{}
	}
}

// forgetOldBlocks drops the blocks young no longer needs.
func (q *requestQueue) forgetOldBlocks() {
	now := q.e.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for first, at := range q.blocks {
		if now.Sub(at) >= requestGrace {
			delete(q.blocks, first)
		}
	}
	for n := range q.mailed {
		if _, ok := q.blocks[n-(n-1)%requestBlock]; !ok {
			delete(q.mailed, n)
		}
	}
}

// seal and open use the outbox's key and label: an entry of this queue
// becomes an outbox entry in place.
func (q *requestQueue) seal(ent outboxEntry) ([]byte, error) {
	return sealEntry(q.aead, ent, q.shared)
}

func (q *requestQueue) open(data []byte, ent *outboxEntry) error {
	return openEntry(q.aead, data, ent)
}

// finish deletes entry n, in the commit that stores decoys (the decoy flow
// its processing left, if any), and tells the walker, so that it passes the
// number without looking it up again (see queueWalk.finished).
func (q *requestQueue) finish(ctx context.Context, n int64, decoys []store.Record) error {
	if err := q.e.writeRecords(ctx, decoys, []string{requestKey(n)}); err != nil {
		return err
	}
	q.walk.finished.add(n)
	return nil
}

// acceptRequest writes job to the store and hands it to a worker. Only
// when it returns nil may the request be answered 202. A full in-memory
// queue is no loss: the walker takes the entry.
func (e *Engine) acceptRequest(ctx context.Context, job requestJob) error {
	q := e.requests
	data, err := q.seal(outboxEntry{Request: &queuedRequest{Identifier: job.identifier, FlowID: job.flowID, IP: job.ip, At: job.at, Counted: job.counted}})
	if err != nil {
		return fmt.Errorf("sealing request: %w", err)
	}
	n, err := q.number(ctx)
	if err != nil {
		return fmt.Errorf("numbering request: %w", err)
	}
	if err := e.store.Put(ctx, requestKey(n), data, requestTTL, ""); err != nil {
		return fmt.Errorf("storing request: %w", err)
	}
	job.seq = n
	select {
	case e.jobs <- job:
	default:
		e.log.Debug("reset request queue full; the walker takes the request", zap.Int64("entry", n))
	}
	return nil
}

// processQueued processes the request queued as job.seq, unless another
// worker or instance has it or had it. When the request became a mail, the
// walker is woken after the entry's lease is released: woken before, it
// would find the lease still held and leave the mail to its next poll.
func (e *Engine) processQueued(ctx context.Context, job requestJob) error {
	mailed, err := e.settleQueued(ctx, job)
	if mailed {
		e.requests.poke()
	}
	return err
}

// settleQueued holds entry job.seq's lease while it settles the request,
// and reports whether the entry became a mail.
func (e *Engine) settleQueued(ctx context.Context, job requestJob) (bool, error) {
	q := e.requests
	won, release, err := e.takeLease(ctx, requestLeaseKey(job.seq), requestLeaseTTL)
	if err != nil {
		return false, fmt.Errorf("leasing request: %w", err)
	}
	if !won {
		return false, nil
	}
	defer release()
	key := requestKey(job.seq)
	raw, err := e.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		// Written before its 202 (acceptRequest), gone now: finished.
		q.walk.finished.add(job.seq)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading request: %w", err)
	}
	var ent outboxEntry
	if err := q.open(raw, &ent); err != nil || ent.Request == nil {
		return false, err // a mail already: the walker sends it
	}
	_, mail, err := q.settle(ctx, job.seq, raw, ent)
	if mail != nil {
		q.sendNow(job.seq)
	}
	return mail != nil, err
}

// poke wakes the walker without waiting for its poll.
func (q *requestQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// settle processes the request in entry n (whose lease the caller holds):
// lookup, flow, token, and the mail, which replaces the entry. It returns
// the entry's new raw value and content when it became a mail, or nil when
// the entry is gone or waits for a retry. Only store errors are returned;
// a failed lookup is logged and retried with backoff.
func (q *requestQueue) settle(ctx context.Context, n int64, raw []byte, ent outboxEntry) ([]byte, *outboxEntry, error) {
	e := q.e
	key := requestKey(n)
	r := ent.Request
	c := &settlement{}
	err := e.processRequest(withSettlement(ctx, c), requestJob{identifier: r.Identifier, flowID: r.FlowID, ip: r.IP, at: r.At, counted: r.Counted})
	if err != nil && ctx.Err() != nil {
		return nil, nil, nil // stopping: the entry stays for the next start
	}
	if err != nil {
		ent.Attempts++
		if ent.Attempts >= requestMaxAttempts {
			e.log.Error("reset request dropped", zap.Int("attempts", ent.Attempts), zap.Error(err))
			return nil, nil, q.finish(ctx, n, c.decoys)
		}
		// A failed lookup leaves a decoy until a retry settles it.
		if err := e.writeRecords(ctx, c.decoys, nil); err != nil {
			return nil, nil, err
		}
		delay := time.Second << (ent.Attempts - 1)
		ent.NextAt = e.now().Add(delay)
		e.log.Warn("processing reset request failed; will retry", zap.Int("attempt", ent.Attempts), zap.Duration("retry_in", delay), zap.Error(err))
		data, serr := q.seal(ent)
		if serr != nil {
			return nil, nil, serr
		}
		if _, err := e.store.CompareAndSwap(ctx, key, raw, data); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	if len(c.mails) == 0 {
		return nil, nil, q.finish(ctx, n, c.decoys)
	}
	// None today: a mail and a decoy exclude each other.
	if err := e.writeRecords(ctx, c.decoys, nil); err != nil {
		return nil, nil, err
	}
	for _, m := range c.mails[1:] { // none today: one request, one mail
		if err := e.mail.put(ctx, m); err != nil {
			return nil, nil, err
		}
	}
	mail := c.mails[0]
	mail.NextAt = e.now()
	data, err := q.seal(mail)
	if err != nil {
		return nil, nil, err
	}
	swapped, err := e.store.CompareAndSwap(ctx, key, raw, data)
	if err != nil {
		return nil, nil, fmt.Errorf("turning request into mail: %w", err)
	}
	if !swapped {
		return nil, nil, nil
	}
	return data, &mail, nil
}

// run walks the queue until ctx ends: it processes requests no worker
// took and sends their mail.
func (q *requestQueue) run(ctx context.Context) {
	t := q.e.cfg.Clock.NewTicker(requestPoll)
	defer t.Stop()
	failing := false // log an outage once, and its end
	for {
		err := q.pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			q.e.log.Warn("request queue pass failed; retrying quietly until it works", zap.Error(err))
			failing = true
		case err == nil && failing:
			q.e.log.Info("request queue pass works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		case <-q.wake:
		}
	}
}

func (q *requestQueue) pass(ctx context.Context) error {
	e := q.e
	q.forgetOldBlocks()
	return e.walkQueue(ctx, &q.walk, func(ctx context.Context, n int64, key string, raw []byte) (bool, error) {
		var ent outboxEntry
		if err := q.open(raw, &ent); err != nil {
			e.log.Error("dropping an unreadable request queue entry", zap.Int64("entry", n), zap.Error(err))
			return true, e.store.Delete(ctx, key)
		}
		if e.now().Before(ent.NextAt) {
			return false, nil
		}
		if ent.Request != nil && ent.Attempts == 0 && e.now().Sub(ent.Request.At) < requestGrace {
			return false, nil // the in-memory worker has it
		}
		won, release, err := e.takeLease(ctx, requestLeaseKey(n), requestLeaseTTL)
		if err != nil || !won {
			return false, err
		}
		defer release()
		if raw, err = e.store.Get(ctx, key); errors.Is(err, store.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		if err := q.open(raw, &ent); err != nil {
			return false, err
		}
		if ent.Request != nil {
			_, mail, err := q.settle(ctx, n, raw, ent)
			if err != nil || mail == nil {
				return false, err
			}
			ent = *mail
		}
		if e.mail == nil {
			e.log.Error("dropping a queued mail: no mail sender is configured", zap.Int64("entry", n))
			return true, e.store.Delete(ctx, key)
		}
		return e.mail.attempt(ctx, key, ent)
	})
}

// settlement collects what processing a queued request leaves for the
// commit that settles its entry: the mail queued (which replaces the
// entry), and the decoy flow stored (which is written in the commit that
// deletes the entry, one commit instead of two on a store that batches:
// store.Batcher).
type settlement struct {
	mails  []outboxEntry
	decoys []store.Record
}

type settlementKey struct{}

func withSettlement(ctx context.Context, c *settlement) context.Context {
	return context.WithValue(ctx, settlementKey{}, c)
}

func capturedSettlement(ctx context.Context) *settlement {
	c, _ := ctx.Value(settlementKey{}).(*settlement)
	return c
}

// newMessageID draws the left part of a mail's Message-ID.
func newMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
