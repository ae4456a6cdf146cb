package testsrv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Slapd is a running OpenLDAP server: cn=config from an LDIF, one mdb
// database for dc=example,dc=com with the ppolicy overlay (minimum length
// PwdMinLength, history PwdInHistory), LDAP and LDAPS on loopback ports,
// and a service account that may reset passwords and nothing more.
type Slapd struct {
	// BaseDN is the database suffix; PeopleDN holds the users.
	BaseDN, PeopleDN string
	// AdminDN and AdminPassword are the database's rootdn (tests only).
	AdminDN, AdminPassword string
	// ServiceDN and ServicePassword are resetgate's least-privilege
	// account (the ACL below).
	ServiceDN, ServicePassword string
	// LDAPURL is ldap://127.0.0.1:port; LDAPSURL is ldaps://127.0.0.1:port.
	LDAPURL, LDAPSURL string
	// TLS holds the test CA (TLS.CA is the ca_file clients trust).
	TLS TLSFiles

	t         testing.TB
	dir       string
	ldapPort  int
	ldapsPort int
	cmd       *exec.Cmd
	exited    chan struct{}
	log       *bytes.Buffer
}

// The policy the ppolicy overlay applies.
const (
	PwdMinLength = 8
	PwdInHistory = 3
)

// StartSlapd configures and starts slapd in t.TempDir(); it is stopped
// when the test ends.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	need(t, "slapd", "slapd")
	need(t, "slapadd", "slapd")
	need(t, "ldapwhoami", "ldap-utils")
	s := &Slapd{
		BaseDN: "dc=example,dc=com", PeopleDN: "ou=people,dc=example,dc=com",
		AdminDN: "cn=admin,dc=example,dc=com", AdminPassword: "admin-secret-9431",
		ServiceDN: "cn=resetgate,ou=services,dc=example,dc=com", ServicePassword: "svc-bind-secret-5720",
		t: t, dir: t.TempDir(),
	}
	s.TLS = NewTLSFiles(t, s.dir)
	for _, d := range []string{"slapd.d", "data"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			t.Fatalf("testsrv: %v", err)
		}
	}
	ldif := filepath.Join(s.dir, "config.ldif")
	if err := os.WriteFile(ldif, []byte(s.configLDIF()), 0o600); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	runCmd(t, "slapadd", "-n0", "-F", filepath.Join(s.dir, "slapd.d"), "-l", ldif)
	// FreePort's ports were free a moment ago; under the suite's parallel
	// load another server may take one before slapd binds, and slapd then
	// exits. Take fresh ports and try again.
	var err error
	for range slapdStartAttempts {
		s.ldapPort, s.ldapsPort = FreePort(t), FreePort(t)
		s.LDAPURL = "ldap://127.0.0.1:" + strconv.Itoa(s.ldapPort)
		s.LDAPSURL = "ldaps://127.0.0.1:" + strconv.Itoa(s.ldapsPort)
		if err = s.start(); !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testsrv: slapd: %v", err)
	}
	t.Cleanup(s.Stop)
	s.seed()
	return s
}

func (s *Slapd) configLDIF() string {
	svc := s.ServiceDN
	return strings.NewReplacer("{dir}", s.dir, "{svc}", svc, "{rootpw}", s.AdminPassword,
		"{ca}", s.TLS.CA, "{cert}", s.TLS.Cert, "{key}", s.TLS.Key).Replace(`dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: dc=example,dc=com
olcRootDN: cn=admin,dc=example,dc=com
olcRootPW: {rootpw}
olcDbDirectory: {dir}/data
olcAccess: {0}to dn.subtree="ou=people,dc=example,dc=com" attrs=userPassword by dn.exact="{svc}" =w by self =w by anonymous auth by * none
olcAccess: {1}to attrs=userPassword by self =w by anonymous auth by * none
olcAccess: {2}to dn.subtree="ou=people,dc=example,dc=com" attrs=entry,objectClass,entryUUID,uid,mail,cn,preferredLanguage,employeeType by dn.exact="{svc}" read by self read by * none
olcAccess: {3}to * by self read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,dc=example,dc=com
olcPPolicyHashCleartext: TRUE
`)
}

// slapdStartAttempts bounds how often StartSlapd tries fresh ports, and
// Start the same ports.
const slapdStartAttempts = 3

// Start starts slapd again on the same ports and data. A port the stopped
// slapd held may take the kernel a moment to free, so an exit before
// listening is tried again.
func (s *Slapd) Start() {
	s.t.Helper()
	var err error
	for range slapdStartAttempts {
		if err = s.start(); !errors.Is(err, errExited) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("testsrv: slapd: %v", err)
	}
}

// start runs slapd on s's ports and waits until it listens on both.
func (s *Slapd) start() error {
	s.log = &bytes.Buffer{}
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.ldapPort, s.ldapsPort)
	s.cmd = exec.Command("slapd", "-d", "0", "-F", filepath.Join(s.dir, "slapd.d"), "-h", urls)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(s.cmd)
	for _, p := range []int{s.ldapPort, s.ldapsPort} {
		if err := waitPort(p, exited, 20*time.Second); err != nil {
			s.Stop()
			return fmt.Errorf("%w\n%s", err, s.log.String())
		}
	}
	return nil
}

// Stop stops slapd and waits for it to exit; safe to call twice.
func (s *Slapd) Stop() {
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

// Admin connects over LDAPS bound as the rootdn.
func (s *Slapd) Admin() *ldap.Conn {
	s.t.Helper()
	return s.bound(s.AdminDN, s.AdminPassword)
}

func (s *Slapd) bound(dn, pw string) *ldap.Conn {
	s.t.Helper()
	pem, _ := os.ReadFile(s.TLS.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		s.t.Fatalf("testsrv: dial slapd: %v", err)
	}
	if err := c.Bind(dn, pw); err != nil {
		c.Close()
		s.t.Fatalf("testsrv: bind %s: %v", dn, err)
	}
	return c
}

func (s *Slapd) add(c *ldap.Conn, dn string, attrs map[string][]string) {
	s.t.Helper()
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := c.Add(req); err != nil {
		s.t.Fatalf("testsrv: add %s: %v", dn, err)
	}
}

// seed adds the tree, the password policy and the service account.
func (s *Slapd) seed() {
	c := s.Admin()
	defer c.Close()
	s.add(c, s.BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	for _, ou := range []string{"people", "services", "policies"} {
		s.add(c, "ou="+ou+","+s.BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}})
	}
	s.add(c, "cn=default,ou=policies,"+s.BaseDN, map[string][]string{
		"objectClass":        {"device", "pwdPolicy"},
		"cn":                 {"default"},
		"pwdAttribute":       {"userPassword"},
		"pwdMinLength":       {strconv.Itoa(PwdMinLength)},
		"pwdInHistory":       {strconv.Itoa(PwdInHistory)},
		"pwdCheckQuality":    {"2"},
		"pwdAllowUserChange": {"TRUE"},
	})
	s.add(c, s.ServiceDN, map[string][]string{
		"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"resetgate"},
		"userPassword": {s.ServicePassword},
	})
}

// UserDN is the DN AddUser gives uid.
func (s *Slapd) UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + s.PeopleDN }

// AddUser adds an inetOrgPerson under PeopleDN; the overlay hashes the
// password. It returns the entry's DN.
func (s *Slapd) AddUser(uid, mail, password string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := s.UserDN(uid)
	s.add(c, dn, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {"User " + uid}, "sn": {uid},
		"mail": {mail}, "preferredLanguage": {"en"}, "employeeType": {"staff"},
		"userPassword": {password},
	})
	return dn
}

// Attr reads an attribute of dn as the rootdn.
func (s *Slapd) Attr(dn, attr string) []string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil || len(res.Entries) != 1 {
		s.t.Fatalf("testsrv: read %s of %s: %v", attr, dn, err)
	}
	return res.Entries[0].GetEqualFoldAttributeValues(attr)
}

// Whoami runs OpenLDAP's own ldapwhoami with a simple bind over LDAPS, as
// an app that authenticates against the directory would; nil means the
// directory accepted dn and password.
func (s *Slapd) Whoami(dn, password string) error {
	cmd := exec.Command("ldapwhoami", "-x", "-H", s.LDAPSURL, "-D", dn, "-y", "/dev/stdin")
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.TLS.CA, "LDAPTLS_REQCERT=demand")
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldapwhoami: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Log is what slapd has printed since its last start.
func (s *Slapd) Log() string { return s.log.String() }
