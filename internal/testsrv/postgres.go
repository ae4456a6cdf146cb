package testsrv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	// The pgx driver for database/sql, as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Postgres starts PostgreSQL (Debian's postgresql package) on a free
// loopback port with a fresh cluster whose superuser "postgres" has a
// random password (scram-sha-256 over TCP). It runs as the postgres user
// when the test runs as root.
func Postgres(t testing.TB) *Server {
	t.Helper()
	bins := []string{"/usr/lib/postgresql/*/bin"}
	initdb := lookPath(t, "initdb", "postgresql", bins...)
	postgres := lookPath(t, "postgres", "postgresql", filepath.Dir(initdb))
	if _, err := exec.LookPath("postgres"); err != nil {
		postgres = filepath.Join(filepath.Dir(initdb), "postgres")
	}
	cred := serverUser(t, "postgres")
	dir := ownedDir(t, cred)
	s := &Server{t: t, driver: "pgx", Host: "127.0.0.1", Port: FreePort(t), User: "postgres", Password: Secret(), Dir: dir, stopSignal: syscall.SIGINT}
	s.DSN = fmt.Sprintf("postgres://%s:%s@%s:%d/postgres?sslmode=disable", s.User, s.Password, s.Host, s.Port)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	run(t, cred, initdb, "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C")
	os.Remove(pwfile)
	s.command = func() *exec.Cmd {
		cmd := exec.Command(postgres, "-D", data, "-p", fmt.Sprint(s.Port), "-h", s.Host, "-k", dir,
			"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off", "-c", "max_connections=50",
			"-c", "shared_buffers=16MB", "-c", "log_min_messages=warning")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		return cmd
	}
	s.mu.Lock()
	s.startLocked()
	s.mu.Unlock()
	t.Cleanup(s.Stop)
	return s
}
