package caddymodule_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/internal/testsrv"
	"github.com/resetgate/resetgate/plugin/directory"
)

// ldapEnv is a real Caddy whose password_reset keeps its users in a
// directory (users ldap), with a session endpoint for the signed-in change
// and Caddy's log in a file.
type ldapEnv struct {
	*testenv.Env
	logPath string
}

// newLDAPEnv loads Caddy with usersBlock (a users ldap … block whose
// bind_password is {env.RG_TEST_LDAP_BIND}) in place of the hooks.
func newLDAPEnv(t *testing.T, usersBlock, bindPassword string) *ldapEnv {
	t.Helper()
	t.Setenv("RG_TEST_LDAP_BIND", bindPassword)
	// The app's session endpoint: the cookie sid=<user id> is that user.
	session := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id": c.Value})
	}))
	t.Cleanup(session.Close)
	env := testenv.New(t, testenv.Options{NoStart: true})
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	env.Load(ldapCaddyfile(t, env, usersBlock, logPath, "\t\tsession "+session.URL+"\n"))
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("caddy log:\n%s", tail(string(data), 4000))
		}
	})
	return &ldapEnv{Env: env, logPath: logPath}
}

// ldapCaddyfile is the test Caddyfile with usersBlock in place of the
// hooks, extra lines after it, and Caddy's log in logPath.
func ldapCaddyfile(t *testing.T, env *testenv.Env, usersBlock, logPath, extra string) string {
	t.Helper()
	cf := env.Caddyfile("")
	cf = cfReplace(t, cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+logPath+"\n\t\tlevel DEBUG\n\t}\n\tadmin off")
	hooks := "\t\tlookup " + env.AppURL + "/internal/users/lookup\n\t\tupdate " + env.AppURL + "/internal/users/password {\n\t\t\tsecret " + env.Secret + "\n\t\t}\n"
	return cfReplace(t, cf, hooks, "\t\t"+strings.ReplaceAll(usersBlock, "\n", "\n\t\t")+"\n"+extra)
}

// token requests a reset for identifier and returns the token mailed to
// email.
func (e *ldapEnv) token(t *testing.T, identifier, email string) string {
	t.Helper()
	e.Mail.Clear()
	requestReset(t, e.Env, identifier)
	_, token := testenv.ResetLink(t, e.WaitMail(email, "reset"))
	return token
}

func (e *ldapEnv) change(userID, old, newPW string) *testenv.Response {
	body, _ := json.Marshal(map[string]string{"old": old, "new": newPW, "confirm": newPW})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/password-reset/change", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "sid", Value: userID})
	return e.Do(req)
}

// noSecretsLogged fails when Caddy's log holds any of secrets.
func (e *ldapEnv) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	data, err := os.ReadFile(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatal("Caddy's log is empty: the check would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(string(data), s) {
			t.Errorf("a secret (%.4s…) is in Caddy's log", s)
		}
	}
}

// noMailWithin fails when a mail arrives within d.
func noMailWithin(t *testing.T, env *testenv.Env, d time.Duration, why string) {
	t.Helper()
	time.Sleep(d)
	if n := len(env.Mail.Messages()); n != 0 {
		t.Errorf("%s: %d mails were sent", why, n)
	}
}

func slapdBlock(s *testsrv.Slapd) string {
	return "users ldap " + s.LDAPSURL + " {\n" +
		"\tbind_dn \"" + s.ServiceDN + "\"\n" +
		"\tbind_password {env.RG_TEST_LDAP_BIND}\n" +
		"\tbase_dn \"" + s.PeopleDN + "\"\n" +
		"\tfilter \"(|(mail={identifier})(uid={identifier}))\"\n" +
		"\tca_file " + s.TLS.CA + "\n" +
		"\ttimeout 2s\n" +
		"}"
}

// TestUsersLDAPEndToEnd resets a user through a real Caddy whose users
// live in a real OpenLDAP (ppolicy, TLS, least-privilege service account),
// then proves it with ldapwhoami: the new password binds, the old does
// not. SAME_AS_OLD and the signed-in change work through a bind as the
// user; a password in the directory's history is 422 UPSTREAM_POLICY with
// the token kept; injection identifiers find nobody and send no mail; no
// bind password or typed password reaches Caddy's log.
func TestUsersLDAPEndToEnd(t *testing.T) {
	s := testsrv.StartSlapd(t)
	const (
		mail = "alice@example.test"
		pw0  = "violet first pass phrase 1"
		pw1  = "violet second pass phrase 2"
		pw2  = "violet third pass phrase 3"
		pw3  = "violet fourth pass phrase 4"
	)
	dn := s.AddUser("alice", mail, pw0)
	s.AddUser("bob", "bob@example.test", "indigo first pass phrase 1")
	e := newLDAPEnv(t, slapdBlock(s), s.ServicePassword)

	token := e.token(t, mail, mail)
	wantAPI(t, "complete with the current password", postComplete(e.Env, token, pw0), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD")
	wantAPI(t, "complete", postComplete(e.Env, token, pw1), http.StatusOK, "")
	if err := s.Whoami(dn, pw1); err != nil {
		t.Fatalf("ldapwhoami with the new password: %v", err)
	}
	if err := s.Whoami(dn, pw0); err == nil {
		t.Fatal("ldapwhoami still accepts the old password")
	}
	wantAPI(t, "the spent token", postComplete(e.Env, token, pw2), http.StatusNotFound, "TOKEN_INVALID")

	// pw0 is in ppolicy's history (pwdInHistory 3): the directory refuses
	// it, resetgate answers 422 UPSTREAM_POLICY and keeps the token.
	token = e.token(t, "alice", mail)
	wantAPI(t, "complete with a password in the directory's history", postComplete(e.Env, token, pw0), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/UPSTREAM_POLICY")
	wantAPI(t, "the same token after the refusal", postComplete(e.Env, token, pw2), http.StatusOK, "")
	if err := s.Whoami(dn, pw2); err != nil {
		t.Fatalf("ldapwhoami after the second reset: %v", err)
	}

	// The signed-in change checks the old password by binding as the user.
	id := s.Attr(dn, "entryUUID")[0]
	wantAPI(t, "change with a wrong old password", e.change(id, "not the password at all", pw3), http.StatusForbidden, "OLD_PASSWORD_WRONG")
	wantAPI(t, "change", e.change(id, pw2, pw3), http.StatusOK, "")
	if err := s.Whoami(dn, pw3); err != nil {
		t.Fatalf("ldapwhoami after the change: %v", err)
	}

	// Injection: each is a well-formed identifier that must find nobody.
	e.Mail.Clear()
	for _, id := range []string{"*", "*)(uid=*))(|(uid=*", "*@example.test", "alice\x00", strings.Repeat("a", 4096)} {
		r := e.PostJSON("/password-reset/request", map[string]string{"identifier": id})
		if r.StatusCode != http.StatusAccepted && r.StatusCode != http.StatusBadRequest {
			t.Errorf("request %.20q: %d %s", id, r.StatusCode, r.Body)
		}
	}
	noMailWithin(t, e.Env, 1500*time.Millisecond, "identifiers that match nobody")
	if err := s.Whoami(s.UserDN("bob"), "indigo first pass phrase 1"); err != nil {
		t.Errorf("bob's password changed: %v", err)
	}
	e.noSecretsLogged(t, s.ServicePassword, pw0, pw1, pw2, pw3)
}

// TestUsersLDAPServerDown: with the directory stopped, complete answers
// 502 UPSTREAM_FAILED and keeps the token; once slapd is back, the same
// token sets the password (the connection pool reconnects by itself).
func TestUsersLDAPServerDown(t *testing.T) {
	s := testsrv.StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.test", "violet first pass phrase 1")
	e := newLDAPEnv(t, slapdBlock(s), s.ServicePassword)
	token := e.token(t, "alice@example.test", "alice@example.test")
	s.Stop()
	wantAPI(t, "complete with the directory down", postComplete(e.Env, token, "violet second pass phrase 2"), http.StatusBadGateway, "UPSTREAM_FAILED")
	s.Start()
	wantAPI(t, "complete after restart", postComplete(e.Env, token, "violet second pass phrase 2"), http.StatusOK, "")
	if err := s.Whoami(dn, "violet second pass phrase 2"); err != nil {
		t.Fatalf("ldapwhoami after restart: %v", err)
	}
	e.noSecretsLogged(t, s.ServicePassword, "violet second pass phrase 2")
}

// TestUsersActiveDirectoryEndToEnd resets a user through a real Caddy
// whose users live in a real Samba AD DC (mode active_directory, LDAPS,
// a service account with only the Reset Password right), then proves it
// with an LDAPS bind as the user and an smbclient logon. A password the domain's complexity rule
// refuses (0000052D) is 422 UPSTREAM_POLICY with the token kept.
func TestUsersActiveDirectoryEndToEnd(t *testing.T) {
	s := testsrv.StartSamba(t)
	s.AddUser(t, "alice", "alice@example.test", "Violet-First-Passw0rd")
	block := "users ldap " + s.LDAPSURL + " {\n" +
		"\tbind_dn \"" + s.ServiceDN + "\"\n" +
		"\tbind_password {env.RG_TEST_LDAP_BIND}\n" +
		"\tbase_dn \"" + s.UsersDN + "\"\n" +
		"\tfilter \"(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|(sAMAccountName={identifier})(mail={identifier})))\"\n" +
		"\tattributes name=displayName\n" +
		"\tmode active_directory\n" +
		"\tca_file " + s.TLS.CA + "\n" +
		"}"
	e := newLDAPEnv(t, block, s.ServicePassword)
	token := e.token(t, "alice", "alice@example.test")
	// Long enough for resetgate's own policy, but only lower-case letters
	// and spaces: the domain's complexity rule refuses it.
	wantAPI(t, "complete with a password AD refuses", postComplete(e.Env, token, "purple elephants dance quietly"), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/UPSTREAM_POLICY")
	wantAPI(t, "the same token after the refusal", postComplete(e.Env, token, "Violet-Second-Passw0rd"), http.StatusOK, "")
	if err := s.Bind("alice@samdom.test", "Violet-Second-Passw0rd"); err != nil {
		t.Fatalf("LDAPS bind with the new password: %v", err)
	}
	if err := s.Bind("alice@samdom.test", "Violet-First-Passw0rd"); err == nil {
		t.Fatal("Samba still accepts the old password")
	}
	if err := s.SMBLogin("alice", "Violet-Second-Passw0rd"); err != nil {
		t.Fatalf("smbclient with the new password: %v", err)
	}
	e.noSecretsLogged(t, s.ServicePassword, "Violet-First-Passw0rd", "Violet-Second-Passw0rd")
}

// TestUsersLDAPWrongBindPassword: a service bind the directory refuses
// fails the config load, with an error that names bind_dn and never
// echoes the password, in the error or in Caddy's log.
func TestUsersLDAPWrongBindPassword(t *testing.T) {
	s := testsrv.StartSlapd(t)
	const wrong = "not-the-bind-password-4471"
	t.Setenv("RG_TEST_LDAP_BIND", wrong)
	env := testenv.New(t, testenv.Options{NoStart: true})
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	err := env.TryLoad(ldapCaddyfile(t, env, slapdBlock(s), logPath, ""))
	if err == nil || !strings.Contains(err.Error(), "bind_dn") {
		t.Fatalf("load with a wrong bind password = %v; want an error naming bind_dn", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error echoes the bind password: %v", err)
	}
	if data, _ := os.ReadFile(logPath); strings.Contains(string(data), wrong) {
		t.Error("the bind password is in Caddy's log")
	}
}

// TestREADMELDAPBlocks adapts every ready `users ldap` block of the
// README's "LDAP and Active Directory" (adapting checks the whole block when
// its values are written out), so the documented blocks cannot rot.
func TestREADMELDAPBlocks(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "### LDAP and Active Directory")
	if start < 0 {
		t.Fatal("README has no section LDAP and Active Directory")
	}
	s = s[start:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	blocks := regexp.MustCompile("(?s)```caddyfile\n(users ldap .*?)```").FindAllStringSubmatch(s, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d ready users ldap blocks, want OpenLDAP and Active Directory", len(blocks))
	}
	for i, b := range blocks {
		cf := ":8080 {\n\tpassword_reset {\n\t\t" + strings.ReplaceAll(strings.TrimSpace(b[1]), "\n", "\n\t\t") + "\n\t}\n}\n"
		out, _, err := adapt(t, "README.md", []byte(cf))
		if err != nil {
			t.Fatalf("README block %d does not adapt: %v\n%s", i, err, cf)
		}
		var h struct {
			Users directory.Config `json:"users"`
		}
		if err := json.Unmarshal(handlerJSON(t, out), &h); err != nil || h.Users.LDAP == nil {
			t.Fatalf("adapted handler: %v\n%s", err, out)
		}
		c := *h.Users.LDAP
		c.URL, c.BindPassword = strings.Replace(c.URL, "{env.AD_URL}", "ldaps://dc1", 1), "x"
		if err := c.Validate(); err != nil {
			t.Errorf("README block %d: %v", i, err)
		}
	}
}
