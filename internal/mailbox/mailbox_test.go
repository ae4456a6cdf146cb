package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseQuotedPrintableAndBase64(t *testing.T) {
	raw := crlf(`From: Acme <no-reply@acme.test>
To: ada@example.com
Subject: =?UTF-8?q?R=C3=A9initialiser_votre_mot_de_passe?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 link: https://app.example.com/password-reset/new#token=3Dabc=
def and a long line
--b1
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

PHA+PGEgaHJlZj0iaHR0cHM6Ly9hcHAuZXhhbXBsZS5jb20vIj5DYWbDqTwv
YT48L3A+
--b1--
`)
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Réinitialiser votre mot de passe" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if want := "Café link: https://app.example.com/password-reset/new#token=abcdef and a long line"; m.Text != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if want := `<p><a href="https://app.example.com/">Café</a></p>`; m.HTML != want {
		t.Errorf("HTML = %q, want %q", m.HTML, want)
	}
	if got := m.Header.Get("From"); got != "Acme <no-reply@acme.test>" {
		t.Errorf("From header = %q", got)
	}
}

func TestParseNestedMixedSkipsAttachments(t *testing.T) {
	raw := crlf(`Subject: =?UTF-8?B?SGVsbG8gw6l0w6k=?=
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

plain body
--inner
Content-Type: text/html

<b>html body</b>
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename=notes.txt

not the body
--outer--
`)
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Hello été" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.Text != "plain body" || m.HTML != "<b>html body</b>" {
		t.Errorf("Text = %q, HTML = %q", m.Text, m.HTML)
	}
}

func TestParseSinglePart(t *testing.T) {
	raw := crlf(`Subject: latin
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe
`)
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "Grüße\n" {
		t.Errorf("Text = %q", m.Text)
	}

	m, err = Parse(crlf("Subject: none\n\nhello\n"))
	if err != nil || m.Text != "hello\n" {
		t.Errorf("no Content-Type: Text = %q, err = %v", m.Text, err)
	}

	if _, err := Parse([]byte("not a message")); err == nil {
		t.Error("Parse of garbage: no error")
	}
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const sample = "From: a@acme.test\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"

func TestServerStoresAndWaits(t *testing.T) {
	got := make(chan Mail, 1)
	s := start(t, Options{OnMessage: func(m Mail) { got <- m }})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan Mail, 1)
	go func() {
		m, err := s.WaitFor(ctx, func(m Mail) bool { return m.Subject == "hi" })
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()

	if err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com", "c@example.com"}, []byte(sample)); err != nil {
		t.Fatal(err)
	}
	m := <-done
	if m.ID != 1 || m.From != "a@acme.test" || len(m.To) != 2 || m.To[1] != "c@example.com" || m.Text != "body\n" || m.TLS {
		t.Errorf("got %+v", m)
	}
	if hook := <-got; hook.ID != m.ID {
		t.Errorf("OnMessage got ID %d", hook.ID)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("Messages() has %d", n)
	}
	if _, ok := s.Message(1); !ok {
		t.Error("Message(1) not found")
	}

	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if _, err := s.WaitFor(short, func(m Mail) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor without match: %v", err)
	}

	s.Clear()
	if n := len(s.Messages()); n != 0 {
		t.Errorf("after Clear: %d messages", n)
	}
}

func TestServerKeepsAtMostMaxMessages(t *testing.T) {
	s := start(t, Options{MaxMessages: 2})
	for range 3 {
		if err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com"}, []byte(sample)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[0].ID != 2 || msgs[1].ID != 3 {
		t.Errorf("kept %d messages, first ID %d", len(msgs), msgs[0].ID)
	}
}

func TestServerReject(t *testing.T) {
	s := start(t, Options{})
	s.SetReject(true)
	err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com"}, []byte(sample))
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 451 {
		t.Fatalf("rejecting server: err = %v, want 451", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("rejected message stored: %d", n)
	}
	s.SetReject(false)
	if err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com"}, []byte(sample)); err != nil {
		t.Fatalf("after SetReject(false): %v", err)
	}
}

func TestServerAuth(t *testing.T) {
	s := start(t, Options{Username: "relay", Password: "s3cret-pass"})
	host := "127.0.0.1"

	err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com"}, []byte(sample))
	if err == nil {
		t.Fatal("MAIL without AUTH accepted")
	}
	err = smtp.SendMail(s.Addr(), smtp.PlainAuth("", "relay", "wrong", host), "a@acme.test", []string{"b@example.com"}, []byte(sample))
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 535 {
		t.Fatalf("wrong password: err = %v, want 535", err)
	}
	if err := smtp.SendMail(s.Addr(), smtp.PlainAuth("", "relay", "s3cret-pass", host), "a@acme.test", []string{"b@example.com"}, []byte(sample)); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || m[0].AuthUser != "relay" {
		t.Errorf("messages: %+v", m)
	}
}

func TestServerSTARTTLSAndImplicit(t *testing.T) {
	cfg, pool, err := SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{TLS: cfg})
	// net/smtp upgrades with STARTTLS whenever the server offers it.
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	sendOn(t, c)
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("STARTTLS message: %+v", m)
	}

	si := start(t, Options{TLS: cfg, Implicit: true})
	conn, err := tls.Dial("tcp", si.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c2.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on an implicit TLS listener")
	}
	sendOn(t, c2)
	if m := si.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("implicit TLS message: %+v", m)
	}

	if _, err := Start(Options{Implicit: true}); err == nil {
		t.Error("Implicit without TLS accepted")
	}
}

func sendOn(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Mail("a@acme.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(sample)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestServerCountsDropsAndRefuses(t *testing.T) {
	s := start(t, Options{})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(to string) error {
		if err := c.Mail("a@acme.test"); err != nil {
			return err
		}
		if err := c.Rcpt(to); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(sample)); err != nil {
			return err
		}
		return w.Close()
	}
	for range 2 {
		if err := send("b@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	s.RefuseRecipient("gone@example.com")
	var te *textproto.Error
	if err := send("gone@example.com"); !errors.As(err, &te) || te.Code != 550 {
		t.Fatalf("refused recipient: %v, want 550", err)
	}
	_ = c.Reset()
	s.AnswerClosing(1)
	if err := send("b@example.com"); !errors.As(err, &te) || te.Code != 421 {
		t.Fatalf("closing: %v, want 421", err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[0].Conn != 1 || msgs[1].Conn != 1 {
		t.Fatalf("messages: %d, conns %v", len(msgs), msgs)
	}
	if accepted, open := s.Connections(); accepted != 1 || open != 1 {
		t.Errorf("connections: %d accepted, %d open", accepted, open)
	}
	s.DropConnections()
	if err := c.Noop(); err == nil {
		t.Error("connection still answers after DropConnections")
	}
	if _, open := s.Connections(); open != 0 {
		t.Errorf("%d open after DropConnections", open)
	}
}

// rawSession dials s and says EHLO; it returns the connection and the
// capabilities the server offered.
func rawSession(t *testing.T, s *Server) (*textproto.Conn, []string) {
	t.Helper()
	c, err := textproto.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := c.PrintfLine("EHLO client.test"); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.ReadResponse(250)
	if err != nil {
		t.Fatal(err)
	}
	return c, strings.Split(msg, "\n")[1:]
}

func offers(caps []string, name string) bool {
	for _, c := range caps {
		if strings.EqualFold(strings.Fields(c)[0], name) {
			return true
		}
	}
	return false
}

// The server offers PIPELINING and takes a command group sent in one
// write (RFC 2920): the replies come in order, a refused recipient is
// answered 550 and the DATA behind it refused with a 5xx, not 354, so no
// message content is taken; the session then carries the next mail.
func TestServerPipelining(t *testing.T) {
	s := start(t, Options{})
	s.RefuseRecipient("gone@example.com")
	c, caps := rawSession(t, s)
	if !offers(caps, "PIPELINING") {
		t.Fatalf("PIPELINING not offered: %q", caps)
	}
	group := func(cmds ...string) {
		t.Helper()
		if _, err := c.W.WriteString(strings.Join(cmds, "\r\n") + "\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.W.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	reply := func(want int) {
		t.Helper()
		if code, msg, err := c.ReadResponse(0); err != nil || code != want {
			t.Fatalf("reply %d %q (%v), want %d", code, msg, err, want)
		}
	}
	replyClass := func(class int) {
		t.Helper()
		if code, msg, err := c.ReadResponse(0); err != nil || code/100 != class {
			t.Fatalf("reply %d %q (%v), want %dxx", code, msg, err, class)
		}
	}

	group("MAIL FROM:<a@acme.test>", "RCPT TO:<gone@example.com>", "DATA")
	reply(250)
	reply(550)
	replyClass(5)

	group("RSET", "MAIL FROM:<a@acme.test>", "RCPT TO:<b@example.com>", "RCPT TO:<c@example.com>", "DATA")
	for _, code := range []int{250, 250, 250, 250, 354} {
		reply(code)
	}
	group(strings.TrimSuffix(sample, "\r\n"), ".", "QUIT")
	reply(250)
	reply(221)

	msgs := s.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 2 || msgs[0].To[1] != "c@example.com" || msgs[0].Text != "body\n" {
		t.Fatalf("messages: %+v", msgs)
	}
}

func TestServerNoPipelining(t *testing.T) {
	s := start(t, Options{NoPipelining: true})
	_, caps := rawSession(t, s)
	if offers(caps, "PIPELINING") {
		t.Errorf("PIPELINING offered: %q", caps)
	}
	if !offers(caps, "8BITMIME") || !offers(caps, "SIZE") {
		t.Errorf("other capabilities lost: %q", caps)
	}
	if err := smtp.SendMail(s.Addr(), nil, "a@acme.test", []string{"b@example.com"}, []byte(sample)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages", n)
	}

	cfg, _, err := SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Options{NoPipelining: true, TLS: cfg}); err == nil {
		t.Error("NoPipelining with TLS accepted")
	}
}
