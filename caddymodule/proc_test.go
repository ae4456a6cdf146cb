package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
)

// caddyProc is one caddy process started from the built binary.
type caddyProc struct {
	url     string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// serveCaddy runs the caddy binary on a free port with a site whose route is
// password_reset { block } and then reverse_proxy to appURL, and waits
// until it answers. The process is killed when the test ends; its log is
// shown when the test failed.
func serveCaddy(t *testing.T, bin, block, appURL string) *caddyProc {
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
%[3]s
	}
	reverse_proxy %[4]s
}
`, filepath.Join(dir, "data"), port, block, strings.TrimPrefix(appURL, "http://"))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{url: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, "caddy.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
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
			t.Logf("caddy on :%d said:\n%s", port, tail(string(out), 3000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.url + "/password-reset/policy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.logPath)
			t.Fatalf("caddy exited at start:\n%s", tail(string(out), 3000))
		case <-time.After(50 * time.Millisecond):
		}
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
