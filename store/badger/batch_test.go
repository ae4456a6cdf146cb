package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/resetgate/resetgate/store"
)

// Concurrent Puts share transactions, and each one is committed when it
// returns: every value is read back, every owner index entry is there
// (DeleteOwner removes exactly the owner's keys), and fewer transactions
// were committed than Puts. Values large enough that one batch is too big
// for a Badger transaction take the split path in memory, and the
// applier's transactions of part of a batch on disk (journal.go).
func TestPutsShareTransactions(t *testing.T) {
	for _, c := range []struct {
		size   int
		memory bool
	}{{64, false}, {48 << 10, false}, {64, true}, {48 << 10, true}} {
		t.Run(fmt.Sprintf("%dB memory=%v", c.size, c.memory), func(t *testing.T) {
			size := c.size
			s := openTest(t, Options{InMemory: c.memory})
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
	t.Run("journal", func(t *testing.T) { testAwaitCommit(t, Options{}) })
	t.Run("in memory", func(t *testing.T) { testAwaitCommit(t, Options{InMemory: true}) })
}

// testAwaitCommit: AwaitCommit alone writes a marker (on disk a journal
// record, in memory Badger's pulse key), and shares commits with Puts.
func testAwaitCommit(t *testing.T, opts Options) {
	s := openTest(t, opts)
	ctx := context.Background()
	markerVersion := func() uint64 {
		t.Helper()
		if s.j != nil {
			s.j.mu.Lock()
			defer s.j.mu.Unlock()
			return s.j.seq
		}
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
	if s.j != nil {
		// A journal's commit is one write(2), over before most calls
		// start: hold the first for a moment, as a slow disk would.
		s.j.fileMu.Lock()
		go func() {
			time.Sleep(20 * time.Millisecond)
			s.j.fileMu.Unlock()
		}()
	}
	runCallers(t, callers, each, func(c, i int) error {
		if c%2 == 0 {
			return s.AwaitCommit(ctx)
		}
		return s.Put(ctx, fmt.Sprintf("k-%d-%d", c, i), []byte("v"), time.Hour, "")
	})
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

// A leader yields before it takes its batch, so that calls already
// runnable join it: with one thread (GOMAXPROCS 1) and eight calls started
// together, the first leads, yields, and the other seven queue behind it:
// one commit for all eight. Without the yield the first commits alone
// while the others queue, and a second commit takes them. Each kind of
// call has three tries: a leader yields only when calls came together
// lately (a call found a commit under way; not so on the first try), and the
// scheduler now and then runs the yielding leader again before the others
// (every 61st time it picks a goroutine).
func TestLeaderLetsRunnableCallsJoin(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const callers = 8
	together := func(kind string, try int) int64 {
		// Calls came together lately: on disk a commit is one write(2),
		// which does not give the thread to the other callers, so none
		// of them would find one under way.
		s.batch.mu.Lock()
		s.batch.gate.queuedAt = time.Now()
		s.batch.mu.Unlock()
		before := s.batch.batches.Load()
		runCallers(t, callers, 1, func(c, _ int) error {
			if kind == "waits" {
				return s.AwaitCommit(ctx)
			}
			return s.Put(ctx, fmt.Sprintf("join-%d-%d", try, c), []byte("v"), time.Hour, "")
		})
		return s.batch.batches.Load() - before
	}
	for _, kind := range []string{"waits", "puts"} {
		var commits []int64
		for try := range 3 {
			n := together(kind, try)
			if commits = append(commits, n); n == 1 {
				break
			}
		}
		if commits[len(commits)-1] != 1 {
			t.Errorf("%d %s started together on one thread, three times: %v commits, want 1 at least once", callers, kind, commits)
		}
	}
}

// A yield puts the leader behind goroutines that compute, each for up to
// 10 ms, so leaders yield only while calls come together, and slow yields
// (4 of the last 32) pause the yields (for a second, then two, four…).
// With four goroutines spinning on the cores: calls one at a time never
// yield; eight callers at once for 1.5 s meet a few slow yields (four at
// the start, four after the first pause; at most 16 is asked), where
// yielding at every commit meets one at nearly every commit (about 40 in
// 1.5 s).
func TestLeaderYieldsStopBehindBusyGoroutines(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	var stop atomic.Bool
	var spinners sync.WaitGroup
	for range 4 {
		spinners.Add(1)
		go func() {
			defer spinners.Done()
			x := 0
			for !stop.Load() {
				for i := range 1000 {
					x += i * i
				}
			}
			_ = x
		}()
	}
	defer spinners.Wait()
	defer stop.Store(true)

	for range 50 {
		if err := s.AwaitCommit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.batch.slow.Load(); n != 0 {
		t.Fatalf("50 calls one at a time beside busy goroutines: %d slow yields, want none (no yield at all)", n)
	}

	end := time.Now().Add(1500 * time.Millisecond)
	before := s.batch.batches.Load()
	runCallers(t, 8, math.MaxInt, func(int, int) error {
		if time.Now().After(end) {
			return errCallerDone
		}
		return s.AwaitCommit(ctx)
	})
	commits := s.batch.batches.Load() - before
	if n := s.batch.slow.Load(); n > 16 {
		t.Errorf("8 callers for 1.5 s beside busy goroutines: %d slow yields in %d commits, want at most 16", n, commits)
	} else {
		t.Logf("%d slow yields in %d commits", n, commits)
	}
}

// The yield gate: leaders yield only within togetherWindow of a call that
// found a commit under way; 4 slow yields of the last 32 pause the yields
// for a second, the next 4 after the pause for two, then four, up to a
// minute; 256 fast yields in a row bring the pause back to a second, and
// slow yields further apart than 32 never pause them.
func TestYieldGate(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var g yieldGate
	if g.open(t0) {
		t.Fatal("open before any call queued")
	}
	g.queuedAt = t0
	if !g.open(t0.Add(togetherWindow)) || g.open(t0.Add(togetherWindow+time.Nanosecond)) {
		t.Fatal("open should last togetherWindow after a call queued")
	}
	slow, fast := 2*slowYield, slowYield
	now := t0
	yield := func(d time.Duration, times int) {
		for range times {
			now = now.Add(d)
			g.queuedAt = now
			g.yielded(now, d)
		}
	}
	pausedFor := func() time.Duration {
		if g.open(now) {
			return 0
		}
		return g.from.Sub(now)
	}
	// Slow yields 32 apart: never four among the last 32.
	for range 10 {
		yield(slow, 1)
		yield(fast, 31)
	}
	if p := pausedFor(); p != 0 {
		t.Fatalf("one slow yield in 32, ten times: paused for %v", p)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		yield(slow, 3)
		if p := pausedFor(); p != 0 {
			t.Fatalf("pause %d: paused after 3 slow yields (%v)", i+1, p)
		}
		yield(slow, 1)
		if p := pausedFor(); p != want {
			t.Fatalf("pause %d: paused for %v, want %v", i+1, p, want)
		}
		now = g.from
	}
	yield(fast, fastYields-1)
	yield(slow, 4)
	if p := pausedFor(); p != 8*time.Second {
		t.Fatalf("after %d fast yields: paused for %v, want 8s (not reset yet)", fastYields-1, p)
	}
	now = g.from
	yield(fast, fastYields)
	yield(slow, 4)
	if p := pausedFor(); p != time.Second {
		t.Fatalf("after %d fast yields: paused for %v, want 1s", fastYields, p)
	}
	for range 10 {
		now = g.from
		yield(slow, 4)
	}
	if p := pausedFor(); p != maxYieldPause {
		t.Fatalf("after many pauses: paused for %v, want %v", p, maxYieldPause)
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

// BenchmarkBadgerCommit is the floor under the batcher: the marker's
// transaction that a batch of waits alone commits (batcher.try), one after
// another from one goroutine, without the batcher's queue and hand-offs.
// cpu-ns/op is the process's CPU per commit, Badger's goroutines included
// (the watermark goroutine, the write goroutine and the goroutine it
// starts per write): what a batch's commit costs however many calls share
// it. BenchmarkAwaitCommit's cpu-ns/op times its waits/batch comes to
// about this.
//
//	go test -run '^$' -bench BadgerCommit -benchtime 100000x -cpu 2 ./store/badger/
func BenchmarkBadgerCommit(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c0 := processCPU()
	b.ResetTimer()
	for range b.N {
		// A batch of waits alone: the marker's transaction (batcher.try).
		if _, err := s.batch.try(nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
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

// Increments share commits with each other and with Puts, and still count
// exactly: a hot counter's increments, some in one batch, return every
// value from 1 to their number once; a counter per caller ends at its
// caller's calls; a key that holds no counter fails its own increment
// alone; and fewer transactions were committed than calls.
func TestIncrementsShareTransactions(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if err := s.Put(ctx, "not-a-counter", []byte("v"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	const callers, each = 16, 50
	before := s.batch.batches.Load()
	hot := make(chan int64, callers*each)
	runCallers(t, callers, each, func(c, i int) error {
		switch i % 5 {
		case 0:
			return s.Put(ctx, fmt.Sprintf("k-%d-%d", c, i), []byte("v"), time.Hour, "")
		case 1:
			_, err := s.Add(ctx, fmt.Sprintf("own-%d", c), 2, time.Hour)
			return err
		case 2:
			if _, err := s.Incr(ctx, "not-a-counter", time.Hour); !errors.Is(err, errNotCounter) {
				return fmt.Errorf("Incr of a key that holds no counter: %v, want errNotCounter", err)
			}
			return nil
		default:
			n, err := s.Incr(ctx, "hot", time.Hour)
			hot <- n
			return err
		}
	})
	close(hot)
	const hotCalls = callers * each * 2 / 5
	seen := make(map[int64]bool, hotCalls)
	for n := range hot {
		if n < 1 || n > hotCalls || seen[n] {
			t.Fatalf("the hot counter returned %d (twice, or outside 1..%d)", n, hotCalls)
		}
		seen[n] = true
	}
	if got, err := s.Get(ctx, "hot"); err != nil || string(got) != fmt.Sprint(hotCalls) {
		t.Fatalf("the hot counter holds %q, %v; want %d", got, err, hotCalls)
	}
	for c := 0; c < callers; c++ {
		if got, err := s.Get(ctx, fmt.Sprintf("own-%d", c)); err != nil || string(got) != fmt.Sprint(each/5*2) {
			t.Fatalf("caller %d's counter holds %q, %v; want %d", c, got, err, each/5*2)
		}
	}
	if got, err := s.Get(ctx, "not-a-counter"); err != nil || string(got) != "v" {
		t.Fatalf("the key that holds no counter now holds %q, %v", got, err)
	}
	if n := s.batch.batches.Load() - before; n >= callers*each {
		t.Errorf("%d commits for %d concurrent calls: none shared one", n, callers*each)
	} else {
		t.Logf("%d calls in %d batches", callers*each, n)
	}
}

// A batch that holds an increment reads its counter, so a write to the
// counter outside the batcher (CompareAndSwap, here of the value to
// itself) between that read and the batch's commit is a conflict: the
// batch is tried again, and no increment is lost, fails or is counted
// twice.
func TestIncrementConflictsAreRetried(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	const callers, each = 8, 100
	done := make(chan struct{})
	var swapper sync.WaitGroup
	swaps := 0
	stop := sync.OnceFunc(func() { close(done); swapper.Wait() })
	defer stop() // a failed caller ends the test: end the swaps first
	swapper.Add(1)
	go func() {
		defer swapper.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			v, err := s.Get(ctx, "c")
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			if ok, err := s.CompareAndSwap(ctx, "c", v, v); err != nil {
				t.Error(err)
				return
			} else if ok {
				swaps++
			}
		}
	}()
	runCallers(t, callers, each, func(int, int) error {
		if _, err := s.Incr(ctx, "c", time.Hour); err != nil {
			return fmt.Errorf("an increment beside writes of its counter: %w", err)
		}
		return nil
	})
	stop()
	t.Logf("%d swaps of the counter meanwhile", swaps)
	if got, err := s.Get(ctx, "c"); err != nil || string(got) != fmt.Sprint(callers*each) {
		t.Fatalf("the counter holds %q, %v; want %d", got, err, callers*each)
	}
}

// errCallerDone stops a caller of runCallers without an error.
var errCallerDone = errors.New("caller done")

// runCallers calls fn(c, i) for i in [0, each) from each of callers
// goroutines at once, and fails t with the first error a caller met (a
// caller stops at its first; errCallerDone stops it and is no error).
func runCallers(t *testing.T, callers, each int, fn func(c, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := fn(c, i); err != nil {
					if !errors.Is(err, errCallerDone) {
						errs <- err
					}
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
}
