package apps_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/internal/testsrv"
)

// apacheLDAP starts Debian's Apache httpd with mod_authnz_ldap guarding
// /members/ with HTTP Basic authentication against the directory (a
// search as searchDN, then a bind as the user: the app's login is an LDAP
// bind). cacheTTL is mod_ldap's LDAPCacheTTL (seconds). It returns the
// address Apache listens on.
func apacheLDAP(t *testing.T, ldapURL, searchDN, searchPassword string, cacheTTL int) string {
	t.Helper()
	httpd, err := exec.LookPath("apache2")
	if err != nil {
		if httpd, err = exec.LookPath("/usr/sbin/apache2"); err != nil {
			t.Fatalf("Apache httpd is not installed (apt-get install apache2): %v", err)
		}
	}
	mods := "/usr/lib/apache2/modules"
	if _, err := os.Stat(filepath.Join(mods, "mod_authnz_ldap.so")); err != nil {
		t.Fatalf("Apache's mod_authnz_ldap is missing (apt-get install apache2): %v", err)
	}
	dir := t.TempDir()
	www := filepath.Join(dir, "www", "members")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("<h1>Members area</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Apache's workers (www-data) must reach the files: open the test's
	// directories for traversal.
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "www")} {
		os.Chmod(d, 0o755)
	}
	runAs := ""
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("www-data"); err != nil {
			t.Fatalf("no www-data user for Apache's workers: %v", err)
		}
		runAs = "User www-data\nGroup www-data\n"
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	conf := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
Listen %[2]s
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
ErrorLog %[1]s/error.log
LogLevel warn authnz_ldap:info
%[3]s
LoadModule mpm_event_module %[4]s/mod_mpm_event.so
LoadModule authn_core_module %[4]s/mod_authn_core.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule authz_user_module %[4]s/mod_authz_user.so
LoadModule auth_basic_module %[4]s/mod_auth_basic.so
LoadModule ldap_module %[4]s/mod_ldap.so
LoadModule authnz_ldap_module %[4]s/mod_authnz_ldap.so

LDAPCacheTTL %[8]d
DocumentRoot %[1]s/www
<Directory />
	AllowOverride None
</Directory>
<Directory %[1]s/www/members>
	AuthType Basic
	AuthName "Members"
	AuthBasicProvider ldap
	AuthLDAPURL "%[5]s/ou=people,dc=example,dc=com?uid?sub?(objectClass=inetOrgPerson)"
	AuthLDAPBindDN "%[6]s"
	AuthLDAPBindPassword "%[7]s"
	Require valid-user
</Directory>
`, dir, addr, runAs, mods, ldapURL, searchDN, searchPassword, cacheTTL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(httpd, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("Apache refuses its config: %v\n%s", err, out)
	}
	cmd := exec.Command(httpd, "-f", conf, "-DFOREGROUND")
	logPath := filepath.Join(dir, "error.log")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Apache: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // graceful-stop for httpd is SIGWINCH; SIGINT stops at once
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("Apache said:\n%s", logFile(logPath, 3000))
		}
	})
	waitTCP(t, addr, exited, func() string { return logFile(logPath, 3000) })
	return addr
}

// basicLogin asks for the members area with Basic credentials, as a
// browser does after the login prompt, and returns the status.
func basicLogin(t *testing.T, base, user, password string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/members/index.html", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLDAPAppResetThroughTheDirectory is the journey of the LDAP recipe
// (examples/apps/ldap/Caddyfile): carol's account lives in OpenLDAP
// (ppolicy, TLS, a least-privilege service account), the app is Apache
// httpd whose members area logs in with an LDAP bind; resetgate resets the
// password with RFC 3062 over LDAPS. Afterwards Apache takes the new
// password and refuses the old one. Basic authentication has no session
// to end; what lingers instead is mod_ldap's credential cache, which the
// test shows: with Apache's default LDAPCacheTTL (600 s) the old password
// keeps working after the reset until the new one is used or the entry
// expires; with the recipe's LDAPCacheTTL 0 it stops at once.
func TestLDAPAppResetThroughTheDirectory(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	slapd := testsrv.StartSlapd(t)
	const oldPassword, newPassword = "carol old password 1", "Kestrel orbit 42 lantern"
	slapd.AddUser("carol", "carol@example.test", oldPassword)

	for _, tc := range []struct {
		name     string
		cacheTTL int
		oldAfter int // what Apache answers the old password right after the reset
	}{
		{"recipe LDAPCacheTTL 0", 0, http.StatusUnauthorized},
		{"Apache's default LDAPCacheTTL 600", 600, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The password the test starts from (the previous subtest
			// changed it), set back by the directory's administrator.
			current := oldPassword
			if tc.cacheTTL != 0 {
				current = newPassword
			}
			apache := apacheLDAP(t, slapd.LDAPURL, slapd.ServiceDN, slapd.ServicePassword, tc.cacheTTL)
			s := newStack(t)
			s.start("examples/apps/ldap/Caddyfile", map[string]string{
				"APP_ADDR": apache, "LDAP_URL": slapd.LDAPSURL, "LDAP_BIND_DN": slapd.ServiceDN,
				"LDAP_BIND_PASSWORD": slapd.ServicePassword, "LDAP_BASE_DN": slapd.PeopleDN, "LDAP_CA_FILE": slapd.TLS.CA,
			})
			defer func() { s.assertNotLogged(t, slapd.ServicePassword, current) }()
			if st := basicLogin(t, s.URL, "carol", current); st != http.StatusOK {
				t.Fatalf("Apache answers carol's current password with %d before the reset", st)
			}
			if st := basicLogin(t, s.URL, "carol", "not her password 1"); st != http.StatusUnauthorized {
				t.Fatalf("Apache answers a wrong password with %d", st)
			}
			next := newPassword
			if current == newPassword {
				next = "Velvet harbor " + randomWord()
			}
			b := newBrowser(t, s.URL)
			link := requestReset(t, b, s, b.get(s.URL+"/password-reset/"), "carol@example.test", "carol@example.test")
			newPage := openResetLink(t, b, link)
			start := time.Now()
			setNewPassword(t, b, newPage, next)
			took := time.Since(start)
			// Right after the reset: what Apache's credential cache does
			// with the old password.
			if st := basicLogin(t, s.URL, "carol", current); st != tc.oldAfter {
				t.Fatalf("Apache answers carol's old password with %d right after the reset, want %d", st, tc.oldAfter)
			}
			start = time.Now()
			if st := basicLogin(t, s.URL, "carol", next); st != http.StatusOK {
				t.Fatalf("Apache answers carol's new password with %d", st)
			}
			took += time.Since(start)
			if err := slapd.Whoami(slapd.UserDN("carol"), next); err != nil {
				t.Fatalf("the directory refuses the new password: %v", err)
			}
			// Once the new password was used, the cache holds it: the old
			// one is refused whatever the TTL.
			if st := basicLogin(t, s.URL, "carol", current); st != http.StatusUnauthorized {
				t.Fatalf("Apache answers carol's old password with %d after a login with the new one", st)
			}
			if err := slapd.Whoami(slapd.UserDN("carol"), current); err == nil {
				t.Fatal("the directory still takes the old password")
			}
			if tc.cacheTTL != 0 {
				return
			}
			// Nine more users, for the figure: median of 10.
			times := []time.Duration{took}
			for i := 1; i < 10; i++ {
				name := fmt.Sprintf("timing%d", i)
				slapd.AddUser(name, name+"@example.test", "timing old password "+randomWord())
				b := newBrowser(t, s.URL)
				link := requestReset(t, b, s, b.get(s.URL+"/password-reset/"), name, name+"@example.test")
				newPage := openResetLink(t, b, link)
				password := "Velvet harbor " + randomWord()
				start := time.Now()
				setNewPassword(t, b, newPage, password)
				if st := basicLogin(t, s.URL, name, password); st != http.StatusOK {
					t.Fatalf("Apache answers %s's new password with %d", name, st)
				}
				times = append(times, time.Since(start))
			}
			t.Logf("OpenLDAP 2.5 + Apache 2.4 mod_authnz_ldap (users ldap, password_modify): submit new password → Apache login OK: median %s of %d (min %s, max %s); test wall time so far %s",
				median(times).Round(time.Millisecond), len(times), minD(times), maxD(times), time.Since(wall).Round(time.Second))
		})
	}
}
