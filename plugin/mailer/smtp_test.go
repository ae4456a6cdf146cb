package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// bothWays runs f against a mailbox that offers PIPELINING (the pipelined
// path, smtp_pipe.go) and against one that does not (go-mail's path, one
// command at a time).
func bothWays(t *testing.T, f func(t *testing.T, o mailbox.Options)) {
	t.Run("pipelining", func(t *testing.T) { f(t, mailbox.Options{}) })
	t.Run("one command at a time", func(t *testing.T) { f(t, mailbox.Options{NoPipelining: true}) })
}

// sendTo sends the test message to addr.
func sendTo(t *testing.T, s *SMTP, addr string) error {
	t.Helper()
	m := testMessage()
	m.To = addr
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

// waitOpen waits until the mailbox has want connections open.
func waitOpen(t *testing.T, mb *mailbox.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, open := mb.Connections()
		if open == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", open, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkConns fails unless every message in mb came over one connection
// each, in the order given (conn numbers from the mailbox).
func checkConns(t *testing.T, mb *mailbox.Server, want ...int) {
	t.Helper()
	msgs := mb.Messages()
	if len(msgs) != len(want) {
		t.Fatalf("%d messages arrived, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if m.Conn != want[i] {
			t.Errorf("message %d came over connection %d, want %d", i+1, m.Conn, want[i])
		}
	}
}

func TestSMTPKeepsConnectionOpen(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		const n = 5
		for i := range n {
			if err := sendTo(t, s, "user"+strconv.Itoa(i)+"@example.com"); err != nil {
				t.Fatal(err)
			}
		}
		checkConns(t, mb, 1, 1, 1, 1, 1)
		for i, m := range mb.Messages() {
			if want := "user" + strconv.Itoa(i) + "@example.com"; len(m.To) != 1 || m.To[0] != want {
				t.Errorf("message %d to %q, want %q", i+1, m.To, want)
			}
		}
		if accepted, open := mb.Connections(); accepted != 1 || open != 1 {
			t.Errorf("connections: %d accepted, %d open; want 1, 1", accepted, open)
		}

		// Closed: nothing stays open, and a later send still works, on a
		// connection of its own that is closed after it.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		waitOpen(t, mb, 0)
		if err := send(t, s); err != nil {
			t.Fatalf("send after Close: %v", err)
		}
		waitOpen(t, mb, 0)
		if accepted, _ := mb.Connections(); accepted != 2 {
			t.Errorf("%d connections accepted, want 2", accepted)
		}
	})
}

func TestSMTPRetiresConnections(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		s.maxMails = 2
		for range 5 {
			if err := send(t, s); err != nil {
				t.Fatal(err)
			}
		}
		checkConns(t, mb, 1, 1, 2, 2, 3)

		// An idle connection is closed after the idle time.
		s.idleTimeout = 50 * time.Millisecond
		if err := send(t, s); err != nil { // the third's second mail; it is retired
			t.Fatal(err)
		}
		if err := send(t, s); err != nil { // a fourth, kept idle
			t.Fatal(err)
		}
		waitOpen(t, mb, 0)
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		checkConns(t, mb, 1, 1, 2, 2, 3, 3, 4, 5)
	})
}

func TestSMTPRedialsWhenServerDropsConnection(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		mb.DropConnections() // the relay's idle timeout, without a word
		waitOpen(t, mb, 0)
		if err := send(t, s); err != nil {
			t.Fatalf("send after the server dropped the connection: %v", err)
		}
		checkConns(t, mb, 1, 2)

		// The relay restarts on the same port: the kept connection is dead,
		// the mail goes over a fresh one, once.
		addr := mb.Addr()
		if err := mb.Close(); err != nil {
			t.Fatal(err)
		}
		o.Addr = addr
		mb2 := startMailbox(t, o)
		if err := send(t, s); err != nil {
			t.Fatalf("send after the server restarted: %v", err)
		}
		checkConns(t, mb2, 1)
		if n := len(mb.Messages()); n != 2 {
			t.Errorf("the old server got %d messages, want 2", n)
		}
	})
}

// stallProxy forwards TCP connections to a server; Stall makes the
// connections open so far go silent (nothing is forwarded, nothing is
// closed), as a peer that vanished without a FIN, while new connections
// still work.
type stallProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	stalled []chan struct{} // closed to stall one connection
	conns   []net.Conn
}

func startStallProxy(t *testing.T, upstream string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = down.Close()
				continue
			}
			stall := make(chan struct{})
			p.mu.Lock()
			p.stalled = append(p.stalled, stall)
			p.conns = append(p.conns, down, up)
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 4096)
				for {
					n, err := src.Read(buf)
					if err != nil {
						_ = dst.Close()
						return
					}
					select {
					case <-stall:
						continue // swallowed
					default:
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			wg.Go(func() { pipe(up, down) })
			wg.Go(func() { pipe(down, up) })
		}
	})
	return p
}

func (p *stallProxy) Addr() string { return p.ln.Addr().String() }

func (p *stallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.stalled {
		close(c)
	}
	p.stalled = nil
}

// A kept connection that went silent is given up after the short check,
// not after the full timeout, and the mail goes over a fresh connection,
// once: the whole send stays within the time one send had before reuse.
func TestSMTPRedialsWhenConnectionGoesSilent(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		p := startStallProxy(t, mb.Addr())
		s := newSMTP(t, SMTPConfig{Addr: p.Addr(), TLS: "none", Timeout: 3 * time.Second})
		t.Cleanup(func() { _ = s.Close() })
		s.checkTimeout = 200 * time.Millisecond
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		p.Stall()
		start := time.Now()
		if err := send(t, s); err != nil {
			t.Fatalf("send over a silent kept connection: %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("send took %s: the silent connection was not given up after its check", took)
		}
		checkConns(t, mb, 1, 2)
	})
}

// gone is the recipient the relays of these tests refuse with 550.
const gone = "gone@example.com"

// sendAroundRefusal sends a good mail, one to gone and a good one again:
// the refusal must come back permanent and without the address, and the
// good ones must go.
func sendAroundRefusal(t *testing.T, s *SMTP) {
	t.Helper()
	if err := send(t, s); err != nil {
		t.Fatal(err)
	}
	err := sendTo(t, s, gone)
	if err == nil {
		t.Fatal("refused recipient reported as sent")
	}
	if !IsPermanent(err) {
		t.Errorf("550 for the recipient not marked permanent: %v", err)
	}
	if strings.Contains(err.Error(), gone) {
		t.Errorf("error contains the recipient: %v", err)
	}
	if err := send(t, s); err != nil {
		t.Fatalf("good mail after a refused recipient: %v", err)
	}
}

func TestSMTPRefusedRecipientDoesNotPoisonConnection(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		mb.RefuseRecipient(gone)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		sendAroundRefusal(t, s)
		// Both good mails over the one connection, which RSET cleared.
		checkConns(t, mb, 1, 1)
		for _, m := range mb.Messages() {
			if len(m.To) != 1 || m.To[0] != testTo {
				t.Errorf("message to %q", m.To)
			}
		}
	})
}

// A temporary refusal (451 to DATA) is reported, not retried here (the
// outbox retries later), and the next mail goes over a fresh connection.
func TestSMTPTemporaryRefusal(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		mb.SetReject(true)
		err := send(t, s)
		if err == nil || IsPermanent(err) {
			t.Fatalf("451: err = %v, permanent = %v", err, IsPermanent(err))
		}
		checkClean(t, err)
		mb.SetReject(false)
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		checkConns(t, mb, 1, 2)
	})
}

func TestSMTPReuseWithStartTLSAndAuth(t *testing.T) {
	cfg, pool := selfSigned(t)
	for _, c := range []struct {
		name string
		mode string
		opts mailbox.Options
	}{
		{"starttls", "starttls", mailbox.Options{TLS: cfg, Username: testUser, Password: testPassword}},
		{"implicit", "implicit", mailbox.Options{TLS: cfg, Implicit: true, Username: testUser, Password: testPassword}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mb := startMailbox(t, c.opts)
			s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: c.mode, RootCAs: pool, Username: testUser, Password: testPassword})
			t.Cleanup(func() { _ = s.Close() })
			for range 3 {
				if err := send(t, s); err != nil {
					t.Fatal(err)
				}
			}
			mb.DropConnections()
			waitOpen(t, mb, 0)
			if err := send(t, s); err != nil {
				t.Fatalf("after the server dropped the connection: %v", err)
			}
			checkConns(t, mb, 1, 1, 1, 2)
			for _, m := range mb.Messages() {
				if !m.TLS || m.AuthUser != testUser {
					t.Errorf("message %d: TLS = %v, AuthUser = %q", m.ID, m.TLS, m.AuthUser)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			waitOpen(t, mb, 0)
		})
	}
}

// Two goroutines send at once (the outbox's walker and the request
// queue's): every mail arrives once, and one connection is kept.
func TestSMTPConcurrentSends(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		var wg sync.WaitGroup
		for g := range 2 {
			wg.Go(func() {
				for i := range 10 {
					if err := sendTo(t, s, "g"+strconv.Itoa(g)+"-"+strconv.Itoa(i)+"@example.com"); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		msgs := mb.Messages()
		seen := map[string]bool{}
		for _, m := range msgs {
			seen[m.To[0]] = true
		}
		if len(msgs) != 20 || len(seen) != 20 {
			t.Errorf("%d messages to %d recipients, want 20 and 20", len(msgs), len(seen))
		}
		waitOpen(t, mb, 1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		waitOpen(t, mb, 0)
	})
}

// The kept connection answers RSET but then 421 to MAIL FROM (the relay
// is closing it): the mail goes over a fresh connection, once.
func TestSMTPRedialsAfter421(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		mb := startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		mb.AnswerClosing(1)
		if err := send(t, s); err != nil {
			t.Fatalf("send after 421 on the kept connection: %v", err)
		}
		checkConns(t, mb, 1, 2)

		// On a fresh connection a 421 is reported (the outbox retries),
		// not redialed.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		mb.AnswerClosing(1)
		if err := send(t, s); err == nil || IsPermanent(err) {
			t.Fatalf("421 on a fresh connection: err = %v, permanent = %v", err, IsPermanent(err))
		}
		checkConns(t, mb, 1, 2)
	})
}

// The server takes the message and the connection dies before its answer
// to the end of DATA arrives: the send fails (the outbox tries again
// later), but it is not redialed and sent a second time here.
func TestSMTPNoSecondSendAfterData(t *testing.T) {
	bothWays(t, func(t *testing.T, o mailbox.Options) {
		var drop atomic.Bool
		var mb *mailbox.Server
		o.OnMessage = func(mailbox.Mail) {
			if drop.Load() {
				mb.DropConnections() // before the 250 is written
			}
		}
		mb = startMailbox(t, o)
		s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
		t.Cleanup(func() { _ = s.Close() })
		if err := send(t, s); err != nil {
			t.Fatal(err)
		}
		drop.Store(true)
		err := send(t, s)
		if err == nil {
			t.Fatal("send reported done without the server's answer")
		}
		if IsPermanent(err) {
			t.Errorf("lost answer marked permanent: %v", err)
		}
		checkClean(t, err)
		checkConns(t, mb, 1, 1)
	})
}

// writeCounter dials as go-mail does (tls none) and counts the writes the
// client makes on its connections.
type writeCounter struct{ writes atomic.Int64 }

func (w *writeCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countedWrites{Conn: c, n: &w.writes}, nil
}

type countedWrites struct {
	net.Conn
	n *atomic.Int64
}

func (c *countedWrites) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// On a kept connection to a relay that offers PIPELINING a mail costs two
// writes: RSET, MAIL, RCPT and DATA in one, the message with its end of
// data in the other. Without PIPELINING every command is a write of its
// own. The message has lines that are only dots, which must arrive intact
// (dot-stuffed on the wire).
func TestSMTPPipelinesOnKeptConnection(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     mailbox.Options
		min, max int64 // writes per mail on the kept connection
	}{
		{"pipelining", mailbox.Options{}, 2, 2},
		{"one command at a time", mailbox.Options{NoPipelining: true}, 5, 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			mb := startMailbox(t, c.opts)
			s := newSMTP(t, SMTPConfig{Addr: mb.Addr(), TLS: "none"})
			t.Cleanup(func() { _ = s.Close() })
			var wc writeCounter
			s.dialer = wc.dial
			m := testMessage()
			m.Text = "first line\n.\n..\n.hidden\nlast line\n"
			m.HTML = "<p>" + strings.Repeat("a long line of HTML ", 500) + "</p>" // several KiB
			ctx := t.Context()
			if err := s.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				before := wc.writes.Load()
				if err := s.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
				if n := wc.writes.Load() - before; n < c.min || n > c.max {
					t.Errorf("mail %d on the kept connection took %d writes, want %d to %d", i+2, n, c.min, c.max)
				}
			}
			checkConns(t, mb, 1, 1, 1, 1)
			for _, got := range mb.Messages() {
				if got.Text != m.Text || got.HTML != m.HTML {
					t.Fatalf("message changed on the way: Text %q", got.Text)
				}
			}
		})
	}
}

// ruleBreakingRelay offers PIPELINING but answers 354 to DATA even after
// it refused every recipient, which RFC 2920 forbids and some relays do.
// It notes every command line and what happened to each DATA.
type ruleBreakingRelay struct {
	ln        net.Listener
	mu        sync.Mutex
	commands  []string // "<conn> <command line>"
	mails     int      // messages ended by a lone "."
	abandoned int      // DATA sessions the client closed without an end
	stray     int      // bytes of content in the abandoned DATA sessions
}

func startRuleBreakingRelay(t *testing.T) *ruleBreakingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ruleBreakingRelay{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for id := 1; ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			wg.Go(func() { r.serve(c, id) })
		}
	})
	return r
}

func (r *ruleBreakingRelay) serve(c net.Conn, id int) {
	defer c.Close()
	tc := textproto.NewConn(c)
	say := func(lines ...string) { _ = tc.PrintfLine("%s", strings.Join(lines, "\r\n")) }
	say("220 relay.test ESMTP")
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.commands = append(r.commands, strconv.Itoa(id)+" "+line)
		r.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch {
		case verb == "EHLO":
			say("250-relay.test", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8", "250 SIZE 1000000")
		case verb == "MAIL", verb == "RSET", verb == "NOOP":
			say("250 2.0.0 OK")
		case verb == "RCPT" && strings.Contains(line, "<"+gone+">"):
			say("550 5.1.1 No such user")
		case verb == "RCPT":
			say("250 2.1.5 OK")
		case verb == "DATA":
			say("354 End data with <CR><LF>.<CR><LF>")
			if content, err := tc.ReadDotBytes(); err != nil {
				r.mu.Lock()
				r.abandoned++
				r.stray += len(content)
				r.mu.Unlock()
				return
			}
			r.mu.Lock()
			r.mails++
			r.mu.Unlock()
			say("250 2.0.0 Queued")
		case verb == "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			say("502 5.5.2 Not implemented")
		}
	}
}

// After a refused recipient, a relay that still answers 354 to DATA gets
// no message content (not even an empty message) and the connection is
// given up; the refusal is reported as permanent, without the address,
// and the next mail goes over a fresh connection. MAIL FROM carries the
// parameters go-mail would add for what the relay offers.
func TestSMTPPipelinedRefusalAnswered354(t *testing.T) {
	r := startRuleBreakingRelay(t)
	s := newSMTP(t, SMTPConfig{Addr: r.ln.Addr().String(), TLS: "none", HelloName: "client.test"})
	t.Cleanup(func() { _ = s.Close() })
	sendAroundRefusal(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	mail := "MAIL FROM:<no-reply@acme.test> BODY=8BITMIME SMTPUTF8"
	want := []string{
		"1 EHLO client.test",
		"1 " + mail, "1 RCPT TO:<" + testTo + ">", "1 DATA",
		"1 RSET", "1 " + mail, "1 RCPT TO:<" + gone + ">", "1 DATA",
		"2 EHLO client.test",
		"2 " + mail, "2 RCPT TO:<" + testTo + ">", "2 DATA",
		"2 QUIT",
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got, mails, abandoned, stray := append([]string(nil), r.commands...), r.mails, r.abandoned, r.stray
		r.mu.Unlock()
		if strings.Join(got, "\n") == strings.Join(want, "\n") && abandoned == 1 {
			if mails != 2 {
				t.Errorf("%d messages arrived, want 2", mails)
			}
			if stray != 0 {
				t.Errorf("%d bytes sent after the 354 that followed the refusal", stray)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay saw:\n%s\nwant:\n%s\n(%d messages, %d DATA abandoned, want 2 and 1)",
				strings.Join(got, "\n"), strings.Join(want, "\n"), mails, abandoned)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
