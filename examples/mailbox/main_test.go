package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/mailbox"
)

func TestLinkify(t *testing.T) {
	got := string(linkify("Open <https://a.test/new?token=x&y=1>. Or https://b.test/r, then stop."))
	want := `Open &lt;<a href="https://a.test/new?token=x&amp;y=1" target="_blank" rel="noreferrer">https://a.test/new?token=x&amp;y=1</a>&gt;. ` +
		`Or <a href="https://b.test/r" target="_blank" rel="noreferrer">https://b.test/r</a>, then stop.`
	if got != want {
		t.Errorf("linkify:\n got %s\nwant %s", got, want)
	}
}

func TestWithBaseTarget(t *testing.T) {
	for in, want := range map[string]string{
		"<!DOCTYPE html><html><HEAD><title>x</title>": `<!DOCTYPE html><html><HEAD><base target="_blank"><title>x</title>`,
		"<p>hi</p>": `<base target="_blank"><p>hi</p>`,
	} {
		if got := withBaseTarget(in); got != want {
			t.Errorf("withBaseTarget(%q) = %q", in, got)
		}
	}
}

func TestUI(t *testing.T) {
	mb, err := mailbox.Start(mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	msg := "From: a@acme.test\r\nTo: b@example.com\r\nSubject: Reset\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain\r\n\r\nhttps://app.test/new?token=abc\r\n" +
		"--x\r\nContent-Type: text/html\r\n\r\n<html><head></head><body><a href=\"https://app.test/new?token=abc\">go</a><script>alert(1)</script></body></html>\r\n--x--\r\n"
	for _, to := range []string{"b@example.com", "c@example.com"} {
		if err := smtp.SendMail(mb.Addr(), nil, "a@acme.test", []string{to}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	ui := httptest.NewServer(newUI(mb))
	defer ui.Close()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(ui.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	_, list := get("/")
	if strings.Index(list, "/messages/2") > strings.Index(list, "/messages/1") {
		t.Error("list is not newest first")
	}

	resp, body := get("/messages/1/html")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("html CSP = %q", csp)
	}
	if !strings.Contains(body, `<head><base target="_blank">`) {
		t.Errorf("html body = %q", body)
	}

	_, page := get("/messages/1")
	if !strings.Contains(page, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) ||
		!strings.Contains(page, `<a href="https://app.test/new?token=abc"`) {
		t.Errorf("message page = %s", page)
	}

	resp, js := get("/api/messages?to=c@example.com")
	var out []apiMessage
	if err := json.Unmarshal([]byte(js), &out); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("api: %v %s", err, js)
	}
	if len(out) != 1 || out[0].ID != 2 || !strings.Contains(out[0].Text, "token=abc") {
		t.Errorf("api = %+v", out)
	}
	if resp, _ := get("/messages/99"); resp.StatusCode != 404 {
		t.Errorf("unknown message: %d", resp.StatusCode)
	}
}
