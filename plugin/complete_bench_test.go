package plugin

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/webhook"
	"github.com/resetgate/resetgate/store"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// discardMail is a mail sender that takes every mail at once.
type discardMail struct{ sent atomic.Int64 }

func (d *discardMail) Send(context.Context, mailer.Message) error {
	d.sent.Add(1)
	return nil
}

// issueBenchToken stores a token for u, as the admin API issues one, and
// returns it.
func issueBenchToken(b *testing.B, e *Engine, u User) string {
	token, err := newToken()
	if err != nil {
		b.Fatal(err)
	}
	rec := tokenRecord{User: u, Identifier: u.Email, Via: "admin", ExpiresAt: e.now().Add(time.Hour)}
	if err := e.putToken(context.Background(), e.keys.tokenKey(token), rec); err != nil {
		b.Fatal(err)
	}
	return token
}

// startBenchEngine builds an engine from cfg on st and starts it; the
// caller stops it (before closing st).
func startBenchEngine(b *testing.B, cfg Config, st store.Store) *Engine {
	b.Helper()
	e, err := New(cfg, st, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	e.Start()
	return e
}

// processCPU is the CPU time (user + system) the process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkComplete is `complete` with hash none as bench/run.sh's (d)
// runs it, without HTTP in front: Badger on disk, the update hook on
// loopback, 8 completes in flight, one user per token (admin-issued), and
// the "password changed" mail through the outbox (to a sender that takes
// it at once, so no SMTP: BenchmarkCompleteSMTP has it). cpu-ns/op is the
// process's CPU per complete, background work included (outbox, Badger),
// after the mail of every complete is sent; it does not grow with other
// load on the machine, as ns/op does.
//
//	go test -run '^$' -bench '^BenchmarkComplete$' -benchtime 4000x -cpuprofile /tmp/c.pprof ./plugin/
func BenchmarkComplete(b *testing.B) {
	mail := &discardMail{}
	benchComplete(b, mail, mail.sent.Load)
}

// BenchmarkCompleteSMTP is BenchmarkComplete with the "password changed"
// mail sent through mailer.SMTP to a mailbox on loopback (tls none), as
// Caddy sends it. The mailbox runs in this process, so cpu-ns/op includes
// the SMTP server's side of each mail too.
func BenchmarkCompleteSMTP(b *testing.B) {
	var got atomic.Int64
	mb, err := mailbox.Start(mailbox.Options{MaxMessages: 1, OnMessage: func(mailbox.Mail) { got.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	mail, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: mb.Addr(), From: "no-reply@example.test", TLS: "none"})
	if err != nil {
		b.Fatal(err)
	}
	benchComplete(b, mail, got.Load)
}

// benchComplete runs b.N completes on an engine that sends its mail with
// mail; sent counts the mails taken so far.
func benchComplete(b *testing.B, mail mailer.Sender, sent func() int64) {
	st, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(&upstream{})
	defer srv.Close()
	signer, err := webhook.ParseSecret(webhook.SecretPrefix + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	if err != nil {
		b.Fatal(err)
	}
	cl := &webhook.Client{Signer: signer}
	cfg := Config{
		BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32)),
		Lookup: Hook{URL: srv.URL + "/lookup", Client: cl},
		Update: Hook{URL: srv.URL + "/update", Client: cl},
		Mail:   mail,
	}
	e := startBenchEngine(b, cfg, st)
	defer e.Stop()
	ctx := context.Background()
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = issueBenchToken(b, e, User{ID: "b-" + strconv.Itoa(i), Email: "b-" + strconv.Itoa(i) + "@example.test", Name: "Bench"})
	}
	var next atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if apiErr := e.complete(ctx, "127.0.0.1", tokens[i], benchPassword(int(i)), "", false); apiErr != nil {
				b.Fatal(apiErr)
			}
		}
	})
	deadline := time.Now().Add(time.Minute)
	for sent() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cpu := processCPU() - cpu0
	b.StopTimer()
	if got := sent(); got < int64(b.N) {
		b.Fatalf("%d of %d changed mails sent", got, b.N)
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// benchPassword is the new password of the i-th complete: a different one
// each time, that the policy accepts whatever i is. The number is written
// in letters that spell none of the user's words (b-<i>, example, test,
// Bench). A suffix cut from the random token can spell one: about one
// token in 40,000 spells "test" (CONTAINS_IDENTIFIER), and 2 of 23 runs of
// 4,000 completes here failed with 422 PASSWORD_POLICY_VIOLATED.
func benchPassword(i int) string {
	const digits = "dfgijkoqruvwyz" // none of b, n, c, h, e, x, a, m, p, l, t, s
	b := []byte("correct horse battery staple ")
	for {
		b = append(b, digits[i%len(digits)])
		if i /= len(digits); i == 0 {
			return string(b)
		}
	}
}
