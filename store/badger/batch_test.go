package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
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

// AwaitCommit waits for a commit and writes nothing of the caller's: alone
// it commits the store's marker (a batch, a new version of the marker),
// among Puts it shares their commit without a marker, and on a closed
// store it fails as a Put does.
func TestAwaitCommit(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	markerVersion := func() uint64 {
		t.Helper()
		var v uint64
		err := s.db.View(func(txn *badgerdb.Txn) error {
			item, err := txn.Get([]byte(pulseKey))
			if err != nil {
				return err
			}
			v = item.Version()
			return nil
		})
		if err != nil {
			t.Fatalf("reading the marker: %v", err)
		}
		return v
	}

	before := s.batch.batches.Load()
	if err := s.AwaitCommit(ctx); err != nil {
		t.Fatal(err)
	}
	first := markerVersion()
	if err := s.AwaitCommit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.batch.batches.Load() - before; got != 2 {
		t.Fatalf("two AwaitCommit calls alone: %d commits, want 2", got)
	}
	if second := markerVersion(); second <= first {
		t.Fatalf("the marker's version after the second call: %d, after the first %d: no commit", second, first)
	}
	if n, err := s.CountPrefix(ctx, ""); err != nil || n != 0 {
		t.Fatalf("callers' keys after AwaitCommit alone: %d, %v; want none", n, err)
	}

	// Among Puts: every call returns, every Put is there, and the calls
	// shared commits.
	const callers, each = 16, 20
	before = s.batch.batches.Load()
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var err error
				if c%2 == 0 {
					err = s.AwaitCommit(ctx)
				} else {
					err = s.Put(ctx, fmt.Sprintf("k-%d-%d", c, i), []byte("v"), time.Hour, "")
				}
				if err != nil {
					errs <- err
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
	if n, err := s.CountPrefix(ctx, ""); err != nil || n != callers/2*each {
		t.Fatalf("callers' keys after the mixed calls: %d, %v; want %d", n, err, callers/2*each)
	}
	if n := s.batch.batches.Load() - before; n >= callers*each {
		t.Errorf("%d commits for %d concurrent calls: none shared one", n, callers*each)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err, putErr := s.AwaitCommit(ctx), s.Put(ctx, "k", []byte("v"), time.Hour, ""); err == nil || !errors.Is(err, store.ErrUnavailable) != !errors.Is(putErr, store.ErrUnavailable) {
		t.Fatalf("on a closed store: AwaitCommit %v, Put %v; want the same kind of error", err, putErr)
	}
}

// BenchmarkAwaitCommit is the wait of a request over its limit
// (store.Committer) with nothing else written: 8 callers at once on 2
// cores, so that batches of waits alone commit the marker. cpu-ns/op is
// the process's CPU per wait, Badger's goroutines included; waits/batch
// how many waits shared one commit.
//
//	go test -run '^$' -bench AwaitCommit -benchtime 200000x -cpu 2 ./store/badger/
func BenchmarkAwaitCommit(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.SetParallelism(4)
	c0, n0 := processCPU(), s.batch.batches.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.AwaitCommit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/float64(s.batch.batches.Load()-n0), "waits/batch")
}

// Write stores its records (an owner's too, which DeleteOwner then finds)
// and removes its keys in one commit; a record it cannot take (a TTL of
// zero) fails the whole call before anything is written.
func TestWriteCommitsAsOne(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if err := s.Put(ctx, "gone", []byte("entry"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	before := s.batch.batches.Load()
	err := s.Write(ctx, []store.Record{
		{Key: "flow", Value: []byte("f"), TTL: time.Hour, Owner: "alice"},
		{Key: "token", Value: []byte("t"), TTL: time.Hour, Owner: "alice"},
		{Key: "revoke", Value: []byte("r"), TTL: time.Hour},
	}, []string{"gone", "never-there"})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.batch.batches.Load() - before; n != 1 {
		t.Errorf("Write took %d commits, want 1", n)
	}
	for key, want := range map[string]string{"flow": "f", "token": "t", "revoke": "r"} {
		if got, err := s.Get(ctx, key); err != nil || string(got) != want {
			t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(gone) after Write removed it: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 2 {
		t.Errorf("DeleteOwner(alice) = %d, %v; want 2 (flow and token)", n, err)
	}
	if _, err := s.Get(ctx, "revoke"); err != nil {
		t.Errorf("revoke, without an owner, went with alice's: %v", err)
	}

	if err := s.Put(ctx, "kept", []byte("k"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, []store.Record{{Key: "half", Value: []byte("h"), TTL: time.Hour}, {Key: "bad", Value: []byte("b")}}, []string{"kept"})
	if err == nil {
		t.Fatal("Write with a zero TTL: no error")
	}
	if _, err := s.Get(ctx, "half"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused Write stored a record: %v", err)
	}
	if got, err := s.Get(ctx, "kept"); err != nil || string(got) != "k" {
		t.Errorf("a refused Write removed a key: %q, %v", got, err)
	}
}
