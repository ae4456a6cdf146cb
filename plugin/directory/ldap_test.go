package directory_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/resetgate/resetgate/internal/testsrv"
	"github.com/resetgate/resetgate/plugin/directory"
)

// slapdConfig is a users ldap block for s, over LDAPS with the test CA.
func slapdConfig(s *testsrv.Slapd) directory.LDAPConfig {
	return directory.LDAPConfig{
		URL:          s.LDAPSURL,
		BindDN:       s.ServiceDN,
		BindPassword: s.ServicePassword,
		BaseDN:       s.PeopleDN,
		Filter:       "(|(mail={identifier})(uid={identifier}))",
		CAFile:       s.TLS.CA,
		Timeout:      directory.Duration(3 * time.Second),
	}
}

// openLDAP opens the directory with a logger that records every line.
func openLDAP(t *testing.T, c directory.LDAPConfig) (directory.Directory, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	d, err := directory.OpenLDAP(context.Background(), c, zap.New(core))
	if err != nil {
		t.Fatalf("OpenLDAP: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, logs
}

// noSecretInLogs fails when a secret appears in any recorded log line.
func noSecretInLogs(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.ReplaceAll(strings.ReplaceAll(logValue(v), "\n", " "), "\t", " ")
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a secret appears in a log line: %q", line)
			}
		}
	}
}

func logValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func mustFind(t *testing.T, d directory.Directory, identifier string) directory.User {
	t.Helper()
	u, found, err := d.Find(context.Background(), identifier)
	if err != nil || !found {
		t.Fatalf("Find(%q) = %+v, %v, %v; want the user", identifier, u, found, err)
	}
	return u
}

// TestLDAPPasswordModifyReset resets a password with the RFC 3062 extended
// operation as the least-privilege service account, then proves it the
// directory's own way: ldapwhoami accepts the new password and refuses the
// old one, and CheckPassword (a bind as the user) agrees.
func TestLDAPPasswordModifyReset(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "old-password-1")
	d, logs := openLDAP(t, slapdConfig(s))
	ctx := context.Background()

	u := mustFind(t, d, "alice@example.com")
	if u.Email != "alice@example.com" || u.Name != "User alice" || u.Locale != "en" || u.Role != "staff" {
		t.Errorf("Find = %+v; want mail, cn, preferredLanguage and employeeType mapped", u)
	}
	if want := s.Attr(dn, "entryUUID"); len(want) != 1 || u.ID != want[0] {
		t.Errorf("id = %q; want entryUUID %v", u.ID, want)
	}
	if u2 := mustFind(t, d, "alice"); u2.ID != u.ID {
		t.Errorf("Find by uid gave id %q, by mail %q", u2.ID, u.ID)
	}
	if u3 := mustFind(t, d, u.ID); u3.Email != u.Email {
		t.Errorf("Find by entryUUID gave %+v", u3)
	}

	if ok, err := d.CheckPassword(ctx, u.ID, "old-password-1"); !ok || err != nil {
		t.Fatalf("CheckPassword(current) = %v, %v; want true", ok, err)
	}
	if err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "brand-new-password-2", Reason: "password.reset"}); err != nil {
		t.Fatalf("SetPassword: %v\n%s", err, s.Log())
	}
	if err := s.Whoami(dn, "brand-new-password-2"); err != nil {
		t.Errorf("ldapwhoami refuses the new password: %v", err)
	}
	if err := s.Whoami(dn, "old-password-1"); err == nil {
		t.Error("ldapwhoami still accepts the old password")
	}
	if ok, err := d.CheckPassword(ctx, u.ID, "brand-new-password-2"); !ok || err != nil {
		t.Errorf("CheckPassword(new) = %v, %v; want true", ok, err)
	}
	for _, wrong := range []string{"old-password-1", "", "brand-new-password-"} {
		if ok, err := d.CheckPassword(ctx, u.ID, wrong); ok || err != nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
	if hist := s.Attr(dn, "pwdHistory"); len(hist) == 0 {
		t.Error("ppolicy kept no history: the reset did not go through the overlay")
	}
	if pw := s.Attr(dn, "userPassword"); len(pw) != 1 || !strings.HasPrefix(pw[0], "{SSHA}") {
		t.Errorf("userPassword = %q; want the directory's own hash", pw)
	}
	noSecretInLogs(t, logs, s.ServicePassword, "brand-new-password-2", "old-password-1")
}

// TestLDAPFilterInjection: identifiers written to widen or break the search
// filter (RFC 4515 metacharacters, a NUL, 4 KiB) find nobody, and setting a
// password by a forged user id changes nothing.
func TestLDAPFilterInjection(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "alice-password-1")
	s.AddUser("bob", "bob@example.com", "bob-password-1")
	d, _ := openLDAP(t, slapdConfig(s))
	ctx := context.Background()
	for _, id := range []string{
		"*", "*)(uid=*))(|(uid=*", "alice)(uid=*", "alice*", "*@example.com",
		"alice\x00", "\x00", `\2a`, "(uid=alice)", strings.Repeat("a", 4096),
		"alice@example.com)(|(objectClass=*", "\xff\xfe",
	} {
		u, found, err := d.Find(ctx, id)
		if found || err != nil {
			t.Errorf("Find(%q) = %+v, %v, %v; want nobody, no error", id, u, found, err)
		}
	}
	for _, id := range []string{"*", "*)(entryUUID=*", ""} {
		if err := d.SetPassword(ctx, directory.Change{UserID: id, Password: "hijacked-password-9"}); err == nil {
			t.Errorf("SetPassword(user id %q) succeeded", id)
		}
	}
	if err := s.Whoami(dn, "alice-password-1"); err != nil {
		t.Errorf("alice's password changed: %v", err)
	}
	if err := s.Whoami(s.UserDN("bob"), "bob-password-1"); err != nil {
		t.Errorf("bob's password changed: %v", err)
	}
}

// TestLDAPPolicyRefusal: a reset that breaks the directory's own password
// policy (ppolicy pwdMinLength, pwdInHistory) is a *PolicyError naming the
// rule, and the password stays as it was.
func TestLDAPPolicyRefusal(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "first-password-1")
	d, _ := openLDAP(t, slapdConfig(s))
	ctx := context.Background()
	u := mustFind(t, d, "alice")

	err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "short"})
	var pe *directory.PolicyError
	if !errors.As(err, &pe) || pe.Reason != "passwordTooShort" {
		t.Fatalf("SetPassword(too short) = %v; want PolicyError passwordTooShort", err)
	}
	if err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "second-password-2"}); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	err = d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "first-password-1"})
	if !errors.As(err, &pe) || pe.Reason != "passwordInHistory" {
		t.Fatalf("SetPassword(in history) = %v; want PolicyError passwordInHistory", err)
	}
	if err := s.Whoami(dn, "second-password-2"); err != nil {
		t.Errorf("a refused reset changed the password: %v", err)
	}
}

// TestLDAPServerStoppedThenRestarted: with the directory down, every
// operation is a plain error (not a policy refusal, not "nobody"); after a
// restart the same Directory reconnects by itself.
func TestLDAPServerStoppedThenRestarted(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "first-password-1")
	d, logs := openLDAP(t, slapdConfig(s))
	ctx := context.Background()
	u := mustFind(t, d, "alice")

	s.Stop()
	if _, found, err := d.Find(ctx, "alice"); err == nil || found {
		t.Errorf("Find with the directory down = %v, %v; want an error", found, err)
	}
	err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "second-password-2"})
	var pe *directory.PolicyError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("SetPassword with the directory down = %v; want a plain error", err)
	}
	if _, err := d.CheckPassword(ctx, u.ID, "first-password-1"); err == nil {
		t.Error("CheckPassword with the directory down: no error")
	}
	s.Start()
	if err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "second-password-2"}); err != nil {
		t.Fatalf("SetPassword after restart: %v", err)
	}
	if err := s.Whoami(dn, "second-password-2"); err != nil {
		t.Errorf("new password after restart: %v", err)
	}
	noSecretInLogs(t, logs, s.ServicePassword, "second-password-2")
}

// TestLDAPDownAtStart: a directory that is unreachable when Caddy starts is
// a warning, not a failed config; the first operation after it comes up
// works. The warning does not carry the bind password.
func TestLDAPDownAtStart(t *testing.T) {
	s := testsrv.StartSlapd(t)
	s.AddUser("alice", "alice@example.com", "first-password-1")
	s.Stop()
	d, logs := openLDAP(t, slapdConfig(s))
	if logs.FilterMessageSnippet("unreachable").Len() != 1 {
		t.Errorf("no warning about the unreachable directory: %v", logs.All())
	}
	s.Start()
	mustFind(t, d, "alice")
	noSecretInLogs(t, logs, s.ServicePassword)
}

// TestLDAPWrongBindPassword: a refused service bind fails at start, and the
// error does not echo the password that was refused.
func TestLDAPWrongBindPassword(t *testing.T) {
	s := testsrv.StartSlapd(t)
	c := slapdConfig(s)
	c.BindPassword = "not-the-bind-password-7781"
	_, err := directory.OpenLDAP(context.Background(), c, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "bind_dn") || strings.Contains(err.Error(), c.BindPassword) {
		t.Fatalf("OpenLDAP with a wrong bind password = %v; want an error naming bind_dn, without the password", err)
	}
}

// TestLDAPStartTLSAndLoopbackPlain: ldap:// with start_tls, and plain
// ldap:// on loopback, both work.
func TestLDAPStartTLSAndLoopbackPlain(t *testing.T) {
	s := testsrv.StartSlapd(t)
	s.AddUser("alice", "alice@example.com", "first-password-1")
	for _, startTLS := range []bool{true, false} {
		c := slapdConfig(s)
		c.URL, c.StartTLS = s.LDAPURL, startTLS
		d, _ := openLDAP(t, c)
		u := mustFind(t, d, "alice")
		if ok, err := d.CheckPassword(context.Background(), u.ID, "first-password-1"); !ok || err != nil {
			t.Errorf("start_tls=%v: CheckPassword = %v, %v", startTLS, ok, err)
		}
	}
}

// TestLDAPConcurrentUse: many goroutines share one Directory (run with
// -race).
func TestLDAPConcurrentUse(t *testing.T) {
	s := testsrv.StartSlapd(t)
	s.AddUser("alice", "alice@example.com", "first-password-1")
	d, _ := openLDAP(t, slapdConfig(s))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				u, found, err := d.Find(context.Background(), "alice@example.com")
				if err != nil || !found {
					t.Errorf("Find: %v %v", found, err)
					return
				}
				if ok, err := d.CheckPassword(context.Background(), u.ID, "first-password-1"); !ok || err != nil {
					t.Errorf("CheckPassword: %v %v", ok, err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestLDAPContextCancel: a cancelled context ends an operation with the
// context's error.
func TestLDAPContextCancel(t *testing.T) {
	s := testsrv.StartSlapd(t)
	d, _ := openLDAP(t, slapdConfig(s))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Find(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Find with a cancelled context = %v; want context.Canceled", err)
	}
}

// TestLDAPAnswerLost: a password change that reached the directory and
// whose answer never came is marked directory.ErrOutcomeUnknown, is not
// sent again, and the directory did apply it; with the directory down, the
// failure is a plain error (nothing was sent).
func TestLDAPAnswerLost(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "first-password-1")
	p := startAnswerDropper(t, strings.TrimPrefix(s.LDAPURL, "ldap://"), []byte(passwordModifyOID))
	c := slapdConfig(s)
	c.URL, c.Timeout = "ldap://"+p.addr, directory.Duration(time.Second)
	d, logs := openLDAP(t, c)
	ctx := context.Background()
	u := mustFind(t, d, "alice")

	err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "second-password-2", Reason: "password.reset"})
	if !errors.Is(err, directory.ErrOutcomeUnknown) {
		t.Fatalf("SetPassword with the answer lost = %v; want ErrOutcomeUnknown", err)
	}
	if err := s.Whoami(dn, "second-password-2"); err != nil {
		t.Fatalf("the directory did not apply the change whose answer was lost: %v", err)
	}
	// Not sent twice: a second modify could be refused by the history
	// rule, and say the opposite of what happened.
	if n := p.sends.Load(); n != 1 {
		t.Fatalf("the password modify was sent %d times; want once", n)
	}

	s.Stop()
	err = d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "third-password-3", Reason: "password.reset"})
	if err == nil || errors.Is(err, directory.ErrOutcomeUnknown) {
		t.Fatalf("SetPassword with the directory down = %v; want a plain error", err)
	}
	noSecretInLogs(t, logs, s.ServicePassword, "second-password-2", "third-password-3")
}

// passwordModifyOID is RFC 3062's extended operation, as its request
// carries it.
const passwordModifyOID = "1.3.6.1.4.1.4203.1.11.1"

// answerDropper is a TCP proxy that forwards everything until the client
// sends marker on a connection; from then on it forwards the client's
// bytes and drops the server's: the server acts on the request, and its
// answer never arrives.
type answerDropper struct {
	addr string
	// sends counts the chunks from clients that carried marker.
	sends atomic.Int32
}

func startAnswerDropper(t *testing.T, upstream string, marker []byte) *answerDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &answerDropper{addr: ln.Addr().String()}
	go func() {
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("tcp", upstream)
			if err != nil {
				cc.Close()
				continue
			}
			t.Cleanup(func() { cc.Close(); sc.Close() })
			var seen atomic.Bool
			go func() { // client to server, watching for marker
				var tail []byte
				buf := make([]byte, 32<<10)
				for {
					n, err := cc.Read(buf)
					if n > 0 {
						tail = append(tail, buf[:n]...)
						if bytes.Contains(tail, marker) {
							seen.Store(true)
							p.sends.Add(1)
						}
						tail = tail[max(0, len(tail)-len(marker)):]
						if _, werr := sc.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						sc.Close()
						return
					}
				}
			}()
			go func() { // server to client, until marker
				buf := make([]byte, 32<<10)
				for {
					n, err := sc.Read(buf)
					if n > 0 && !seen.Load() {
						if _, werr := cc.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						cc.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}
