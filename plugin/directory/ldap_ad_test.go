package directory_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/resetgate/resetgate/internal/testsrv"
	"github.com/resetgate/resetgate/plugin/directory"
)

// sambaConfig is a users ldap block for the DC in active_directory mode, as
// the README shows it.
func sambaConfig(s *testsrv.Samba) directory.LDAPConfig {
	return directory.LDAPConfig{
		URL:          s.LDAPSURL,
		BindDN:       s.ServiceDN,
		BindPassword: s.ServicePassword,
		BaseDN:       s.UsersDN,
		Filter:       "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={identifier})(mail={identifier})(userPrincipalName={identifier})))",
		Attributes:   map[string]string{"name": "displayName"},
		Mode:         directory.ModeActiveDirectory,
		CAFile:       s.TLS.CA,
		Timeout:      directory.Duration(5 * time.Second),
	}
}

// TestActiveDirectory runs against a real Samba AD DC, provisioned once for
// its subtests. The service account holds only the "Reset Password" right.
func TestActiveDirectory(t *testing.T) {
	s := testsrv.StartSamba(t)
	ctx := context.Background()

	// A reset writes unicodePwd; Samba's own LDAPS bind then accepts the
	// new password and refuses the old one.
	t.Run("ResetThenBind", func(t *testing.T) {
		s.AddUser(t, "alice", "alice@samdom.test", "Old-Passw0rd-1")
		d, logs := openLDAP(t, sambaConfig(s))
		u := mustFind(t, d, "alice@samdom.test")
		if len(u.ID) != 36 || u.Email != "alice@samdom.test" || u.Name != "User alice" {
			t.Errorf("Find = %+v; want the objectGUID as text, mail and displayName", u)
		}
		if u2 := mustFind(t, d, "alice"); u2.ID != u.ID {
			t.Errorf("by sAMAccountName id %q, by mail %q", u2.ID, u.ID)
		}
		if u3 := mustFind(t, d, u.ID); u3.Email != u.Email {
			t.Errorf("by objectGUID: %+v", u3)
		}
		if ok, err := d.CheckPassword(ctx, u.ID, "Old-Passw0rd-1"); !ok || err != nil {
			t.Fatalf("CheckPassword(current) = %v, %v", ok, err)
		}
		if err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: "Brand-New-Passw0rd-2"}); err != nil {
			t.Fatalf("SetPassword: %v\n%s", err, s.Log())
		}
		if err := s.Bind("alice@samdom.test", "Brand-New-Passw0rd-2"); err != nil {
			t.Errorf("Samba refuses the new password: %v", err)
		}
		if err := s.Bind("alice@samdom.test", "Old-Passw0rd-1"); err == nil {
			t.Error("Samba still accepts the old password")
		}
		if err := s.SMBLogin("alice", "Brand-New-Passw0rd-2"); err != nil {
			t.Errorf("smbclient refuses the new password: %v", err)
		}
		if err := s.SMBLogin("alice", "Old-Passw0rd-1"); err == nil {
			t.Error("smbclient still accepts the old password")
		}
		if ok, err := d.CheckPassword(ctx, u.ID, "Brand-New-Passw0rd-2"); !ok || err != nil {
			t.Errorf("CheckPassword(new) = %v, %v", ok, err)
		}
		if ok, err := d.CheckPassword(ctx, u.ID, "Old-Passw0rd-1"); ok || err != nil {
			t.Errorf("CheckPassword(old) = %v, %v; want false", ok, err)
		}
		noSecretInLogs(t, logs, s.ServicePassword, "Brand-New-Passw0rd-2")
	})

	// AD refuses a password that breaks the domain policy (length,
	// complexity) with 0000052D: a *PolicyError; the password stays.
	t.Run("PolicyRefusal", func(t *testing.T) {
		s.AddUser(t, "bob", "bob@samdom.test", "Bob-Passw0rd-1")
		d, _ := openLDAP(t, sambaConfig(s))
		u := mustFind(t, d, "bob")
		for _, pw := range []string{"Sh0rt!", "alllowercaseletters"} {
			err := d.SetPassword(ctx, directory.Change{UserID: u.ID, Password: pw})
			var pe *directory.PolicyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "0000052D") {
				t.Errorf("SetPassword(%q) = %v; want a PolicyError for 0000052D", pw, err)
			}
		}
		if err := s.Bind("bob@samdom.test", "Bob-Passw0rd-1"); err != nil {
			t.Errorf("a refused reset changed the password: %v", err)
		}
	})

	// Identifiers written to widen the filter find nobody; nobody's
	// password changes.
	t.Run("FilterInjection", func(t *testing.T) {
		s.AddUser(t, "carol", "carol@samdom.test", "Carol-Passw0rd-1")
		d, _ := openLDAP(t, sambaConfig(s))
		for _, id := range []string{"*", "*)(sAMAccountName=*))(|(sAMAccountName=*", "carol*", "carol\x00", strings.Repeat("c", 4096)} {
			if u, found, err := d.Find(ctx, id); found || err != nil {
				t.Errorf("Find(%q) = %+v, %v, %v; want nobody", id, u, found, err)
			}
		}
		if err := d.SetPassword(ctx, directory.Change{UserID: "*", Password: "Hijacked-Passw0rd-9"}); err == nil {
			t.Error("SetPassword with user id * succeeded")
		}
		if err := s.Bind("carol@samdom.test", "Carol-Passw0rd-1"); err != nil {
			t.Errorf("carol's password changed: %v", err)
		}
	})

	// A disabled account (userAccountControl ACCOUNTDISABLE) is nobody.
	t.Run("DisabledAccount", func(t *testing.T) {
		dn := s.AddUser(t, "dave", "dave@samdom.test", "Dave-Passw0rd-1")
		d, _ := openLDAP(t, sambaConfig(s))
		mustFind(t, d, "dave")
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("userAccountControl", []string{"514"})
		s.Modify(t, m)
		if _, found, err := d.Find(ctx, "dave"); found || err != nil {
			t.Errorf("Find(disabled) = %v, %v; want nobody", found, err)
		}
	})

	// The service account cannot do more than reset: it cannot rename
	// anyone (least privilege, as the README grants it).
	t.Run("ServiceAccountLeastPrivilege", func(t *testing.T) {
		dn := s.AddUser(t, "erin", "erin@samdom.test", "Erin-Passw0rd-1")
		c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(tlsFor(t, s.TLS.CA)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
			t.Fatal(err)
		}
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("mail", []string{"attacker@example.com"})
		if err := c.Modify(m); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("the service account changed mail: %v", err)
		}
	})
}

func tlsFor(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}
