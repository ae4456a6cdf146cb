package plugin

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// localCounter is a fixed-window counter kept in memory, for the counters
// of reset requests when one process owns the store (Badger): it takes the
// store writes of counting off the request path. With a shared store
// (Redis) the counters stay in the store so that every instance counts
// together.
//
// It holds at most localCounterMax keys, so that a flood of distinct
// identifiers or addresses cannot grow the heap without bound. A key that
// finds its shard full is counted in the store instead, and so is every
// key new to the shard until a window has passed since the last one
// refused: by then the store's count of each refused key has ended, so no
// key is ever counted in both places at once.
//
// Keys are held by two 64-bit hashes of them under random seeds, and
// windows by value, so the maps hold no pointers: the garbage collector
// does not walk them. After a flood of fresh identifiers the counters
// held up to 131,072 keys as strings and *window (a time.Time with its
// location pointer each), and every GC cycle marked them all: 15 ms for a
// full GC against 0.6 ms with the keys held this way (measured apart, one
// map per shard as here), on every cycle while the windows last. Two keys
// share a window only if both 64-bit hashes collide (about 2^-128 a
// pair); the seeds are drawn per process, so no one can pick keys that do.
type localCounter struct {
	seed   [2]maphash.Seed
	shards [localCounterShards]counterShard
}

const (
	localCounterShards = 32
	// localCounterMax bounds the keys held at once (about 80 bytes each
	// with the maps' room: some 10 MiB when full).
	localCounterMax = 1 << 17
)

// counterKey is a key as the counter holds it (see localCounter).
type counterKey [2]uint64

type counterShard struct {
	mu sync.Mutex
	m  map[counterKey]window
	// storeUntil: until then, keys new to the shard are counted in the
	// store (the shard was full less than their window ago).
	storeUntil time.Time
	peak       int // the most keys m held since it was made (see shrinkAt)
}

// window is one key's count and when its window ends (Unix nanoseconds).
type window struct {
	n     int64
	until int64
}

func newLocalCounter() *localCounter {
	c := &localCounter{seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].m = map[counterKey]window{}
	}
	return c
}

// key is the counters' key for s (see localCounter). It is the zero key
// when c is nil (the counters are in the store), so that a caller need
// not check before it passes the key to Engine.count.
func (c *localCounter) key(s string) counterKey {
	if c == nil {
		return counterKey{}
	}
	return counterKey{maphash.String(c.seed[0], s), maphash.String(c.seed[1], s)}
}

// keyBytes is key of string(b) (the same key), for a key put together in
// a buffer on the caller's stack: it is hashed without an allocation.
func (c *localCounter) keyBytes(b []byte) counterKey {
	if c == nil {
		return counterKey{}
	}
	return counterKey{maphash.Bytes(c.seed[0], b), maphash.Bytes(c.seed[1], b)}
}

// incr counts one event under k in a window of length d starting at its
// first event, and returns the count so far. It reports false, having
// counted nothing, when the key is to be counted in the store instead (see
// localCounter).
func (c *localCounter) incr(k counterKey, now time.Time, d time.Duration) (int64, bool) {
	s := &c.shards[k[0]%localCounterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	at := now.UnixNano()
	w, held := s.m[k]
	if !held || at >= w.until {
		if !held && (len(s.m) >= localCounterMax/localCounterShards || now.Before(s.storeUntil)) {
			if end := now.Add(d); end.After(s.storeUntil) {
				s.storeUntil = end
			}
			return 0, false
		}
		w = window{until: now.Add(d).UnixNano()}
	}
	w.n++
	s.m[k] = w
	s.peak = max(s.peak, len(s.m))
	return w.n, true
}

// sweep drops ended windows, bounding memory to the active clients.
func (c *localCounter) sweep(now time.Time) {
	at := now.UnixNano()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, w := range s.m {
			if at >= w.until {
				delete(s.m, k)
			}
		}
		if len(s.m) == 0 && s.peak > shrinkAt {
			s.m, s.peak = map[counterKey]window{}, 0
		}
		s.mu.Unlock()
	}
}

// count counts one event against l: in memory under local (the
// counters' key: localCounter.key or keyBytes) when the counters are local
// (Config.LocalCounters) and hold it, else in the store under the key
// storeKey returns (called only then: it is a keyed hash). It returns the
// count so far.
func (e *Engine) count(ctx context.Context, local counterKey, storeKey func() string, l Limit) (int64, error) {
	if e.counters != nil {
		if n, ok := e.counters.incr(local, e.now(), l.Window); ok {
			return n, nil
		}
	}
	return e.store.Incr(ctx, storeKey(), l.Window)
}
