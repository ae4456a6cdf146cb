package caddymodule_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
)

// cliCaddy is a caddy process with its admin endpoint on a loopback port,
// for the `caddy password-reset` commands to talk to.
type cliCaddy struct {
	bin, admin string
	env        *testenv.Env
}

// startCLICaddy runs the built binary with the test Caddyfile (legacy app,
// real SMTP server, Badger) and the admin endpoint on a free port.
func startCLICaddy(t *testing.T) *cliCaddy {
	t.Helper()
	bin := caddyBinary(t)
	env := testenv.New(t, testenv.Options{NoStart: true})
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cf := strings.Replace(env.Caddyfile("\t\tsupport help@acme.test"), "admin off", "admin "+admin, 1)
	file := filepath.Join(env.Dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(env.Dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "HOME="+env.Dir, "XDG_DATA_HOME="+env.Dir, "XDG_CONFIG_HOME="+env.Dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("caddy said:\n%s", tail(string(out), 4000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(env.URL + "/password-reset/policy")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("caddy exited at start:\n%s", tail(string(out), 3000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("caddy did not come up")
		}
	}
	return &cliCaddy{bin: bin, admin: admin, env: env}
}

// run runs `caddy password-reset args…` against this Caddy's admin
// endpoint and returns stdout, stderr and the exit code.
func (c *cliCaddy) run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	full := append([]string{"password-reset"}, args...)
	if len(args) > 0 && args[0] != "hash-token" && args[0] != "--help" {
		full = append(full, "--address", c.admin)
	}
	cmd := exec.Command(c.bin, full...)
	cmd.Env = append(os.Environ(), "HOME="+c.env.Dir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running caddy %v: %v", full, err)
	}
	return out.String(), errb.String(), code
}

// TestCLIHelp: every subcommand explains itself with --help.
func TestCLIHelp(t *testing.T) {
	c := &cliCaddy{bin: caddyBinary(t), env: &testenv.Env{Dir: t.TempDir()}}
	out, _, code := c.run(t, "", "--help")
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, sub := range []string{"issue", "revoke", "status", "hash-token", "preview"} {
		if !strings.Contains(out, sub) {
			t.Errorf("password-reset --help does not list %s:\n%s", sub, out)
		}
		o, _, code := c.run(t, "", sub, "--help")
		if code != 0 || !strings.Contains(o, "Usage:") {
			t.Errorf("%s --help exited %d:\n%s", sub, code, o)
		}
	}
}

// TestCLIHashToken: the printed line is sha256 of the token read on stdin,
// as admin_token expects, and a short token is refused.
func TestCLIHashToken(t *testing.T) {
	c := &cliCaddy{bin: caddyBinary(t), env: &testenv.Env{Dir: t.TempDir()}}
	token := "portal-token-" + testenv.RandomString(24)
	out, _, code := c.run(t, token+"\n", "hash-token")
	sum := sha256.Sum256([]byte(token))
	if want := "sha256:" + hex.EncodeToString(sum[:]) + "\n"; code != 0 || out != want {
		t.Fatalf("hash-token = %q (exit %d), want %q", out, code, want)
	}
	if _, errOut, code := c.run(t, "short\n", "hash-token"); code == 0 || !strings.Contains(errOut, "at least 16") {
		t.Errorf("a short token was accepted (exit %d): %s", code, errOut)
	}
}

// TestCLIAgainstRunningCaddy drives issue (link and phone code), revoke,
// status and preview against a running Caddy, and checks each against
// what a user would then see.
func TestCLIAgainstRunningCaddy(t *testing.T) {
	c := startCLICaddy(t)
	env := c.env

	// issue: the printed link works.
	out, errOut, code := c.run(t, "", "issue", "1001")
	if code != 0 {
		t.Fatalf("issue exited %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(out, env.BaseURL+"/password-reset/new?token=") {
		t.Fatalf("issue printed no reset link:\n%s", out)
	}
	if r := env.Get("/password-reset/tokens/" + m[1]); r.StatusCode != 200 {
		t.Fatalf("the issued token is not valid: %d %s", r.StatusCode, r.Body)
	}

	// issue --code: the printed code, typed into the flow the link opens,
	// gives a token.
	out, errOut, code = c.run(t, "", "issue", "1003", "--code")
	if code != 0 {
		t.Fatalf("issue --code exited %d: %s", code, errOut)
	}
	cm := regexp.MustCompile(`Code:\s+(\d{4} \d{4})\s+Link:\s+(\S+)`).FindStringSubmatch(out)
	if cm == nil {
		t.Fatalf("issue --code printed no code and link:\n%s", out)
	}
	link, err := url.Parse(cm[2])
	if err != nil || link.Path != "/password-reset/sent" || link.Query().Get("flow") == "" {
		t.Fatalf("the code's link %q does not open the code form", cm[2])
	}
	// The link plants the flow in a cookie and drops it from the address.
	resp, err := env.Client.Get(env.URL + link.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password-reset/sent" || !strings.Contains(resp.Header.Get("Set-Cookie"), link.Query().Get("flow")) {
		t.Fatalf("the code link answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	r := env.PostJSON("/password-reset/verify", map[string]string{"flow_id": link.Query().Get("flow"), "code": strings.ReplaceAll(cm[1], " ", "")})
	if r.StatusCode != 200 || r.JSON()["token"] == nil {
		t.Fatalf("the phone code did not verify: %d %s", r.StatusCode, r.Body)
	}
	if len(env.Mail.Messages()) != 0 {
		t.Errorf("issue sent %d mails; it must only print", len(env.Mail.Messages()))
	}

	// An administrator's account is refused, as on the admin API.
	if _, errOut, code := c.run(t, "", "issue", "1002"); code == 0 || !strings.Contains(errOut, "ROLE_NOT_ALLOWED") {
		t.Errorf("issue for an admin account: exit %d, %s", code, errOut)
	}

	// status: every part passes; the open token and flow are counted.
	out, errOut, code = c.run(t, "", "status")
	if code != 0 {
		t.Fatalf("status exited %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"store    ok", "smtp     ok", "lookup   ok", "open tokens:    2", "outbox pending: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// revoke: the issued link stops working.
	if out, errOut, code := c.run(t, "", "revoke", "1001"); code != 0 || strings.TrimSpace(out) != "revoked" {
		t.Fatalf("revoke: exit %d %s %s", code, out, errOut)
	}
	if r := env.Get("/password-reset/tokens/" + m[1]); r.StatusCode != 404 {
		t.Errorf("the token still answers %d after revoke", r.StatusCode)
	}

	// preview: a German reset mail with the site's name, a page, and a
	// clear refusal of an unknown name.
	out, errOut, code = c.run(t, "", "preview", "mail", "reset", "--lang", "de", "--part", "text")
	if code != 0 || !strings.Contains(out, "Acme Demo") || !strings.Contains(out, "1234 5678") || !strings.Contains(out, "Passwort") {
		t.Errorf("preview mail reset --lang de (exit %d): %s%s", code, out, errOut)
	}
	dest := filepath.Join(t.TempDir(), "forgot.html")
	if _, errOut, code := c.run(t, "", "preview", "page", "forgot", "--output", dest); code != 0 {
		t.Errorf("preview page forgot exited %d: %s", code, errOut)
	} else if html, _ := os.ReadFile(dest); !bytes.Contains(html, []byte("<form")) || !bytes.Contains(html, []byte("Acme Demo")) {
		t.Errorf("preview page forgot wrote no form:\n%s", tail(string(html), 500))
	}
	if _, errOut, code := c.run(t, "", "preview", "page", "nope"); code == 0 || !strings.Contains(errOut, "unknown page") {
		t.Errorf("preview of an unknown page: exit %d %s", code, errOut)
	}

	// The self-test's results are metrics on Caddy's admin endpoint.
	resp, err = http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`caddy_password_reset_selftest_up{part="smtp"} 1`, `caddy_password_reset_selftest_up{part="store"} 1`, "caddy_password_reset_outbox_pending 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// With the SMTP server gone, status says so and exits 1.
	env.Mail.Close()
	out, _, code = c.run(t, "", "status")
	if code != 1 || !strings.Contains(out, "smtp     FAILED") {
		t.Errorf("status with SMTP down: exit %d\n%s", code, out)
	}
}
