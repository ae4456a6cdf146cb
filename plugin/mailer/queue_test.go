package mailer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/resetgate/resetgate/internal/mailbox"
)

// results records OnResult calls.
type results struct {
	mu   sync.Mutex
	errs []error
}

func (r *results) record(kind string, err error, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *results) get() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// runQueue runs q until the test ends.
func runQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// noLeaks fails if a log line at info level or above names the recipient or
// holds a body.
func noLeaks(t *testing.T, logs *observer.ObservedLogs, m Message) {
	t.Helper()
	for _, e := range logs.All() {
		if e.Level < zapcore.InfoLevel {
			continue
		}
		line := e.Message + fmt.Sprint(e.ContextMap())
		for _, secret := range []string{m.To, m.Text, m.HTML, "1234 5678"} {
			if secret != "" && strings.Contains(line, secret) {
				t.Errorf("log %q leaks %q", line, secret)
			}
		}
	}
}

func TestQueueRetriesUntilAccepted(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{})
	mb.SetReject(true)
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})

	var mu sync.Mutex
	var delays []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		delays = append(delays, d)
		if len(delays) == 2 {
			mb.SetReject(false) // the server recovers before the third try
		}
		mu.Unlock()
		return ctx.Err()
	}
	core, logs := observer.New(zapcore.DebugLevel)
	var res results
	q := NewQueue(s, QueueOptions{Logger: zap.New(core), Sleep: sleep, OnResult: res.record})
	runQueue(t, q)

	msg := testMessage()
	if !q.Enqueue(msg) {
		t.Fatal("Enqueue refused")
	}
	m := waitMail(t, mb)
	if m.Subject != msg.Subject {
		t.Errorf("Subject = %q", m.Subject)
	}

	mu.Lock()
	got := fmt.Sprint(delays)
	mu.Unlock()
	if got != "[1s 2s]" {
		t.Errorf("backoff = %s, want [1s 2s]", got)
	}
	waitFor(t, func() bool { return len(res.get()) == 3 })
	errs := res.get()
	if errs[0] == nil || errs[1] == nil || errs[2] != nil {
		t.Errorf("results = %v, want fail, fail, ok", errs)
	}
	if !strings.Contains(errs[0].Error(), "451") {
		t.Errorf("first error does not carry the 451: %v", errs[0])
	}
	waitFor(t, func() bool { return logs.FilterMessage("mail sent").Len() == 1 })
	if n := logs.FilterMessage("mail send failed; will retry").Len(); n != 2 {
		t.Errorf("%d retry log lines, want 2", n)
	}
	noLeaks(t, logs, msg)
}

func TestQueueDropsAfterMaxAttempts(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{})
	mb.SetReject(true)
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})

	var sleeps atomic.Int32
	sleep := func(ctx context.Context, d time.Duration) error {
		sleeps.Add(1)
		return ctx.Err()
	}
	core, logs := observer.New(zapcore.DebugLevel)
	var res results
	q := NewQueue(s, QueueOptions{MaxAttempts: 3, Logger: zap.New(core), Sleep: sleep, OnResult: res.record})
	runQueue(t, q)

	msg := testMessage()
	q.Enqueue(msg)
	waitFor(t, func() bool { return logs.FilterMessage("mail dropped").Len() == 1 })
	if n := len(res.get()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if n := sleeps.Load(); n != 2 {
		t.Errorf("%d sleeps, want 2", n)
	}
	drop := logs.FilterMessage("mail dropped").All()[0]
	if drop.Level != zapcore.ErrorLevel || drop.ContextMap()["kind"] != "reset" || drop.ContextMap()["attempts"] != int64(3) {
		t.Errorf("drop log = %v %v", drop.Level, drop.ContextMap())
	}
	// The recipient may be named, but only at debug level.
	if logs.FilterMessage("mail dropped: recipient").FilterField(zap.String("to", msg.To)).Len() != 1 {
		t.Error("no debug line names the recipient")
	}
	noLeaks(t, logs, msg)
	if n := len(mb.Messages()); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}

// fakeSender fails with an error text that names the recipient, as some
// servers' answers do.
type fakeSender struct {
	calls atomic.Int32
	err   func(m Message) error
	block chan struct{}
}

func (f *fakeSender) Send(ctx context.Context, m Message) error {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.err == nil {
		return nil
	}
	return f.err(m)
}

func TestQueuePermanentErrorIsNotRetried(t *testing.T) {
	f := &fakeSender{err: func(m Message) error {
		return Permanent(fmt.Errorf("550 5.1.1 <%s>: mailbox unavailable", m.To))
	}}
	core, logs := observer.New(zapcore.DebugLevel)
	q := NewQueue(f, QueueOptions{Logger: zap.New(core), Sleep: func(context.Context, time.Duration) error {
		t.Error("slept before retrying a permanent error")
		return nil
	}})
	runQueue(t, q)
	msg := testMessage()
	q.Enqueue(msg)
	waitFor(t, func() bool { return logs.FilterMessage("mail dropped").Len() == 1 })
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	drop := logs.FilterMessage("mail dropped").All()[0].ContextMap()
	if drop["permanent"] != true || !strings.Contains(drop["error"].(string), "<recipient>") {
		t.Errorf("drop log = %v", drop)
	}
	noLeaks(t, logs, msg)
}

func TestEnqueueNeverBlocksWhenFull(t *testing.T) {
	f := &fakeSender{block: make(chan struct{})}
	defer close(f.block)
	var res results
	core, logs := observer.New(zapcore.DebugLevel)
	q := NewQueue(f, QueueOptions{Size: 2, Workers: 1, Logger: zap.New(core), OnResult: res.record})
	runQueue(t, q)

	msg := testMessage()
	q.Enqueue(msg)                                         // taken by the worker, which blocks
	waitFor(t, func() bool { return f.calls.Load() == 1 }) // the worker holds it
	start := time.Now()
	accepted := 0
	for range 10 {
		if q.Enqueue(msg) {
			accepted++
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("10 Enqueue calls took %s", took)
	}
	if accepted != 2 || q.Len() != 2 {
		t.Errorf("accepted %d, Len %d; want 2, 2", accepted, q.Len())
	}
	errs := res.get()
	if len(errs) != 8 || !errors.Is(errs[0], ErrQueueFull) {
		t.Errorf("results = %v, want 8× ErrQueueFull", errs)
	}
	if n := logs.FilterMessage("mail not queued").Len(); n != 8 {
		t.Errorf("%d refusal log lines, want 8", n)
	}
	noLeaks(t, logs, msg)
}

func TestQueueStops(t *testing.T) {
	f := &fakeSender{}
	var res results
	q := NewQueue(f, QueueOptions{OnResult: res.record})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan struct{})
	go func() {
		q.Run(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx was done")
	}
	if q.Enqueue(testMessage()) {
		t.Error("Enqueue accepted after Run returned")
	}
	if errs := res.get(); len(errs) != 1 || !errors.Is(errs[0], ErrQueueStopped) {
		t.Errorf("results = %v", errs)
	}
}

func TestQueueStopsDuringBackoff(t *testing.T) {
	f := &fakeSender{err: func(Message) error { return errors.New("421 try later") }}
	ctx, cancel := context.WithCancel(t.Context())
	q := NewQueue(f, QueueOptions{Backoff: time.Hour}) // real sleep: only ctx can end it
	done := make(chan struct{})
	go func() {
		q.Run(ctx)
		close(done)
	}()
	q.Enqueue(testMessage())
	waitFor(t, func() bool { return f.calls.Load() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return while a retry was waiting")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d attempts after stop", n)
	}
}

// waitFor polls cond; the queue works on its own goroutines.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
