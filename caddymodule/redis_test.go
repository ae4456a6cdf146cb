package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/store/redis/redistest"
)

// startInstance runs the built caddy binary with the given Redis as its
// store.
func startInstance(t *testing.T, bin, redisURL, key, appURL, secret, smtp string, block string) *caddyProc {
	t.Helper()
	return serveCaddy(t, bin, fmt.Sprintf(`		storage redis %[1]s {
			timeout 500ms
			dial_timeout 500ms
		}
		key %[2]s
		lookup %[3]s/internal/users/lookup
		update %[3]s/internal/users/password {
			secret %[4]s
		}
		email smtp %[5]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
%[6]s`, redisURL, key, appURL, secret, smtp, block), appURL)
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
	twoInstancesShare(t, bin, rs.URL()+"/1")
}

// The same with a Redis Cluster of three masters as the shared store.
func TestTwoInstancesShareRedisCluster(t *testing.T) {
	bin := caddyBinary(t)
	twoInstancesShare(t, bin, redistest.StartCluster(t, 3).URL())
}

func twoInstancesShare(t *testing.T, bin, redisURL string) {
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
	a := startInstance(t, bin, redisURL, key, srv.URL, secret, mail.Addr(), block)
	b := startInstance(t, bin, redisURL, key, srv.URL, secret, mail.Addr(), block)

	mailedToken := func(via *caddyProc) string {
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
		via := []*caddyProc{a, b}[i%2]
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
