package mailer

import (
	"context"
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

// The pipelined path (smtp_pipe.go).

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
