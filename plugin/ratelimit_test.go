package plugin

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// The in-memory per-IP window counts exactly under concurrency, starts a
// fresh window once the old one ends, and sweeping forgets ended windows.
func TestLocalCounterWindow(t *testing.T) {
	c := newLocalCounter()
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				c.incr("203.0.113.7", now, time.Minute)
			}
		}()
	}
	wg.Wait()
	if n := c.incr("203.0.113.7", now.Add(59*time.Second), time.Minute); n != 801 {
		t.Fatalf("count %d, want 801", n)
	}
	if n := c.incr("203.0.113.7", now.Add(time.Minute), time.Minute); n != 1 {
		t.Fatalf("a new window starts at 1, got %d", n)
	}
	for i := 0; i < 100; i++ {
		c.incr(fmt.Sprint("198.51.100.", i), now, time.Second)
	}
	c.sweep(now.Add(2 * time.Second))
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].m)
	}
	if total != 1 {
		t.Fatalf("%d windows left after sweeping, want 1", total)
	}
}
