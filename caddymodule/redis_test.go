package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/store/redis/redistest"
)

// instance is one Caddy process.
type instance struct {
	url string
	cmd *exec.Cmd
}

// startInstance runs the built caddy binary with a Caddyfile whose store is
// the given Redis.
func startInstance(t *testing.T, bin, redisURL, key, appURL, secret, smtp string, block string) *instance {
	t.Helper()
	port := testenv.FreePort(t)
	dir := t.TempDir()
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %[1]s
}

http://:%[2]d {
	password_reset {
		base_url http://localhost:8080
		storage redis %[3]s {
			timeout 500ms
			dial_timeout 500ms
		}
		key %[4]s
		lookup %[5]s/internal/users/lookup
		update %[5]s/internal/users/password {
			secret %[6]s
		}
		email smtp %[7]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
%[8]s
	}
	reverse_proxy %[9]s
}
`, filepath.Join(dir, "data"), port, redisURL, key, appURL, secret, smtp, block, strings.TrimPrefix(appURL, "http://"))
	file := filepath.Join(dir, "Caddyfile")
	os.WriteFile(file, []byte(cf), 0o600)
	log, _ := os.Create(filepath.Join(dir, "caddy.log"))
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(dir, "caddy.log"))
			t.Logf("caddy on :%d said:\n%s", port, tail(string(out), 3000))
		}
	})
	in := &instance{url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(in.url + "/password-reset/policy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("caddy on :%d did not come up", port)
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// Two Caddy instances behind a load balancer share one Redis: a token
// issued on A is checked and consumed on B, a replay on A is refused, the
// per-IP limit counts across both, and 50 concurrent completes spread over
// both give exactly one update at the app.
func TestTwoInstancesShareRedis(t *testing.T) {
	bin := caddyBinary(t)
	rs := redistest.Start(t)
	mail, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	secret, key := testenv.NewSecret(), testenv.RandomString(48)
	app, _ := legacyapp.New(legacyapp.Config{WebhookSecret: secret, Users: legacyapp.DemoUsers(), BcryptCost: 4})
	srv := httptest.NewServer(app)
	defer srv.Close()
	block := "\t\trate_limit {\n\t\t\tper_ip 6 1m\n\t\t\tper_identifier 100 1m\n\t\t}"
	a := startInstance(t, bin, rs.URL()+"/1", key, srv.URL, secret, mail.Addr(), block)
	b := startInstance(t, bin, rs.URL()+"/1", key, srv.URL, secret, mail.Addr(), block)

	mailedToken := func(via *instance) string {
		t.Helper()
		mail.Clear()
		if st, body := post(t, via.url+"/password-reset/request", `{"identifier":"alice@example.test"}`); st != 202 {
			t.Fatalf("request: %d %s", st, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") })
		if err != nil {
			t.Fatal(err)
		}
		_, tok := testenv.ResetLink(t, m)
		return tok
	}

	token := mailedToken(a)
	if resp, err := http.Get(b.url + "/password-reset/tokens/" + token); err != nil || resp.StatusCode != 200 {
		t.Fatalf("preflight on B of a token issued on A: %v %v", resp, err)
	}
	if st, body := post(t, b.url+"/password-reset/complete", `{"token":"`+token+`","password":"set on instance B ok"}`); st != 200 {
		t.Fatalf("complete on B: %d %s", st, body)
	}
	if st, _ := post(t, a.url+"/password-reset/complete", `{"token":"`+token+`","password":"replayed on instance A"}`); st != 404 {
		t.Fatalf("replay on A: %d", st)
	}

	token = mailedToken(b)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 50; i++ {
		via := a
		if i%2 == 1 {
			via = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := post(t, via.url+"/password-reset/complete", `{"token":"`+token+`","password":"racing across instances"}`)
			if st == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 || app.UpdateCalls() != 2 {
		t.Fatalf("%d successes and %d update calls in all (want 1 and 2)", ok, app.UpdateCalls())
	}

	// Two requests so far (one per instance); the per-IP limit is 6 in all.
	statuses := []int{}
	for i := 0; i < 6; i++ {
		via := []*instance{a, b}[i%2]
		st, _ := post(t, via.url+"/password-reset/request", `{"identifier":"x@example.test"}`)
		statuses = append(statuses, st)
	}
	if fmt.Sprint(statuses) != "[202 202 202 202 429 429]" {
		t.Fatalf("shared per-IP limit: %v", statuses)
	}
}

// Redis down: calls answer 503 STORE_UNAVAILABLE with a clear message, and
// service resumes by itself when Redis is back.
func TestRedisOutageAndRecovery(t *testing.T) {
	bin := caddyBinary(t)
	rs := redistest.Start(t)
	secret, key := testenv.NewSecret(), testenv.RandomString(48)
	app, _ := legacyapp.New(legacyapp.Config{WebhookSecret: secret, Users: legacyapp.DemoUsers(), BcryptCost: 4})
	srv := httptest.NewServer(app)
	defer srv.Close()
	mail, _ := mailbox.Start(mailbox.Options{})
	defer mail.Close()
	a := startInstance(t, bin, rs.URL()+"/0", key, srv.URL, secret, mail.Addr(), "")

	rs.Stop()
	st, body := post(t, a.url+"/password-reset/request", `{"identifier":"alice@example.test"}`)
	if st != 503 || !strings.Contains(body, "STORE_UNAVAILABLE") {
		t.Fatalf("request with Redis down: %d %s", st, body)
	}
	if resp, err := http.Get(a.url + "/password-reset/tokens/" + testenv.RandomString(43)); err != nil || resp.StatusCode != 503 {
		t.Fatalf("preflight with Redis down: %v %v", resp, err)
	}
	rs.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body = post(t, a.url+"/password-reset/request", `{"identifier":"alice@example.test"}`)
		if st == 202 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st != 202 {
		t.Fatalf("after Redis came back: %d %s", st, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") }); err != nil {
		t.Fatalf("no mail after recovery: %v", err)
	}
}
