package directory_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/resetgate/resetgate/internal/testsrv"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/passhash"
)

const (
	aliceOld = "old password of alice 1"
	bobOld   = "old password of bob 22"
)

func seedHashes(t *testing.T) map[string]string {
	t.Helper()
	h, err := passhash.New("bcrypt", 4)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for email, pw := range map[string]string{testsrv.AliceEmail: aliceOld, testsrv.BobEmail: bobOld, "twin1@example.test": "twin one pw", "twin2@example.test": "twin two pw"} {
		if out[email], err = h.Hash(pw); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sqlConfig is the config UsersBlock describes, as JSON would give it.
func sqlConfig(a *testsrv.AppDB) directory.SQLConfig {
	return directory.SQLConfig{
		Driver: a.Driver, DSN: a.DSN, Hash: "bcrypt", HashCost: 4, Timeout: directory.Duration(3 * time.Second),
		Lookup: "SELECT id, email, name FROM users WHERE email = {identifier} OR name = {identifier} OR " + a.CastID + " = {identifier}",
		Verify: "SELECT pass AS hash FROM users WHERE id = {user_id}",
		Update: []directory.SQLUpdate{
			{SQL: "UPDATE users SET pass = {hash}, token = {random}, changed_at = {now} WHERE id = {user_id}"},
			{SQL: "DELETE FROM sessions WHERE user_id = {user_id}", Any: true},
		},
	}
}

// TestSQLDirectory runs the directory against each real database: find,
// check, set (one transaction), injection attempts, a plain update that
// matches no row, and statements with typos refused at open.
func TestSQLDirectory(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			a := testsrv.NewAppDB(t, driver, seedHashes(t))
			ctx := context.Background()
			core, logs := observer.New(zapcore.DebugLevel)
			d, err := directory.OpenSQL(ctx, sqlConfig(a), zap.New(core))
			if err != nil {
				t.Fatalf("OpenSQL: %v", err)
			}
			defer d.Close()
			aliceID := a.ID(t, testsrv.AliceEmail)

			u, found, err := d.Find(ctx, testsrv.AliceEmail)
			if err != nil || !found || u.ID != aliceID || u.Email != testsrv.AliceEmail || u.Name != "Alice" {
				t.Fatalf("Find(alice) = %+v %v %v", u, found, err)
			}
			if u, found, err := d.Find(ctx, aliceID); err != nil || !found || u.Email != testsrv.AliceEmail {
				t.Fatalf("Find(alice's id) = %+v %v %v", u, found, err)
			}
			if _, found, err := d.Find(ctx, "nobody@example.test"); err != nil || found {
				t.Fatalf("Find(nobody) = %v %v", found, err)
			}
			if _, found, err := d.Find(ctx, "Twin"); err == nil || found {
				t.Fatalf("Find(Twin) matched two rows: want an error, got found=%v err=%v", found, err)
			}

			if ok, err := d.CheckPassword(ctx, aliceID, aliceOld); err != nil || !ok {
				t.Fatalf("CheckPassword(old) = %v %v", ok, err)
			}
			if ok, err := d.CheckPassword(ctx, aliceID, "not it at all 12"); err != nil || ok {
				t.Fatalf("CheckPassword(wrong) = %v %v", ok, err)
			}

			before := a.Snapshot(t)
			for _, id := range []string{"x' OR '1'='1", "alice@example.test\x00", strings.Repeat("A", 4096), "' OR 1=1 --", "Alice' --"} {
				if _, found, err := d.Find(ctx, id); found {
					t.Errorf("injection %q found someone (err %v)", id[:min(len(id), 20)], err)
				}
			}
			// A user id that matches nobody: the plain update changes 0
			// rows, so the whole transaction (the session DELETE too) is
			// rolled back.
			err = d.SetPassword(ctx, directory.Change{UserID: "999999", Password: "new password 123456", Reason: "password.reset"})
			if err == nil || !strings.Contains(err.Error(), "changed 0 rows, want exactly 1") {
				t.Errorf("SetPassword(nobody's id) = %v, want a rollback", err)
			}
			if after := a.Snapshot(t); after != before {
				t.Fatalf("injections or refused updates changed the tables:\n%s\nvs\n%s", before, after)
			}

			newPW := "  new Pässwörd for alice  "
			if err := d.SetPassword(ctx, directory.Change{UserID: aliceID, Password: newPW, Reason: "password.reset"}); err != nil {
				t.Fatalf("SetPassword: %v", err)
			}
			row := a.Row(t, testsrv.AliceEmail)
			if !passhash.Verify("bcrypt", row.Pass, nil, newPW) || passhash.Verify("bcrypt", row.Pass, nil, aliceOld) || row.Sessions != 0 || len(row.Token) != 32 {
				t.Fatalf("after SetPassword: %+v", row)
			}
			if bob := a.Row(t, testsrv.BobEmail); !passhash.Verify("bcrypt", bob.Pass, nil, bobOld) || bob.Sessions != 1 {
				t.Fatalf("bob changed: %+v", bob)
			}
			if ok, _ := d.CheckPassword(ctx, aliceID, newPW); !ok {
				t.Fatal("CheckPassword(new) is false")
			}
			var all bytes.Buffer
			for _, e := range logs.All() {
				all.WriteString(e.Message)
				for k, v := range e.ContextMap() {
					all.WriteString(k + "=" + strings.ReplaceAll(toString(v), "\n", " "))
				}
			}
			for _, s := range []string{a.DSN, a.Password} {
				if s != "" && strings.Contains(all.String(), s) {
					t.Fatalf("the log carries the DSN or its password:\n%s", all.String())
				}
			}
		})
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// TestSQLConfigRefused: a typo in a table or column, or a lookup without
// an id column, fails at open, naming the statement, never the DSN.
func TestSQLConfigRefused(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			a := testsrv.NewAppDB(t, driver, seedHashes(t))
			cases := map[string]struct {
				edit func(*directory.SQLConfig)
				want string
			}{
				"table_typo": {func(c *directory.SQLConfig) { c.Lookup = strings.Replace(c.Lookup, "FROM users", "FROM userz", 1) }, "users sql lookup: preparing"},
				"column_typo": {func(c *directory.SQLConfig) {
					c.Update[0].SQL = strings.Replace(c.Update[0].SQL, "token =", "tokn =", 1)
				}, "users sql update #1: preparing"},
				"verify_typo":        {func(c *directory.SQLConfig) { c.Verify = "SELECT pas FROM users WHERE id = {user_id}" }, "users sql verify: preparing"},
				"no_id":              {func(c *directory.SQLConfig) { c.Lookup = "SELECT email FROM users WHERE email = {identifier}" }, "no column id"},
				"numeric_identifier": {func(c *directory.SQLConfig) { c.Lookup = "SELECT id FROM users WHERE id = {identifier}" }, "not a number"},
			}
			for name, c := range cases {
				t.Run(name, func(t *testing.T) {
					if name == "numeric_identifier" && driver != "postgres" {
						return // MySQL and SQLite compare a text with a number
					}
					cfg := sqlConfig(a)
					cfg.Update = append([]directory.SQLUpdate(nil), cfg.Update...)
					c.edit(&cfg)
					d, err := directory.OpenSQL(context.Background(), cfg, nil)
					if err == nil {
						d.Close()
						t.Fatalf("OpenSQL accepted it")
					}
					if !strings.Contains(err.Error(), c.want) {
						t.Fatalf("error %q does not contain %q", err, c.want)
					}
					if strings.Contains(err.Error(), a.DSN) || (a.Password != "" && strings.Contains(err.Error(), a.Password)) {
						t.Fatalf("error carries the DSN: %v", err)
					}
				})
			}
		})
	}
}

// TestSQLDatabaseDownAtStart: a server that is down when Caddy starts is a
// warning; the statements are prepared when it answers.
func TestSQLDatabaseDownAtStart(t *testing.T) {
	a := testsrv.NewAppDB(t, "postgres", seedHashes(t))
	a.Server.Stop()
	core, logs := observer.New(zapcore.WarnLevel)
	d, err := directory.OpenSQL(context.Background(), sqlConfig(a), zap.New(core))
	if err != nil {
		t.Fatalf("OpenSQL with the server down: %v", err)
	}
	defer d.Close()
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "cannot be reached") {
		t.Fatalf("want one warning, got %+v", logs.All())
	}
	if _, _, err := d.Find(context.Background(), testsrv.AliceEmail); err == nil {
		t.Fatal("Find works with the server down")
	}
	a.Server.Start()
	if u, found, err := d.Find(context.Background(), testsrv.AliceEmail); err != nil || !found || u.Email != testsrv.AliceEmail {
		t.Fatalf("Find after the server came back: %+v %v %v", u, found, err)
	}
}

// TestSQLPlaceholderRules: bad placeholders are refused before anything
// connects, and the message never quotes the DSN.
func TestSQLPlaceholderRules(t *testing.T) {
	base := directory.SQLConfig{
		Driver: "postgres", DSN: "postgres://app:S3CRET-pw-rg@127.0.0.1:1/app", Hash: "bcrypt",
		Lookup: "SELECT id FROM users WHERE email = {identifier}",
		Update: []directory.SQLUpdate{{SQL: "UPDATE users SET pass = {hash} WHERE id = {user_id}"}},
	}
	cases := map[string]struct {
		edit func(*directory.SQLConfig)
		want string
	}{
		"good":                {func(c *directory.SQLConfig) {}, ""},
		"quoted_placeholder":  {func(c *directory.SQLConfig) { c.Lookup = "SELECT id FROM users WHERE email = '{identifier}'" }, "placeholder {identifier} is inside quotes"},
		"dquoted_placeholder": {func(c *directory.SQLConfig) { c.Lookup = `SELECT id FROM users WHERE "{identifier}" = email` }, "inside quotes"},
		"dollar_quoted": {func(c *directory.SQLConfig) {
			c.Lookup = "SELECT id FROM users WHERE email = $$x{identifier}$$ OR email = {identifier}"
		}, "inside quotes"},
		"commented_placeholder": {func(c *directory.SQLConfig) {
			c.Lookup = "SELECT id FROM users WHERE email = {identifier} -- {user_id}"
		}, "inside a comment"},
		"positional":           {func(c *directory.SQLConfig) { c.Lookup = "SELECT id FROM users WHERE email = $1" }, "not $1"},
		"unknown_placeholder":  {func(c *directory.SQLConfig) { c.Lookup = "SELECT id FROM users WHERE email = {email}" }, "placeholder {email} is not available here"},
		"lookup_no_identifier": {func(c *directory.SQLConfig) { c.Lookup = "SELECT id FROM users" }, "must use {identifier}"},
		"password_with_bcrypt": {func(c *directory.SQLConfig) {
			c.Update[0].SQL = "UPDATE users SET pass = {password} WHERE id = {user_id}"
		}, "{password} is only available with hash none"},
		"update_missing":         {func(c *directory.SQLConfig) { c.Update = nil }, "at least one update"},
		"only_update_any":        {func(c *directory.SQLConfig) { c.Update[0].Any = true }, "at least one update"},
		"update_without_user_id": {func(c *directory.SQLConfig) { c.Update[0].SQL = "UPDATE users SET pass = {hash}" }, "must use {user_id}"},
		"update_without_hash": {func(c *directory.SQLConfig) {
			c.Update[0].SQL = "UPDATE users SET token = {random} WHERE id = {user_id}"
		}, "no statement writes {hash}"},
		"unknown_format":        {func(c *directory.SQLConfig) { c.Hash = "md5" }, "users sql hash: unknown hash format"},
		"no_format":             {func(c *directory.SQLConfig) { c.Hash = "" }, "users sql hash: a format is required"},
		"unknown_driver":        {func(c *directory.SQLConfig) { c.Driver = "oracle" }, `unknown driver "oracle"`},
		"bad_dsn_postgres":      {func(c *directory.SQLConfig) { c.DSN = "postgres://app:S3CRET-pw-rg@127.0.0.1:notaport/app" }, "users sql postgres: the DSN is malformed"},
		"bad_dsn_mysql":         {func(c *directory.SQLConfig) { c.Driver, c.DSN = "mysql", "app:S3CRET-pw-rg@127.0.0.1:3306/app" }, "users sql mysql: the DSN is malformed"},
		"missing_sqlite_file":   {func(c *directory.SQLConfig) { c.Driver, c.DSN = "sqlite", "/nonexistent/S3CRET-pw-rg.db" }, "users sql sqlite: the database file does not exist"},
		"postgres_remote_plain": {func(c *directory.SQLConfig) { c.DSN = "postgres://app:S3CRET-pw-rg@db.example.com:5432/app" }, "set sslmode=verify-full"},
		"postgres_remote_prefer": {func(c *directory.SQLConfig) {
			c.DSN = "postgres://app:S3CRET-pw-rg@db.example.com:5432/app?sslmode=prefer"
		}, "set sslmode=verify-full"},
		"postgres_remote_tls": {func(c *directory.SQLConfig) {
			c.DSN = "postgres://app:S3CRET-pw-rg@db.example.com:5432/app?sslmode=verify-full"
		}, ""},
		"postgres_socket": {func(c *directory.SQLConfig) { c.DSN = "host=/run/postgresql user=app password=S3CRET-pw-rg dbname=app" }, ""},
		"mysql_remote_plain": {func(c *directory.SQLConfig) {
			c.Driver, c.DSN = "mysql", "app:S3CRET-pw-rg@tcp(db.example.com:3306)/app"
		}, "set tls=true"},
		"mysql_remote_preferred": {func(c *directory.SQLConfig) {
			c.Driver, c.DSN = "mysql", "app:S3CRET-pw-rg@tcp(db.example.com:3306)/app?tls=preferred"
		}, "set tls=true"},
		"mysql_remote_tls": {func(c *directory.SQLConfig) {
			c.Driver, c.DSN = "mysql", "app:S3CRET-pw-rg@tcp(db.example.com:3306)/app?tls=true"
		}, ""},
		"mysql_localhost": {func(c *directory.SQLConfig) { c.Driver, c.DSN = "mysql", "app:S3CRET-pw-rg@tcp(localhost:3306)/app" }, ""},
		"mysql_question_mark": {func(c *directory.SQLConfig) {
			c.Driver, c.DSN, c.Lookup = "mysql", "app:S3CRET-pw-rg@tcp(127.0.0.1:1)/app", "SELECT id FROM users WHERE email = ?"
		}, "not ?"},
		"mysql_backslash_quote": {func(c *directory.SQLConfig) {
			c.Driver, c.DSN, c.Lookup = "mysql", "app:S3CRET-pw-rg@tcp(127.0.0.1:1)/app", `SELECT id FROM users WHERE email = 'a\'{identifier}'`
		}, "inside quotes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base
			cfg.Update = append([]directory.SQLUpdate(nil), base.Update...)
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused a good config: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not contain %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "S3CRET"):
				t.Fatalf("error carries the DSN: %v", err)
			}
		})
	}
	if err := (&directory.Config{SQL: &base}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSQLHashPartsGitea: a format that keeps its salt and algorithm in
// columns of their own (Gitea: passwd, salt, passwd_hash_algo) is written
// with {hash.salt} and {hash.algo} in the same statement, read back by
// verify's salt and algo columns, and checked by the format's verifier.
func TestSQLHashPartsGitea(t *testing.T) {
	path := t.TempDir() + "/gitea.db"
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE user (id INTEGER PRIMARY KEY, lower_name TEXT, email TEXT, passwd TEXT, salt TEXT, passwd_hash_algo TEXT);
		INSERT INTO user (lower_name, email, passwd, salt, passwd_hash_algo) VALUES ('gitea_admin', 'admin@example.test', '', '', '')`); err != nil {
		t.Fatal(err)
	}
	cfg := directory.SQLConfig{
		Driver: "sqlite", DSN: path, Hash: "gitea",
		Lookup: "SELECT id, email, lower_name AS name FROM user WHERE lower_name = lower({identifier}) OR email = {identifier}",
		Verify: "SELECT passwd AS hash, salt, passwd_hash_algo AS algo FROM user WHERE id = {user_id}",
		Update: []directory.SQLUpdate{{SQL: "UPDATE user SET passwd = {hash}, salt = {hash.salt}, passwd_hash_algo = {hash.algo} WHERE id = {user_id}"}},
	}
	d, err := directory.OpenSQL(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	u, found, err := d.Find(context.Background(), "Gitea_Admin")
	if err != nil || !found {
		t.Fatalf("Find: %v %v", found, err)
	}
	pw := "a gitea password 12345"
	if err := d.SetPassword(context.Background(), directory.Change{UserID: u.ID, Password: pw}); err != nil {
		t.Fatal(err)
	}
	var hash, salt, algo string
	if err := db.QueryRow("SELECT passwd, salt, passwd_hash_algo FROM user").Scan(&hash, &salt, &algo); err != nil {
		t.Fatal(err)
	}
	if !passhash.Verify("gitea", hash, map[string]string{"salt": salt, "algo": algo}, pw) || len(salt) != 32 || algo == "" {
		t.Fatalf("stored passwd=%.8s… salt=%q algo=%q does not verify", hash, salt, algo)
	}
	if ok, err := d.CheckPassword(context.Background(), u.ID, pw); err != nil || !ok {
		t.Fatalf("CheckPassword: %v %v", ok, err)
	}
	if ok, _ := d.CheckPassword(context.Background(), u.ID, pw+"x"); ok {
		t.Fatal("CheckPassword accepts a wrong password")
	}

	// Without the salt column the hash would be unusable: refused.
	cfg.Update[0].SQL = "UPDATE user SET passwd = {hash}, passwd_hash_algo = {hash.algo} WHERE id = {user_id}"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "write {hash.salt} too") {
		t.Fatalf("gitea without {hash.salt}: %v", err)
	}
	// A format without parts has no {hash.salt}.
	cfg.Hash = "bcrypt"
	cfg.Update[0].SQL = "UPDATE user SET passwd = {hash}, salt = {hash.salt} WHERE id = {user_id}"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "{hash.salt} is not available here") {
		t.Fatalf("bcrypt with {hash.salt}: %v", err)
	}
}

// TestSQLErrorsDoNotQuoteValues: PostgreSQL quotes a value it cannot read
// ("invalid input syntax for type integer: …"); the error resetgate logs
// has the new password cut out.
func TestSQLErrorsDoNotQuoteValues(t *testing.T) {
	a := testsrv.NewAppDB(t, "postgres", seedHashes(t))
	cfg := sqlConfig(a)
	cfg.Hash, cfg.HashCost = "none", 0
	cfg.Update = []directory.SQLUpdate{{SQL: "UPDATE users SET pass = {password} WHERE id = {user_id} AND id = CAST({password} AS INT)"}}
	d, err := directory.OpenSQL(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const pw = "a private new password 1"
	err = d.SetPassword(context.Background(), directory.Change{UserID: a.ID(t, testsrv.AliceEmail), Password: pw})
	if err == nil || !strings.Contains(err.Error(), "invalid input syntax") || strings.Contains(err.Error(), pw) {
		t.Fatalf("SetPassword: %v", err)
	}
}

// TestSQLCommitOutcome: a COMMIT whose answer never arrives leaves the
// change's outcome unknown, and SetPassword says so
// (directory.ErrOutcomeUnknown): here the server did commit. A COMMIT the
// server refuses is a plain error and changes nothing.
func TestSQLCommitOutcome(t *testing.T) {
	a := testsrv.NewAppDB(t, "postgres", seedHashes(t))
	ctx := context.Background()
	aliceID := a.ID(t, testsrv.AliceEmail)

	// Refused at COMMIT: a deferred constraint trigger runs inside it and
	// raises.
	for _, q := range []string{
		`CREATE FUNCTION users_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused at commit'; END $$`,
		`CREATE CONSTRAINT TRIGGER users_refuse_commit AFTER UPDATE ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_refuse_commit()`,
	} {
		a.MustExec(t, q)
	}
	d, err := directory.OpenSQL(ctx, sqlConfig(a), zap.NewNop())
	if err != nil {
		t.Fatalf("OpenSQL: %v", err)
	}
	defer d.Close()
	err = d.SetPassword(ctx, directory.Change{UserID: aliceID, Password: "refused password 123", Reason: "password.reset"})
	if err == nil || errors.Is(err, directory.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "refused at commit") {
		t.Fatalf("SetPassword refused at COMMIT = %v; want a plain error", err)
	}
	if row := a.Row(t, testsrv.AliceEmail); !passhash.Verify("bcrypt", row.Pass, nil, aliceOld) {
		t.Fatal("a refused COMMIT changed alice's password")
	}
	a.MustExec(t, `DROP TRIGGER users_refuse_commit ON users`)

	// The answer to COMMIT is lost: a proxy drops everything the server
	// sends once the client has sent "commit" (as pgx spells it). The
	// server commits, and SetPassword cannot know.
	hostPort := fmt.Sprintf("%s:%d", a.Server.Host, a.Server.Port)
	p := startAnswerDropper(t, hostPort, []byte("commit"))
	cfg := sqlConfig(a)
	cfg.DSN = strings.Replace(a.DSN, hostPort, p.addr, 1)
	cfg.Timeout = directory.Duration(time.Second)
	lost, err := directory.OpenSQL(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("OpenSQL through the proxy: %v", err)
	}
	defer lost.Close()
	newPW := "committed but unanswered 4"
	err = lost.SetPassword(ctx, directory.Change{UserID: aliceID, Password: newPW, Reason: "password.reset"})
	if !errors.Is(err, directory.ErrOutcomeUnknown) {
		t.Fatalf("SetPassword with COMMIT's answer lost = %v; want ErrOutcomeUnknown", err)
	}
	if row := a.Row(t, testsrv.AliceEmail); !passhash.Verify("bcrypt", row.Pass, nil, newPW) {
		t.Fatal("the server did not commit the change whose answer was lost")
	}
}
