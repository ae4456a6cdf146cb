package badger

import (
	"sync"
	"sync/atomic"
	"testing"
)

// A lease has one holder at a time, among concurrent callers too, and is
// free again once given back; giving it back twice frees nothing else.
func TestTryLockOneHolder(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, ok := s.TryLock("a")
	if !ok {
		t.Fatal("a free lease was refused")
	}
	if _, ok := s.TryLock("a"); ok {
		t.Fatal("a held lease was taken again")
	}
	unlockB, ok := s.TryLock("b")
	if !ok {
		t.Fatal("another key's lease was refused")
	}
	unlock()
	unlock()
	again, ok := s.TryLock("a")
	if !ok {
		t.Fatal("a given-back lease was refused")
	}
	unlock() // the first holder's, again: must not free the second's
	if _, ok := s.TryLock("a"); ok {
		t.Fatal("a stale unlock freed the new holder's lease")
	}
	again()
	unlockB()

	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := s.TryLock("c"); ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent callers won the lease, want 1", wins.Load())
	}
}
