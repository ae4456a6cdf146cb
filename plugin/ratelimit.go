package plugin

import (
	"hash/maphash"
	"sync"
	"time"
)

// localCounter is a fixed-window counter kept in memory, for the per-IP
// limit when one process owns the store (Badger): it takes the only store
// write off the request path. With a shared store (Redis) the counter stays
// in the store so that every instance counts together.
type localCounter struct {
	seed   maphash.Seed
	shards [32]counterShard
}

type counterShard struct {
	mu sync.Mutex
	m  map[string]*window
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
// first event, and returns the count so far.
func (c *localCounter) incr(key string, now time.Time, d time.Duration) int64 {
	s := &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[key]
	if w == nil || !now.Before(w.until) {
		w = &window{until: now.Add(d)}
		s.m[key] = w
	}
	w.n++
	return w.n
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
		s.mu.Unlock()
	}
}
