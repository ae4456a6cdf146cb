// Command tokenmem measures the memory that open reset tokens cost in the
// Badger store: it opens a database with store/badger.Open (the options
// the module uses), puts -n token records with their owner index as the
// engine does when it issues a token, and reports its own memory:
//
//	tokenmem -dir /tmp/x/db -n 1000000 -c 16 -key "$BENCH_KEY" -samples /tmp/x/tokens.txt
//
// The records are real tokens for the server key -key: their store keys
// and values are what plugin/keyspace.go and plugin/records_token.go
// write (HKDF-SHA256 of the key, then "t/" + base64url of the first 16
// bytes of the HMAC of the token, owner "u/" + the same of the user id;
// the binary token record), so a Caddy started on the same directory with
// the same key accepts them; -samples receives a few of the tokens to
// check that with (GET <prefix>/tokens/{token}). If the engine changes
// its layout, the memory figures no longer match the engine's, and that
// check fails.
//
// It prints one line per phase for bench/run.sh:
//
//	MEM phase=open|loaded|settled|reopened rss_kb=… anon_kb=… file_kb=… hwm_kb=… heap_inuse_kb=… heap_sys_kb=… heap_released_kb=… go_sys_kb=… peak_heap_kb=…
//	LOAD n=… secs=… puts_per_s=…
//	DISK bytes=… alloc_bytes=… files=…
//	CHECK phase=… found=… of=…
//
// rss/anon/file are VmRSS, RssAnon and RssFile from /proc/self/status
// after runtime.GC and debug.FreeOSMemory (anon: heap, stacks and other
// private memory; file: pages of mapped files, Badger's mmapped tables and
// value log, and the binary, that are resident now: page cache the kernel
// may drop and read back, not memory the process holds on to). hwm is the
// peak RSS of the process so far; peak_anon and peak_heap the largest
// anonymous RSS and heap in use seen (sampled every 50 ms) since the
// database was opened (loaded, settled) or reopened (reopened). "loaded" is
// right after the last Put, with Badger's flushes and compactions still
// running; "settled" once the heap has stopped shrinking (at most -settle);
// "reopened" after Close and Open of the same directory and a settle, as a
// restarted server would be.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/resetgate/resetgate/store/badger"
)

// tokenRecord is plugin/records_token.go's encodeToken for a link token
// whose identifier is the user's e-mail address: version 1, flags (via
// link, identifier = e-mail), the expiry in Unix ns, then the user's id,
// e-mail, name, role and locale, each length-prefixed.
func tokenRecord(id, email, name, role, locale string, expires time.Time) []byte {
	b := []byte{1, 1 | 0x10}
	b = binary.AppendVarint(b, expires.UnixNano())
	for _, s := range [...]string{id, email, name, role, locale} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func main() {
	dir := flag.String("dir", "", "database directory (created)")
	n := flag.Int("n", 1_000_000, "tokens to put")
	conns := flag.Int("c", 16, "goroutines putting")
	key := flag.String("key", "", "the server key (≥ 32 characters) the tokens are for; default: a random one")
	ttl := flag.Duration("ttl", time.Hour, "the tokens' TTL")
	samples := flag.String("samples", "", "write a few of the tokens here, one a line")
	reopen := flag.Bool("reopen", true, "close the database, open it again and measure once more")
	settleMax := flag.Duration("settle", 10*time.Second, "wait at most this long for the heap to settle (compactions to end) before measuring")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the load here")
	heapProfile := flag.String("heapprofile", "", "write a heap profile here after the last phase")
	flag.Parse()
	if *dir == "" {
		fail(fmt.Errorf("-dir is required"))
	}
	secret := []byte(*key)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		secret = []byte(hex.EncodeToString(secret))
	}
	tokenKey, ownerKey := derive(secret, "token"), derive(secret, "owner")

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fail(err)
	}
	peak := startPeak()
	s, err := badger.Open(badger.Options{Dir: *dir})
	if err != nil {
		fail(err)
	}
	report("open", peak)

	// Put: token i is random; its user is b-<i>, so every token has its
	// own owner entry, as n users with one open reset each.
	var sample []string
	var mu sync.Mutex
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	now := time.Now()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
	}
	t0 := time.Now()
	for range *conns {
		wg.Go(func() {
			buf := make([]byte, 32)
			for i := next.Add(1) - 1; i < int64(*n); i = next.Add(1) - 1 {
				_, _ = rand.Read(buf)
				token := base64.RawURLEncoding.EncodeToString(buf)
				id := "b-" + strconv.FormatInt(i, 10)
				email := "known-" + strconv.FormatInt(i, 10) + "@bench.test"
				data := tokenRecord(id, email, "Bench Known", "user", "en", now.Add(*ttl))
				if err := s.Put(context.Background(), "t/"+mac(tokenKey, token), data, *ttl, "u/"+mac(ownerKey, id)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
				if i%(int64(*n)/20+1) == 0 {
					mu.Lock()
					sample = append(sample, token)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err, _ := firstErr.Load().(error); err != nil {
		fail(fmt.Errorf("put: %w", err))
	}
	fmt.Printf("LOAD n=%d secs=%.2f puts_per_s=%.0f\n", done.Load(), secs, float64(done.Load())/secs)
	// Right after the load, flushes and compactions are still running;
	// then again once they have ended (the steady state).
	report("loaded", peak)
	settle("loaded", *settleMax)
	report("settled", peak)
	check("loaded", s, tokenKey, sample)
	if *samples != "" {
		if err := os.WriteFile(*samples, []byte(strings.Join(sample, "\n")+"\n"), 0o600); err != nil {
			fail(err)
		}
	}
	if err := s.Close(); err != nil {
		fail(err)
	}
	disk(*dir)

	if *reopen {
		peak.reset()
		s, err = badger.Open(badger.Options{Dir: *dir})
		if err != nil {
			fail(err)
		}
		check("reopened", s, tokenKey, sample)
		settle("reopened", *settleMax)
		report("reopened", peak)
		writeHeap(*heapProfile)
		if err := s.Close(); err != nil {
			fail(err)
		}
	}
}

// settle waits until the heap in use, after a GC, stops shrinking (Badger's
// compactions, which the load or an open starts, hold table-building
// buffers until they end and for a few seconds after), at most max. It
// prints how long it waited:
//
//	SETTLE phase=… secs=… heap_inuse_kb=…
func settle(phase string, max time.Duration) {
	t0 := time.Now()
	var ms runtime.MemStats
	prev, stable := uint64(0), 0
	for time.Since(t0) < max {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		// Stable: within 1 MiB of the last reading, three times running.
		if prev != 0 && ms.HeapInuse <= prev+(1<<20) && ms.HeapInuse+(1<<20) >= prev {
			stable++
		} else {
			stable = 0
		}
		if stable >= 3 {
			break
		}
		prev = ms.HeapInuse
		time.Sleep(time.Second)
	}
	fmt.Printf("SETTLE phase=%s secs=%.1f heap_inuse_kb=%d\n", phase, time.Since(t0).Seconds(), ms.HeapInuse/1024)
}

// writeHeap writes a heap profile to path, if not empty.
func writeHeap(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

// check gets the sample tokens' records.
func check(phase string, s *badger.Store, tokenKey []byte, sample []string) {
	found := 0
	for _, t := range sample {
		if _, err := s.Get(context.Background(), "t/"+mac(tokenKey, t)); err == nil {
			found++
		}
	}
	fmt.Printf("CHECK phase=%s found=%d of=%d\n", phase, found, len(sample))
}

// derive is plugin/keys.go's deriveKeys for one purpose.
func derive(secret []byte, purpose string) []byte {
	out := make([]byte, 32)
	r := hkdf.New(sha256.New, secret, []byte("resetgate/v1"), []byte(purpose))
	if _, err := io.ReadFull(r, out); err != nil {
		panic(err)
	}
	return out
}

// mac is plugin/keys.go's shortMAC for one part.
func mac(key []byte, part string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(part))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// peakHeap samples the heap in use and the anonymous RSS every 50 ms.
type peakHeap struct {
	max, anon atomic.Uint64
}

func startPeak() *peakHeap {
	p := &peakHeap{}
	raise := func(v *atomic.Uint64, x uint64) {
		for {
			old := v.Load()
			if x <= old || v.CompareAndSwap(old, x) {
				return
			}
		}
	}
	go func() {
		var ms runtime.MemStats
		for range time.Tick(50 * time.Millisecond) {
			runtime.ReadMemStats(&ms)
			raise(&p.max, ms.HeapInuse)
			raise(&p.anon, procStatus()["RssAnon"])
		}
	}()
	return p
}

func (p *peakHeap) reset() { p.max.Store(0); p.anon.Store(0) }

func report(phase string, peak *peakHeap) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := procStatus()
	kb := func(b uint64) uint64 { return b / 1024 }
	fmt.Printf("MEM phase=%s rss_kb=%d anon_kb=%d file_kb=%d hwm_kb=%d peak_anon_kb=%d heap_inuse_kb=%d heap_sys_kb=%d heap_released_kb=%d go_sys_kb=%d peak_heap_kb=%d\n",
		phase, st["VmRSS"], st["RssAnon"], st["RssFile"]+st["RssShmem"], st["VmHWM"], max(peak.anon.Load(), st["RssAnon"]),
		kb(ms.HeapInuse), kb(ms.HeapSys), kb(ms.HeapReleased), kb(ms.Sys), kb(max(peak.max.Load(), ms.HeapInuse)))
}

// procStatus reads the kB figures of /proc/self/status.
func procStatus() map[string]uint64 {
	out := map[string]uint64{}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			v, _ := strconv.ParseUint(f[0], 10, 64)
			out[name] = v
		}
	}
	return out
}

// disk prints the database's size: apparent (file lengths) and allocated
// (blocks on disk; Badger's value log is preallocated sparsely).
func disk(dir string) {
	var size, alloc int64
	files := 0
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		files++
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			alloc += st.Blocks * 512
		}
		return nil
	})
	fmt.Printf("DISK bytes=%d alloc_bytes=%d files=%d\n", size, alloc, files)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tokenmem:", err)
	os.Exit(1)
}
