package caddymodule_test

import (
	"context"
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
	"github.com/resetgate/resetgate/plugin/passhash"
)

const (
	sqlAliceOld = "her old pass phrase 1"
	sqlBobOld   = "bob's old pass phrase 22"
)

// sqlEnv is a real Caddy whose password_reset keeps its users in a real
// database (users sql), with a session endpoint for the signed-in change
// and Caddy's log in a file.
type sqlEnv struct {
	*testenv.Env
	db      *testsrv.AppDB
	logPath string
	// caddyfile is the loaded config.
	caddyfile string
}

func newSQLEnv(t *testing.T, driver, extra string) *sqlEnv {
	t.Helper()
	h, err := passhash.New("bcrypt", 4)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{}
	for email, pw := range map[string]string{testsrv.AliceEmail: sqlAliceOld, testsrv.BobEmail: sqlBobOld, "twin1@example.test": "twin one pw", "twin2@example.test": "twin two pw"} {
		if hashes[email], err = h.Hash(pw); err != nil {
			t.Fatal(err)
		}
	}
	db := testsrv.NewAppDB(t, driver, hashes)
	t.Setenv("RG_TEST_APP_DSN", db.DSN)

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
	cf := env.Caddyfile("")
	cf = cfReplace(t, cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+logPath+"\n\t\tlevel DEBUG\n\t}\n\tadmin off")
	hooks := "\t\tlookup " + env.AppURL + "/internal/users/lookup\n\t\tupdate " + env.AppURL + "/internal/users/password {\n\t\t\tsecret " + env.Secret + "\n\t\t}\n"
	block := db.UsersBlock("{env.RG_TEST_APP_DSN}", "bcrypt 4", "\ttimeout 2s\n"+extra)
	cf = cfReplace(t, cf, hooks, "\t\t"+strings.ReplaceAll(block, "\n", "\n\t\t")+"\n\t\tsession "+session.URL+"\n")
	env.Load(cf)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("caddy log:\n%s", tail(string(data), 4000))
		}
	})
	return &sqlEnv{Env: env, db: db, logPath: logPath, caddyfile: cf}
}

// token requests a reset for email and returns the mailed token.
func (e *sqlEnv) token(t *testing.T, email string) string {
	t.Helper()
	e.Mail.Clear()
	requestReset(t, e.Env, email)
	_, token := testenv.ResetLink(t, e.WaitMail(email, "reset"))
	return token
}

// change posts a signed-in change as the user whose id is in the cookie.
func (e *sqlEnv) change(userID, old, newPW string) *testenv.Response {
	body, _ := json.Marshal(map[string]string{"old": old, "new": newPW, "confirm": newPW})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/password-reset/change", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "sid", Value: userID})
	return e.Do(req)
}

// wantPassword proves the stored hash the way the app's login checks it:
// pw is accepted and every one of wrong is refused.
func (e *sqlEnv) wantPassword(t *testing.T, email, pw string, wrong ...string) testsrv.Row {
	t.Helper()
	row := e.db.Row(t, email)
	if !strings.HasPrefix(row.Pass, "$2y$04$") || !passhash.Verify("bcrypt", row.Pass, nil, pw) {
		t.Fatalf("%s: the stored hash %.7s… does not accept the new password", email, row.Pass)
	}
	for _, w := range wrong {
		if passhash.Verify("bcrypt", row.Pass, nil, w) {
			t.Fatalf("%s: the stored hash still accepts an old password", email)
		}
	}
	return row
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestUsersSQLEndToEnd resets a user through a real Caddy whose users live
// in a real PostgreSQL, MariaDB or SQLite table, then proves it in the
// table: the new hash accepts the new password and refuses the old, the
// user's sessions are gone (update any) and a {random} token was written,
// in one transaction; the other users are untouched. SAME_AS_OLD and the
// signed-in change work through verify. No DSN, database password or
// typed password reaches Caddy's log.
func TestUsersSQLEndToEnd(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			e := newSQLEnv(t, driver, "")
			aliceID := e.db.ID(t, testsrv.AliceEmail)

			pw1 := "  a brand new Pässwörd for her  "
			token := e.token(t, testsrv.AliceEmail)
			wantAPI(t, "complete", postComplete(e.Env, token, pw1), http.StatusOK, "")
			row := e.wantPassword(t, testsrv.AliceEmail, pw1, sqlAliceOld, strings.TrimSpace(pw1))
			if row.Sessions != 0 || !hex32.MatchString(row.Token) {
				t.Fatalf("after the reset: %d sessions left, token %q; want 0 and 32 hex", row.Sessions, row.Token)
			}
			if bob := e.db.Row(t, testsrv.BobEmail); !passhash.Verify("bcrypt", bob.Pass, nil, sqlBobOld) || bob.Sessions != 1 || bob.Token != "" {
				t.Fatalf("bob changed: %+v", bob)
			}
			e.WaitMail(testsrv.AliceEmail, "changed")
			wantAPI(t, "reused token", postComplete(e.Env, token, "yet another new pass 1"), http.StatusNotFound, "TOKEN_INVALID")

			// SAME_AS_OLD through verify.
			token = e.token(t, testsrv.AliceEmail)
			wantAPI(t, "complete with the current password", postComplete(e.Env, token, pw1), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD")
			if got := e.Get("/password-reset/policy").JSON()["rejects_old_password"]; got != true {
				t.Errorf("policy rejects_old_password = %v", got)
			}

			// The signed-in change checks the old password in the table.
			pw2 := "changed while signed in 42"
			wantAPI(t, "change with a wrong old password", e.change(aliceID, "not the password 123", pw2), http.StatusForbidden, "OLD_PASSWORD_WRONG")
			wantAPI(t, "change", e.change(aliceID, pw1, pw2), http.StatusOK, "")
			e.wantPassword(t, testsrv.AliceEmail, pw2, pw1, sqlAliceOld)

			// The token from before the change was ended by it.
			wantAPI(t, "token issued before the change", postComplete(e.Env, token, "third new password 77"), http.StatusNotFound, "TOKEN_INVALID")

			data, err := os.ReadFile(e.logPath)
			if err != nil || len(data) == 0 {
				t.Fatalf("no caddy log: %v", err)
			}
			for what, s := range map[string]string{"DSN": e.db.DSN, "database password": e.db.Password, "new password": strings.TrimSpace(pw1), "changed password": pw2, "old password": sqlAliceOld} {
				if s != "" && strings.Contains(string(data), s) {
					t.Errorf("the %s appears in Caddy's log", what)
				}
			}
		})
	}
}

// TestUsersSQLInjectionInIdentifier: identifiers built to break out of the
// lookup's SQL (a quote, a comment, a NUL byte, 4 KiB) find nobody: no mail
// goes out and no row of users or sessions changes. An identifier that
// matches two rows is a logged error, still 202, no mail.
func TestUsersSQLInjectionInIdentifier(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			e := newSQLEnv(t, driver, "")
			before := e.db.Snapshot(t)
			e.Mail.Clear()
			for _, id := range []string{"x' OR '1'='1", "x' OR '1'='1' -- ", `x" OR "1"="1`, "alice@example.test' --", "alice@example.test\x00", "' UNION SELECT 1, 'evil@example.test', 'x' --", strings.Repeat("A", 4096), "Twin"} {
				r := e.PostJSON("/password-reset/request", map[string]string{"identifier": id})
				if r.StatusCode != http.StatusAccepted && r.StatusCode != http.StatusBadRequest {
					t.Fatalf("request %.20q: %d %s", id, r.StatusCode, r.Body)
				}
			}
			waitLogLines(t, e.logPath, 1, 10*time.Second, "matched more than one row")
			// A known user afterwards proves the queue was worked through.
			requestReset(t, e.Env, testsrv.BobEmail)
			e.WaitMail(testsrv.BobEmail, "reset")
			time.Sleep(300 * time.Millisecond)
			if msgs := e.Mail.Messages(); len(msgs) != 1 {
				t.Fatalf("%d mails went out, want only bob's: %+v", len(msgs), msgs)
			}
			if after := e.db.Snapshot(t); after != before {
				t.Fatalf("the tables changed:\n%s\nvs\n%s", before, after)
			}
		})
	}
}

// TestUsersSQLServerDown: a database restart while resetgate is idle goes
// unnoticed (dead pooled connections are retried); with the database
// stopped, complete answers 502 UPSTREAM_FAILED and keeps the token; once
// the database is back, the same token sets the password. (SQLite: another
// writer holds the lock past the timeout.)
func TestUsersSQLServerDown(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			e := newSQLEnv(t, driver, "")
			token := e.token(t, testsrv.AliceEmail)
			if driver != "sqlite" {
				// A restart while resetgate is idle leaves dead
				// connections in its pool: the next lookup, check and
				// update still work at once.
				e.db.Server.Stop()
				e.db.Server.Start()
				token = e.token(t, testsrv.AliceEmail)
				e.db.Server.Stop()
				e.db.Server.Start()
				wantAPI(t, "SAME_AS_OLD right after a restart", postComplete(e.Env, token, sqlAliceOld), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD")
			}
			pw := "set after the database came back 1"
			var release func()
			if driver == "sqlite" {
				conn, err := e.db.Admin.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
					t.Fatal(err)
				}
				release = func() {
					conn.ExecContext(context.Background(), "ROLLBACK")
					conn.Close()
				}
			} else {
				e.db.Server.Stop()
				release = e.db.Server.Start
			}
			r := postComplete(e.Env, token, pw)
			wantAPI(t, "complete with the database down", r, http.StatusBadGateway, "UPSTREAM_FAILED")
			if strings.Contains(string(r.Body), "127.0.0.1") || strings.Contains(string(r.Body), "sql") {
				t.Errorf("the public error leaks the cause: %s", r.Body)
			}
			if r := e.Get("/password-reset/tokens/" + token); r.StatusCode != http.StatusOK {
				t.Fatalf("preflight after a 502: %d %s", r.StatusCode, r.Body)
			}
			release()
			wantAPI(t, "complete after the database came back", postComplete(e.Env, token, pw), http.StatusOK, "")
			e.wantPassword(t, testsrv.AliceEmail, pw, sqlAliceOld)
			data, _ := os.ReadFile(e.logPath)
			for _, s := range []string{e.db.DSN, e.db.Password} {
				if s != "" && strings.Contains(string(data), s) {
					t.Errorf("the DSN or its password appears in Caddy's log")
				}
			}
		})
	}
}

// backends lists the PostgreSQL server processes serving resetgate's
// login.
func backends(t *testing.T, db *testsrv.AppDB) []string {
	t.Helper()
	rows, err := db.Admin.Query("SELECT pid::text FROM pg_stat_activity WHERE usename = 'resetgate' ORDER BY pid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pid string
		rows.Scan(&pid)
		out = append(out, pid)
	}
	return out
}

// TestUsersSQLPoolSurvivesReload: `caddy reload` with the same users block
// keeps the open pool (the same server connections, no new prepare); a
// changed block opens a new pool and closes the old one's connections.
// Resets work after each.
func TestUsersSQLPoolSurvivesReload(t *testing.T) {
	e := newSQLEnv(t, "postgres", "")
	pw := "first password after reload 1"
	wantAPI(t, "complete", postComplete(e.Env, e.token(t, testsrv.AliceEmail), pw), http.StatusOK, "")
	before := backends(t, e.db)
	if len(before) == 0 || len(before) > 4 {
		t.Fatalf("%d connections before the reload, want 1 to 4", len(before))
	}
	for i := 0; i < 3; i++ {
		e.Load(e.caddyfile)
	}
	if got := backends(t, e.db); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("reloading the same config changed the connections: %v, then %v", before, got)
	}
	pw2 := "second password after reload 2"
	wantAPI(t, "complete after reloads", postComplete(e.Env, e.token(t, testsrv.AliceEmail), pw2), http.StatusOK, "")
	e.wantPassword(t, testsrv.AliceEmail, pw2, pw)

	e.Load(strings.Replace(e.caddyfile, "timeout 2s", "timeout 3s", 1))
	pw3 := "third password after a new pool 3"
	wantAPI(t, "complete after a changed users block", postComplete(e.Env, e.token(t, testsrv.AliceEmail), pw3), http.StatusOK, "")
	e.wantPassword(t, testsrv.AliceEmail, pw3, pw2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := backends(t, e.db)
		old := 0
		for _, p := range after {
			for _, b := range before {
				if p == b {
					old++
				}
			}
		}
		if old == 0 && len(after) > 0 && len(after) <= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a changed users block: connections %v (before %v); want the old ones closed and at most 4", after, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUsersSQLUpdateMustChangeOneRow: when the plain update matches no row
// (the account's id changed under us), the whole transaction is rolled
// back: the session DELETE of `update any` too. complete answers 502
// UPSTREAM_FAILED and keeps the token, which works once the row is back.
func TestUsersSQLUpdateMustChangeOneRow(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			e := newSQLEnv(t, driver, "")
			aliceID := e.db.ID(t, testsrv.AliceEmail)
			token := e.token(t, testsrv.AliceEmail)
			e.db.MustExec(t, e.db.Q("UPDATE users SET id = 999 WHERE id = ?"), aliceID)
			e.db.MustExec(t, e.db.Q("INSERT INTO sessions (user_id, sid) VALUES (?, 'still-here')"), aliceID)
			before := e.db.Snapshot(t)
			pw := "set once the row is back 12"
			wantAPI(t, "complete with no row to update", postComplete(e.Env, token, pw), http.StatusBadGateway, "UPSTREAM_FAILED")
			if after := e.db.Snapshot(t); after != before {
				t.Fatalf("a refused update changed the tables (no rollback):\n%s\nvs\n%s", before, after)
			}
			waitLogLines(t, e.logPath, 1, 5*time.Second, "changed 0 rows, want exactly 1; rolled back")
			e.db.MustExec(t, e.db.Q("UPDATE users SET id = ? WHERE id = 999"), aliceID)
			wantAPI(t, "complete once the row is back", postComplete(e.Env, token, pw), http.StatusOK, "")
			if row := e.wantPassword(t, testsrv.AliceEmail, pw, sqlAliceOld); row.Sessions != 0 {
				t.Fatalf("%d sessions left after the reset", row.Sessions)
			}
		})
	}
}
