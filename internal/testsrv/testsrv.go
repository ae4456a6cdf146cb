// Package testsrv starts real database servers for tests: PostgreSQL and
// MariaDB from Debian's packages, on a free loopback port, in a directory
// of the test's own, as an unprivileged user when the test runs as root
// (both servers refuse to run as root). Each server is stopped when the
// test ends; Stop and Start let a test take it down and bring it back on
// the same port with the same data.
package testsrv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one running database server.
type Server struct {
	// DSN reaches the server as its administrator, in the Go driver's
	// syntax (pgx for PostgreSQL, go-sql-driver/mysql for MariaDB).
	DSN string
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int
	// User and Password are the administrator's.
	User, Password string
	// Dir holds the server's data and log.
	Dir string

	t       testing.TB
	driver  string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	command func() *exec.Cmd
	// stopSignal asks for a fast shutdown (PostgreSQL: SIGINT; SIGTERM
	// would wait for every client to leave).
	stopSignal os.Signal
}

// Stop stops the server (fast shutdown) and waits for it to exit.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	sig := s.stopSignal
	if sig == nil {
		sig = syscall.SIGTERM
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Start starts the server again after Stop, and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.startLocked()
}

func (s *Server) startLocked() {
	s.t.Helper()
	cmd := s.command()
	logf, err := os.OpenFile(filepath.Join(s.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("testsrv: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("testsrv: starting %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := s.waitReady(exited); err != nil {
		s.t.Fatalf("testsrv: %s did not come up: %v\n%s", s.driver, err, s.Log())
	}
}

// Log returns the end of the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitReady pings the server until it answers, or it exits.
func (s *Server) waitReady(exited chan struct{}) error {
	db, err := sql.Open(s.driver, s.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Exec runs statements as the administrator, failing the test on error.
func (s *Server) Exec(stmts ...string) {
	s.t.Helper()
	db, err := sql.Open(s.driver, s.DSN)
	if err != nil {
		s.t.Fatalf("testsrv: %v", err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			s.t.Fatalf("testsrv: %s: %v", firstLine(q), err)
		}
	}
}

// DB opens a pool as the administrator; it is closed when the test ends.
func (s *Server) DB() *sql.DB {
	s.t.Helper()
	db, err := sql.Open(s.driver, s.DSN)
	if err != nil {
		s.t.Fatalf("testsrv: %v", err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + "…"
	}
	return s
}

// serverUser is whom the server runs as: name when the test runs as root,
// else the current user (nil: no switch).
func serverUser(t testing.TB, name string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("testsrv: the server must not run as root and there is no user %q (install the Debian package that makes it): %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// ownedDir makes a directory inside t.TempDir() that cred can write, and
// lets cred reach it (t.TempDir's parents are 0700).
func ownedDir(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "srv")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if cred == nil {
		return dir
	}
	for p := base; strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs a setup command as cred and fails the test with its output.
func run(t testing.TB, cred *syscall.Credential, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testsrv: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Secret returns a random password of 24 hex characters.
func Secret() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lookPath finds a server binary in PATH or in the given directories.
func lookPath(t testing.TB, name, pkg string, globs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, g := range globs {
		if m, _ := filepath.Glob(filepath.Join(g, name)); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	t.Fatalf("testsrv: %s not found: install it (apt-get install -y %s)", name, pkg)
	return ""
}
