package plugin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin/webhook"
)

// isChangedMail reports whether m is a "password changed" mail.
func isChangedMail(m mailbox.Mail) bool {
	return strings.Contains(strings.ToLower(m.Subject), "changed")
}

// changedMails counts the "password changed" mails that arrived.
func changedMails(mb *mailbox.Server) int {
	n := 0
	for _, m := range mb.Messages() {
		if isChangedMail(m) {
			n++
		}
	}
	return n
}

// waitChangedMail waits up to d for a "password changed" mail.
func waitChangedMail(t *testing.T, mb *mailbox.Server, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := mb.WaitFor(ctx, isChangedMail); err != nil {
		t.Fatalf("no password-changed mail within %v: %v", d, err)
	}
}

// The "password changed" mail is stored before the app is asked, held
// until it answers: a refused change sends none and leaves no entry; a
// confirmed one sends it at once, without waiting out the hold.
func TestChangedMailHeldUntilTheAppAnswers(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	body := map[string]string{"token": token, "password": "Correct Zebra Battery Staple 9"}

	h.up.mu.Lock()
	h.up.refuseUpdates = true
	h.up.mu.Unlock()
	if st, out := h.do(t, "POST", "/password-reset/complete", body); st != 502 {
		t.Fatalf("complete with the app refusing: %d %v; want 502", st, out)
	}
	if n, err := h.e.OutboxPending(ctx); err != nil || n != 0 {
		t.Fatalf("outbox after a refused change: %d pending, %v; want the held mail removed", n, err)
	}
	// Past the hold, nothing falls due: the entry is gone.
	h.clk.Advance(h.e.updateBound() + time.Second)
	time.Sleep(700 * time.Millisecond)
	h.clk.Advance(time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := changedMails(h.mail); n != 0 {
		t.Fatalf("%d password-changed mails after a change the app refused", n)
	}

	h.up.mu.Lock()
	h.up.refuseUpdates = false
	h.up.mu.Unlock()
	if st, out := h.do(t, "POST", "/password-reset/complete", body); st != 200 {
		t.Fatalf("complete: %d %v", st, out)
	}
	// The fake clock stands still: only the release makes it due.
	waitChangedMail(t, h.mail, 5*time.Second)
	if n := changedMails(h.mail); n != 1 {
		t.Fatalf("%d password-changed mails; want 1", n)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := h.e.OutboxPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still pending after the mail went out", n)
		}
	}
}

// An app whose answer is lost (it applied the change, then answered after
// the update timeout) may have changed the password: the complete answers
// 502 and keeps the token, and the held mail is sent when its hold is
// over, not before. A refusal the app answers sends none (above).
func TestChangedMailSentWhenTheAppsAnswerIsLost(t *testing.T) {
	obs := &upstreamOutcomes{}
	h := newHarness(t, func(c *Config) {
		c.Update.Client = &webhook.Client{Timeout: 300 * time.Millisecond}
		c.Observer = obs
	})
	ctx := context.Background()
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	h.up.mu.Lock()
	h.up.stallUpdates = 800 * time.Millisecond
	h.up.mu.Unlock()
	body := map[string]string{"token": token, "password": "Correct Zebra Battery Staple 9"}
	if st, out := h.do(t, "POST", "/password-reset/complete", body); st != 502 {
		t.Fatalf("complete with the app's answer lost: %d %v; want 502", st, out)
	}
	h.up.mu.Lock()
	applied := len(h.up.updates)
	h.up.mu.Unlock()
	if applied != 1 {
		t.Fatalf("the app got %d updates; want 1", applied)
	}
	if got := obs.get("update"); len(got) != 1 || got[0] != "unknown" {
		t.Fatalf("update outcomes for the metrics: %v; want [unknown]", got)
	}
	if n, err := h.e.OutboxPending(ctx); err != nil || n != 1 {
		t.Fatalf("outbox after the lost answer: %d pending, %v; want the held mail", n, err)
	}
	time.Sleep(700 * time.Millisecond)
	if n := changedMails(h.mail); n != 0 {
		t.Fatalf("%d password-changed mails before the hold was over", n)
	}
	if st, out := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 200 {
		t.Fatalf("the token after a lost answer: %d %v; want it kept (200)", st, out)
	}
	h.clk.Advance(h.e.updateBound() + time.Second)
	waitChangedMail(t, h.mail, 5*time.Second)
}

// The same for a signed-in change: 502, and the mail once the hold is over.
func TestChangedMailSentWhenTheAppsAnswerToAChangeIsLost(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Update.Client = &webhook.Client{Timeout: 300 * time.Millisecond} })
	h.up.mu.Lock()
	h.up.stallUpdates = 800 * time.Millisecond
	h.up.mu.Unlock()
	pw := "Correct Zebra Battery Staple 9"
	if st, out := h.doAs(t, "alice-session", "POST", "/password-reset/change", map[string]string{"old": oldPassword, "new": pw, "confirm": pw}); st != 502 {
		t.Fatalf("change with the app's answer lost: %d %v; want 502", st, out)
	}
	if n, err := h.e.OutboxPending(context.Background()); err != nil || n != 1 {
		t.Fatalf("outbox after the lost answer: %d pending, %v; want the held mail", n, err)
	}
	time.Sleep(700 * time.Millisecond)
	if n := changedMails(h.mail); n != 0 {
		t.Fatalf("%d password-changed mails before the hold was over", n)
	}
	h.clk.Advance(h.e.updateBound() + time.Second)
	waitChangedMail(t, h.mail, 5*time.Second)
}

// A process that stops (is killed) while the app has the change leaves the
// held mail in the store: the next engine sends it once the hold is over,
// and not before.
func TestChangedMailHeldSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	held := h.e.holdChangedMail(ctx, User{ID: "u1", Email: "alice@example.test", Name: "Alice"}, "192.0.2.1")
	if held.n == 0 {
		t.Fatal("no mail held")
	}
	h.e.Stop() // neither released nor dropped
	next, err := New(h.e.cfg, h.e.store, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	next.Start()
	defer next.Stop()
	h.clk.Advance(time.Second)
	time.Sleep(700 * time.Millisecond)
	if n := changedMails(h.mail); n != 0 {
		t.Fatalf("%d password-changed mails before the hold was over", n)
	}
	// The held entry, and the rest of the stopped engine's block of
	// numbers until missingGrace.
	if n, err := next.OutboxPending(ctx); err != nil || n < 1 {
		t.Fatalf("outbox after the restart: %d pending, %v; want the held mail", n, err)
	}
	h.clk.Advance(next.updateBound())
	waitChangedMail(t, h.mail, 5*time.Second)
}

// upstreamOutcomes records the outcome of each hook call, by hook.
type upstreamOutcomes struct {
	nopObserver
	mu  sync.Mutex
	out map[string][]string
}

func (o *upstreamOutcomes) Upstream(hook, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.out == nil {
		o.out = map[string][]string{}
	}
	o.out[hook] = append(o.out[hook], outcome)
}

func (o *upstreamOutcomes) get(hook string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.out[hook]...)
}
