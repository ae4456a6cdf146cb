// Package bench holds resetgate's benchmark tools (run.sh and its helper
// commands) and in-process benchmarks of the request path, which show
// where a request's CPU goes without HTTP, wrk or Caddy around it:
//
//	go test -run '^$' -bench . -benchtime 2s ./bench/
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/webhook"
	"github.com/resetgate/resetgate/store/badger"
)

// upstream answers lookups like bench/upstream: an identifier that starts
// with "known" is an account of its own (its id and address the
// identifier), anything else is not.
func upstream(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Identifier string `json:"identifier"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(in.Identifier, "known") {
			_ = json.NewEncoder(w).Encode(map[string]string{"id": in.Identifier, "email": in.Identifier})
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not found"}`))
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func openStore(tb testing.TB) *badger.Store {
	st, err := badger.Open(badger.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// newEngine builds an engine as the bench Caddyfile does: per_ip limit
// effectively off (counted in memory, as the Caddy module does on Badger),
// per_identifier 3 per 15 minutes, no mail.
func newEngine(tb testing.TB, tweaks ...func(*plugin.Config)) *plugin.Engine {
	up := upstream(tb)
	cl := &webhook.Client{UserAgent: "resetgate"}
	cfg := plugin.Config{
		BaseURL:       "http://localhost:8080",
		Key:           []byte(strings.Repeat("k", 48)),
		Lookup:        plugin.Hook{URL: up.URL + "/internal/users/lookup", Client: cl},
		Update:        plugin.Hook{URL: up.URL + "/internal/users/password", Client: cl},
		PerIP:         plugin.Limit{Count: 100_000_000, Window: time.Minute},
		PerIdentifier: plugin.Limit{Count: 3, Window: 15 * time.Minute},
		LocalCounters: true,
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	e, err := plugin.New(cfg, openStore(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	e.Start()
	tb.Cleanup(e.Stop)
	return e
}

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: the process's CPU time per op since start,
// background goroutines included. Unlike ns/op it does not grow when other
// processes take the cores, nor when ops wait on each other.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRequestHandler is POST /password-reset/request through the
// engine's handler, from one client address (as wrk on loopback is): the
// JSON decoding, the per-IP counter, the flow id and the 202 answer. The
// background workers run meanwhile, so under RunParallel their share of
// the CPU shows in ns/op too.
func BenchmarkRequestHandler(b *testing.B) {
	for _, ident := range []string{"known@bench.test", "nobody@bench.test"} {
		body := `{"identifier":"` + ident + `"}`
		b.Run(strings.Split(ident, "@")[0], func(b *testing.B) {
			e := newEngine(b)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { reportCPU(b, cpu0) }()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					postRequest(b, e, body)
				}
			})
		})
	}
}

// BenchmarkRequestFresh is POST /password-reset/request with a fresh
// identifier every time (bench/run.sh's open8var row), handler and
// background together: the timer stops once every mail has arrived
// (known-mail) and Stop has drained the queue, so cpu-ns/op is all
// the CPU one request costs, the upstream's side of the lookup (in this
// process) included.
//   - nobody: nobody-N, unknown: a decoy flow.
//   - known: known-N, an account each: a flow, a link token and a revoke
//     record, no mail sender.
//   - known-mail: the same and its reset mail, through mailer.SMTP to a
//     mailbox on loopback in this process (its side of SMTP included), as
//     the first thousand known requests of the bench (the mail budget)
//     are.
func BenchmarkRequestFresh(b *testing.B) {
	for _, c := range []struct{ name, who string }{{"nobody", "nobody"}, {"known", "known"}, {"known-mail", "known"}} {
		b.Run(c.name, func(b *testing.B) {
			var got atomic.Int64
			var mail mailer.Sender
			if c.name == "known-mail" {
				mb, err := mailbox.Start(mailbox.Options{MaxMessages: 1, OnMessage: func(mailbox.Mail) { got.Add(1) }})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = mb.Close() })
				if mail, err = mailer.NewSMTP(mailer.SMTPConfig{Addr: mb.Addr(), From: "no-reply@bench.test", TLS: "none"}); err != nil {
					b.Fatal(err)
				}
			}
			// A queue that holds every request, so that Stop drains them
			// all (a full queue leaves requests to the walker).
			e := newEngine(b, func(cfg *plugin.Config) {
				cfg.MailBudget = plugin.Limit{Count: 100_000_000, Window: time.Hour}
				cfg.QueueSize = b.N + 1
				cfg.Mail = mail
			})
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					postRequest(b, e, fmt.Sprintf(`{"identifier":"%s-%d@bench.test"}`, c.who, n.Add(1)))
				}
			})
			if mail != nil { // the outbox stops with the engine: wait first
				for deadline := time.Now().Add(time.Minute); got.Load() < int64(b.N); time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d mails arrived", got.Load(), b.N)
					}
				}
			}
			e.Stop()
			b.StopTimer()
			reportCPU(b, cpu0)
		})
	}
}

// postRequest sends body to the engine's request route as wrk on loopback
// would and fails b unless it is answered 202.
func postRequest(b *testing.B, e *plugin.Engine, body string) {
	r := httptest.NewRequest(http.MethodPost, "/password-reset/request", strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// BenchmarkHotCounter is the store operation every request makes inline:
// Incr on the one per-IP counter all loopback requests share.
func BenchmarkHotCounter(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			st := openStore(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { reportCPU(b, cpu0) }()
			if mode == "serial" {
				for range b.N {
					if _, err := st.Incr(ctx, "rp/hot", time.Minute); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := st.Incr(ctx, "rp/hot", time.Minute); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incr/s")
		})
	}
}
