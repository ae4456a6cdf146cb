package apps_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testsrv"
)

var lostPasswordRE = regexp.MustCompile(`<a href="([^"]*action=lostpassword[^"]*)">Lost your password\?</a>`)

// wpLostPassword follows WordPress's own "Lost your password?" link on
// wp-login.php and returns where it leads.
func wpLostPassword(t *testing.T, b *browser, base string) page {
	t.Helper()
	login := b.get(base + "/wp-login.php")
	m := lostPasswordRE.FindStringSubmatch(login.Body)
	if m == nil {
		t.Fatalf("wp-login.php has no \"Lost your password?\" link:\n%s", tail(login.Body, 2000))
	}
	return b.get(strings.ReplaceAll(m[1], "&#038;", "&"))
}

// TestWordPressResetThroughItsDatabase is the journey of the WordPress
// recipe (examples/apps/wordpress/Caddyfile): Debian's WordPress 6.1 on
// PHP-FPM behind the recipe's Caddy (php_fastcgi), MariaDB, `users sql
// mysql` with `hash wordpress` and a database user that may touch only
// the columns it needs. WordPress's own lost-password link leads to
// resetgate; after the reset WordPress's own login form takes the new
// password, refuses the old one, and the administrator's earlier session
// (the one that created the other users) is over.
func TestWordPressResetThroughItsDatabase(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	s := newStack(t)
	w := newWordPress(t)
	// WordPress's own installer first, through a Caddy of the test's own
	// on the same address (WordPress keeps its URL), since the recipe's
	// database user can only be granted columns of tables that exist.
	stopPlain := s.startPlain(fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}

http://127.0.0.1:%d {
	root * /usr/share/wordpress
	php_fastcgi %s {
		env WORDPRESS_CONFIG %s
	}
	file_server
}
`, s.port, w.FPMAddr, w.ConfigID))
	const oldPassword, newPassword = "alice old password 1", "Kestrel orbit 42 lantern"
	w.install(s.URL, "Resetgate Test", "alice", "alice@example.test", oldPassword)
	stopPlain()

	resetgatePassword := testsrv.Secret()
	w.db.Exec(fmt.Sprintf("CREATE USER 'resetgate'@'%%' IDENTIFIED BY '%s'", resetgatePassword))
	w.grantResetgate()
	s.start("examples/apps/wordpress/Caddyfile", map[string]string{
		"PHP_FPM":          w.FPMAddr,
		"WORDPRESS_CONFIG": w.ConfigID,
		"WORDPRESS_DSN":    fmt.Sprintf("resetgate:%s@tcp(%s:%d)/wordpress", resetgatePassword, w.db.Host, w.db.Port),
	})
	base := s.URL
	defer func() { s.assertNotLogged(t, resetgatePassword, newPassword, oldPassword) }()

	// alice signs in (the session the reset must end) and, as the
	// administrator, adds the users of the timing rounds.
	earlier := newBrowser(t, base)
	if !wpLogin(t, earlier, base, "alice", oldPassword) || !wpSignedIn(t, earlier, base) {
		t.Fatal("alice cannot sign in to WordPress before the reset")
	}
	const rounds = 10
	for i := 1; i < rounds; i++ {
		name := fmt.Sprintf("timing%d", i)
		wpCreateUser(t, earlier, base, name, name+"@example.test", "timing old password "+randomWord())
	}
	if _, sessions := w.stored("alice"); sessions != 1 {
		t.Fatalf("alice has %d session_tokens rows before the reset, want 1", sessions)
	}

	// The reset, from WordPress's own "Lost your password?" link.
	b := newBrowser(t, base)
	link := requestReset(t, b, s, wpLostPassword(t, b, base), "alice", "alice@example.test")
	newPage := openResetLink(t, b, link)
	start := time.Now()
	setNewPassword(t, b, newPage, newPassword)
	hash, sessions := w.stored("alice")
	if !strings.HasPrefix(hash, "$2y$10$") || sessions != 0 {
		t.Fatalf("after the reset WordPress's tables hold a %q… hash and %d session_tokens rows; want $2y$10$ and none", hash[:min(7, len(hash))], sessions)
	}
	times := []time.Duration{}
	if !wpLogin(t, newBrowser(t, base), base, "alice", newPassword) {
		t.Fatal("WordPress refuses alice's new password")
	}
	times = append(times, time.Since(start))
	if wpLogin(t, newBrowser(t, base), base, "alice", oldPassword) {
		t.Fatal("WordPress still takes alice's old password")
	}
	if wpSignedIn(t, earlier, base) {
		t.Fatal("alice's earlier WordPress session survived the reset")
	}
	// The WordPress lost-password pages all lead to resetgate, the
	// WordPress form post included.
	for _, q := range []string{"action=lostpassword", "action=rp&key=x&login=alice", "action=resetpass"} {
		resp, err := b.noRedirects().Get(base + "/wp-login.php?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/password-reset/" {
			t.Fatalf("/wp-login.php?%s: %d → %q", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	for i := 1; i < rounds; i++ {
		name := fmt.Sprintf("timing%d", i)
		b := newBrowser(t, base)
		link := requestReset(t, b, s, wpLostPassword(t, b, base), name, name+"@example.test")
		newPage := openResetLink(t, b, link)
		password := "Velvet harbor " + randomWord()
		start := time.Now()
		setNewPassword(t, b, newPage, password)
		if !wpLogin(t, newBrowser(t, base), base, name, password) {
			t.Fatalf("WordPress refuses %s's new password", name)
		}
		times = append(times, time.Since(start))
	}
	t.Logf("WordPress 6.1 (users sql mysql, hash wordpress): submit new password → WordPress login OK: median %s of %d (min %s, max %s); test wall time %s",
		median(times).Round(time.Millisecond), len(times), minD(times), maxD(times), time.Since(wall).Round(time.Second))
}
