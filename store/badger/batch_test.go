package badger

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Concurrent Puts share transactions, and each one is committed when it
// returns: every value is read back, every owner index entry is there
// (DeleteOwner removes exactly the owner's keys), and fewer transactions
// were committed than Puts. Values large enough that one batch is too big
// for a Badger transaction take the split path.
func TestPutsShareTransactions(t *testing.T) {
	for _, size := range []int{64, 48 << 10} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			s := openTest(t, Options{})
			ctx := context.Background()
			const writers, each = 32, 20
			value := func(w, i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%02d%03d", w, i)), size/5+1)[:size] }
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						key := fmt.Sprintf("k-%d-%d", w, i)
						if err := s.Put(ctx, key, value(w, i), time.Hour, fmt.Sprintf("owner-%d", w%2)); err != nil {
							errs <- fmt.Errorf("put %s: %w", key, err)
							return
						}
						// Committed on return: read back at once.
						if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, value(w, i)) {
							errs <- fmt.Errorf("get %s right after its put: %d bytes, %v", key, len(got), err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := s.batch.batches.Load(); n >= writers*each {
				t.Errorf("%d batches for %d concurrent puts: none shared a transaction", n, writers*each)
			} else {
				t.Logf("%d puts in %d batches", writers*each, n)
			}
			if _, err := s.DeleteOwner(ctx, "owner-0"); err != nil {
				t.Fatal(err)
			}
			for w := 0; w < writers; w++ {
				for i := 0; i < each; i++ {
					_, err := s.Get(ctx, fmt.Sprintf("k-%d-%d", w, i))
					if gone := err != nil; gone != (w%2 == 0) {
						t.Fatalf("k-%d-%d after DeleteOwner(owner-0): %v", w, i, err)
					}
				}
			}
		})
	}
}
