package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// Connection reuse. Dialing, greeting, STARTTLS and AUTH cost more than the
// message itself, so SMTP keeps a connection open between messages and
// checks it with RSET before the next one. When the relay offers
// PIPELINING, that RSET goes out with the next message's commands
// (smtp_pipe.go).
const (
	// SMTPIdleTimeout is how long a connection is kept open without a
	// message to send; then it is closed with QUIT. Relays drop idle
	// clients after a few minutes at the earliest (RFC 5321 asks for
	// 5), so a connection kept this long is normally still good.
	SMTPIdleTimeout = 30 * time.Second

	// SMTPMaxMailsPerConn is how many messages one connection carries
	// before it is closed and the next message dials afresh, so that a
	// relay's per-connection limits are respected.
	SMTPMaxMailsPerConn = 100

	// smtpCheckTimeout bounds the RSET that checks a kept connection
	// before it carries a message (or SMTPConfig.Timeout, when shorter);
	// with pipelining, the reply to the RSET sent ahead of the message's
	// commands.
	// A relay that answers RSET slower than this costs a redial, nothing
	// more; a connection that went silent (a peer gone without a FIN, a
	// firewall that forgot it) is given up quickly, so that the redial
	// and the send still fit in the time one send had before reuse.
	smtpCheckTimeout = 2 * time.Second

	// smtpQuitTimeout bounds the QUIT that closes a connection.
	smtpQuitTimeout = 2 * time.Second
)

// smtpConn is one open connection to the relay, with the go-mail client
// that dialed it.
type smtpConn struct {
	client     *gomail.Client
	sc         *gosmtp.Client
	pipelining bool        // the server offers PIPELINING (smtp_pipe.go)
	mails      int         // transactions started on it
	since      time.Time   // when it was put back idle
	timer      *time.Timer // closes it once idle for idleTimeout
}

// send delivers out over a kept connection or a fresh one. A kept
// connection is checked with RSET first (in the same write as the
// message's commands, when it pipelines); if the check fails, or the
// transaction fails in a way that shows the connection is gone (no
// answer, or a 4xx such as 421 "closing") before the end of the message
// was sent, the connection is dropped and out goes over one fresh
// connection instead. Once the end of the message was sent the mail is
// never sent again here: the server may have taken it.
func (s *SMTP) send(ctx context.Context, out outgoing) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	c := s.take()
	reused := c != nil
	if c == nil {
		var err error
		if c, err = s.dial(ctx); err != nil {
			return err
		}
	}
	err := s.transmit(c, out, reused)
	if err != nil && reused && redialable(err) {
		s.drop(c)
		if failedCheck(err) {
			s.dropIdle() // as take does when the check fails there
		}
		if c, err = s.dial(ctx); err != nil {
			return err
		}
		err = s.transmit(c, out, false)
	}
	if err != nil && !keepAfter(err) {
		s.drop(c)
		return err
	}
	s.put(c)
	return err
}

// take returns the kept connection, checked with RSET, or nil when there
// is none. When it fails its check (closed by the server, reset, silent)
// it is closed, and so is one another send kept meanwhile (the relay has
// likely dropped that too), and take returns nil: the caller dials, and
// that fresh connection is its one redial. A connection that pipelines is returned
// unchecked: its RSET goes out with the message's commands, and transmit
// reports its failure.
func (s *SMTP) take() *smtpConn {
	c := s.takeIdle(false)
	if c == nil {
		return nil
	}
	if time.Since(c.since) >= s.idleTimeout {
		s.drop(c) // its timer is late; the server may be gone too
		return nil
	}
	if c.pipelining {
		return c
	}
	if err := c.check(s.checkTimeout); err != nil {
		s.drop(c)
		s.dropIdle()
		return nil
	}
	return c
}

// check sends RSET within d: it tells a live connection from a dead one
// and clears any state a failed transaction left behind.
func (c *smtpConn) check(d time.Duration) error {
	if !c.sc.HasConnection() {
		return errors.New("connection closed")
	}
	if err := c.sc.UpdateDeadline(d); err != nil {
		return err
	}
	return c.sc.Reset()
}

// dial opens, greets and (as configured) secures and authenticates a
// fresh connection.
//
// go-mail leaves the connection open when the greeting, EHLO, STARTTLS or
// AUTH fails (until the garbage collector finds it): a wrong password or
// a relay that turns clients away at the greeting would hold one socket
// per attempt. In plain text and with STARTTLS the TCP connection is
// dialed here, as go-mail would, so that it is closed then. With implicit
// TLS go-mail must dial itself (it counts the session as encrypted only
// then, and offers AUTH PLAIN and LOGIN only to such sessions).
func (s *SMTP) dial(ctx context.Context) (*smtpConn, error) {
	var conn net.Conn
	var dialFn gomail.DialContextFunc
	if s.mode != TLSImplicit {
		base := s.dialer
		if base == nil {
			var d net.Dialer
			base = d.DialContext
		}
		dialFn = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := base(ctx, network, addr)
			if err == nil {
				conn = c
			}
			return c, err
		}
	}
	client, err := s.client(dialFn)
	if err != nil {
		return nil, err
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, fmt.Errorf("dial failed: %w", err)
	}
	pipelining, _ := sc.Extension("PIPELINING")
	return &smtpConn{client: client, sc: sc, pipelining: pipelining}, nil
}

// transmit runs one mail transaction (MAIL, RCPT, DATA) on c; kept says
// that c carried a message before and, when it pipelines, was not checked
// yet.
func (s *SMTP) transmit(c *smtpConn, out outgoing, kept bool) error {
	c.mails++
	if err := s.transaction(c, out, kept && c.pipelining); err != nil {
		return fmt.Errorf("send failed: %w", err)
	}
	return nil
}

// redialable reports whether a transaction that failed with err on a kept
// connection may be tried again on a fresh one: it failed before the end
// of the message was sent (so the server cannot have taken it), and
// without a permanent answer (which a fresh connection would get again).
func redialable(err error) bool {
	var pe *pipeError
	return errors.As(err, &pe) && !pe.sent && (pe.step == stepCheck || pe.code < 500)
}

// keepAfter reports whether the connection a transaction failed on with
// err stays usable: only after a clean 5xx answer (a refused sender,
// recipient or message), which ends the transaction and leaves the
// session as it was; the next use sends RSET first. After no answer (a
// timeout, a reset) the session's state is unknown, and after a 4xx the
// relay may be limiting this connection: it is closed.
func keepAfter(err error) bool {
	var pe *pipeError
	return errors.As(err, &pe) && pe.synced && pe.code >= 500 && pe.code < 600
}

// failedCheck reports whether err is the failure of the RSET that checks a
// kept connection that pipelines.
func failedCheck(err error) bool {
	var pe *pipeError
	return errors.As(err, &pe) && pe.step == stepCheck
}

// refusedForGood reports whether err is a 5xx answer to the message, its
// sender or a recipient: a failure that sending again cannot fix.
func refusedForGood(err error) bool {
	var pe *pipeError
	return errors.As(err, &pe) && pe.step != stepCheck && pe.code >= 500 && pe.code < 600
}

// put keeps c for the next message, or closes it when it has carried its
// share, another connection is kept already, or s is closed.
func (s *SMTP) put(c *smtpConn) {
	s.mu.Lock()
	if s.closed || c.mails >= s.maxMails || s.idle != nil {
		s.mu.Unlock()
		s.quit(c)
		return
	}
	c.since = time.Now()
	if c.timer == nil {
		c.timer = time.AfterFunc(s.idleTimeout, func() { s.expire(c) })
	} else {
		c.timer.Reset(s.idleTimeout)
	}
	s.idle = c
	s.mu.Unlock()
}

// expire closes c if it is still the kept connection.
func (s *SMTP) expire(c *smtpConn) {
	s.mu.Lock()
	found := s.idle == c
	if found {
		s.idle = nil
		s.expiring.Add(1)
	}
	s.mu.Unlock()
	if found {
		defer s.expiring.Done()
		s.quit(c)
	}
}

// takeIdle takes the kept connection out of s (nil when there is none);
// its timer no longer fires. With close, s keeps none from then on.
func (s *SMTP) takeIdle(close bool) *smtpConn {
	s.mu.Lock()
	c := s.idle
	s.idle = nil
	s.closed = s.closed || close
	s.mu.Unlock()
	if c != nil {
		c.timer.Stop()
	}
	return c
}

// dropIdle closes the kept connection, if any, without a word.
func (s *SMTP) dropIdle() {
	if c := s.takeIdle(false); c != nil {
		s.drop(c)
	}
}

// drop closes c without a word: after a failure, QUIT could only wait
// for an answer that is not coming.
func (s *SMTP) drop(c *smtpConn) {
	_ = c.sc.Close()
}

// quit says QUIT on c, within smtpQuitTimeout, and closes it.
func (s *SMTP) quit(c *smtpConn) {
	if c.sc.UpdateDeadline(min(smtpQuitTimeout, s.timeout)) == nil && c.sc.Quit() == nil {
		return
	}
	_ = c.sc.Close()
}

// Close closes the kept connection, and makes every connection in use
// close when its message is sent; Send still works afterwards, on a fresh
// connection per message. Close returns once no kept connection is left
// open. It always returns nil; calling it again does nothing more.
func (s *SMTP) Close() error {
	if c := s.takeIdle(true); c != nil {
		s.quit(c)
	}
	s.expiring.Wait()
	return nil
}
