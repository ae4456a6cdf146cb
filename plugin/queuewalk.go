package plugin

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/store"
)

// A numbered queue in the store (the mail outbox, the request queue):
// "<prefix>seq" counts entries, "<prefix><n>" is entry n, and the tail key
// holds the highest n below which every entry is finished. Entries are
// written by any instance and walked by every instance; a per-entry lease
// makes one instance at a time work on an entry.

// missingGrace is how long an entry number may be seen without its entry
// before the walker counts it as finished. A writer numbers an entry (Incr)
// and writes it (Put) right after; a walker that looks in between must not
// move the tail past it, or the entry would never be walked.
const missingGrace = 5 * time.Second

// queueWalk is one walker's view of a queue. It is used by one goroutine.
type queueWalk struct {
	seq, tail, prefix string
	// block is how many entry numbers one step of seq stands for: the
	// request queue counts blocks of numbers; 1 for the outbox, whose seq
	// counts numbers (it reserves a block with one store.Add).
	block int64
	// missing records when an entry number was first seen without its
	// entry, by number.
	missing map[int64]time.Time
	// finished holds the numbers of entries that this process's workers
	// deleted, or that a pass found finished behind an unfinished one: the
	// walker counts them finished without a Get and without waiting
	// missingGrace (an entry number is never written again), until the
	// tail passes them.
	// Without it, at thousands of requests a second every pass looked up
	// the last 5 s of processed entries again, one Get each (the largest
	// background cost of a request in the bench profile).
	finished *finishedSet
	// young, when set, reports entries known to be too young for the
	// walker (the request queue's requestGrace): they are passed as not
	// finished, without a Get.
	young func(n int64) bool
}

func newQueueWalk(seq, tail, prefix string) queueWalk {
	return queueWalk{seq: seq, tail: tail, prefix: prefix, block: 1, missing: map[int64]time.Time{}, finished: &finishedSet{m: map[int64]struct{}{}}}
}

// finishedSet is a set of entry numbers shared by the workers (add) and
// the walker (take, prune).
type finishedSet struct {
	mu   sync.Mutex
	m    map[int64]struct{}
	peak int // the most numbers m held since it was made
}

// shrinkAt is the size past which an emptied map is replaced: a Go map
// keeps the room it grew to, so a set (or a shard of counters) that held
// a flood's worth of keys would hold on to megabytes once it is empty.
const shrinkAt = 1024

// add records that entry n is gone from the store for good.
func (f *finishedSet) add(n int64) {
	f.mu.Lock()
	f.m[n] = struct{}{}
	f.peak = max(f.peak, len(f.m))
	f.mu.Unlock()
}

// has reports whether n was added (and not pruned since).
func (f *finishedSet) has(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.m[n]
	return ok
}

// countAfter counts the numbers above tail.
func (f *finishedSet) countAfter(tail int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for k := range f.m {
		if k > tail {
			n++
		}
	}
	return n
}

// prune forgets every number up to tail (all, when tail < 0).
func (f *finishedSet) prune(tail int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.m {
		if tail < 0 || n <= tail {
			delete(f.m, n)
		}
	}
	if len(f.m) == 0 && f.peak > shrinkAt {
		f.m, f.peak = map[int64]struct{}{}, 0
	}
}

// counter reads a counter kept as decimal text; a missing one is 0.
func (e *Engine) counter(ctx context.Context, key string) (int64, error) {
	raw, err := e.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

// walkQueue hands every present entry after the tail to handle, which
// reports whether the entry is finished, and moves the tail past the
// leading finished ones.
func (e *Engine) walkQueue(ctx context.Context, w *queueWalk, handle func(ctx context.Context, n int64, key string, raw []byte) (bool, error)) error {
	head, err := e.counter(ctx, w.seq)
	if err != nil {
		return err
	}
	head *= w.block
	tail, err := e.counter(ctx, w.tail)
	if err != nil {
		return err
	}
	if head < tail { // the sequence restarted (store flushed)
		tail = 0
		clear(w.missing)
		w.finished.prune(-1)
	}
	now := time.Now() // real time: the grace is about writers, not the engine's clock
	newTail, settled := tail, true
	for n := tail + 1; n <= head && ctx.Err() == nil; n++ {
		if w.finished.has(n) {
			delete(w.missing, n)
			if settled {
				newTail = n
			}
			continue
		}
		if w.young != nil && w.young(n) {
			settled = false
			continue
		}
		key := queueEntryKey(w.prefix, n)
		raw, err := e.store.Get(ctx, key)
		var done bool
		switch {
		case errors.Is(err, store.ErrNotFound):
			first, seen := w.missing[n]
			if !seen {
				w.missing[n] = now
			}
			done = seen && now.Sub(first) >= missingGrace
		case err != nil:
			return err
		default:
			delete(w.missing, n)
			if done, err = handle(ctx, n, key, raw); err != nil {
				return err
			}
		}
		if !done {
			settled = false
		} else if !settled {
			// Finished behind an unfinished entry: the tail stays before
			// it, so later passes would look it up again until then.
			w.finished.add(n)
		}
		if settled {
			newTail = n
		}
	}
	for n := range w.missing {
		if n <= newTail {
			delete(w.missing, n)
		}
	}
	w.finished.prune(newTail)
	if newTail > tail {
		return e.store.Put(ctx, w.tail, []byte(strconv.FormatInt(newTail, 10)), outboxSeqTTL, "")
	}
	return nil
}

// takeLease takes the lease under key for ttl and returns the function
// that gives it back. On a store that one process owns alone and that
// keeps leases in memory (store.Locker: Badger) nothing is written and a
// crash leaves no lease; otherwise a lease left by a dead process on an
// Exclusive store is taken over at once, and on a shared store it runs
// out with its TTL.
func (e *Engine) takeLease(ctx context.Context, key string, ttl time.Duration) (bool, func(), error) {
	if l, ok := e.store.(store.Locker); ok {
		unlock, won := l.TryLock(key)
		return won, unlock, nil
	}
	holder := []byte("1")
	ex, exclusive := e.store.(store.Exclusive)
	if exclusive {
		holder = []byte(ex.Epoch())
	}
	won, err := e.store.PutIfAbsent(ctx, key, holder, ttl)
	if err != nil {
		return false, nil, err
	}
	if !won && exclusive {
		cur, err := e.store.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if won, err = e.store.PutIfAbsent(ctx, key, holder, ttl); err != nil {
				return false, nil, err
			}
		case err != nil:
			return false, nil, err
		case string(cur) != string(holder):
			// Left by a process that no longer has the store.
			if won, err = e.store.CompareAndSwap(ctx, key, cur, holder); err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, nil, err
			}
			if won {
				// A fresh TTL: the swap kept the dead holder's.
				if err := e.store.Put(ctx, key, holder, ttl, ""); err != nil {
					return false, nil, err
				}
			}
		}
	}
	if !won {
		return false, nil, nil
	}
	return true, func() {
		if err := e.store.Delete(context.WithoutCancel(ctx), key); err != nil {
			e.log.Warn("releasing a lease", zap.Error(err))
		}
	}, nil
}

// numberBlock is the block of entry numbers a queue's instance hands out
// (the request queue's and the outbox's): one store write reserves a block,
// which is used for at most a given life, so that a number not used by
// then never will be and the walkers may pass it. Its owner guards it.
type numberBlock struct {
	next, end int64     // the numbers left: [next, end)
	until     time.Time // when the block stops being used
}

// take hands out the next number, first reserving a new block with
// reserve (which returns the new block's first number) when this one is
// used up or its life is over. fresh reports a new block; unused is the
// range [from, to) the replaced block left (empty when none).
func (b *numberBlock) take(size int64, life time.Duration, reserve func() (int64, error)) (n int64, fresh bool, unused [2]int64, err error) {
	now := time.Now()
	if b.next >= b.end || !now.Before(b.until) {
		first, err := reserve()
		if err != nil {
			return 0, false, unused, err
		}
		unused = [2]int64{b.next, b.end}
		b.next, b.end, b.until, fresh = first, first+size, now.Add(life), true
	}
	n = b.next
	b.next++
	return n, fresh, unused, nil
}

// left counts the numbers of the block after tail that are not handed
// out yet.
func (b *numberBlock) left(tail int64) int64 { return max(b.end-max(b.next, tail+1), 0) }
