package caddymodule_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/faultnet"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 15.4 — network faults between Caddy and the upstream (lookup,
// update) and the SMTP server, injected with Toxiproxy in this process.

// netFaultEnv is Caddy (in this process) with the lookup and update hooks
// and the SMTP server behind their own fault proxies, and its log in a
// file.
func netFaultEnv(t *testing.T) (env *testenv.Env, app, smtp *faultnet.Proxy, logPath string) {
	t.Helper()
	env = testenv.New(t, testenv.Options{NoStart: true})
	app = faultnet.Start(t, "app", strings.TrimPrefix(env.AppURL, "http://"))
	smtp = faultnet.Start(t, "smtp", env.Mail.Addr())
	logPath = filepath.Join(t.TempDir(), "caddy.log")
	cf := env.Caddyfile("")
	cf = cfReplace(t, cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+logPath+"\n\t\tlevel INFO\n\t}\n\tadmin off")
	cf = cfReplace(t, cf, "lookup "+env.AppURL+lookupPath, "lookup http://"+app.Addr()+lookupPath)
	cf = cfReplace(t, cf, "update "+env.AppURL+updatePath+" {\n", "update http://"+app.Addr()+updatePath+" {\n\t\t\ttimeout 500ms\n")
	cf = cfReplace(t, cf, "email smtp "+env.Mail.Addr(), "email smtp "+smtp.Addr())
	env.Load(cf)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("caddy log:\n%s", tail(string(data), 4000))
		}
	})
	return env, app, smtp, logPath
}

// changedMailCount counts the "password changed" mails to alice.
func changedMailCount(m *mailbox.Server) int { return testenv.CountMailTo(m, alice, "changed") }

func waitResetMail(t *testing.T, m *mailbox.Server, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if _, err := m.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") }); err != nil {
		t.Fatalf("no reset mail within %s: %v", within, err)
	}
}

// The SMTP server's connection is reset, or it never answers: the reset
// mail is kept, the failure is logged, and the mail arrives once when the
// network is back. The lookup's connection is reset: the accepted request
// is retried and its mail arrives once the upstream is reachable again.
// The update answers slower than its timeout: complete answers 502
// UPSTREAM_FAILED and keeps the token, which works once the latency is
// gone, with exactly one password applied. No goroutine is left behind.
func TestNetworkFaultsUpstreamAndSMTP(t *testing.T) {
	env, app, smtp, logPath := netFaultEnv(t)
	before := runtime.NumGoroutine()

	for _, f := range []struct {
		name  string
		toxic faultnet.Toxic
	}{{"Reset", faultnet.Reset()}, {"NeverAnswers", faultnet.BlackHole()}} {
		t.Run("SMTP"+f.name, func(t *testing.T) {
			env.Mail.Clear()
			failed := logLines(logPath, "mail send failed; will retry")
			smtp.Add(t, "fault", f.toxic)
			requestReset(t, env, alice)
			waitLogLines(t, logPath, failed+1, 20*time.Second, "mail send failed; will retry")
			smtp.Remove(t, "fault")
			waitResetMail(t, env.Mail, 20*time.Second)
			time.Sleep(300 * time.Millisecond)
			if n := resetMailCount(env.Mail); n != 1 {
				t.Fatalf("%d reset mails, want 1", n)
			}
		})
	}

	t.Run("LookupReset", func(t *testing.T) {
		env.Mail.Clear()
		app.Add(t, "fault", faultnet.Reset())
		requestReset(t, env, alice)
		waitLogLines(t, logPath, 1, 10*time.Second, "processing reset request failed; will retry")
		app.Remove(t, "fault")
		waitResetMail(t, env.Mail, 20*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := resetMailCount(env.Mail); n != 1 {
			t.Fatalf("%d reset mails, want 1", n)
		}
	})

	t.Run("UpdateSlowerThanTimeout", func(t *testing.T) {
		env.Mail.Clear()
		requestReset(t, env, alice)
		token := mailedToken(t, env)
		app.Add(t, "slow", faultnet.Latency(1500*time.Millisecond))
		wantAPI(t, "complete while the update is slow", postComplete(env, token, "a slow network password 1"), 502, "UPSTREAM_FAILED")
		app.Remove(t, "slow")
		if st := env.Get("/password-reset/tokens/" + token).StatusCode; st != 200 {
			t.Fatalf("token after the timed-out update: %d, want 200", st)
		}
		// The same password again: the app may have applied the first
		// call (its answer was what came late); the Idempotency-Key
		// makes the retry one change.
		var r *testenv.Response
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if r = postComplete(env, token, "a slow network password 1"); r.StatusCode != 409 || time.Now().After(deadline) {
				break
			}
		}
		if r.StatusCode != 200 {
			t.Fatalf("complete after the latency ended: %d %s", r.StatusCode, r.Body)
		}
		if st := login(t, env, alice, "a slow network password 1"); st != 200 {
			t.Fatalf("login with the new password: %d", st)
		}
		// The first call reached the app, whose answer came after the
		// timeout: the app may have applied it (here it did), so its
		// "password changed" mail goes out too, once its hold is over
		// (the update timeout + 10 s), beside the retry's.
		waitLogLines(t, logPath, 1, 5*time.Second, "answer to a password change was lost")
		for deadline := time.Now().Add(30 * time.Second); changedMailCount(env.Mail) < 2; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d password-changed mails 30s after the lost answer; want 2 (the lost call's, the retry's)", changedMailCount(env.Mail))
			}
		}
		time.Sleep(300 * time.Millisecond)
		if n := changedMailCount(env.Mail); n != 2 {
			t.Fatalf("%d password-changed mails; want 2", n)
		}
	})

	// Goroutines settle back (idle HTTP connections close after a while;
	// allow for the proxies' and the pool's).
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before+20 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before the faults, %d after\n%s", before, runtime.NumGoroutine(), tail(string(buf[:runtime.Stack(buf, true)]), 8000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the faults, %d after", before, runtime.NumGoroutine())
}
