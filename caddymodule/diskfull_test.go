//go:build linux

package caddymodule_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 15.5 — Badger on a small disk that fills up (another process
// writes to the same file system). Caddy keeps running: calls that write
// answer 503 STORE_UNAVAILABLE, a token issued before is still valid
// (nothing stored is damaged), and once space is freed requests are
// accepted again and mailed.
func TestDiskFullAnswers503(t *testing.T) {
	bin := caddyBinary(t)
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.MkdirAll(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o size=32m (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	mail, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	dir := slowDirectory(t, 0)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer app.Close()
	p := durableCaddy(t, bin, filepath.Join(disk, "db"), testenv.RandomString(48), dir.URL, mail.Addr(), app.URL)

	if st, b := post(t, p.url+"/password-reset/request", `{"identifier":"known-before@acme.test"}`); st != 202 {
		t.Fatalf("request before the disk is full: %d %s", st, b)
	}
	m := waitMailTo(t, mail, "known-before@acme.test")
	_, token := testenv.ResetLink(t, m)

	// Another process fills the disk.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	time.Sleep(100 * time.Millisecond) // past the store's free-space check interval
	st, b := post(t, p.url+"/password-reset/request", `{"identifier":"known-during@acme.test"}`)
	if st != http.StatusServiceUnavailable || !strings.Contains(b, "STORE_UNAVAILABLE") {
		t.Fatalf("request on a full disk: %d %s, want 503 STORE_UNAVAILABLE", st, b)
	}
	if st := p.get(t, "/password-reset/tokens/"+token); st != http.StatusOK {
		t.Fatalf("preflight of a token issued before, disk full: %d", st)
	}
	select {
	case <-p.exited:
		t.Fatal("caddy died when the disk filled up")
	default:
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, b = post(t, p.url+"/password-reset/request", `{"identifier":"known-after@acme.test"}`)
		if st == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request 10s after space was freed: %d %s", st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitMailTo(t, mail, "known-after@acme.test")
	if st := p.get(t, "/password-reset/tokens/"+token); st != http.StatusOK {
		t.Fatalf("preflight of the token issued before, after the disk was freed: %d", st)
	}
}

func waitMailTo(t *testing.T, m *mailbox.Server, to string) mailbox.Mail {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, msg := range m.Messages() {
			if len(msg.To) > 0 && strings.EqualFold(msg.To[0], to) && strings.Contains(msg.Text, "/new?token=") {
				return msg
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no reset mail to %s within 15s", to)
	return mailbox.Mail{}
}
