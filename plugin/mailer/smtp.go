package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes for SMTPConfig.TLS.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// anything else is said; a server that does not offer STARTTLS is an
	// error, never a silent downgrade.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465 style).
	TLSImplicit = "implicit"
	// TLSNone sends in plain text. It is allowed only when the relay's host
	// is a loopback address, such as a local relay or a test mailbox.
	TLSNone = "none"
)

// DefaultSMTPTimeout is SMTPConfig.Timeout when unset.
const DefaultSMTPTimeout = 10 * time.Second

// now is the clock for the Date header; tests may replace it.
var now = time.Now

// SMTPConfig says how to reach the SMTP relay. Field comments name the
// Caddyfile option a field comes from, where there is one.
type SMTPConfig struct {
	// Addr is the relay as host:port, e.g. "smtp.example.com:587"
	// (option: the address after `email smtp`). Required.
	Addr string

	// From is the sender, with or without a display name, e.g.
	// `Acme <no-reply@acme.test>` (option `from`). Required. Its domain
	// also ends every Message-ID.
	From string

	// Username and Password, when Username is set, make the client
	// authenticate (options `username`, `password`). The mechanism is
	// discovered from what the server offers (SCRAM, CRAM-MD5, PLAIN,
	// LOGIN); PLAIN and LOGIN are used over TLS only, or over plain text
	// to a loopback relay with tls none. Default: no authentication.
	Username, Password string

	// TLS is how the connection is protected (option `tls`): "starttls",
	// "implicit" or "none"; see TLSStartTLS, TLSImplicit and TLSNone.
	// Default: "starttls".
	TLS string

	// Timeout bounds dialing and every later read and write of one send.
	// The RSET that checks a kept connection before reuse gets 2s, or
	// Timeout when shorter. Default: 10s.
	Timeout time.Duration

	// RootCAs, when set, replaces the system roots for verifying the
	// relay's certificate (tests with a self-signed server). Default: the
	// system roots.
	RootCAs *x509.CertPool

	// HelloName is the name sent with EHLO. Default: this machine's host
	// name.
	HelloName string
}

// SMTP sends messages through one SMTP relay. It keeps one connection open
// between messages (for SMTPIdleTimeout without a message and
// SMTPMaxMailsPerConn messages at most); Close closes it. It is safe for
// concurrent use.
type SMTP struct {
	host     string
	port     int
	mode     string
	from     *mail.Address
	envFrom  string // from as MAIL FROM takes it: "<a@b>"
	domain   string
	username string
	password string
	timeout  time.Duration
	rootCAs  *x509.CertPool
	helo     string

	// Connection reuse (smtp_conn.go). The limits are fields so that
	// tests can shorten them.
	idleTimeout  time.Duration
	maxMails     int
	checkTimeout time.Duration
	dialer       gomail.DialContextFunc // tests only, not with implicit TLS: dials the TCP connection
	mu           sync.Mutex
	// idle is the kept connection, nil when there is none. Two
	// goroutines of the engine send (the outbox's walker and the request
	// queue's); at the rate password mails go out they seldom send at
	// once, and when they do, the second connection is closed after its
	// message rather than kept: one kept connection is all a relay sees
	// of an idle instance.
	idle     *smtpConn
	closed   bool
	expiring sync.WaitGroup // a kept connection being closed by its timer

	buffers sync.Pool // *dotBuffer, reused by the next message (mime.go)
}

// NewSMTP checks cfg and returns a sender for it. Errors name the option at
// fault and never contain the password.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	s := &SMTP{
		username: cfg.Username,
		password: cfg.Password,
		timeout:  cfg.Timeout,
		rootCAs:  cfg.RootCAs,
		helo:     cfg.HelloName,

		idleTimeout: SMTPIdleTimeout,
		maxMails:    SMTPMaxMailsPerConn,
	}
	if cfg.Addr == "" {
		return nil, errors.New("mailer: smtp addr is required (host:port)")
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mailer: smtp addr %q must be host:port: %v", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return nil, fmt.Errorf("mailer: smtp addr %q must be host:port with a port from 1 to 65535", cfg.Addr)
	}
	s.host, s.port = host, port

	if cfg.From == "" {
		return nil, errors.New("mailer: from is required, e.g. \"Acme <no-reply@acme.test>\"")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mailer: from %q is not a valid address: %v", cfg.From, err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 1 || at == len(from.Address)-1 {
		return nil, fmt.Errorf("mailer: from %q must contain a domain", cfg.From)
	}
	s.from, s.envFrom, s.domain = from, envelope(from), from.Address[at+1:]

	switch mode := strings.ToLower(strings.TrimSpace(cfg.TLS)); mode {
	case "", TLSStartTLS:
		s.mode = TLSStartTLS
	case TLSImplicit:
		s.mode = TLSImplicit
	case TLSNone:
		if !isLoopback(host) {
			return nil, fmt.Errorf("mailer: tls %q is allowed only when the smtp addr is a loopback address (got host %q); use tls starttls or implicit", TLSNone, host)
		}
		s.mode = TLSNone
	default:
		return nil, fmt.Errorf("mailer: tls: %w", CheckTLSMode(cfg.TLS))
	}

	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mailer: password is set but username is empty")
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, errors.New("mailer: username is set but password is empty")
	}
	if strings.ContainsAny(cfg.Username, "\r\n\x00") {
		return nil, errors.New("mailer: username contains a control character")
	}

	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("mailer: timeout %s must not be negative", cfg.Timeout)
	case cfg.Timeout == 0:
		s.timeout = DefaultSMTPTimeout
	}
	s.checkTimeout = min(smtpCheckTimeout, s.timeout)
	if strings.ContainsAny(cfg.HelloName, " \r\n\t") {
		return nil, fmt.Errorf("mailer: hello name %q must be one word", cfg.HelloName)
	}
	return s, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m as a multipart/alternative message (text and, when set,
// HTML; or the one of them that is set) with a Message-ID, a Date, and
// "Auto-Submitted: auto-generated" (mime.go). It goes over a kept-open
// connection when there is one (see smtp_conn.go): a kept connection that
// turns out dead is replaced by a fresh one once, and only where the
// server cannot have taken the mail yet. A 5xx answer to the message comes
// back wrapped so that IsPermanent reports true. Errors never contain the
// recipient address or the password.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	buf := s.getBuffer()
	defer s.putBuffer(buf)
	out, err := s.compose(buf, m)
	if err != nil {
		return err
	}
	if err := s.send(ctx, out); err != nil {
		err = s.redact(err, m.To)
		if refusedForGood(err) {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// client makes a go-mail client for one connection. A client per
// connection keeps go-mail's per-client state (auth discovery) out of
// concurrent sends. It sends no NOOP before a message and no RSET after
// one: the connection's owner sends RSET before reusing a kept connection
// (smtp_conn.go), which both checks it and resets it.
func (s *SMTP) client(dial gomail.DialContextFunc) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
		gomail.WithTLSConfig(&tls.Config{
			ServerName: s.host,
			RootCAs:    s.rootCAs,
			MinVersion: tls.VersionTLS12,
		}),
	}
	switch s.mode {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.helo != "" {
		opts = append(opts, gomail.WithHELO(s.helo))
	}
	if dial != nil {
		opts = append(opts, gomail.WithDialContextFunc(dial))
	}
	if s.username != "" {
		opts = append(opts, gomail.WithUsername(s.username), gomail.WithPassword(s.password))
		if s.mode == TLSNone {
			// go-mail's discovery skips PLAIN and LOGIN without TLS;
			// the relay is on loopback (checked in NewSMTP), so they
			// are fine here.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: smtp client: %w", err)
	}
	return c, nil
}

// redact wraps err so that its text holds neither the recipient nor the
// password. errors.As and errors.Is still reach the cause.
func (s *SMTP) redact(err error, to string) error {
	text := err.Error()
	if to != "" {
		text = strings.ReplaceAll(text, to, "<recipient>")
		if addr, perr := mail.ParseAddress(to); perr == nil && addr.Address != "" {
			text = strings.ReplaceAll(text, addr.Address, "<recipient>")
		}
	}
	// Nothing is known to echo the password; this is a second line of
	// defence. Very short passwords are skipped: masking every "a" in a
	// message would mangle it and say more than it hides.
	if len(s.password) >= 4 {
		text = strings.ReplaceAll(text, s.password, "<password>")
	}
	return &redactedError{text: "mailer: smtp " + s.host + ":" + strconv.Itoa(s.port) + ": " + text, cause: err}
}

type redactedError struct {
	text  string
	cause error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.cause }

// oneLine folds any line breaks in a header value into spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot fix (the relay
// refused the message or recipient for good, the message is malformed).
// Queue does not retry such errors. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// CheckTLSMode reports whether mode is a tls option value: starttls,
// implicit, none, or empty (the default, starttls). Whether none is
// allowed also depends on the address (loopback only), checked by NewSMTP.
func CheckTLSMode(mode string) error {
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
		return nil
	}
	return fmt.Errorf("unknown mode '%s' (want starttls, implicit, none)", mode)
}
