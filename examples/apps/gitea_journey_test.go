package apps_test

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// giteaSetup is a running Gitea behind a running Caddy with one recipe.
type giteaSetup struct {
	s          *stack
	g          *gitea
	setupToken string // a root token for the test's own setup calls
}

// startGitea starts Gitea (root admin, alice, and the recipe's token from
// Gitea's CLI) and Caddy with the recipe's Caddyfile. recipeEnv gets the
// running Gitea and returns the recipe's variables.
func startGitea(t *testing.T, caddyfile string, recipeEnv func(g *gitea) map[string]string) *giteaSetup {
	t.Helper()
	s := newStack(t)
	g := newGitea(t, s.URL)
	g.createUser("root", "root@example.test", "root-password-"+randomWord(), true)
	g.createUser("alice", "alice@example.test", "alice old password 1", false)
	setup := g.token("root", "test-setup", "all")
	env := recipeEnv(g)
	env["GITEA_ADDR"] = g.Addr
	g.start()
	s.start(caddyfile, env)
	return &giteaSetup{s: s, g: g, setupToken: setup}
}

// createUserByAPI creates a user through Gitea's admin API (for the
// timing rounds, where the CLI would be slow).
func (gs *giteaSetup) createUserByAPI(t *testing.T, name, email, password string) {
	t.Helper()
	st, body := gs.g.api(http.MethodPost, "/api/v1/admin/users", gs.setupToken, map[string]any{
		"username": name, "email": email, "password": password, "must_change_password": false,
	})
	if st != http.StatusCreated {
		t.Fatalf("creating %s through Gitea's admin API: %d %s", name, st, body)
	}
}

// forgotFromLoginPage follows Gitea's own "Forgot password?" link on its
// login page and returns where it leads.
func forgotFromLoginPage(t *testing.T, b *browser, base string) page {
	t.Helper()
	login := b.get(base + "/user/login")
	if !strings.Contains(login.Body, `href="/user/forgot_password"`) {
		t.Fatalf("Gitea's login page has no forgot-password link:\n%s", tail(login.Body, 2000))
	}
	return b.get(base + "/user/forgot_password")
}

// resetAndTime runs one whole reset for name, asked for by identifier
// (forgot form, mail, link, new password), and returns the time from submitting the new password to
// Gitea's login form accepting it.
func (gs *giteaSetup) resetAndTime(t *testing.T, name, identifier, email, password string) time.Duration {
	t.Helper()
	b := newBrowser(t, gs.s.URL)
	link := requestReset(t, b, gs.s, forgotFromLoginPage(t, b, gs.s.URL), identifier, email)
	newPage := openResetLink(t, b, link)
	start := time.Now()
	setNewPassword(t, b, newPage, password)
	if !giteaLogin(t, newBrowser(t, gs.s.URL), gs.s.URL, name, password) {
		t.Fatalf("Gitea refused %s's new password", name)
	}
	return time.Since(start)
}

// giteaJourney is the journey both recipes share: alice signs in (with
// "remember me"), resets her password through resetgate, and Gitea's own
// login form then takes the new password and refuses the old one. It
// returns alice's earlier browser (its session cookie and its remember-me
// cookie) for the recipe to check what became of that session, and the
// timing figures.
func giteaJourney(t *testing.T, gs *giteaSetup, rounds int, byEmail bool) (earlier *browser, times []time.Duration) {
	t.Helper()
	base := gs.s.URL
	const oldPassword, newPassword = "alice old password 1", "Kestrel orbit 42 lantern"

	earlier = newBrowser(t, base)
	if !giteaLogin(t, earlier, base, "alice", oldPassword) || !giteaSignedIn(t, earlier, base) {
		t.Fatal("alice cannot sign in to Gitea before the reset")
	}
	if earlier.cookie(base, "gitea_incredible") == "" {
		t.Fatal("Gitea set no remember-me cookie")
	}

	identifier := "alice"
	if byEmail {
		identifier = "Alice@Example.test"
	}
	times = append(times, gs.resetAndTime(t, "alice", identifier, "alice@example.test", newPassword))
	if giteaLogin(t, newBrowser(t, base), base, "alice", oldPassword) {
		t.Fatal("Gitea still takes alice's old password")
	}

	// An unknown user: the same pages, no mail, nothing changed.
	b := newBrowser(t, base)
	sent := b.submit(forgotFromLoginPage(t, b, base), "/password-reset/", url.Values{"identifier": {"nobody-here"}})
	if sent.Status != http.StatusOK || sent.URL.Path != "/password-reset/sent" {
		t.Fatalf("forgot form for an unknown user: %d at %s", sent.Status, sent.URL)
	}

	// Path traversal through the forgot form (the API recipe puts the
	// identifier in the lookup URL's path): the same answer, and no
	// request reaches another Gitea endpoint, so root gets no mail (checked
	// below, once the background lookups have long run).
	for _, id := range []string{"../admin/users/root", "root/..", "..%2Froot", "./root"} {
		b := newBrowser(t, base)
		sent := b.submit(forgotFromLoginPage(t, b, base), "/password-reset/", url.Values{"identifier": {id}})
		if sent.Status != http.StatusOK || sent.URL.Path != "/password-reset/sent" {
			t.Fatalf("forgot form for %q: %d at %s", id, sent.Status, sent.URL)
		}
	}

	for i := 1; i < rounds; i++ {
		name := fmt.Sprintf("timing%d", i)
		gs.createUserByAPI(t, name, name+"@example.test", "timing old password "+randomWord())
		times = append(times, gs.resetAndTime(t, name, name, name+"@example.test", "Velvet harbor "+randomWord()))
	}
	for _, m := range gs.s.Mail.Messages() {
		for _, to := range m.To {
			if strings.Contains(to, "nobody") || strings.HasPrefix(to, "root@") {
				t.Fatalf("a mail went to %v for an unknown user or a path-traversal identifier", m.To)
			}
		}
	}
	return earlier, times
}

// TestGiteaResetThroughAdminAPI is the journey of the API recipe
// (examples/apps/gitea/Caddyfile) against a real Gitea 1.27.3 with SQLite.
// Gitea's admin API sets the password and deletes the user's remember-me
// tokens; it does not end web sessions (Gitea 1.27 has no way to: its
// session check loads the user by id and nothing else), which the test
// pins so that a change in Gitea shows up here.
func TestGiteaResetThroughAdminAPI(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	var adminToken string
	gs := startGitea(t, "examples/apps/gitea/Caddyfile", func(g *gitea) map[string]string {
		adminToken = g.token("root", "resetgate", "write:admin,read:user")
		return map[string]string{"GITEA_ADMIN_TOKEN": adminToken}
	})
	defer func() { gs.s.assertNotLogged(t, adminToken, "Kestrel orbit 42 lantern", "alice old password 1") }()
	earlier, times := giteaJourney(t, gs, 10, false)

	// The traversal identifiers were refused before any request, and the
	// log says so without repeating them.
	caddyLog := logFile(filepath.Join(gs.s.Dir, "caddy.log"), 1<<20)
	if !strings.Contains(caddyLog, "cannot be a path segment") || strings.Contains(caddyLog, "admin/users/root") {
		t.Fatalf("Caddy's log does not show the traversal identifiers refused (or repeats one):\n%s", tail(caddyLog, 3000))
	}

	// The remember-me token is gone: a browser holding only that cookie
	// is not signed in again.
	rememberOnly := newBrowser(t, gs.s.URL)
	u, _ := url.Parse(gs.s.URL)
	rememberOnly.c.Jar.SetCookies(u, []*http.Cookie{{Name: "gitea_incredible", Value: earlier.cookie(gs.s.URL, "gitea_incredible"), Path: "/"}})
	if giteaSignedIn(t, rememberOnly, gs.s.URL) {
		t.Fatal("alice's remember-me cookie still signs her in after the reset")
	}
	// The web session itself lives on until it expires (SESSION_LIFE_TIME,
	// default 24 h): Gitea's admin API cannot end it.
	if !giteaSignedIn(t, earlier, gs.s.URL) {
		t.Error("Gitea now ends web sessions on an admin password change: update examples/apps/gitea/README.md and this test")
	}
	t.Logf("Gitea %s (admin API): submit new password → Gitea login OK: median %s of %d (min %s, max %s); test wall time %s",
		giteaVersion, median(times).Round(time.Millisecond), len(times), minD(times), maxD(times), time.Since(wall).Round(time.Second))
}

// TestGiteaResetThroughItsDatabase is the journey of the SQL recipe
// (examples/apps/gitea/sqlite.Caddyfile) against a real Gitea 1.27.3:
// `users sql sqlite` with `hash gitea` writes the hash, salt and
// algorithm columns that Gitea's own login reads, and ends alice's earlier
// web session and her remember-me token in the same transaction.
func TestGiteaResetThroughItsDatabase(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	gs := startGitea(t, "examples/apps/gitea/sqlite.Caddyfile", func(g *gitea) map[string]string {
		return map[string]string{"GITEA_DB": g.DB}
	})
	// A bystander whose name is a prefix of alice's keeps his session.
	gs.createUserByAPI(t, "alic", "alic@example.test", "bystander password 9")
	bystander := newBrowser(t, gs.s.URL)
	if !giteaLogin(t, bystander, gs.s.URL, "alic", "bystander password 9") {
		t.Fatal("the bystander cannot sign in")
	}
	defer func() { gs.s.assertNotLogged(t, "Kestrel orbit 42 lantern", "alice old password 1") }()
	before := gs.g.userRow(t, "alice")
	earlier, times := giteaJourney(t, gs, 10, true)
	after := gs.g.userRow(t, "alice")
	if after.algo != "pbkdf2$50000$50" || len(after.salt) != 32 || after.salt == before.salt || after.rands == before.rands || len(after.passwd) != 100 {
		t.Fatalf("alice's row after the reset: algo %q, salt of %d characters (changed: %v), rands changed: %v, passwd of %d characters",
			after.algo, len(after.salt), after.salt != before.salt, after.rands != before.rands, len(after.passwd))
	}
	if giteaSignedIn(t, earlier, gs.s.URL) {
		t.Fatal("alice's earlier Gitea session survived the reset")
	}
	if !giteaSignedIn(t, bystander, gs.s.URL) {
		t.Fatal("alice's reset ended the session of another user (alic)")
	}
	t.Logf("Gitea %s (users sql sqlite, hash gitea): submit new password → Gitea login OK: median %s of %d (min %s, max %s); test wall time %s",
		giteaVersion, median(times).Round(time.Millisecond), len(times), minD(times), maxD(times), time.Since(wall).Round(time.Second))
}
