package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// maxIdleLDAPConns is how many bound service connections are kept open
// between requests: enough for a sidecar's bursts, small for the directory.
const maxIdleLDAPConns = 4

// ldapDialer opens connections to the directory: TCP through the context,
// then TLS (ldaps:// or StartTLS) with the configured roots.
type ldapDialer struct {
	addr     string // host:port
	implicit bool   // ldaps://
	startTLS bool
	tls      *tls.Config
	timeout  time.Duration
}

func newLDAPDialer(c *LDAPConfig) (*ldapDialer, error) {
	u, err := c.parseURL()
	if err != nil {
		return nil, err
	}
	d := &ldapDialer{
		implicit: u.Scheme == "ldaps",
		startTLS: c.StartTLS,
		timeout:  c.timeout(),
		tls:      &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
	}
	d.addr = hostPort(u)
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("users ldap: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("users ldap: ca_file holds no PEM certificate")
		}
		d.tls.RootCAs = pool
	}
	return d, nil
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dial connects and, where configured, starts TLS; it does not bind.
func (d *ldapDialer) dial(ctx context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := &net.Dialer{}
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("ldap: connect: %w", err)
	}
	if d.implicit {
		tc := tls.Client(raw, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("ldap: TLS handshake: %w", err)
		}
		raw = tc
	}
	conn := ldap.NewConn(raw, d.implicit)
	conn.SetTimeout(d.timeout)
	conn.Start()
	if d.startTLS {
		err := withContext(ctx, conn, func() error { return conn.StartTLS(d.tls) })
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("ldap: StartTLS: %w", err)
		}
	}
	return conn, nil
}

// withContext runs op on conn and gives up when ctx ends first: the
// connection is closed (which ends op) and ctx's error returned. A
// connection given up on must not be reused.
func withContext(ctx context.Context, conn *ldap.Conn, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		conn.Close()
		<-done
		return ctx.Err()
	}
}

// ldapPool keeps a few connections bound as the service account. Each
// operation has a connection to itself; one that failed is closed, not
// returned, so the next operation reconnects.
type ldapPool struct {
	dialer   *ldapDialer
	bindDN   string
	bindPass string

	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
}

// get returns an idle bound connection, or a new one.
func (p *ldapPool) get(ctx context.Context) (conn *ldap.Conn, reused bool, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, errors.New("ldap: directory is closed")
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, true, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	c, err := p.dialer.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := withContext(ctx, c, func() error { return c.Bind(p.bindDN, p.bindPass) }); err != nil {
		c.Close()
		return nil, false, fmt.Errorf("ldap: service bind as bind_dn: %w", err)
	}
	return c, false, nil
}

// put returns a healthy connection for reuse.
func (p *ldapPool) put(c *ldap.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.IsClosing() || len(p.idle) >= maxIdleLDAPConns {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

// do runs op on a service connection. A connection that fails at the
// network level is dropped; when it was an idle one (the server may have
// restarted since), op is tried once more on a fresh connection.
func (p *ldapPool) do(ctx context.Context, op func(*ldap.Conn) error) error {
	return p.run(ctx, op, true)
}

// change runs op, which changes the directory, once: a failure of the
// connection after op was sent (a timeout, a dropped connection, rather
// than an answer from the directory) is marked ErrOutcomeUnknown, as the
// directory may have applied the change, and is not tried again (a second
// password modify after an applied one could be refused by the
// directory's history rule, and say the opposite of what happened). A
// connection that cannot be had fails before op, as a plain error; idle
// connections the server closed are dropped by get.
func (p *ldapPool) change(ctx context.Context, op func(*ldap.Conn) error) error {
	var started atomic.Bool
	err := p.run(ctx, func(c *ldap.Conn) error {
		started.Store(true)
		return op(c)
	}, false)
	if err != nil && started.Load() && answerLost(err) {
		return OutcomeUnknown(err)
	}
	return err
}

// run is do, with retry false for an op that is not to be tried twice.
func (p *ldapPool) run(ctx context.Context, op func(*ldap.Conn) error, retry bool) error {
	for attempt := 0; ; attempt++ {
		opCtx, cancel := context.WithTimeout(ctx, p.dialer.timeout)
		c, reused, err := p.get(opCtx)
		if err != nil {
			cancel()
			return err
		}
		err = withContext(opCtx, c, func() error { return op(c) })
		cancel()
		if err == nil || !isConnError(err) && !c.IsClosing() {
			p.put(c)
			return err
		}
		c.Close()
		if !retry || !reused || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// answerLost reports whether err is the connection's failure rather than
// the directory's answer; Busy and Unavailable are answers.
func answerLost(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) && (le.ResultCode == ldap.LDAPResultBusy || le.ResultCode == ldap.LDAPResultUnavailable) {
		return false
	}
	return isConnError(err)
}

func (p *ldapPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// isConnError is true for failures of the connection itself rather than an
// answer from the directory.
func isConnError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == ldap.ErrorNetwork || le.ResultCode == ldap.LDAPResultServerDown ||
			le.ResultCode == ldap.LDAPResultTimeout || le.ResultCode == ldap.LDAPResultUnavailable ||
			le.ResultCode == ldap.LDAPResultBusy
	}
	var ne net.Error
	return errors.As(err, &ne)
}
