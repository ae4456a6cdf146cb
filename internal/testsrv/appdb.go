package testsrv

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	// SQLite without cgo, as "sqlite".
	_ "modernc.org/sqlite"
)

// AppDB is a legacy app's user table in a real database: users (id, email,
// name, pass, token, changed_at) and sessions (user_id, sid), with a
// least-privileged account for resetgate.
type AppDB struct {
	// Driver is resetgate's name for it: postgres, mysql or sqlite.
	Driver string
	// DSN is resetgate's: a login with SELECT on the columns it reads and
	// UPDATE on the ones it writes, nothing else (SQLite: the file).
	DSN string
	// Password is the password inside DSN ("" for SQLite).
	Password string
	// Admin reads and writes everything, for the test's own checks.
	Admin *sql.DB
	// Server is the database server (nil for SQLite).
	Server *Server
	// CastID renders the id column as text in SQL, for a lookup that
	// also finds a user by id.
	CastID string
}

// App users: alice and bob; the two Twins share a name, so a lookup by
// name matches two rows.
const (
	AliceEmail = "alice@example.test"
	BobEmail   = "bob@example.test"
)

// NewAppDB starts the driver's server (or makes a SQLite file), creates the
// tables and resetgate's account, and inserts alice, bob and two Twins
// with the given stored password hashes (by e-mail).
func NewAppDB(t testing.TB, driver string, hashes map[string]string) *AppDB {
	t.Helper()
	a := &AppDB{Driver: driver}
	var schema []string
	switch driver {
	case "postgres":
		a.Server = Postgres(t)
		a.Password = Secret()
		a.CastID = "id::text"
		schema = []string{
			`CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT NOT NULL DEFAULT '', pass TEXT NOT NULL, token TEXT NOT NULL DEFAULT '', changed_at TIMESTAMPTZ)`,
			`CREATE TABLE sessions (user_id INT NOT NULL, sid TEXT NOT NULL)`,
			`CREATE ROLE resetgate LOGIN PASSWORD '` + a.Password + `'`,
			`GRANT SELECT (id, email, name, pass), UPDATE (pass, token, changed_at) ON users TO resetgate`,
			`GRANT SELECT (user_id), DELETE ON sessions TO resetgate`,
		}
		a.DSN = fmt.Sprintf("postgres://resetgate:%s@%s:%d/postgres?sslmode=disable", url.QueryEscape(a.Password), a.Server.Host, a.Server.Port)
	case "mysql":
		a.Server = MariaDB(t)
		a.Password = Secret()
		a.CastID = "CAST(id AS CHAR)"
		schema = []string{
			`CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) UNIQUE NOT NULL, name VARCHAR(255) NOT NULL DEFAULT '', pass VARCHAR(255) NOT NULL, token VARCHAR(64) NOT NULL DEFAULT '', changed_at DATETIME NULL)`,
			`CREATE TABLE sessions (user_id INT NOT NULL, sid VARCHAR(64) NOT NULL)`,
			`CREATE USER 'resetgate'@'%' IDENTIFIED BY '` + a.Password + `'`,
			`GRANT SELECT (id, email, name, pass), UPDATE (pass, token, changed_at) ON app.users TO 'resetgate'@'%'`,
			`GRANT SELECT (user_id), DELETE ON app.sessions TO 'resetgate'@'%'`,
		}
		a.DSN = fmt.Sprintf("resetgate:%s@tcp(%s:%d)/app", a.Password, a.Server.Host, a.Server.Port)
	case "sqlite":
		a.CastID = "CAST(id AS TEXT)"
		a.DSN = filepath.Join(t.TempDir(), "app.db")
		if err := os.WriteFile(a.DSN, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		schema = []string{
			`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT NOT NULL DEFAULT '', pass TEXT NOT NULL, token TEXT NOT NULL DEFAULT '', changed_at TEXT)`,
			`CREATE TABLE sessions (user_id INTEGER NOT NULL, sid TEXT NOT NULL)`,
		}
	default:
		t.Fatalf("testsrv: unknown driver %q", driver)
	}
	var err error
	switch driver {
	case "sqlite":
		a.Admin, err = sql.Open("sqlite", a.DSN+"?_pragma=busy_timeout(5000)")
	default:
		a.Admin, err = sql.Open(a.Server.driver, a.Server.DSN)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Admin.Close() })
	// A fresh connection each time: a test may restart the server.
	a.Admin.SetMaxIdleConns(0)
	for _, q := range schema {
		a.MustExec(t, q)
	}
	for _, u := range []struct{ email, name string }{{AliceEmail, "Alice"}, {BobEmail, "Bob"}, {"twin1@example.test", "Twin"}, {"twin2@example.test", "Twin"}} {
		a.MustExec(t, a.Q("INSERT INTO users (email, name, pass) VALUES (?, ?, ?)"), u.email, u.name, hashes[u.email])
	}
	for _, email := range []string{AliceEmail, AliceEmail, BobEmail} {
		a.MustExec(t, a.Q("INSERT INTO sessions (user_id, sid) VALUES (?, ?)"), a.ID(t, email), Secret())
	}
	return a
}

// Q rewrites ? parameters for the driver ($1… for PostgreSQL).
func (a *AppDB) Q(q string) string {
	if a.Driver != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// MustExec runs a statement as the administrator.
func (a *AppDB) MustExec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := a.Admin.Exec(q, args...); err != nil {
		t.Fatalf("testsrv: %s: %v", firstLine(q), err)
	}
}

// ID is the user's id as text.
func (a *AppDB) ID(t testing.TB, email string) string {
	t.Helper()
	var id string
	if err := a.Admin.QueryRow(a.Q("SELECT "+a.CastID+" FROM users WHERE email = ?"), email).Scan(&id); err != nil {
		t.Fatalf("testsrv: id of %s: %v", email, err)
	}
	return id
}

// Row is what the table holds for one user.
type Row struct {
	Pass, Token string
	Sessions    int
}

// Row reads a user's stored hash, token and session count.
func (a *AppDB) Row(t testing.TB, email string) Row {
	t.Helper()
	var r Row
	if err := a.Admin.QueryRow(a.Q("SELECT pass, token FROM users WHERE email = ?"), email).Scan(&r.Pass, &r.Token); err != nil {
		t.Fatalf("testsrv: row of %s: %v", email, err)
	}
	if err := a.Admin.QueryRow(a.Q("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ?"), email).Scan(&r.Sessions); err != nil {
		t.Fatalf("testsrv: sessions of %s: %v", email, err)
	}
	return r
}

// Snapshot is every row of users and sessions, to prove nothing changed.
func (a *AppDB) Snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{"SELECT " + a.CastID + ", email, name, pass, token FROM users ORDER BY id", "SELECT CAST(user_id AS CHAR(20)), sid FROM sessions ORDER BY sid"} {
		if a.Driver == "sqlite" || a.Driver == "postgres" {
			q = strings.ReplaceAll(q, "CAST(user_id AS CHAR(20))", "CAST(user_id AS TEXT)")
		}
		rows, err := a.Admin.Query(q)
		if err != nil {
			t.Fatalf("testsrv: snapshot: %v", err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("testsrv: snapshot: %v", err)
			}
			for _, v := range vals {
				b.WriteString(v.String + "|")
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}

// UsersBlock is a ready `users sql` block for this table, with the DSN
// given as dsn (a placeholder such as {env.APP_DSN}) and extra lines.
func (a *AppDB) UsersBlock(dsn, hash, extra string) string {
	return fmt.Sprintf(`users sql %s %s {
	lookup "SELECT id, email, name FROM users WHERE email = {identifier} OR name = {identifier} OR %s = {identifier}"
	verify "SELECT pass AS hash FROM users WHERE id = {user_id}"
	update "UPDATE users SET pass = {hash}, token = {random}, changed_at = {now} WHERE id = {user_id}"
	update any "DELETE FROM sessions WHERE user_id = {user_id}"
	hash %s
%s}`, a.Driver, dsn, a.CastID, hash, extra)
}
