// Package redistest runs a real, throwaway redis-server for tests: on a free
// loopback port, in a temporary directory, with persistence off. It is
// shared by the tests of store/redis and of anything built on it.
//
//	srv := redistest.Start(t)                        // plain, no password
//	srv := redistest.Start(t, redistest.WithPassword("s3cret"), redistest.WithTLS())
//	s, err := redis.Open(ctx, redis.Options{URL: srv.URL() + "/2"})
//
// The server is the Debian package's redis-server (7.x): `apt-get install -y
// redis-server`. An in-process imitation is not a substitute. When the
// binary cannot be found the test fails, with a message saying how to
// install it, unless the environment sets RESETGATE_SKIP_REDIS=1, in which
// case it is skipped. RESETGATE_REDIS_SERVER names another binary.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables the helper reads.
const (
	// EnvSkip set to "1" turns a missing redis-server into a skipped test
	// instead of a failed one.
	EnvSkip = "RESETGATE_SKIP_REDIS"

	// EnvBinary names the redis-server binary to run instead of the one
	// found on PATH.
	EnvBinary = "RESETGATE_REDIS_SERVER"
)

const (
	// startTimeout bounds how long a starting server may take to answer.
	startTimeout = 10 * time.Second

	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second

	// startAttempts is how often Start picks a new port when the chosen
	// one was taken between picking and binding.
	startAttempts = 5
)

// Option configures Start.
type Option func(*config)

type config struct {
	password string
	tls      bool
	args     []string
	sentinel []string
}

// WithSentinel runs the server as a Redis Sentinel whose configuration
// file starts with lines (e.g. "sentinel monitor mymaster 127.0.0.1 6379
// 2"). Sentinel rewrites the file as it learns; a Restart keeps it.
func WithSentinel(lines ...string) Option {
	return func(c *config) { c.sentinel = append(c.sentinel, lines...) }
}

// WithArgs adds command-line arguments to redis-server (for instance
// "--replicaof", "127.0.0.1", "6379", or "--cluster-enabled", "yes").
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// WithPassword starts the server with requirepass set to password; URL
// and TLSURL then carry it.
func WithPassword(password string) Option {
	return func(c *config) { c.password = password }
}

// WithTLS opens a TLS port as well as the plain one, with a server
// certificate for 127.0.0.1 signed by a CA made for this server only (see
// ClientTLSConfig). Clients need not present a certificate.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// Server is a running redis-server. Its methods may be called from any
// goroutine; Stop runs by itself when the test ends.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	cfg     config
	port    int
	tlsPort int
	rootCAs *x509.CertPool // nil without TLS

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for the test and stops it when the test
// ends. It fails (or skips, see the package documentation) the test when
// redis-server is missing or does not come up.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv(EnvSkip) == "1" {
			t.Skipf("redistest: %v (skipped: %s=1)", err, EnvSkip)
		}
		t.Fatalf("redistest: %v. Install it with `apt-get install -y redis-server` (Debian), "+
			"or set %s=1 to skip the tests that need it.", err, EnvSkip)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.tls {
		if err := s.writeCerts(); err != nil {
			t.Fatalf("redistest: making TLS certificates: %v", err)
		}
	}
	t.Cleanup(s.Stop)

	var lastErr error
	for range startAttempts {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if s.cfg.tls {
			if s.tlsPort, err = freePort(); err != nil {
				t.Fatalf("redistest: %v", err)
			}
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr is the plain port's address, "127.0.0.1:port".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is a redis:// URL for the plain port, with the password if the
// server has one, and no database path: append "/3" for database 3.
func (s *Server) URL() string {
	return s.url("redis", s.Addr())
}

// TLSAddr is the TLS port's address; empty without WithTLS.
func (s *Server) TLSAddr() string {
	if !s.cfg.tls {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort))
}

// TLSURL is a rediss:// URL for the TLS port, like URL; empty without
// WithTLS. Clients must trust ClientTLSConfig's roots to connect.
func (s *Server) TLSURL() string {
	if !s.cfg.tls {
		return ""
	}
	return s.url("rediss", s.TLSAddr())
}

// ClientTLSConfig returns a new client configuration that trusts the
// server's certificate; nil without WithTLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if !s.cfg.tls {
		return nil
	}
	return &tls.Config{RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}
}

// Password is the server's requirepass; empty if none.
func (s *Server) Password() string {
	return s.cfg.password
}

func (s *Server) url(scheme, addr string) string {
	u := url.URL{Scheme: scheme, Host: addr}
	if s.cfg.password != "" {
		u.User = url.UserPassword("", s.cfg.password)
	}
	return u.String()
}

// Stop stops the server (SIGTERM, then SIGKILL if it lingers). Its data is
// lost: it keeps none on disk. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart stops the server if it runs and starts a new, empty one on the
// same ports with the same settings, so clients reconnect to the same
// address. It fails the test if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	// The old process has closed its sockets; redis-server binds with
	// SO_REUSEADDR, but give a slow kernel a few tries anyway.
	var err error
	for range startAttempts {
		if err = s.start(); !errors.Is(err, errPortInUse) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// RestartAsReplica restarts the server, empty, as a replica of addr
// ("host:port"), and keeps it one across later restarts. It is how a
// primary without persistence must come back after a failover: started as
// an empty primary instead, it would for a while be a primary that
// Sentinel could still make the one with the data replicate (Redis's
// replication documentation, "Safety of replication when master has
// persistence turned off").
func (s *Server) RestartAsReplica(addr string) {
	s.t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		s.t.Fatalf("redistest: replica of %q: %v", addr, err)
	}
	s.mu.Lock()
	s.cfg.args = append(s.cfg.args, "--replicaof", host, port)
	s.mu.Unlock()
	s.Restart()
}

// Kill ends the server with SIGKILL, as a crash would, and waits until it
// is gone. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Log is what the server has written to its log since it last started.
func (s *Server) Log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// Port is the plain port.
func (s *Server) Port() int { return s.port }

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// errPortInUse is returned by start when redis-server could not bind.
var errPortInUse = errors.New("port already in use")

// start runs redis-server with the Server's settings and waits until it
// answers on the plain port.
func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
	}
	if s.cfg.password != "" {
		args = append(args, "--requirepass", s.cfg.password)
	}
	args = append(args, s.cfg.args...)
	if len(s.cfg.sentinel) > 0 {
		conf := filepath.Join(s.dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil {
			if err := os.WriteFile(conf, []byte(strings.Join(s.cfg.sentinel, "\n")+"\n"), 0o600); err != nil {
				return err
			}
		}
		args = append([]string{conf}, args...)
		args = append(args, "--sentinel")
	}
	if s.cfg.tls {
		args = append(args,
			"--tls-port", strconv.Itoa(s.tlsPort),
			"--tls-cert-file", filepath.Join(s.dir, "server.crt"),
			"--tls-key-file", filepath.Join(s.dir, "server.key"),
			"--tls-ca-cert-file", filepath.Join(s.dir, "ca.crt"),
			"--tls-auth-clients", "no",
		)
	}
	// Truncate the log, so that a failure shows this run's lines only.
	logPath := filepath.Join(s.dir, "redis.log")
	_ = os.WriteFile(logPath, nil, 0o600)
	var stdio bytes.Buffer
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout = &syncWriter{w: &stdio}
	cmd.Stderr = cmd.Stdout
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	output := func() string {
		logged, _ := os.ReadFile(logPath)
		return strings.TrimSpace(cmd.Stdout.(*syncWriter).String() + string(logged))
	}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			out := output()
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%w: redis-server on %s: %s", errPortInUse, s.Addr(), out)
			}
			return fmt.Errorf("redis-server exited at start (%s): %s", cmd.ProcessState, out)
		default:
		}
		if ping(s.Addr()) == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer on %s within %v: %s", s.Addr(), startTimeout, output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// ping sends an inline PING and waits for any reply: "+PONG", or
// "-NOAUTH" from a server with a password, both mean it is up.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "-LOADING") || (line[0] != '+' && line[0] != '-') {
		return fmt.Errorf("not ready: %q", line)
	}
	return nil
}

// findBinary locates redis-server.
func findBinary() (string, error) {
	if bin := os.Getenv(EnvBinary); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, bin, err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server is not installed (not found on PATH)")
	}
	return bin, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and
// localhost, writes ca.crt, server.crt and server.key to the Server's
// directory, and keeps the CA as the client's root.
func (s *Server) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.crt":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.crt": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	s.rootCAs = x509.NewCertPool()
	s.rootCAs.AddCert(ca)
	return nil
}

// syncWriter is a bytes.Buffer safe to write from exec's copying goroutine
// while start reads it.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}
