package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
)

const (
	testFrom     = "Acme <no-reply@acme.test>"
	testTo       = "ada@example.com"
	testUser     = "relay-user"
	testPassword = "correct-horse-battery"
)

func startMailbox(t *testing.T, o mailbox.Options) *mailbox.Server {
	t.Helper()
	s, err := mailbox.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cfg, pool, err := mailbox.SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, pool
}

func newSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testMessage() Message {
	return Message{
		To:      testTo,
		ToName:  "Ada Lovelace",
		Subject: "Reset your Acme password",
		Text:    "Open https://app.example.com/password-reset/new#token=abc\nCode: 1234 5678\n",
		HTML:    `<p><a href="https://app.example.com/password-reset/new#token=abc">Choose a new password</a></p>`,
		Kind:    "reset",
	}
}

func waitMail(t *testing.T, s *mailbox.Server) mailbox.Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func send(t *testing.T, s *SMTP) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return s.Send(ctx, testMessage())
}

// checkClean fails if an error text carries a secret or the recipient.
func checkClean(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testPassword, testTo} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error text contains %q: %v", secret, err)
		}
	}
}

func TestSMTPPlainOnLoopback(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{})
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
	if err := send(t, s); err != nil {
		t.Fatal(err)
	}
	m := waitMail(t, mb)
	want := testMessage()
	if m.Subject != want.Subject {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.Text != want.Text {
		t.Errorf("Text = %q", m.Text)
	}
	if m.HTML != want.HTML {
		t.Errorf("HTML = %q", m.HTML)
	}
	if m.From != "no-reply@acme.test" || len(m.To) != 1 || m.To[0] != testTo {
		t.Errorf("envelope: from %q to %q", m.From, m.To)
	}
	if m.TLS || m.AuthUser != "" {
		t.Errorf("TLS = %v, AuthUser = %q", m.TLS, m.AuthUser)
	}
	h := m.Header
	if got := h.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@acme.test>") {
		t.Errorf("Message-ID = %q", id)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q", ct)
	}
	if to, err := h.AddressList("To"); err != nil || to[0].Name != "Ada Lovelace" || to[0].Address != testTo {
		t.Errorf("To header: %v, %v", to, err)
	}
	if from, err := h.AddressList("From"); err != nil || from[0].Name != "Acme" {
		t.Errorf("From header: %v, %v", from, err)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	mb := startMailbox(t, mailbox.Options{TLS: cfg})

	// Default mode is starttls.
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), RootCAs: pool})
	if err := send(t, s); err != nil {
		t.Fatal(err)
	}
	if m := waitMail(t, mb); !m.TLS {
		t.Error("message not sent over TLS")
	}

	// Without the test root the certificate must be refused.
	untrusted := newSMTP(t, SMTPConfig{Addr: mb.Addr()})
	if err := send(t, untrusted); err == nil {
		t.Error("self-signed certificate accepted without RootCAs")
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{}) // offers no STARTTLS
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "starttls"})
	err := send(t, s)
	if err == nil {
		t.Fatal("sent in plain text although starttls is required")
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error does not say why: %v", err)
	}
	checkClean(t, err)
	if n := len(mb.Messages()); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	mb := startMailbox(t, mailbox.Options{TLS: cfg, Implicit: true})
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "implicit", RootCAs: pool, HelloName: "resetgate.test"})
	if err := send(t, s); err != nil {
		t.Fatal(err)
	}
	if m := waitMail(t, mb); !m.TLS {
		t.Error("message not sent over TLS")
	}
}

func TestSMTPAuth(t *testing.T) {
	cfg, pool := selfSigned(t)
	mb := startMailbox(t, mailbox.Options{TLS: cfg, Username: testUser, Password: testPassword})

	good := newSMTP(t, SMTPConfig{Addr: mb.Addr(), RootCAs: pool, Username: testUser, Password: testPassword})
	if err := send(t, good); err != nil {
		t.Fatal(err)
	}
	if m := waitMail(t, mb); m.AuthUser != testUser || !m.TLS {
		t.Errorf("AuthUser = %q, TLS = %v", m.AuthUser, m.TLS)
	}

	bad := newSMTP(t, SMTPConfig{Addr: mb.Addr(), RootCAs: pool, Username: testUser, Password: testPassword + "-wrong"})
	err := send(t, bad)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	checkClean(t, err)
	if strings.Contains(err.Error(), "-wrong") {
		t.Errorf("error contains the password: %v", err)
	}

	none := newSMTP(t, SMTPConfig{Addr: mb.Addr(), RootCAs: pool})
	// MAIL FROM is answered 502: a 5xx that no retry will fix.
	if err := send(t, none); err == nil {
		t.Error("server requiring AUTH accepted a client without credentials")
	} else if !IsPermanent(err) {
		t.Errorf("5xx answer not marked permanent: %v", err)
	}
	if n := len(mb.Messages()); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}
}

// A connection on which a step before the first message fails (here
// STARTTLS, required but not offered) is closed at once, on a send and on
// the self-test's Check: go-mail leaves it open until the garbage
// collector finds it (with GC off here, for good). A Check that succeeds
// ends with QUIT, and a failed AUTH closes its connection too.
func TestSMTPClosesConnectionWhenDialFails(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	mb := startMailbox(t, mailbox.Options{}) // offers no STARTTLS
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "starttls"})
	for range 3 {
		if err := send(t, s); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("send without the STARTTLS required: %v", err)
		}
	}
	if err := s.Check(context.Background()); err == nil {
		t.Fatal("Check without the STARTTLS required succeeded")
	}
	if accepted, _ := mb.Connections(); accepted != 4 {
		t.Fatalf("%d connections, want 4", accepted)
	}
	waitOpen(t, mb, 0)

	auth := startMailbox(t, mailbox.Options{Username: testUser, Password: testPassword})
	bad := newSMTP(t, SMTPConfig{Addr: auth.Addr(), TLS: "none", Username: testUser, Password: testPassword + "-wrong"})
	if err := bad.Check(context.Background()); err == nil {
		t.Fatal("Check with a wrong password succeeded")
	} else if strings.Contains(err.Error(), "-wrong") {
		t.Errorf("error contains the password: %v", err)
	}
	good := newSMTP(t, SMTPConfig{Addr: auth.Addr(), TLS: "none", Username: testUser, Password: testPassword})
	if err := good.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if accepted, _ := auth.Connections(); accepted != 2 {
		t.Fatalf("%d connections, want 2", accepted)
	}
	waitOpen(t, auth, 0)
	if n := len(mb.Messages()) + len(auth.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}

func TestSMTPAuthWithoutTLSOnLoopback(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{Username: testUser, Password: testPassword})
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none", Username: testUser, Password: testPassword})
	if err := send(t, s); err != nil {
		t.Fatal(err)
	}
	if m := waitMail(t, mb); m.AuthUser != testUser {
		t.Errorf("AuthUser = %q", m.AuthUser)
	}
}

func TestSMTPUnreachableAndBadMessage(t *testing.T) {
	mb := startMailbox(t, mailbox.Options{})
	addr := mb.Addr()
	_ = mb.Close()
	s := newSMTP(t, SMTPConfig{Addr: addr, TLS: "none", Timeout: time.Second})
	err := send(t, s)
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("connection failure marked permanent: %v", err)
	}
	checkClean(t, err)

	m := testMessage()
	m.To = "not an address, ada@example.com"
	err = s.Send(t.Context(), m)
	if err == nil || !IsPermanent(err) {
		t.Errorf("bad recipient: err = %v, permanent = %v", err, IsPermanent(err))
	} else if strings.Contains(err.Error(), "ada@") {
		t.Errorf("error contains the recipient: %v", err)
	}

	m = testMessage()
	m.Text, m.HTML = "", ""
	if err := s.Send(t.Context(), m); err == nil || !IsPermanent(err) {
		t.Errorf("empty body: err = %v", err)
	}
}

func TestNewSMTPValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  SMTPConfig
		want string // substring naming the option
	}{
		{"none to a remote host", SMTPConfig{Addr: "smtp.example.com:25", From: testFrom, TLS: "none"}, "tls"},
		{"none to a private address", SMTPConfig{Addr: "10.0.0.5:25", From: testFrom, TLS: "none"}, "loopback"},
		{"missing addr", SMTPConfig{From: testFrom}, "addr"},
		{"addr without port", SMTPConfig{Addr: "smtp.example.com", From: testFrom}, "addr"},
		{"addr with bad port", SMTPConfig{Addr: "smtp.example.com:99999", From: testFrom}, "addr"},
		{"missing from", SMTPConfig{Addr: "smtp.example.com:587"}, "from"},
		{"bad from", SMTPConfig{Addr: "smtp.example.com:587", From: "Acme"}, "from"},
		{"unknown tls", SMTPConfig{Addr: "smtp.example.com:587", From: testFrom, TLS: "ssl"}, "tls"},
		{"password without username", SMTPConfig{Addr: "smtp.example.com:587", From: testFrom, Password: testPassword}, "username"},
		{"username without password", SMTPConfig{Addr: "smtp.example.com:587", From: testFrom, Username: testUser}, "password"},
		{"negative timeout", SMTPConfig{Addr: "smtp.example.com:587", From: testFrom, Timeout: -time.Second}, "timeout"},
		{"hello with space", SMTPConfig{Addr: "smtp.example.com:587", From: testFrom, HelloName: "a b"}, "hello"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewSMTP(c.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			checkClean(t, err)
		})
	}

	for _, ok := range []SMTPConfig{
		{Addr: "127.0.0.1:1025", From: testFrom, TLS: "none"},
		{Addr: "[::1]:1025", From: testFrom, TLS: "NONE"},
		{Addr: "localhost:1025", From: "no-reply@acme.test", TLS: "none"},
		{Addr: "smtp.example.com:465", From: testFrom, TLS: "implicit", Username: testUser, Password: testPassword},
	} {
		if _, err := NewSMTP(ok); err != nil {
			t.Errorf("%+v: %v", ok.Addr, err)
		}
	}
}

// TestRenderedMailRoundTrip sends a rendered reset mail and reads it back as
// a mail client would: the code and both links survive the encodings.
func TestRenderedMailRoundTrip(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	data := sampleReset()
	subject, text, html, err := tpl.Render("reset", data)
	if err != nil {
		t.Fatal(err)
	}
	mb := startMailbox(t, mailbox.Options{})
	s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
	if err := s.Send(t.Context(), Message{To: testTo, Subject: subject, Text: text, HTML: html, Kind: "reset"}); err != nil {
		t.Fatal(err)
	}
	m := waitMail(t, mb)
	if m.Subject != "Reset your Acme password" {
		t.Errorf("Subject = %q", m.Subject)
	}
	for _, part := range []string{m.Text, m.HTML} {
		for _, want := range []string{"1234 5678", data.Link, data.RevokeLink} {
			if !strings.Contains(part, want) {
				t.Errorf("received part lacks %q", want)
			}
		}
	}
}
