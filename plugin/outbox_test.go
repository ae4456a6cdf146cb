package plugin

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/resetgate/resetgate/internal/mailbox"
)

func waitMail(t *testing.T, mb *mailbox.Server, d time.Duration) mailbox.Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := mb.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") })
	if err != nil {
		t.Fatalf("no reset mail within %v: %v", d, err)
	}
	return m
}

// SMTP down: the reset mail waits in the outbox (sealed, so the store never
// holds the link in clear) and goes out once the server accepts again. A
// reset mail waits in its request's queue entry (requestqueue.go).
func TestOutboxWaitsForSMTP(t *testing.T) {
	h := newHarness(t, nil)
	h.mail.SetReject(true)
	if st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "alice@example.test"}); st != 202 {
		t.Fatalf("request: %d", st)
	}
	// Wait for the first refused attempt: the entry is then stored with
	// its retry time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		raw, err := h.e.store.Get(context.Background(), requestKey(1))
		if err == nil {
			var ent outboxEntry
			if err := h.e.mail.open(raw, &ent); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("/new?token=")) || bytes.Contains(raw, []byte("alice@example.test")) {
				t.Fatal("the outbox stores the mail in clear")
			}
			if ent.Attempts >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused mail never reached the outbox")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h.mail.Messages()); n != 0 {
		t.Fatalf("%d mails accepted while SMTP refused", n)
	}
	h.mail.SetReject(false)
	h.clk.Advance(2 * time.Second) // past the first retry's backoff
	waitMail(t, h.mail, 10*time.Second)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := h.e.store.Get(context.Background(), requestKey(1)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a sent mail stayed in the outbox")
		}
	}
}

// The outbox lives in the store: an engine that stops with mail pending
// (Caddy stopped or reloaded) leaves it for the next engine on the same
// store, which sends it.
func TestOutboxSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.mail.SetReject(true)
	h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "alice@example.test"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := h.e.store.Get(context.Background(), requestKey(1)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing in the outbox")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.e.Stop()
	h.mail.SetReject(false)
	h.clk.Advance(time.Hour) // whatever backoff the entry got
	next, err := New(h.e.cfg, h.e.store, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	next.Start()
	defer next.Stop()
	waitMail(t, h.mail, 10*time.Second)
}

// Outbox entries are numbered in blocks (one store Add per outboxBlock
// mails): every mail still goes out once, the sequence counts the
// numbers reserved, and the pending count is mail, not unused numbers.
func TestOutboxNumbersInBlocks(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	const n = outboxBlock + 4
	for i := range n {
		u := User{ID: "u" + strconv.Itoa(i), Email: "user" + strconv.Itoa(i) + "@example.test"}
		h.e.queueChangedMail(ctx, u, "192.0.2.1")
	}
	if seq, err := h.e.counter(ctx, outboxSeq); err != nil || seq != 2*outboxBlock {
		t.Fatalf("%s = %d, %v after %d mails; want %d (two blocks)", outboxSeq, seq, err, n, 2*outboxBlock)
	}
	waitPending := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got := len(h.mail.Messages())
			pending, err := h.e.OutboxPending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got == want && pending == 0 {
				return
			}
			if got > want {
				t.Fatalf("%d mails arrived; want %d", got, want)
			}
			if time.Now().After(deadline) {
				// Without the block's unused numbers taken out, pending
				// stays at the rest of the block until missingGrace.
				t.Fatalf("%d of %d mails arrived, %d pending", got, want, pending)
			}
		}
	}
	waitPending(n)
	to := map[string]bool{}
	for _, m := range h.mail.Messages() {
		if to[m.To[0]] {
			t.Fatalf("%s got two mails", m.To[0])
		}
		to[m.To[0]] = true
	}

	// A block is not used past outboxBlockLife: the next mail opens a
	// new one, and the walker still sends it.
	time.Sleep(outboxBlockLife + 100*time.Millisecond)
	h.e.queueChangedMail(ctx, User{ID: "late", Email: "late@example.test"}, "192.0.2.1")
	if seq, err := h.e.counter(ctx, outboxSeq); err != nil || seq != 3*outboxBlock {
		t.Fatalf("%s = %d, %v; want %d (a third block)", outboxSeq, seq, err, 3*outboxBlock)
	}
	waitPending(n + 1)
}
