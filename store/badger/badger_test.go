package badger

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/storetest"
)

// openTest opens a Store in a fresh directory and closes it when the test
// ends.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if !opts.InMemory && opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}

func TestConformanceInMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{InMemory: true})
	})
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "token", []byte("payload"), time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "counter", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "token")
	if err != nil || string(got) != "payload" {
		t.Fatalf("Get after reopen = %q, %v; want payload", got, err)
	}
	if n, err := s.Incr(ctx, "counter", time.Hour); err != nil || n != 2 {
		t.Fatalf("Incr after reopen = %d, %v; want 2", n, err)
	}
	// The owner index survived too.
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner after reopen = %d, %v; want 1", n, err)
	}
}

// TestSecondOpenFails pins why the Caddy module shares one Store per
// directory through a caddy.UsagePool: Caddy provisions a new config
// before it cleans up the old one, and Badger refuses a second Open of a
// directory that is open (its lock file), so opening in Provision would
// break every reload.
func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(Options{Dir: dir})
	if err == nil {
		second.Close()
		first.Close()
		t.Fatal("second Open of an open directory succeeded")
	}
	t.Logf("second Open: %v", err)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

func TestOpenRefusesBadOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := Open(Options{Dir: t.TempDir(), InMemory: true}); err == nil {
		t.Error("Open with Dir and InMemory succeeded")
	}
}

func TestIncrRefusesNonCounter(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	ctx := t.Context()
	if err := s.Put(ctx, "k", []byte("not a number"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.Incr(ctx, "k", time.Hour)
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Incr on a non-counter = %v, want a non-ErrUnavailable error", err)
	}
	// A counter reads as its decimal text.
	for range 3 {
		if _, err := s.Incr(ctx, "n", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(ctx, "n"); err != nil || string(got) != "3" {
		t.Fatalf("Get(counter) = %q, %v; want \"3\"", got, err)
	}
}

func TestErrorsAfterCloseMatchBadger(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	s.Close()
	_, err := s.Get(t.Context(), "k")
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, badgerdb.ErrDBClosed) {
		t.Fatalf("Get after Close = %v, want it to match ErrUnavailable and badger.ErrDBClosed", err)
	}
}

// TestLoggerRoutesToZap checks that Badger's lines reach the zap logger,
// its chatty info lines at Debug only.
func TestLoggerRoutesToZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := openTest(t, Options{Logger: zap.New(core)})
	if err := s.Put(t.Context(), "k", []byte("v"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if logs.FilterLevelExact(zapcore.DebugLevel).Len() == 0 {
		t.Fatal("no Badger lines logged at Debug")
	}
	for _, e := range logs.All() {
		if e.Level != zapcore.DebugLevel {
			t.Errorf("Badger line at %v: %q", e.Level, e.Message)
		}
		if strings.HasSuffix(e.Message, "\n") {
			t.Errorf("message keeps its newline: %q", e.Message)
		}
	}
}

// TestGCLoopStops runs the value-log GC often while values are written
// and deleted, and checks that it reports nothing and that Close ends it.
func TestGCLoopStops(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s := openTest(t, Options{Logger: zap.New(core), GCInterval: 5 * time.Millisecond})
	ctx := t.Context()
	big := make([]byte, valueThreshold+1) // goes to the value log
	for i := range 50 {
		key := fmt.Sprint("k", i)
		if err := s.Put(ctx, key, big, time.Hour, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, e := range logs.All() {
		t.Errorf("logged at %v: %q %v", e.Level, e.Message, e.ContextMap())
	}
}

// heapAfter reports how much the live heap grew across open, after a GC on
// both sides. The value returned by open is kept alive until measured.
func heapAfter(t *testing.T, open func() (func() error, error)) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	closeFn, err := open()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestOpenHeap measures the heap an open, empty database holds, with this
// package's memory profile and with Badger's defaults, and keeps the
// profile from growing back unnoticed.
func TestOpenHeap(t *testing.T) {
	const mib = 1 << 20
	tuned := heapAfter(t, func() (func() error, error) {
		s, err := Open(Options{Dir: t.TempDir()})
		if err != nil {
			return nil, err
		}
		return s.Close, nil
	})
	defaults := heapAfter(t, func() (func() error, error) {
		db, err := badgerdb.Open(badgerdb.DefaultOptions(t.TempDir()).WithLogger(nil))
		if err != nil {
			return nil, err
		}
		return db.Close, nil
	})
	t.Logf("heap after Open: %.1f MiB (Badger defaults: %.1f MiB)", float64(tuned)/mib, float64(defaults)/mib)
	if tuned > 12*mib {
		t.Errorf("heap after Open is %.1f MiB, want under 12 MiB", float64(tuned)/mib)
	}
}

// BenchmarkConsume measures single-use tokens: "PutConsume" issues a token
// and consumes it (two transactions per op), "Consume" consumes tokens put
// beforehand. Each runs serially and under b.RunParallel with 8 goroutines
// per CPU, like a server with many requests in flight (Badger batches
// concurrent commits into one write).
func BenchmarkConsume(b *testing.B) {
	value := make([]byte, 96) // about a token record's size
	keyOf := func(i int64) string { return fmt.Sprintf("%032x", i) }

	putConsume := func(b *testing.B, s *Store, next func() int64) {
		ctx := b.Context()
		key := keyOf(next())
		if err := s.Put(ctx, key, value, time.Hour, ""); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Consume(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
	consume := func(b *testing.B, s *Store, next func() int64) {
		if _, err := s.Consume(b.Context(), keyOf(next())); err != nil {
			b.Fatal(err)
		}
	}
	prefill := func(b *testing.B, s *Store) {
		ctx := b.Context()
		for i := range int64(b.N) {
			if err := s.Put(ctx, keyOf(i), value, time.Hour, ""); err != nil {
				b.Fatal(err)
			}
		}
	}

	for _, bc := range []struct {
		name    string
		prefill bool
		op      func(*testing.B, *Store, func() int64)
	}{
		{"PutConsume", false, putConsume},
		{"Consume", true, consume},
	} {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			s := openTest(b, Options{})
			if bc.prefill {
				prefill(b, s)
			}
			var i atomic.Int64
			next := func() int64 { return i.Add(1) - 1 }
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for range b.N {
				bc.op(b, s, next)
			}
			reportConsumes(b, cpu)
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			s := openTest(b, Options{})
			if bc.prefill {
				prefill(b, s)
			}
			var i atomic.Int64
			next := func() int64 { return i.Add(1) - 1 }
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bc.op(b, s, next)
				}
			})
			reportConsumes(b, cpu)
		})
	}
}

// reportConsumes reports the throughput, and the CPU time per consume
// (all of the process's goroutines, Badger's included) since cpuStart. The
// CPU figure holds steadier than the throughput when other work shares
// the machine: 2 cores / cpu-ns/op bounds the throughput from above.
func reportConsumes(b *testing.B, cpuStart time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "consumes/s")
	if cpu := processCPU() - cpuStart; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
