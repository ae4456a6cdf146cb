package testsrv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// Samba is a running Samba Active Directory domain controller: a domain
// provisioned by samba-tool into a throwaway directory, serving only LDAP
// and LDAPS on 127.0.0.1 (ports 389 and 636: Samba cannot move them), with
// TLS from a test CA and a service account holding only the "Reset
// Password" extended right on CN=Users.
//
// Provisioning takes most of a minute: one DC serves the subtests of one
// test. One DC runs on the machine at a time (a file lock in the temporary
// directory), since its ports cannot move.
type Samba struct {
	// Realm and Domain name the AD domain; BaseDN is its naming context;
	// UsersDN is CN=Users.
	Realm, Domain, BaseDN, UsersDN string
	// AdminUPN and AdminPassword are the domain Administrator's.
	AdminUPN, AdminPassword string
	// ServiceDN and ServicePassword are resetgate's service account.
	ServiceDN, ServicePassword string
	// LDAPSURL is ldaps://127.0.0.1:636; LDAPURL is ldap://127.0.0.1:389.
	LDAPSURL, LDAPURL string
	// SMBPort is the file server's port on 127.0.0.1 (for smbclient).
	SMBPort int
	// TLS holds the test CA (TLS.CA is the ca_file clients trust).
	TLS TLSFiles

	dir    string
	conf   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// StartSamba provisions a DC into t.TempDir() and starts it; it is stopped
// when the test ends. It fails the test with the reason when Samba cannot
// run. Provisioning takes most of a minute: run the AD cases as subtests
// of one test.
func StartSamba(t testing.TB) *Samba {
	t.Helper()
	need(t, "samba", "samba")
	need(t, "samba-tool", "samba")
	need(t, "ldapsearch", "ldap-utils")
	need(t, "smbclient", "smbclient")
	need(t, "winbindd", "winbind")
	// Samba's LDAP ports are fixed: test binaries that run at the same
	// time (go test ./... runs packages in parallel) take turns.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "resetgate-samba-dc.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("testsrv: Samba lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatalf("testsrv: Samba lock: %v", err)
	}
	t.Cleanup(func() { lock.Close() })
	s, err := provisionSamba(t.TempDir())
	if err != nil {
		t.Fatalf("testsrv: Samba AD DC: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

func provisionSamba(dir string) (*Samba, error) {
	for _, p := range []int{389, 636} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			return nil, fmt.Errorf("Samba's LDAP needs port %d on 127.0.0.1, which is taken (Samba has no option to move it): %v", p, err)
		} else {
			l.Close()
		}
	}
	s := &Samba{
		Realm: "SAMDOM.TEST", Domain: "SAMDOM", BaseDN: "DC=samdom,DC=test", UsersDN: "CN=Users,DC=samdom,DC=test",
		AdminUPN: "Administrator@samdom.test", AdminPassword: "Adm1n-Passw0rd!",
		ServiceDN: "CN=resetgate,CN=Users,DC=samdom,DC=test", ServicePassword: "Svc-Bind-Passw0rd-42",
		LDAPSURL: "ldaps://127.0.0.1:636", LDAPURL: "ldap://127.0.0.1:389",
		dir: dir, conf: filepath.Join(dir, "etc", "smb.conf"),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.SMBPort = l.Addr().(*net.TCPAddr).Port
	l.Close()
	fail := func(err error) (*Samba, error) { return nil, err }
	if out, err := exec.Command("samba-tool", "domain", "provision", "--use-rfc2307",
		"--realm="+s.Realm, "--domain="+s.Domain, "--adminpass="+s.AdminPassword,
		"--server-role=dc", "--dns-backend=NONE", "--host-name=DC1", "--targetdir="+dir,
		"--option=interfaces=lo", "--option=bind interfaces only=yes").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("samba-tool domain provision: %v\n%s", err, tail(out)))
	}
	tlsDir := filepath.Join(dir, "testtls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return fail(err)
	}
	s.TLS, err = newTLSFilesErr(tlsDir)
	if err != nil {
		return fail(err)
	}
	if err := s.tuneConf(); err != nil {
		return fail(err)
	}
	// The service account and its one right, written offline before start.
	if out, err := exec.Command("samba-tool", "user", "create", "resetgate", s.ServicePassword, "-s", s.conf).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("samba-tool user create: %v\n%s", err, tail(out)))
	}
	out, err := exec.Command("samba-tool", "user", "show", "resetgate", "--attributes=objectSid", "-s", s.conf).CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("samba-tool user show: %v\n%s", err, tail(out)))
	}
	sid := regexp.MustCompile(`S-1-5-21-[0-9-]+`).FindString(string(out))
	if sid == "" {
		return fail(fmt.Errorf("no objectSid for the service account in: %s", out))
	}
	// Reset Password (00299570-…) on user objects (bf967aba-…) below CN=Users.
	ace := "(OA;CIIO;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;" + sid + ")"
	if out, err := exec.Command("samba-tool", "dsacl", "set", "-s", s.conf, "--action=allow",
		"--objectdn="+s.UsersDN, "--sddl="+ace).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("samba-tool dsacl set: %v\n%s", err, tail(out)))
	}
	if err := s.start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// tuneConf keeps the DC small and local: only LDAP and the file server
// (with winbindd, which it needs to log users on), logs and pid files in
// the directory, TLS from the test CA. winbindd's socket stays in its
// default place (/run/samba/winbindd): smbd does not find it elsewhere,
// one more reason for one DC at a time.
func (s *Samba) tuneConf() error {
	b, err := os.ReadFile(s.conf)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	var out []string
	for _, l := range lines {
		k := strings.TrimSpace(strings.SplitN(l, "=", 2)[0])
		switch k {
		case "server services", "log file", "logging":
			continue
		}
		out = append(out, l)
		if strings.TrimSpace(l) == "[global]" {
			out = append(out,
				"\tserver services = ldap, s3fs, winbindd",
				"\tsmb ports = "+strconv.Itoa(s.SMBPort),
				// No RPC helper daemons: smbd would start samba-dcerpcd,
				// which detaches and outlives the test.
				"\trpc start on demand helpers = no",
				"\tlog file = "+filepath.Join(s.dir, "log.%m"),
				"\tpid directory = "+filepath.Join(s.dir, "run"),
				"\ttls enabled = yes",
				"\ttls keyfile = "+s.TLS.Key,
				"\ttls certfile = "+s.TLS.Cert,
				"\ttls cafile = "+s.TLS.CA,
				"\tunix password sync = no",
				// AD accepts the old password for network logons (LDAP
				// simple binds included) for an hour after a reset by
				// default; tests check the new state at once.
				"\told password allowed period = 0",
			)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "run"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(s.conf, []byte(strings.Join(out, "\n")), 0o644)
}

func (s *Samba) start() error {
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command("samba", "-i", "-M", "single", "-s", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start samba: %w", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(s.cmd)
	for _, p := range []int{389, 636, s.SMBPort} {
		if err := waitPort(p, exited, 60*time.Second); err != nil {
			s.stop()
			return fmt.Errorf("samba: %v\n%s", err, s.log.String())
		}
	}
	// The file server logs users on through winbindd, which comes up
	// after the ports open.
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err = s.SMBLogin("Administrator", s.AdminPassword); err == nil {
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("samba's file server never accepted the Administrator: %v\n%s", err, s.log.String())
}

func (s *Samba) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.cmd = nil
}

// Admin connects over LDAPS bound as the domain Administrator.
func (s *Samba) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	pem, _ := os.ReadFile(s.TLS.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("testsrv: dial Samba: %v", err)
	}
	if err := c.Bind(s.AdminUPN, s.AdminPassword); err != nil {
		c.Close()
		t.Fatalf("testsrv: bind as Administrator: %v", err)
	}
	return c
}

// AddUser creates an enabled user in CN=Users with the given password and
// returns its DN.
func (s *Samba) AddUser(t testing.TB, sam, mail, password string) string {
	t.Helper()
	c := s.Admin(t)
	defer c.Close()
	dn := "CN=" + ldap.EscapeDN(sam) + "," + s.UsersDN
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{sam})
	req.Attribute("userPrincipalName", []string{sam + "@samdom.test"})
	req.Attribute("mail", []string{mail})
	req.Attribute("displayName", []string{"User " + sam})
	req.Attribute("unicodePwd", []string{quotedUTF16LE(password)})
	req.Attribute("userAccountControl", []string{"512"})
	if err := c.Add(req); err != nil {
		t.Fatalf("testsrv: add %s: %v", dn, err)
	}
	return dn
}

// Modify applies a change as the Administrator (to disable a user, say).
func (s *Samba) Modify(t testing.TB, req *ldap.ModifyRequest) {
	t.Helper()
	c := s.Admin(t)
	defer c.Close()
	if err := c.Modify(req); err != nil {
		t.Fatalf("testsrv: modify %s: %v", req.DN, err)
	}
}

// Bind runs OpenLDAP's ldapsearch with a simple bind over LDAPS as the
// user principal name upn, as an LDAP-authenticating app would; nil means
// Samba accepted the password.
func (s *Samba) Bind(upn, password string) error {
	cmd := exec.Command("ldapsearch", "-x", "-H", s.LDAPSURL, "-D", upn, "-y", "/dev/stdin",
		"-b", "", "-s", "base", "(objectClass=*)", "1.1")
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.TLS.CA, "LDAPTLS_REQCERT=demand")
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldapsearch bind: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// SMBLogin runs smbclient as SAMDOM\user: a session and a connection to
// IPC$, as a Windows logon to a file server opens; nil means Samba
// accepted the password.
func (s *Samba) SMBLogin(user, password string) error {
	cmd := exec.Command("smbclient", "-p", strconv.Itoa(s.SMBPort), "-U", s.Domain+"\\"+user,
		"//127.0.0.1/IPC$", "-c", "exit")
	cmd.Env = append(os.Environ(), "PASSWD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("smbclient: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Log is what samba has printed since it started.
func (s *Samba) Log() string { return s.log.String() }

func quotedUTF16LE(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
