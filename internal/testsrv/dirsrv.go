// Directory servers for tests: OpenLDAP's
// slapd (slapd.go) and a Samba Active Directory domain controller
// (samba.go), on loopback, in throwaway directories, with TLS from a test
// CA made here (tlsca.go). Servers are the Debian packages slapd and samba;
// a test that cannot start one fails with the reason.

package testsrv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsrv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// errExited is waitPort's error when the server exited before listening:
// most often a port that FreePort found free was taken in between.
var errExited = errors.New("the server exited before listening")

// waitPort waits until something accepts on 127.0.0.1:port, or the process
// exits, or the deadline passes.
func waitPort(port int, exited <-chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%w on %s", errExited, addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, d)
}

// need fails the test when a command is missing, naming the package.
func need(t testing.TB, cmd, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("testsrv: %s not found: install the Debian package %s (scripts/test does)", cmd, pkg)
	}
	return p
}

// runCmd runs a command and fails the test with its output if it fails.
func runCmd(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("testsrv: %s %v: %v\n%s", name, args, err, out.String())
	}
	return out.String()
}
