package testsrv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	// The MySQL/MariaDB driver for database/sql, as "mysql".
	_ "github.com/go-sql-driver/mysql"
)

// MariaDB starts MariaDB (Debian's mariadb-server package) on a free
// loopback port with a fresh data directory, a database "app" and an
// administrator "admin" with a random password, reachable over TCP; DSN
// selects the database app. It runs as the mysql user
// when the test runs as root.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	installDB := lookPath(t, "mariadb-install-db", "mariadb-server")
	mariadbd := lookPath(t, "mariadbd", "mariadb-server", "/usr/sbin")
	client := lookPath(t, "mariadb", "mariadb-client")
	cred := serverUser(t, "mysql")
	dir := ownedDir(t, cred)
	s := &Server{t: t, driver: "mysql", Host: "127.0.0.1", Port: FreePort(t), User: "admin", Password: Secret(), Dir: dir}
	s.DSN = fmt.Sprintf("%s:%s@tcp(%s:%d)/app", s.User, s.Password, s.Host, s.Port)
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	args := []string{"--no-defaults", "--datadir=" + data, "--skip-test-db", "--auth-root-authentication-method=socket"}
	if cred != nil {
		args = append(args, "--user=mysql")
	}
	run(t, cred, installDB, args...)
	s.command = func() *exec.Cmd {
		args := []string{"--no-defaults", "--datadir=" + data, "--port=" + fmt.Sprint(s.Port), "--bind-address=" + s.Host,
			"--socket=" + sock, "--pid-file=" + filepath.Join(dir, "mariadbd.pid"), "--skip-name-resolve",
			"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
			"--performance-schema=OFF"}
		if cred != nil {
			args = append(args, "--user=mysql")
		}
		cmd := exec.Command(mariadbd, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}
	// The administrator is made over the socket, as the OS root user
	// (unix_socket authentication), before the TCP wait.
	cmd := s.command()
	logf, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testsrv: starting mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	t.Cleanup(s.Stop)
	create := fmt.Sprintf("CREATE DATABASE app; CREATE USER 'admin'@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'admin'@'%%' WITH GRANT OPTION;", s.Password)
	var lastErr error
	var out []byte
	for i := 0; i < 600; i++ {
		c := exec.Command(client, "--no-defaults", "--socket="+sock, "-u", "root", "-e", create)
		if out, lastErr = c.CombinedOutput(); lastErr == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("testsrv: mariadbd exited at start:\n%s", s.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if lastErr != nil {
		t.Fatalf("testsrv: making the MariaDB administrator: %v\n%s\n%s", lastErr, out, s.Log())
	}
	if err := s.waitReady(exited); err != nil {
		t.Fatalf("testsrv: mariadb did not come up: %v\n%s", err, s.Log())
	}
	return s
}
