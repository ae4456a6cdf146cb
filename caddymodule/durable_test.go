package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 15.1 — durable acceptance: a request answered 202 is in the store
// before the answer leaves.

// slowDirectory is a lookup hook that knows every identifier starting with
// "known" and takes delay per lookup, so that accepted requests pile up
// behind the lookups.
func slowDirectory(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != lookupPath {
			w.WriteHeader(http.StatusNoContent) // update: accepted
			return
		}
		var in struct {
			Identifier string `json:"identifier"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		time.Sleep(delay)
		if !strings.HasPrefix(in.Identifier, "known") {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"id": "id-" + in.Identifier, "email": in.Identifier, "name": "Known"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// durableCaddy starts the caddy binary with Badger in dbDir, the lookup
// hook at dir and mail to smtp.
func durableCaddy(t *testing.T, bin, dbDir, key, dir, smtp, appURL string) *caddyProc {
	t.Helper()
	block := fmt.Sprintf(`		storage badger %[1]s
		key %[2]s
		lookup %[3]s%[4]s
		update %[3]s%[5]s {
			secret %[6]s
		}
		email smtp %[7]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
		rate_limit {
			per_ip 100000 1m
			per_identifier 100 1m
			mail_budget 100000 1h
		}`, dbDir, key, dir, lookupPath, updatePath, testenv.NewSecret(), smtp)
	return serveCaddy(t, bin, block, appURL)
}

// A reset request answered 202 is a promise: Caddy is killed with SIGKILL
// while hundreds of accepted requests still wait for their lookup (the
// directory is slow), and restarted on the same Badger directory. Every
// request that was answered 202 for a known account yields exactly one
// reset mail (one Message-ID), and none yields a mail for an unknown one.
func TestKill9LosesNoAcceptedRequest(t *testing.T) {
	bin := caddyBinary(t)
	mail, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	dir := slowDirectory(t, 10*time.Millisecond)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer app.Close()
	dbDir, key := filepath.Join(t.TempDir(), "db"), testenv.RandomString(48)
	p := durableCaddy(t, bin, dbDir, key, dir.URL, mail.Addr(), app.URL)

	const killAfter = 400 // accepted requests before the kill
	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // identifier → known
		failed   = map[string]bool{}
		seq      atomic.Int64
		nAcc     atomic.Int64
		killed   = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := seq.Add(1)
				ident := fmt.Sprintf("unknown%d@acme.test", i)
				if i%2 == 0 {
					ident = fmt.Sprintf("known%d@acme.test", i)
				}
				resp, err := client.Post(p.url+"/password-reset/request", "application/json", strings.NewReader(`{"identifier":"`+ident+`"}`))
				if err != nil {
					mu.Lock()
					failed[ident] = true
					mu.Unlock()
					return // Caddy is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusAccepted {
					accepted[ident] = strings.HasPrefix(ident, "known")
				} else {
					failed[ident] = true
					t.Errorf("request %s: %d", ident, resp.StatusCode)
				}
				mu.Unlock()
				if nAcc.Add(1) >= killAfter {
					select {
					case <-killed:
						return
					default:
					}
				}
			}
		}()
	}
	for nAcc.Load() < killAfter {
		time.Sleep(time.Millisecond)
	}
	mailedAtKill := len(mail.Messages())
	p.kill9(t)
	close(killed)
	wg.Wait()

	mu.Lock()
	known := 0
	for _, k := range accepted {
		if k {
			known++
		}
	}
	mu.Unlock()
	t.Logf("accepted %d requests (%d for known accounts), %d reset mails sent before the kill; %d requests cut by the kill",
		len(accepted), known, mailedAtKill, len(failed))
	if known-mailedAtKill < 100 {
		t.Fatalf("only %d accepted requests were still unmailed at the kill; the test needs hundreds in flight", known-mailedAtKill)
	}

	start := time.Now()
	durableCaddy(t, bin, dbDir, key, dir.URL, mail.Addr(), app.URL)
	byRecipient := func() map[string]map[string]int {
		out := map[string]map[string]int{}
		for _, m := range mail.Messages() {
			if len(m.To) == 0 || !strings.Contains(m.Text, "/new?token=") {
				continue
			}
			to := strings.ToLower(m.To[0])
			if out[to] == nil {
				out[to] = map[string]int{}
			}
			out[to][m.Header.Get("Message-Id")]++
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		got := byRecipient()
		missing := 0
		for ident, k := range accepted {
			if k && len(got[ident]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d accepted requests for known accounts never got their mail", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every accepted request was mailed %s after the restart", time.Since(start).Round(10*time.Millisecond))
	time.Sleep(2 * time.Second) // let any duplicate arrive
	resent := 0
	for to, ids := range byRecipient() {
		k, acc := accepted[to]
		switch {
		case strings.HasPrefix(to, "unknown"):
			t.Errorf("a reset mail went to the unknown identifier %s", to)
		case !acc && !failed[to]:
			t.Errorf("a reset mail went to %s, which was never requested", to)
		case len(ids) != 1:
			t.Errorf("%s got %d different reset mails, want 1", to, len(ids))
		case acc && !k:
			t.Errorf("%s counted as unknown", to)
		}
		for _, n := range ids {
			resent += n - 1
		}
	}
	if resent > 0 {
		// The SMTP server took a mail and Caddy died before recording it:
		// sent again with the same Message-ID (mail clients show one).
		t.Logf("%d mails were sent a second time with the same Message-ID", resent)
	}
}
