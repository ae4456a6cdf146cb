package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/redis/redistest"
	"github.com/resetgate/resetgate/store/storetest"
)

// prefixes hands out a fresh key prefix per store, so tests sharing a
// server never see each other's keys.
var prefixes atomic.Int64

func freshPrefix() string {
	return fmt.Sprintf("test%d:", prefixes.Add(1))
}

// openTest opens a Store and closes it when the test ends. An empty
// KeyPrefix gets a fresh one.
func openTest(t testing.TB, o Options) *Store {
	t.Helper()
	if o.KeyPrefix == "" {
		o.KeyPrefix = freshPrefix()
	}
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient is a plain go-redis client on the server, for looking behind
// the Store's back.
func rawClient(t testing.TB, rawURL string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{URL: srv.URL()})
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const password = "s3cret/pa:ss@word"
	srv := redistest.Start(t, redistest.WithPassword(password))
	ctx := t.Context()

	// The right password, percent-encoded in the URL.
	if !strings.Contains(srv.URL(), url.UserPassword("", password).String()) {
		t.Fatalf("URL %q does not carry the encoded password", srv.URL())
	}
	s := openTest(t, Options{URL: srv.URL()})
	if err := s.Put(ctx, "k", []byte("v"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}

	for name, u := range map[string]string{
		"wrong password": "redis://:" + url.PathEscape("not-the-"+password) + "@" + srv.Addr(),
		"wrong user":     "redis://nobody:" + url.PathEscape(password) + "@" + srv.Addr(),
		"no password":    "redis://" + srv.Addr(),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, Options{URL: u, DialTimeout: time.Second, ReadTimeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, secret := range []string{"pa:ss", "s3cret", url.PathEscape(password)} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows the password (%q)", msg, secret)
				}
			}
			if !strings.Contains(msg, srv.Addr()) {
				t.Errorf("error %q does not name the server %s", msg, srv.Addr())
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("error %v does not match ErrUnavailable", err)
			}
			t.Log(msg)
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for name, o := range map[string]Options{
		"no URL":           {},
		"bad port":         {URL: "redis://user:topsecret@127.0.0.1:notaport/0"},
		"bad scheme":       {URL: "http://user:topsecret@127.0.0.1:6379"},
		"bad database":     {URL: "redis://user:topsecret@127.0.0.1:6379/zero"},
		"unknown option":   {URL: "redis://user:topsecret@127.0.0.1:6379/0?colour=blue"},
		"max_retries":      {URL: "redis://user:topsecret@127.0.0.1:6379/0?max_retries=3"},
		"TLSConfig on tcp": {URL: "redis://user:topsecret@127.0.0.1:6379", TLSConfig: &tls.Config{}},
		"unparseable":      {URL: "redis://user:top secret@127.0.0.1:6379/%zz"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "top secret") {
				t.Errorf("error %q shows the password", err)
			}
			t.Log(err)
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want, password string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", ""},
		{"redis://user@host", "redis://user@host", ""},
		{"redis://:pw@host:1/2", "redis://:xxxxx@host:1/2", "pw"},
		{"rediss://user:p%40ss@host", "rediss://user:xxxxx@host", "p@ss"},
		// url.Parse refuses these: the fallback still hides the password.
		{"redis://user:top secret@host:x/%zz", "redis://user:xxxxx@host:x/%zz", "top secret"},
		{"redis://u:a@b@host:bad", "redis://u:xxxxx@host:bad", "a@b"},
	} {
		got, pw := redactURL(tc.in)
		if got != tc.want || pw != tc.password {
			t.Errorf("redactURL(%q) = %q, %q; want %q, %q", tc.in, got, pw, tc.want, tc.password)
		}
	}
}

func TestMilliseconds(t *testing.T) {
	for ttl, want := range map[time.Duration]string{
		time.Nanosecond:                    "1",
		time.Millisecond:                   "1",
		time.Millisecond + time.Nanosecond: "2",
		1500 * time.Microsecond:            "2",
		time.Second:                        "1000",
		time.Hour:                          "3600000",
	} {
		if got := milliseconds(ttl); got != want {
			t.Errorf("milliseconds(%v) = %s, want %s", ttl, got, want)
		}
	}
}

func TestDatabaseFromURL(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s3 := openTest(t, Options{URL: srv.URL() + "/3", KeyPrefix: DefaultKeyPrefix})
	s0 := openTest(t, Options{URL: srv.URL(), KeyPrefix: DefaultKeyPrefix})
	if err := s3.Put(ctx, "k", []byte("in db 3"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s0.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get from db 0 = %v, want ErrNotFound", err)
	}
	if n, err := rawClient(t, srv.URL()+"/3").Exists(ctx, "resetgate:k:k").Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS resetgate:k:k in db 3 = %d, %v; want 1", n, err)
	}
	if n, err := rawClient(t, srv.URL()).DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE of db 0 = %d, %v; want 0", n, err)
	}
}

func TestKeyPrefixIsolation(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	a := openTest(t, Options{URL: srv.URL(), KeyPrefix: "app-a:"})
	b := openTest(t, Options{URL: srv.URL(), KeyPrefix: "app-b:"})
	def := openTest(t, Options{URL: srv.URL(), KeyPrefix: DefaultKeyPrefix})
	for _, s := range []*Store{a, b, def} {
		if err := s.Put(ctx, "k", []byte(s.keyPrefix), time.Hour, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Incr(ctx, "n", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b, def} {
		got, err := s.Get(ctx, "k")
		if err != nil || string(got) != s.keyPrefix {
			t.Fatalf("%s Get = %q, %v; want its own value", s.keyPrefix, got, err)
		}
	}
	if n, err := a.DeleteOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("a.DeleteOwner = %d, %v; want 1", n, err)
	}
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Fatalf("b's key went with a's owner: %v", err)
	}
	if n, err := b.Incr(ctx, "n", time.Hour); err != nil || n != 2 {
		t.Fatalf("b.Incr = %d, %v; want 2 (its own counter)", n, err)
	}
	if _, err := b.Consume(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := def.Get(ctx, "k"); err != nil || string(got) != def.keyPrefix {
		t.Fatalf("default-prefix Get = %q, %v", got, err)
	}

	// The layout the package documentation describes.
	raw := rawClient(t, srv.URL())
	keys, err := raw.Keys(ctx, "resetgate:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"resetgate:k:k": true, "resetgate:k:n": true, "resetgate:o:alice": true}
	if len(keys) != len(want) {
		t.Fatalf("keys under the default prefix = %q, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected key %q", k)
		}
	}
}

// TestOwnerSets checks the owner index's upkeep: the set lives as long as
// the owner's longest-lived key, and keys leave it when they are consumed,
// deleted or put under another owner.
func TestOwnerSets(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.URL()})
	raw := rawClient(t, srv.URL())
	set := s.ownerPrefix + "alice"
	members := func() []string {
		t.Helper()
		m, err := raw.SMembers(ctx, set).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pttl := func() time.Duration {
		t.Helper()
		d, err := raw.PTTL(ctx, set).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	for key, ttl := range map[string]time.Duration{"a": time.Minute, "b": time.Hour, "c": time.Second, "d": time.Minute, "e": time.Minute} {
		if err := s.Put(ctx, key, []byte("v"), ttl, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if d := pttl(); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("owner set PTTL = %v, want about an hour (its longest key)", d)
	}
	if _, err := s.Consume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "d", []byte("v"), time.Minute, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "e", []byte("v"), time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if m := members(); len(m) != 1 || m[0] != "c" {
		t.Fatalf("alice's set = %q, want [c]", m)
	}
	// A CompareAndSwap and an Incr keep the owner.
	if ok, err := s.CompareAndSwap(ctx, "c", []byte("v"), []byte("7")); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	if n, err := s.Incr(ctx, "c", time.Hour); err != nil || n != 8 {
		t.Fatalf("Incr = %d, %v; want 8", n, err)
	}
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner = %d, %v; want 1", n, err)
	}
	if n, err := raw.Exists(ctx, set).Result(); err != nil || n != 0 {
		t.Fatalf("owner set still exists after DeleteOwner: %d, %v", n, err)
	}
	if got, err := s.Get(ctx, "d"); err != nil || string(got) != "v" {
		t.Fatalf("bob's key: %q, %v", got, err)
	}
}

// TestDeleteOwnerAfterExpiry: a key that expired stays listed in its
// owner's set; written again without that owner, it must not be swept by
// the old owner's DeleteOwner. (This is why values record their owner: an
// index of key names alone cannot tell.)
func TestDeleteOwnerAfterExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.URL()})
	for _, key := range []string{"put", "lease", "counter", "bob's"} {
		if err := s.Put(ctx, key, []byte("alice's"), 20*time.Millisecond, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	// A live key keeps alice's set alive.
	if err := s.Put(ctx, "live", []byte("v"), time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Put(ctx, "put", []byte("new"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.PutIfAbsent(ctx, "lease", []byte("new"), time.Hour); err != nil || !ok {
		t.Fatalf("PutIfAbsent = %v, %v", ok, err)
	}
	if _, err := s.Incr(ctx, "counter", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "bob's", []byte("new"), time.Hour, "bob"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner(alice) = %d, %v; want 1 (live only)", n, err)
	}
	for _, key := range []string{"put", "lease", "counter", "bob's"} {
		if _, err := s.Get(ctx, key); err != nil {
			t.Errorf("Get(%q) after alice's DeleteOwner: %v", key, err)
		}
	}
	if n, err := s.DeleteOwner(ctx, "bob"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner(bob) = %d, %v; want 1", n, err)
	}
}

// TestSharedAcrossStores: two Stores on one server with one prefix (two
// Caddy instances) share keys, and single use holds across them.
func TestSharedAcrossStores(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	a := openTest(t, Options{URL: srv.URL(), KeyPrefix: "shared:"})
	b := openTest(t, Options{URL: srv.URL(), KeyPrefix: "shared:"})
	stores := []*Store{a, b}
	for round := range 20 {
		key := fmt.Sprint("token", round)
		if err := a.Put(ctx, key, []byte("payload"), time.Hour, "alice"); err != nil {
			t.Fatal(err)
		}
		var winners atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				_, err := stores[i%2].Consume(ctx, key)
				switch {
				case err == nil:
					winners.Add(1)
				case !errors.Is(err, store.ErrNotFound):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Fatalf("round %d: %d winners across two Stores, want 1", round, n)
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := stores[i%2].Incr(ctx, "hits", time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := b.Incr(ctx, "hits", time.Hour); err != nil || n != 401 {
		t.Fatalf("Incr after 400 shared increments = %d, %v; want 401", n, err)
	}
}

func TestIncrNotCounter(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.URL()})
	for _, v := range []string{"abc", "", "1.5", "12345678901234567890", " 1"} {
		if err := s.Put(ctx, "k", []byte(v), time.Hour, ""); err != nil {
			t.Fatal(err)
		}
		_, err := s.Incr(ctx, "k", time.Hour)
		if !errors.Is(err, errNotCounter) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Incr on %q = %v, want errNotCounter (not ErrUnavailable)", v, err)
		}
	}
	if err := s.Put(ctx, "k", []byte("-3"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(ctx, "k", time.Hour); err != nil || n != -2 {
		t.Fatalf("Incr on -3 = %d, %v; want -2", n, err)
	}
	// A counter reads as its decimal text, as in store/badger.
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "-2" {
		t.Fatalf("Get(counter) = %q, %v; want -2", got, err)
	}
}

// TestForeignValue: a value the Store did not write (someone shared the
// prefix) is an error, not garbage handed to the caller.
func TestForeignValue(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.URL()})
	if err := rawClient(t, srv.URL()).Set(ctx, s.keyPrefix+"k", "\x05ab", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get = %v, want ErrUnavailable", err)
	}
	if _, err := s.CompareAndSwap(ctx, "k", []byte("ab"), []byte("cd")); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CompareAndSwap = %v, want ErrUnavailable", err)
	}
	if _, err := s.Incr(ctx, "k", time.Hour); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Incr = %v, want ErrUnavailable", err)
	}
}

// callAll runs every operation once and returns their errors by name.
func callAll(ctx context.Context, s *Store) map[string]error {
	errs := map[string]error{}
	errs["Put"] = s.Put(ctx, "k", []byte("v"), time.Hour, "alice")
	_, errs["PutIfAbsent"] = s.PutIfAbsent(ctx, "lease", []byte("v"), time.Hour)
	_, errs["Get"] = s.Get(ctx, "k")
	_, errs["CompareAndSwap"] = s.CompareAndSwap(ctx, "k", []byte("v"), []byte("w"))
	_, errs["Incr"] = s.Incr(ctx, "n", time.Hour)
	_, errs["Consume"] = s.Consume(ctx, "k")
	errs["Delete"] = s.Delete(ctx, "lease")
	_, errs["DeleteOwner"] = s.DeleteOwner(ctx, "alice")
	return errs
}

// TestServerDown stops the server under an open Store: every operation
// fails with ErrUnavailable within the timeouts, and once the server is
// back the same Store works again by itself.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	const timeout = 200 * time.Millisecond
	s := openTest(t, Options{URL: srv.URL(), DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolSize: 4})
	for name, err := range callAll(ctx, s) {
		if err != nil {
			t.Fatalf("%s with the server up: %v", name, err)
		}
	}

	srv.Stop()
	// Two dial attempts of DialTimeout each, a pause between, and slack.
	const bound = 2*timeout + 100*time.Millisecond + time.Second
	for round := range 3 {
		start := time.Now()
		errs := callAll(ctx, s)
		took := time.Since(start)
		for name, err := range errs {
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("round %d: %s with the server down = %v, want ErrUnavailable", round, name, err)
			}
		}
		if took > time.Duration(len(errs))*bound {
			t.Fatalf("round %d: %d operations with the server down took %v, want under %v each", round, len(errs), took, bound)
		}
	}
	_, err := s.Get(ctx, "k")
	t.Logf("with the server down: %v", err)

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Put(ctx, "probe", []byte("v"), time.Hour, "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Store did not recover within 10s of the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted server is empty; every operation works again.
	for name, err := range callAll(ctx, s) {
		if err != nil {
			t.Fatalf("%s after the restart: %v", name, err)
		}
	}
}

// TestRecoversAtOnce: after a restart, the very first operation on each
// pooled connection must not fail on a stale socket (the pool checks a
// connection's health before it hands it out).
func TestRecoversAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.URL(), PoolSize: 4})
	// Fill the pool with open connections.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Incr(ctx, "n", time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	srv.Restart()
	time.Sleep(100 * time.Millisecond) // let the old sockets' FINs arrive
	for i := range 20 {
		if n, err := s.Incr(ctx, "n", time.Hour); err != nil || n != int64(i+1) {
			t.Fatalf("Incr %d after restart = %d, %v", i, n, err)
		}
	}
}

// TestTimeout: a server that stops answering (CLIENT PAUSE) makes
// operations fail with ErrUnavailable after ReadTimeout, and a context
// deadline that comes sooner cuts the wait short.
func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	const timeout = 300 * time.Millisecond
	s := openTest(t, Options{URL: srv.URL(), ReadTimeout: timeout})
	if err := s.Put(ctx, "k", []byte("v"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if err := rawClient(t, srv.URL()).Do(ctx, "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Get(ctx, "k")
	took := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get on a paused server = %v, want ErrUnavailable", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Fatalf("Get on a paused server failed after %v, want about %v", took, timeout)
	}
	t.Logf("paused server: %v after %v", err, took)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = s.Consume(short, "k")
	took = time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Consume with a short deadline = %v, want ErrUnavailable", err)
	}
	if took > timeout {
		t.Fatalf("Consume with a 50ms deadline took %v", took)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithTLS(), redistest.WithPassword("tls-secret"))
	ctx := t.Context()
	s := openTest(t, Options{URL: srv.TLSURL() + "/1", TLSConfig: srv.ClientTLSConfig()})
	if err := s.Put(ctx, "k", []byte("over TLS"), time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Consume(ctx, "k"); err != nil || string(got) != "over TLS" {
		t.Fatalf("Consume = %q, %v", got, err)
	}

	// The system roots do not know the test CA.
	_, err := Open(ctx, Options{URL: srv.TLSURL(), DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Open without the CA = %v, want a certificate error", err)
	}
	if strings.Contains(err.Error(), "tls-secret") {
		t.Fatalf("error %q shows the password", err)
	}
	t.Log(err)
}

func TestDestruct(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openTest(t, Options{URL: srv.URL()})
	if err := s.Destruct(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after Destruct: %v", err)
	}
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get after Destruct = %v, want ErrUnavailable", err)
	}
}

// BenchmarkConsume measures Put+Consume pairs and bare Consumes (of
// prefilled keys), one caller at a time and from 8 goroutines per CPU,
// against a real redis-server on loopback: the figures are round trips.
// RESETGATE_REDIS_URL points it at a running server instead (as
// scripts/redis-test-server bench does, to set redis-benchmark's figures
// for the same server beside these). client-cpu-ns/op is this process's
// CPU per operation (go-redis and the store), not the server's.
func BenchmarkConsume(b *testing.B) {
	serverURL := os.Getenv("RESETGATE_REDIS_URL")
	if serverURL == "" {
		serverURL = redistest.Start(b).URL()
	}
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
		var i atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for n := i.Add(1) - 1; n < int64(b.N); n = i.Add(1) - 1 {
					if err := s.Put(b.Context(), keyOf(n), value, time.Hour, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	for _, bc := range []struct {
		name    string
		prefill bool
		op      func(*testing.B, *Store, func() int64)
	}{
		{"PutConsume", false, putConsume},
		{"Consume", true, consume},
	} {
		for _, parallel := range []bool{false, true} {
			name := bc.name + "/serial"
			if parallel {
				name = bc.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				s := openTest(b, Options{URL: serverURL})
				if bc.prefill {
					prefill(b, s)
				}
				var i atomic.Int64
				next := func() int64 { return i.Add(1) - 1 }
				b.ReportAllocs()
				b.ResetTimer()
				cpu := processCPU()
				if parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							bc.op(b, s, next)
						}
					})
				} else {
					for range b.N {
						bc.op(b, s, next)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "consumes/s")
				if cpu := processCPU() - cpu; cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "client-cpu-ns/op")
				}
			})
		}
	}
}
