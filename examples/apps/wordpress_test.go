package apps_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/internal/testsrv"
)

// wordpress is Debian's WordPress package, served by the recipe's Caddy
// through PHP-FPM, on a MariaDB of its own.
type wordpress struct {
	t        testing.TB
	db       *testsrv.Server
	FPMAddr  string // PHP-FPM's loopback address
	ConfigID string // WORDPRESS_CONFIG: /etc/wordpress/config-<id>.php
	dir      string
}

// newWordPress starts MariaDB with a database and a user for WordPress,
// writes Debian's per-site config file (/etc/wordpress/config-<id>.php,
// removed when the test ends) and starts a PHP-FPM pool on a loopback
// port. WordPress itself is installed later, through Caddy.
func newWordPress(t testing.TB) *wordpress {
	t.Helper()
	if _, err := os.Stat("/usr/share/wordpress/wp-login.php"); err != nil {
		t.Fatalf("Debian's wordpress package is not installed (apt-get install wordpress php-fpm php-mysql mariadb-server): %v", err)
	}
	fpm, err := exec.LookPath("php-fpm8.2")
	if err != nil {
		if fpm, err = exec.LookPath("/usr/sbin/php-fpm8.2"); err != nil {
			t.Fatalf("php-fpm is not installed (apt-get install php-fpm php-mysql): %v", err)
		}
	}
	w := &wordpress{t: t, db: testsrv.MariaDB(t), dir: t.TempDir(), ConfigID: "resetgate-test-" + randomWord()}
	w.ConfigID = regexp.MustCompile(`[^a-zA-Z0-9-]`).ReplaceAllString(w.ConfigID, "x")
	wpPassword := testsrv.Secret()
	w.db.Exec(
		"CREATE DATABASE wordpress CHARACTER SET utf8mb4",
		fmt.Sprintf("CREATE USER 'wordpress'@'%%' IDENTIFIED BY '%s'", wpPassword),
		"GRANT ALL ON wordpress.* TO 'wordpress'@'%'",
	)

	// Debian's /usr/share/wordpress/wp-config.php loads this file when the
	// web server passes WORDPRESS_CONFIG (the recipe's php_fastcgi env).
	var keys strings.Builder
	for _, k := range []string{"AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"} {
		fmt.Fprintf(&keys, "define('%s', '%s');\n", k, testenv.RandomString(64))
	}
	cfg := fmt.Sprintf(`<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', '%s');
define('DB_HOST', '%s:%d');
define('DB_CHARSET', 'utf8mb4');
%s
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = 'wp_';
`, wpPassword, w.db.Host, w.db.Port, keys.String())
	cfgPath := "/etc/wordpress/config-" + w.ConfigID + ".php"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatalf("writing Debian's WordPress site config %s (the test must run as root): %v", cfgPath, err)
	}
	t.Cleanup(func() { os.Remove(cfgPath) })

	// The pool runs as www-data when the test runs as root (PHP-FPM
	// refuses root workers), as the packaged pool does.
	poolUser := ""
	if os.Geteuid() == 0 {
		wwwData, err := user.Lookup("www-data")
		if err != nil {
			t.Fatalf("no www-data user for PHP-FPM's workers: %v", err)
		}
		gid, _ := strconv.Atoi(wwwData.Gid)
		if err := os.Chown(cfgPath, 0, gid); err != nil {
			t.Fatal(err)
		}
		poolUser = "user = www-data\ngroup = www-data\n"
	}
	w.FPMAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	conf := filepath.Join(w.dir, "php-fpm.conf")
	logPath := filepath.Join(w.dir, "php-fpm.log")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = %[2]s
daemonize = no

[wordpress]
%[3]slisten = %[4]s
pm = static
pm.max_children = 4
catch_workers_output = yes
decorate_workers_output = no
clear_env = yes
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
`, w.dir, logPath, poolUser, w.FPMAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fpm, "--nodaemonize", "--fpm-config", conf)
	if out, err := exec.Command(fpm, "--test", "--fpm-config", conf).CombinedOutput(); err != nil {
		t.Fatalf("php-fpm refuses its config: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting php-fpm: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("php-fpm said:\n%s", logFile(logPath, 3000))
		}
	})
	waitTCP(t, w.FPMAddr, exited, func() string { return logFile(logPath, 3000) })
	return w
}

// waitTCP waits until addr accepts connections.
func waitTCP(t testing.TB, addr string, exited chan struct{}, log func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var d net.Dialer
		if c, err := d.DialContext(context.Background(), "tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the server on %s exited at start:\n%s", addr, log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// install runs WordPress's own installer (wp-admin/install.php, the form
// an operator fills in) through Caddy: the site, and its first user as
// administrator.
func (w *wordpress) install(base, title, admin, email, password string) {
	w.t.Helper()
	b := newBrowser(w.t, base)
	p := b.get(base + "/wp-admin/install.php")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "weblog_title") {
		w.t.Fatalf("WordPress's installer: %d at %s:\n%s", p.Status, p.URL, tail(p.Body, 2000))
	}
	done := b.post(base+"/wp-admin/install.php?step=2", map[string][]string{
		"weblog_title": {title}, "user_name": {admin}, "admin_email": {email},
		"admin_password": {password}, "admin_password2": {password}, "pw_weak": {"on"},
		"blog_public": {"0"}, "language": {""}, "Submit": {"Install WordPress"},
	})
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "WordPress has been installed") {
		w.t.Fatalf("WordPress's installer did not finish: %d:\n%s", done.Status, tail(done.Body, 3000))
	}
}

// grantResetgate makes the recipe's database user with the least
// privileges it needs (the README lists the same grants).
func (w *wordpress) grantResetgate() {
	w.t.Helper()
	w.db.Exec(
		"GRANT SELECT (ID, user_login, user_email, display_name, user_pass), UPDATE (user_pass, user_activation_key) ON wordpress.wp_users TO 'resetgate'@'%'",
		"GRANT SELECT (user_id, meta_key), DELETE ON wordpress.wp_usermeta TO 'resetgate'@'%'",
	)
}

// storedHash reads a user's user_pass and number of session tokens
// straight from the database.
func (w *wordpress) stored(login string) (hash string, sessions int) {
	w.t.Helper()
	db := w.db.DB()
	if err := db.QueryRow("SELECT user_pass FROM wordpress.wp_users WHERE user_login = ?", login).Scan(&hash); err != nil {
		w.t.Fatalf("reading %s's hash: %v", login, err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM wordpress.wp_usermeta m JOIN wordpress.wp_users u ON u.ID = m.user_id WHERE u.user_login = ? AND m.meta_key = 'session_tokens'", login).Scan(&sessions); err != nil {
		w.t.Fatalf("reading %s's sessions: %v", login, err)
	}
	return hash, sessions
}

// wpLogin signs in on WordPress's own form (wp-login.php, with its test
// cookie and "remember me") and reports whether WordPress let the user in.
func wpLogin(t testing.TB, b *browser, base, login, password string) bool {
	t.Helper()
	form := b.get(base + "/wp-login.php")
	if form.Status != http.StatusOK || b.cookie(base, "wordpress_test_cookie") == "" {
		t.Fatalf("GET /wp-login.php: %d, test cookie %q", form.Status, b.cookie(base, "wordpress_test_cookie"))
	}
	p := b.submit(form, "wp-login.php", map[string][]string{"log": {login}, "pwd": {password}, "rememberme": {"forever"}, "wp-submit": {"Log In"}})
	switch {
	case p.Status == http.StatusOK && strings.HasPrefix(p.URL.Path, "/wp-admin/"):
		return true
	case p.Status == http.StatusOK && p.URL.Path == "/wp-login.php" && strings.Contains(p.Body, "login_error"):
		return false
	}
	t.Fatalf("POST /wp-login.php: %d at %s:\n%s", p.Status, p.URL, tail(p.Body, 2000))
	return false
}

// wpSignedIn reports whether the browser's WordPress session is alive.
func wpSignedIn(t testing.TB, b *browser, base string) bool {
	t.Helper()
	p := b.get(base + "/wp-admin/profile.php")
	return p.Status == http.StatusOK && p.URL.Path == "/wp-admin/profile.php"
}

// wpCreateUser adds a subscriber with WordPress's own admin screen
// (wp-admin/user-new.php, with its nonce), as a signed-in administrator.
func wpCreateUser(t testing.TB, admin *browser, base, login, email, password string) {
	t.Helper()
	form := admin.get(base + "/wp-admin/user-new.php")
	p := admin.submit(form, "createuser", map[string][]string{
		"user_login": {login}, "email": {email}, "pass1": {password}, "pass2": {password}, "pw_weak": {"on"},
		"role": {"subscriber"}, "createuser": {"Add New User"},
	})
	if p.Status != http.StatusOK || !strings.Contains(p.URL.RawQuery, "update=add") {
		t.Fatalf("adding %s in wp-admin: %d at %s:\n%s", login, p.Status, p.URL, tail(p.Body, 2000))
	}
}
