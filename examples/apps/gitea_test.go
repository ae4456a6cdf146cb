package apps_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"

	// The pure Go SQLite driver, as "sqlite", to read Gitea's database.
	_ "modernc.org/sqlite"
)

// giteaVersion is the Gitea release the recipe is tested with (from the Go
// module proxy, built by scripts/gitea-build).
const giteaVersion = "1.27.3"

var (
	giteaOnce sync.Once
	giteaBin  string
	giteaErr  error
)

// giteaBinary returns the cached Gitea binary, building it first when it
// is missing (scripts/gitea-build; about 10 minutes on 2 cores, once).
func giteaBinary(t testing.TB) string {
	t.Helper()
	giteaOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "scripts", "gitea-build"))
		cmd.Env = append(os.Environ(), "GITEA_VERSION="+giteaVersion)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			giteaErr = fmt.Errorf("Gitea %s cannot be built here (scripts/gitea-build): %v\n%s", giteaVersion, err, tail(stderr.String(), 4000))
			return
		}
		giteaBin = strings.TrimSpace(string(out))
	})
	if giteaErr != nil {
		t.Fatal(giteaErr)
	}
	return giteaBin
}

// gitea is one Gitea instance: SQLite in its own directory, on loopback.
type gitea struct {
	t       testing.TB
	bin     string
	Dir     string
	Config  string
	Addr    string // 127.0.0.1:<port>
	DB      string // the SQLite file
	logPath string
}

// newGitea writes app.ini (install locked, offline, SQLite, sessions in
// the database, no mail, no SSH) and migrates the database. rootURL is
// where users reach it (through Caddy).
func newGitea(t testing.TB, rootURL string) *gitea {
	t.Helper()
	bin := giteaBinary(t)
	dir := t.TempDir()
	g := &gitea{t: t, bin: bin, Dir: dir, Config: filepath.Join(dir, "app.ini"), DB: filepath.Join(dir, "gitea.db"),
		Addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), logPath: filepath.Join(dir, "gitea.log")}
	host, port, _ := strings.Cut(g.Addr, ":")
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	// Without the bindata build tag Gitea reads its templates and locales
	// from STATIC_ROOT_PATH: the downloaded source tree beside the binary.
	staticRoot := filepath.Join(filepath.Dir(bin), "src-gitea-"+giteaVersion)
	ini := fmt.Sprintf(`APP_NAME = Gitea
RUN_USER = %[1]s
RUN_MODE = prod
WORK_PATH = %[2]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = %[3]s
HTTP_PORT = %[4]s
ROOT_URL = %[5]s/
STATIC_ROOT_PATH = %[6]s
APP_DATA_PATH = %[2]s/data
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = %[7]s
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repos

[security]
INSTALL_LOCK = true
SECRET_KEY = %[8]s
INTERNAL_TOKEN = %[9]s
PASSWORD_HASH_ALGO = pbkdf2

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false

[session]
PROVIDER = db

[mailer]
ENABLED = false

[cron]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, runUser, dir, host, port, rootURL, staticRoot, g.DB, testenv.RandomString(40), testenv.RandomString(100))
	if err := os.WriteFile(g.Config, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	g.run("migrate")
	return g
}

// run runs a gitea command against this instance and returns its stdout.
func (g *gitea) run(args ...string) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, append([]string{"--config", g.Config, "--work-path", g.Dir}, args...)...)
	cmd.Dir = g.Dir
	cmd.Env = []string{"HOME=" + g.Dir, "PATH=" + os.Getenv("PATH"), "GITEA_WORK_DIR=" + g.Dir}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("gitea %s: %v\n%s\n%s", args[0], err, out, tail(stderr.String(), 3000))
	}
	return string(out)
}

// createUser creates a user with Gitea's own CLI.
func (g *gitea) createUser(name, email, password string, admin bool) {
	g.t.Helper()
	args := []string{"admin", "user", "create", "--username", name, "--email", email, "--password", password, "--must-change-password=false"}
	if admin {
		args = append(args, "--admin")
	}
	g.run(args...)
}

// token makes an access token for a user with Gitea's own CLI.
func (g *gitea) token(user, name, scopes string) string {
	g.t.Helper()
	out := g.run("admin", "user", "generate-access-token", "--username", user, "--token-name", name, "--scopes", scopes, "--raw")
	tok := strings.TrimSpace(out)
	if len(tok) < 20 || strings.ContainsAny(tok, " \n") {
		g.t.Fatalf("gitea generate-access-token printed an unexpected answer (%d bytes)", len(out))
	}
	return tok
}

// start runs `gitea web` and waits until it answers.
func (g *gitea) start() {
	g.t.Helper()
	lf, err := os.Create(g.logPath)
	if err != nil {
		g.t.Fatal(err)
	}
	cmd := exec.Command(g.bin, "--config", g.Config, "--work-path", g.Dir, "web")
	cmd.Dir = g.Dir
	cmd.Env = []string{"HOME=" + g.Dir, "PATH=" + os.Getenv("PATH"), "GITEA_WORK_DIR=" + g.Dir}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("starting gitea: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		lf.Close()
		close(exited)
	}()
	g.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if g.t.Failed() {
			g.t.Logf("gitea said:\n%s\n%s", logFile(g.logPath, 3000), logFile(filepath.Join(g.Dir, "log", "gitea.log"), 3000))
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + g.Addr + "/api/v1/version"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			g.t.Fatalf("gitea exited at start:\n%s\n%s", logFile(g.logPath, 3000), logFile(filepath.Join(g.Dir, "log", "gitea.log"), 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	g.t.Fatalf("gitea did not answer on %s", g.Addr)
}

// api calls Gitea's REST API directly with a token.
func (g *gitea) api(method, path, token string, body any) (int, []byte) {
	g.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+g.Addr+path, rd)
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// giteaLogin signs in on Gitea's own form at /user/login (reached
// through Caddy), with "remember me" ticked, and reports whether Gitea
// let the user in.
func giteaLogin(t testing.TB, b *browser, base, name, password string) bool {
	t.Helper()
	form := b.get(base + "/user/login")
	if form.Status != http.StatusOK {
		t.Fatalf("GET /user/login: %d", form.Status)
	}
	p := b.submit(form, "/user/login", url.Values{"user_name": {name}, "password": {password}, "remember": {"on"}})
	switch {
	case p.Status == http.StatusOK && p.URL.Path == "/user/login":
		return false // the form again, with Gitea's error
	case p.Status == http.StatusOK:
		return true
	}
	t.Fatalf("POST /user/login: %d at %s:\n%s", p.Status, p.URL, tail(p.Body, 1500))
	return false
}

// giteaSignedIn reports whether the browser's Gitea session is alive: the
// settings page answers only a signed-in user.
func giteaSignedIn(t testing.TB, b *browser, base string) bool {
	t.Helper()
	p := b.get(base + "/user/settings")
	return p.Status == http.StatusOK && p.URL.Path == "/user/settings"
}

// userRow is what Gitea keeps about a user's password.
type userRow struct{ passwd, salt, algo, rands string }

// userRow reads a user's password columns straight from Gitea's database.
func (g *gitea) userRow(t testing.TB, name string) userRow {
	t.Helper()
	db, err := sql.Open("sqlite", g.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var r userRow
	if err := db.QueryRow("SELECT passwd, salt, passwd_hash_algo, rands FROM user WHERE lower_name = ?", name).Scan(&r.passwd, &r.salt, &r.algo, &r.rands); err != nil {
		t.Fatalf("reading %s's row from Gitea's database: %v", name, err)
	}
	return r
}
