package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/plugin"
)

// Requests outside the prefix reach the next handler exactly as sent, and
// its answer streams back chunk by chunk: resetgate neither buffers nor
// rewrites traffic that is not its own.
func TestPassThroughMethodHeadersBodyStreaming(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	type seen struct {
		method, path, query, header, body string
	}
	got := make(chan seen, 1)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			fl := w.(http.Flusher)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "chunk %d\n", i)
				fl.Flush()
				time.Sleep(150 * time.Millisecond)
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Custom"), string(b)}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(207)
	}))
	defer echo.Close()
	cf := strings.Replace(env.Caddyfile(""), "reverse_proxy "+strings.TrimPrefix(env.AppURL, "http://"), "reverse_proxy "+strings.TrimPrefix(echo.URL, "http://")+" {\n\t\tflush_interval -1\n\t}", 1)
	env.Load(cf)

	for _, path := range []string{"/api/things", "/password-resetting", "/static/password-reset/x"} {
		req, _ := http.NewRequest("PATCH", env.URL+path+"?token=abc&x=1", strings.NewReader(`{"raw": "body ü"}`))
		req.Header.Set("X-Custom", "kept")
		req.Header.Set("Content-Type", "application/json")
		r := env.Do(req)
		if r.StatusCode != 207 || r.Header.Get("X-Upstream") != "yes" {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		s := <-got
		if s != (seen{"PATCH", path, "token=abc&x=1", "kept", `{"raw": "body ü"}`}) {
			t.Fatalf("%s: upstream saw %+v", path, s)
		}
	}
	resp, err := http.Get(env.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "chunk 0\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
	// The first chunk arrives before the upstream has finished (3×150ms).
	if time.Since(start) > 300*time.Millisecond {
		t.Errorf("the response was buffered: first chunk after %v", time.Since(start))
	}
}

// Secrets may come from {file.*} placeholders; the reset mail carries the
// link built from base_url, the expiry, the requester's address and time,
// and the "this wasn't me" link, in both text and HTML.
func TestFileSecretsAndMailContent(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "key"), filepath.Join(dir, "secret")
	os.WriteFile(keyFile, []byte(env.Key), 0o600)
	os.WriteFile(secretFile, []byte(env.Secret), 0o600)
	cf := env.Caddyfile("")
	cf = strings.Replace(cf, "key "+env.Key, "key {file."+keyFile+"}", 1)
	cf = strings.Replace(cf, "secret "+env.Secret, "secret {file."+secretFile+"}", 1)
	env.Load(cf)
	requestReset(t, env, alice)
	m := env.WaitMail(alice, "reset")
	link, _ := testenv.ResetLink(t, m)
	revoke, _ := testenv.RevokeLink(t, m)
	for name, part := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{strings.ReplaceAll(link, "&", "&amp;"), revoke, "127.0.0.1", "15 minutes"} {
			if name == "text" {
				want = strings.ReplaceAll(want, "&amp;", "&")
			}
			if !strings.Contains(part, want) {
				t.Errorf("%s part lacks %q", name, want)
			}
		}
	}
	if env.App.LookupsBesides(plugin.SelfTestIdentifier) != 1 {
		t.Fatalf("the signed lookup (secret from a file) did not reach the app")
	}
}
