// Package mailbox is a real, in-process SMTP server that keeps every message
// it receives in memory. Tests use it to check what resetgate sends, and the
// demo (examples/mailbox) shows its messages in a browser.
//
// It speaks SMTP through github.com/emersion/go-smtp, so a client talks to it
// exactly as it would to a production relay: EHLO, optional STARTTLS or
// implicit TLS, optional AUTH PLAIN, MAIL, RCPT, DATA, with PIPELINING
// (RFC 2920) offered unless Options.NoPipelining. It is not meant to face
// the internet: it stores everything and never relays.
package mailbox

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configures Start.
type Options struct {
	// Addr is the TCP address to listen on. Default: 127.0.0.1:0 (a free
	// port on loopback; read the chosen one with Server.Addr).
	Addr string

	// TLS, when set, lets clients upgrade with STARTTLS (or, with Implicit,
	// is used for the implicit TLS listener). Default: nil, no TLS.
	TLS *tls.Config

	// Implicit makes the listener speak TLS from the first byte, as on port
	// 465. It requires TLS. Default: false.
	Implicit bool

	// Username and Password, when Username is set, make AUTH PLAIN
	// mandatory: MAIL FROM is refused until the client has authenticated
	// with exactly these credentials. Without TLS, AUTH is offered over
	// plain text too (this is a test server). Default: no authentication.
	Username, Password string

	// MaxMessages caps how many messages are kept; the oldest are dropped
	// first. Default: 1000.
	MaxMessages int

	// NoPipelining keeps PIPELINING out of the EHLO reply, as a relay
	// that does not offer it, so that tests can check a client that then
	// sends one command at a time. (go-smtp always offers it and would
	// still take pipelined commands.) Plain text only: Start refuses it
	// with TLS. Default: false, PIPELINING is offered.
	NoPipelining bool

	// OnMessage, when set, is called (synchronously, on the connection's
	// goroutine) with every message accepted.
	OnMessage func(Mail)
}

// Server is a running in-memory SMTP server. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	smtp *smtp.Server
	ln   net.Listener
	done chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	msgs     []Mail
	nextID   int
	arrived  chan struct{} // closed and replaced whenever a message arrives
	rejectOn bool
	refused  map[string]bool       // recipients answered 550
	closing  int                   // MAIL FROMs still to answer 421
	conns    map[*countedConn]bool // open connections
	accepted int                   // connections accepted so far
}

// Start listens on opts.Addr and serves SMTP in the background until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = 1000
	}
	if opts.Implicit && opts.TLS == nil {
		return nil, errors.New("mailbox: Implicit requires TLS")
	}
	if opts.Password != "" && opts.Username == "" {
		return nil, errors.New("mailbox: Password set without Username")
	}
	if opts.NoPipelining && opts.TLS != nil {
		return nil, errors.New("mailbox: NoPipelining works in plain text only, without TLS")
	}

	s := &Server{opts: opts, done: make(chan struct{}), arrived: make(chan struct{}), conns: map[*countedConn]bool{}}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "mailbox.localhost"
	srv.TLSConfig = opts.TLS
	// Offer AUTH without TLS only when there is no TLS to upgrade to.
	srv.AllowInsecureAuth = opts.TLS == nil
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.smtp = srv

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("mailbox: listen on %s: %w", opts.Addr, err)
	}
	ln = &countingListener{Listener: ln, srv: s}
	if opts.Implicit {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s.ln = ln

	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the address the server listens on, as host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, drops open connections and waits for the accept
// loop to end. Messages stay readable.
// Calling Close again does nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.smtp.Close()
		// Serve registers the listener with go-smtp only once its
		// goroutine runs; closing it here too covers a Close that comes
		// first.
		if lerr := s.ln.Close(); err == nil && !errors.Is(lerr, net.ErrClosed) {
			err = lerr
		}
		<-s.done
		if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}

// SetReject makes the server answer every DATA with a 451 temporary failure
// while on is true, so tests can exercise retries. Messages refused this way
// are not stored.
func (s *Server) SetReject(on bool) {
	s.mu.Lock()
	s.rejectOn = on
	s.mu.Unlock()
}

// RefuseRecipient makes the server answer RCPT TO for addr with a 550
// permanent failure ("no such user"), so tests can exercise a rejected
// recipient.
func (s *Server) RefuseRecipient(addr string) {
	s.mu.Lock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	s.refused[addr] = true
	s.mu.Unlock()
}

// AnswerClosing makes the server answer the next n MAIL FROM commands
// with "421 closing", as a relay does that is shutting down or has had
// enough of a connection. (It keeps the connection open; the client is
// expected to give it up.)
func (s *Server) AnswerClosing(n int) {
	s.mu.Lock()
	s.closing = n
	s.mu.Unlock()
}

// Connections reports how many connections the server has accepted so far
// and how many of them are still open. A connection counts as closed once
// either side has closed it and the server has noticed.
func (s *Server) Connections() (accepted, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, len(s.conns)
}

// DropConnections closes every open connection from the server's side
// without a word, as a relay does when its idle timeout strikes or it
// restarts. The listener stays open.
func (s *Server) DropConnections() {
	s.mu.Lock()
	open := make([]*countedConn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// Messages returns a copy of the stored messages, oldest first.
func (s *Server) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Mail, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Message returns the stored message with the given ID.
func (s *Server) Message(id int) (Mail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return Mail{}, false
}

// Clear forgets every stored message.
func (s *Server) Clear() {
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
}

// WaitFor returns the first stored message, oldest first, for which match
// returns true, waiting for new ones until ctx is done. A nil match accepts
// any message.
func (s *Server) WaitFor(ctx context.Context, match func(Mail) bool) (Mail, error) {
	for {
		s.mu.Lock()
		// Messages are only appended (or dropped from the front, or
		// cleared), so rescanning everything is simple and correct.
		for _, m := range s.msgs {
			if match == nil || match(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		arrived := s.arrived
		s.mu.Unlock()

		select {
		case <-arrived:
		case <-ctx.Done():
			return Mail{}, fmt.Errorf("mailbox: no matching message: %w", ctx.Err())
		}
	}
}

func (s *Server) rejecting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejectOn
}

func (s *Server) store(m Mail) Mail {
	s.mu.Lock()
	s.nextID++
	m.ID = s.nextID
	s.msgs = append(s.msgs, m)
	if over := len(s.msgs) - s.opts.MaxMessages; over > 0 {
		s.msgs = append([]Mail(nil), s.msgs[over:]...)
	}
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return m
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c, connID: connID(c.Conn())}, nil
}

// session is one SMTP session's state (go-smtp starts a new one after
// STARTTLS, on the same connection).
type session struct {
	srv    *Server
	conn   *smtp.Conn
	connID int
	user   string
	from   string
	to     []string
}

// countingListener numbers the connections it accepts and keeps track of
// the open ones.
type countingListener struct {
	net.Listener
	srv *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.srv
	s.mu.Lock()
	s.accepted++
	cc := &countedConn{Conn: c, srv: s, id: s.accepted, noPipelining: s.opts.NoPipelining}
	s.conns[cc] = true
	s.mu.Unlock()
	return cc, nil
}

// countedConn is an accepted connection that leaves the open set when
// closed.
type countedConn struct {
	net.Conn
	srv          *Server
	id           int
	once         sync.Once
	noPipelining bool
}

// ehloPipelining is the line of go-smtp's EHLO reply that offers
// PIPELINING. It is never the last line, and go-smtp flushes every line of
// a reply on its own, so it arrives in a Write of its own.
const ehloPipelining = "250-PIPELINING\r\n"

// Write drops the EHLO reply's PIPELINING line when the server is not to
// offer it.
func (c *countedConn) Write(p []byte) (int, error) {
	if c.noPipelining && string(p) == ehloPipelining {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
	})
	return c.Conn.Close()
}

// connID is the number of the accepted connection under nc (through any
// TLS layers), or 0.
func connID(nc net.Conn) int {
	for {
		switch c := nc.(type) {
		case *countedConn:
			return c.id
		case *tls.Conn:
			nc = c.NetConn()
		default:
			return 0
		}
	}
}

var errTempFailure = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Temporary failure, try again later",
}

// AuthMechanisms offers PLAIN only when credentials are configured.
func (se *session) AuthMechanisms() []string {
	if se.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth checks PLAIN credentials in constant time.
func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.srv.opts.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		u := subtle.ConstantTimeCompare([]byte(username), []byte(se.srv.opts.Username))
		p := subtle.ConstantTimeCompare([]byte(password), []byte(se.srv.opts.Password))
		if u&p != 1 {
			return smtp.ErrAuthFailed
		}
		se.user = username
		return nil
	}), nil
}

var errClosing = &smtp.SMTPError{
	Code:         421,
	EnhancedCode: smtp.EnhancedCode{4, 4, 2},
	Message:      "Closing connection",
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.srv.opts.Username != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.srv.mu.Lock()
	closing := se.srv.closing > 0
	if closing {
		se.srv.closing--
	}
	se.srv.mu.Unlock()
	if closing {
		return errClosing
	}
	se.from = from
	se.to = nil
	return nil
}

var errNoSuchUser = &smtp.SMTPError{
	Code:         550,
	EnhancedCode: smtp.EnhancedCode{5, 1, 1},
	Message:      "No such user here",
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.srv.mu.Lock()
	refused := se.srv.refused[to]
	se.srv.mu.Unlock()
	if refused {
		return errNoSuchUser
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if se.srv.rejecting() {
		return errTempFailure
	}
	_, isTLS := se.conn.TLSConnectionState()
	// A message that does not parse is kept anyway: Raw shows what came in.
	m, _ := Parse(raw)
	m.From = se.from
	m.To = append([]string(nil), se.to...)
	m.Received = time.Now()
	m.TLS = isTLS
	m.AuthUser = se.user
	m.Conn = se.connID
	m = se.srv.store(m)
	if se.srv.opts.OnMessage != nil {
		se.srv.opts.OnMessage(m)
	}
	return nil
}

func (se *session) Reset() {
	se.from = ""
	se.to = nil
}

func (se *session) Logout() error { return nil }
