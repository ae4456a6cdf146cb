package plugin

import (
	"fmt"
	"runtime"
	"strconv"
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
				if _, ok := c.incr(c.key("203.0.113.7"), now, time.Minute); !ok {
					t.Error("a key of a counter far from full was refused")
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := c.incr(c.key("203.0.113.7"), now.Add(59*time.Second), time.Minute); n != 801 {
		t.Fatalf("count %d, want 801", n)
	}
	if n, _ := c.incr(c.key("203.0.113.7"), now.Add(time.Minute), time.Minute); n != 1 {
		t.Fatalf("a new window starts at 1, got %d", n)
	}
	for i := 0; i < 100; i++ {
		c.incr(c.key(fmt.Sprint("198.51.100.", i)), now, time.Second)
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

// A full counter refuses new keys (their callers count them in the store)
// and keeps counting the keys it holds; new keys stay refused until a
// window has passed since the last refusal, so that a key counted in the
// store is never counted again from zero in memory while its store window
// runs.
func TestLocalCounterBounded(t *testing.T) {
	c := newLocalCounter()
	now := time.Unix(1000, 0)
	held, refused := 0, ""
	for i := 0; refused == ""; i++ {
		key := fmt.Sprint("ident-", i)
		if _, ok := c.incr(c.key(key), now, time.Minute); ok {
			held++
		} else {
			refused = key
		}
		if i > 2*localCounterMax {
			t.Fatalf("the counter took %d keys without refusing one", i)
		}
	}
	if held > localCounterMax {
		t.Fatalf("the counter holds %d keys, more than its bound %d", held, localCounterMax)
	}
	if n, ok := c.incr(c.key("ident-0"), now.Add(time.Second), time.Minute); !ok || n != 2 {
		t.Fatalf("a held key counts on (got %d, %v), want 2", n, ok)
	}
	// The refused key's shard sweeps empty, but it stays refused for a
	// window after the refusal.
	c.sweep(now.Add(time.Minute))
	if _, ok := c.incr(c.key(refused), now.Add(59*time.Second), time.Minute); ok {
		t.Fatal("a refused key was taken within a window of its refusal")
	}
	if n, ok := c.incr(c.key(refused), now.Add(3*time.Minute), time.Minute); !ok || n != 1 {
		t.Fatalf("after the window the key is counted here from 1, got %d, %v", n, ok)
	}
}

// Once a flood's windows have ended, the counter gives back the room its
// maps grew to (a Go map keeps it when emptied key by key), and so does a
// walker's finished set once the tail passed its numbers.
func TestLocalCounterShrinksAfterFlood(t *testing.T) {
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	c := newLocalCounter()
	f := &finishedSet{m: map[int64]struct{}{}}
	now := time.Unix(1000, 0)
	base := heap()
	for i := range localCounterMax {
		c.incr(c.key("ident-"+strconv.Itoa(i)), now, time.Minute)
		f.add(int64(i + 1))
	}
	full := heap()
	if full-base < 8<<20 {
		t.Fatalf("the full counter and set hold %d KiB, want several MiB (the test measures nothing)", (full-base)>>10)
	}
	c.sweep(now.Add(time.Minute))
	f.prune(localCounterMax)
	after := heap()
	t.Logf("heap: %d KiB before, %d KiB full, %d KiB after the sweep", base>>10, full>>10, after>>10)
	if after > base+(full-base)/10 {
		t.Errorf("after the sweep the heap is %d KiB above where it started, full it was %d KiB above", (after-base)>>10, (full-base)>>10)
	}
	if n, ok := c.incr(c.key("ident-0"), now.Add(time.Minute), time.Minute); !ok || n != 1 {
		t.Fatalf("after the sweep a key counts from 1 again, got %d, %v", n, ok)
	}
	f.add(localCounterMax + 5)
	if !f.has(localCounterMax+5) || f.has(7) {
		t.Fatal("the finished set is wrong after shrinking")
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(f)
}

// keyBytes is the same key as key of the same bytes: the handler counts an
// address or identifier from a buffer, the background and the tests from a
// string. A nil counter (counters in the store) gives the zero key.
func TestLocalCounterKeyBytesIsKey(t *testing.T) {
	c := newLocalCounter()
	now := time.Unix(1000, 0)
	for i := 1; i <= 6; i++ {
		k := c.key("198.51.100.0/24")
		if i%2 == 1 {
			k = c.keyBytes([]byte("198.51.100.0/24"))
		}
		if n, _ := c.incr(k, now, time.Minute); n != int64(i) {
			t.Fatalf("count %d after %d events, alternating key and keyBytes", n, i)
		}
	}
	if n, _ := c.incr(c.keyBytes([]byte("198.51.100.0/25")), now, time.Minute); n != 1 {
		t.Fatalf("another key counted %d, want 1", n)
	}
	var none *localCounter
	if none.key("x") != (counterKey{}) || none.keyBytes([]byte("x")) != (counterKey{}) {
		t.Fatal("a nil counter gave a key")
	}
}
