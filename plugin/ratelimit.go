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
type localCounter struct {
	seed   maphash.Seed
	shards [localCounterShards]counterShard
}

const (
	localCounterShards = 32
	// localCounterMax bounds the keys held at once (about 150 bytes
	// each: some 20 MiB when full).
	localCounterMax = 1 << 17
)

type counterShard struct {
	mu sync.Mutex
	m  map[string]*window
	// storeUntil: until then, keys new to the shard are counted in the
	// store (the shard was full less than their window ago).
	storeUntil time.Time
	peak       int // the most keys m held since it was made (see shrinkAt)
}

type window struct {
	n     int64
	until time.Time
}

func newLocalCounter() *localCounter {
	c := &localCounter{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]*window{}
	}
	return c
}

// incr counts one event for key in a window of length d starting at its
// first event, and returns the count so far. It reports false, having
// counted nothing, when the key is to be counted in the store instead (see
// localCounter).
func (c *localCounter) incr(key string, now time.Time, d time.Duration) (int64, bool) {
	s := &c.shards[maphash.String(c.seed, key)%localCounterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[key]
	if w == nil || !now.Before(w.until) {
		if w == nil && (len(s.m) >= localCounterMax/localCounterShards || now.Before(s.storeUntil)) {
			if end := now.Add(d); end.After(s.storeUntil) {
				s.storeUntil = end
			}
			return 0, false
		}
		w = &window{until: now.Add(d)}
		s.m[key] = w
		s.peak = max(s.peak, len(s.m))
	}
	w.n++
	return w.n, true
}

// sweep drops ended windows, bounding memory to the active clients.
func (c *localCounter) sweep(now time.Time) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, w := range s.m {
			if !now.Before(w.until) {
				delete(s.m, k)
			}
		}
		if len(s.m) == 0 && s.peak > shrinkAt {
			s.m, s.peak = map[string]*window{}, 0
		}
		s.mu.Unlock()
	}
}

// count counts one event against l: under local in memory when the
// counters are local (Config.LocalCounters) and hold it, else in the store
// under the key storeKey returns (called only then: it is a keyed hash).
// It returns the count so far.
func (e *Engine) count(ctx context.Context, local string, storeKey func() string, l Limit) (int64, error) {
	if e.counters != nil {
		if n, ok := e.counters.incr(local, e.now(), l.Window); ok {
			return n, nil
		}
	}
	return e.store.Incr(ctx, storeKey(), l.Window)
}
