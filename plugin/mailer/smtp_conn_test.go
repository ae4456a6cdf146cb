package mailer

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
)

// Connection reuse (smtp_conn.go), on both paths: pipelined and one command
// at a time.

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

// closeAll closes s and waits until the mailbox has no connection open:
// Close ends the kept connection too.
func closeAll(t *testing.T, s *SMTP, mb *mailbox.Server) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, mb, 0)
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
		closeAll(t, s, mb)
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
			closeAll(t, s, mb)
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
		closeAll(t, s, mb)
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
