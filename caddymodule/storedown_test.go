package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/store/redis/redistest"
)

// Issue 15.2 — a store that is down at start-up does not stop Caddy.

// adminCaddy is a caddy process with its admin endpoint on, so that the
// test can `caddy reload` it.
type adminCaddy struct {
	*caddyProc
	bin, file, admin string
}

// serveCaddyAdmin runs the caddy binary like serveCaddy, with the admin
// endpoint on a free loopback port and the Caddyfile made by site(port).
func serveCaddyAdmin(t *testing.T, bin string, site func(port int) string) *adminCaddy {
	t.Helper()
	port, adminPort := testenv.FreePort(t), testenv.FreePort(t)
	dir := t.TempDir()
	c := &adminCaddy{bin: bin, file: filepath.Join(dir, "Caddyfile"), admin: fmt.Sprintf("127.0.0.1:%d", adminPort)}
	c.write(t, site(port))
	p := &caddyProc{url: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, "caddy.log"), exited: make(chan struct{})}
	c.caddyProc = p
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", c.file, "--adapter", "caddyfile")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			out, _ := os.ReadFile(p.logPath)
			t.Logf("caddy said:\n%s", tail(string(out), 4000))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if resp, err := http.Get(p.url + "/password-reset/policy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.logPath)
			t.Fatalf("caddy exited at start:\n%s", tail(string(out), 3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("caddy did not come up")
	return nil
}

func (c *adminCaddy) write(t *testing.T, site string) {
	t.Helper()
	cf := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n}\n\n%s", c.admin, filepath.Join(filepath.Dir(c.file), "data"), site)
	if err := os.WriteFile(c.file, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload writes a new Caddyfile and runs `caddy reload` on it.
func (c *adminCaddy) reload(t *testing.T, site string) {
	t.Helper()
	c.write(t, site)
	out, err := exec.Command(c.bin, "reload", "--config", c.file, "--adapter", "caddyfile", "--address", c.admin).CombinedOutput()
	if err != nil {
		t.Fatalf("caddy reload: %v\n%s", err, out)
	}
}

// Redis is down when Caddy starts: Caddy starts anyway, the API answers
// 503 STORE_UNAVAILABLE and the hosted page a friendly error, a `caddy
// reload` during the outage succeeds, and once Redis is up the same
// process serves resets again, with no restart.
func TestStoreDownAtStartup(t *testing.T) {
	bin := caddyBinary(t)
	rs := redistest.Start(t)
	rs.Stop()
	mail, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	dir := slowDirectory(t, 0)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer app.Close()
	key, secret := testenv.RandomString(48), testenv.NewSecret()
	site := func(name string) func(port int) string {
		return func(port int) string {
			return fmt.Sprintf(`http://:%[1]d {
	password_reset {
		base_url http://localhost:8080
		site_name %[2]q
		storage redis %[3]s {
			timeout 300ms
			dial_timeout 300ms
		}
		key %[4]s
		lookup %[5]s%[6]s
		update %[5]s%[7]s {
			secret %[8]s
		}
		email smtp %[9]s {
			from "Acme <no-reply@acme.test>"
			tls none
		}
	}
	reverse_proxy %[10]s
}
`, port, name, rs.URL(), key, dir.URL, lookupPath, updatePath, secret, mail.Addr(), strings.TrimPrefix(app.URL, "http://"))
		}
	}
	start := time.Now()
	c := serveCaddyAdmin(t, bin, site("Acme"))
	t.Logf("caddy answered %s after start with Redis down", time.Since(start).Round(10*time.Millisecond))
	body := `{"identifier":"known-1@acme.test"}`
	st, b := post(t, c.url+"/password-reset/request", body)
	if st != http.StatusServiceUnavailable || !strings.Contains(b, "STORE_UNAVAILABLE") {
		t.Fatalf("request with Redis down: %d %s, want 503 STORE_UNAVAILABLE", st, b)
	}
	// The hosted form says so in words.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(c.url + "/password-reset/")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := between(string(form), `name="csrf" value="`, `"`)
	resp, err = browser.PostForm(c.url+"/password-reset/", url.Values{"csrf": {csrf}, "identifier": {"known-1@acme.test"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(page), "The service is unavailable right now") {
		t.Fatalf("page with Redis down: %d\n%s", resp.StatusCode, tail(string(page), 1500))
	}
	// A reload during the outage works.
	c.reload(t, site("Acme Reloaded")(mustPort(t, c.url)))
	if st, b = post(t, c.url+"/password-reset/request", body); st != http.StatusServiceUnavailable {
		t.Fatalf("request after the reload, Redis still down: %d %s", st, b)
	}

	rs.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, b = post(t, c.url+"/password-reset/request", body)
		if st == http.StatusAccepted {
			break
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("request after Redis came back: %d %s", st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	m, err := mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Text, "/new?token=") })
	if err != nil {
		t.Fatalf("no reset mail after Redis came back: %v", err)
	}
	if !strings.Contains(m.Text+m.Subject, "Acme Reloaded") {
		t.Errorf("the mail does not come from the reloaded config:\n%s", m.Text)
	}
}

func mustPort(t *testing.T, u string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(u[strings.LastIndex(u, ":")+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}
