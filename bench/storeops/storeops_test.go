// Package storeops benchmarks the store operations resetgate's requests
// make, on Badger and on Redis side by side, with the same code for both:
//
//	go test -run '^$' -bench . -benchtime 20000x ./bench/storeops/
//
// Operations (each serially, and from 8 goroutines per CPU like a server
// with many requests in flight):
//
//   - Put: a token-sized record (a 260-byte value under a 66-byte key)
//     with an owner index, as the engine stores a token;
//   - Get: of records put beforehand;
//   - Consume: of records put beforehand (atomic read-and-delete);
//   - Incr: a rate-limit counter, spread over 1024 keys (per-identifier
//     counters);
//   - IncrHot: one counter for every operation (the per-IP counter when
//     every request comes from one address, as in the bench).
//
// Badger: store/badger.Open with the module's options (store/badger's
// memory profile), in a temporary directory. Redis: store/redis.Open
// against RESETGATE_REDIS_URL (bench/run.sh starts one redis-server and
// runs redis-benchmark on it too), or else a throwaway server from
// store/redis/redistest. Each benchmark reports ops/s and the CPU time
// of this process per operation (for Redis: the client's, go-redis and the
// store); with BENCH_REDIS_PID set, also the redis-server's CPU per
// operation (server-cpu-ns/op).
//
// Use -benchtime Nx: a fixed count keeps the prefill of Get and Consume
// (N records, not timed) from being redone for every round of b.N.
package storeops

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/badger"
	"github.com/resetgate/resetgate/store/redis"
	"github.com/resetgate/resetgate/store/redis/redistest"
)

// value is about a token record's size: the JSON of a user, an
// identifier, a flow key and two times.
var value = []byte(strings.Repeat("v", 260))

// run numbers benchmark invocations so that keys never repeat across
// them (the Redis server is shared by all of them).
var run atomic.Int64

// key is a store key like the engine's: a prefix and 64 hex characters.
func key(prefix string, r, i int64) string {
	return fmt.Sprintf("%s/%016x%048x", prefix, r, i)
}

type backend struct {
	name string
	open func(b *testing.B) store.Store
	pid  int // the server process, for its CPU time; 0 if none
}

// backends lists the two backends; a throwaway redis-server, if one is
// needed, lives as long as parent.
func backends(parent *testing.B) []backend {
	redisURL := os.Getenv("RESETGATE_REDIS_URL")
	var srv *redistest.Server
	redisPID, _ := strconv.Atoi(os.Getenv("BENCH_REDIS_PID"))
	return []backend{
		{name: "badger", open: func(b *testing.B) store.Store {
			s, err := badger.Open(badger.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{name: "redis", pid: redisPID, open: func(b *testing.B) store.Store {
			url := redisURL
			if url == "" {
				if srv == nil {
					srv = redistest.Start(parent)
				}
				url = srv.URL()
			}
			s, err := redis.Open(context.Background(), redis.Options{URL: url})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

func BenchmarkStore(b *testing.B) {
	type op struct {
		name    string
		prefill bool
		fn      func(ctx context.Context, s store.Store, r, i int64) error
	}
	ops := []op{
		{"Put", false, func(ctx context.Context, s store.Store, r, i int64) error {
			return s.Put(ctx, key("t", r, i), value, time.Hour, key("u", r, i))
		}},
		{"Get", true, func(ctx context.Context, s store.Store, r, i int64) error {
			_, err := s.Get(ctx, key("t", r, i))
			return err
		}},
		{"Consume", true, func(ctx context.Context, s store.Store, r, i int64) error {
			_, err := s.Consume(ctx, key("t", r, i))
			return err
		}},
		{"Incr", false, func(ctx context.Context, s store.Store, r, i int64) error {
			_, err := s.Incr(ctx, key("ri", r, i%1024), time.Hour)
			return err
		}},
		{"IncrHot", false, func(ctx context.Context, s store.Store, r, i int64) error {
			_, err := s.Incr(ctx, key("rp", r, 0), time.Hour)
			return err
		}},
	}
	for _, be := range backends(b) {
		for _, o := range ops {
			for _, parallel := range []bool{false, true} {
				mode := "serial"
				if parallel {
					mode = "parallel"
				}
				b.Run(be.name+"/"+o.name+"/"+mode, func(b *testing.B) {
					s := be.open(b)
					ctx := context.Background()
					r := run.Add(1)
					if o.prefill {
						prefill(b, s, r)
					}
					var next atomic.Int64
					b.ReportAllocs()
					b.ResetTimer()
					cpu, srvCPU := processCPU(), pidCPU(be.pid)
					if parallel {
						b.SetParallelism(8)
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if err := o.fn(ctx, s, r, next.Add(1)-1); err != nil {
									b.Error(err)
									return
								}
							}
						})
					} else {
						for range b.N {
							if err := o.fn(ctx, s, r, next.Add(1)-1); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
					if d := processCPU() - cpu; d > 0 {
						b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
					}
					if be.pid != 0 {
						if d := pidCPU(be.pid) - srvCPU; d > 0 {
							b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "server-cpu-ns/op")
						}
					}
				})
			}
		}
	}
}

// prefill puts b.N records from 16 goroutines.
func prefill(b *testing.B, s store.Store, r int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := s.Put(context.Background(), key("t", r, i), value, time.Hour, key("u", r, i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// processCPU is this process's CPU time (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU is another process's CPU time, from /proc; 0 if unknown.
func pidCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / time.Duration(clockTicks)
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100
