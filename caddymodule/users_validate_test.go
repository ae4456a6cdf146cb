package caddymodule_test

import (
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
)

// dbPassword is a recognisable database password: it must never show in
// Caddy's output.
const dbPassword = "DBPASS-rg-5f0c1e9a7b3d"

var (
	appDBOnce sync.Once
	appDBPath string
	appDBErr  error
)

// validateAppDB is a SQLite file with a users table, shared by the
// validate cases.
func validateAppDB(t *testing.T) string {
	t.Helper()
	appDBOnce.Do(func() {
		appDBPath = filepath.Join(testTmp, "validate-app.db")
		var db *sql.DB
		if db, appDBErr = sql.Open("sqlite", appDBPath); appDBErr != nil {
			return
		}
		defer db.Close()
		if _, appDBErr = db.Exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, pass TEXT)"); appDBErr != nil {
			return
		}
		// The DSN kept in a secret file, for {file.*}.
		appDBErr = os.WriteFile(appDBPath+".dsn", []byte(appDBPath), 0o600)
	})
	if appDBErr != nil {
		t.Fatal(appDBErr)
	}
	return appDBPath
}

func usersSQL(driver, dsn, body string) string {
	return "users sql " + driver + " " + dsn + " {\n" + body + "}"
}

const (
	goodLookup = "\tlookup \"SELECT id, email FROM users WHERE email = {identifier}\"\n"
	goodUpdate = "\tupdate \"UPDATE users SET pass = {hash} WHERE id = {user_id}\"\n\thash bcrypt\n"
)

// TestValidateUsersConfigs runs `caddy validate` on configs with a users
// block: good ones pass, bad ones fail naming the option, and neither the
// DSN nor its password is ever printed. A refused config leaves no storage
// directory behind.
func TestValidateUsersConfigs(t *testing.T) {
	appDB := validateAppDB(t)
	closedPort := testenv.FreePort(t)
	pgDSN := func(port int) string {
		return "postgres://app:" + dbPassword + "@127.0.0.1:" + strconv.Itoa(port) + "/app?sslmode=disable"
	}
	withUsers := func(users string, keep ...string) map[string]string {
		o := map[string]string{"lookup": users, "update": ""}
		for _, k := range keep {
			o[k] = goodOptions()[k]
		}
		return o
	}
	cases := []validateCase{
		{name: "users_sqlite_good", options: withUsers(usersSQL("sqlite", appDB, goodLookup+goodUpdate))},
		{name: "users_sqlite_env_dsn", options: withUsers(usersSQL("sqlite", "{env.RG_TEST_APP_DSN}", goodLookup+goodUpdate)),
			env: map[string]string{"RG_TEST_APP_DSN": appDB}},
		{name: "users_sqlite_file_dsn", options: withUsers(usersSQL("sqlite", "{file."+appDB+".dsn}", goodLookup+goodUpdate))},
		// A database that is down at start is a warning, not an error.
		{name: "users_postgres_down_is_a_warning", options: withUsers(usersSQL("postgres", "{env.RG_TEST_APP_DSN}", goodLookup+goodUpdate)),
			env: map[string]string{"RG_TEST_APP_DSN": pgDSN(closedPort)}, secrets: []string{dbPassword, pgDSN(closedPort)}},

		{name: "users_with_lookup_and_update", options: map[string]string{"lookup": goodOptions()["lookup"] + "\n" + usersSQL("sqlite", appDB, goodLookup+goodUpdate)},
			want: "users replaces lookup, update and verify: remove lookup, update"},
		{name: "users_postgres_dsn_malformed_literal", options: withUsers(usersSQL("postgres", pgDSN(0)[:40]+":notaport/app", goodLookup+goodUpdate)),
			want: "users sql postgres: the DSN is malformed", secrets: []string{dbPassword}},
		{name: "users_mysql_dsn_malformed_env", options: withUsers(usersSQL("mysql", "{env.RG_TEST_APP_DSN}", goodLookup+goodUpdate)),
			env: map[string]string{"RG_TEST_APP_DSN": "app:" + dbPassword + "@127.0.0.1:3306/app"}, want: "users sql mysql: the DSN is malformed", secrets: []string{dbPassword}},
		{name: "users_postgres_remote_without_tls", options: withUsers(usersSQL("postgres", "{env.RG_TEST_APP_DSN}", goodLookup+goodUpdate)),
			env: map[string]string{"RG_TEST_APP_DSN": "postgres://app:" + dbPassword + "@db.example.com:5432/app"}, want: "users sql postgres: the database host is not on this machine: set sslmode=verify-full"},
		{name: "users_dsn_placeholder_unset", options: withUsers(usersSQL("mysql", "{env."+unsetVariable+"}", goodLookup+goodUpdate)),
			want: "users sql dsn:"},
		{name: "users_sqlite_missing_file", options: withUsers(usersSQL("sqlite", "/nonexistent/app.db", goodLookup+goodUpdate)),
			want: "users sql sqlite: the database file does not exist"},
		{name: "users_hash_unknown", options: withUsers(usersSQL("sqlite", appDB, goodLookup+"\tupdate \"UPDATE users SET pass = {hash} WHERE id = {user_id}\"\n\thash md5\n")),
			want: "users sql hash: unknown hash format"},
		{name: "users_hash_missing", options: withUsers(usersSQL("sqlite", appDB, goodLookup+"\tupdate \"UPDATE users SET pass = {hash} WHERE id = {user_id}\"\n")),
			want: "users sql hash: a format is required"},
		{name: "users_lookup_without_id", options: withUsers(usersSQL("sqlite", appDB, "\tlookup \"SELECT email FROM users WHERE email = {identifier}\"\n"+goodUpdate)),
			want: "users sql lookup: the result has no column id"},
		{name: "users_lookup_placeholder_in_quotes", options: withUsers(usersSQL("sqlite", appDB, "\tlookup \"SELECT id FROM users WHERE email = '{identifier}'\"\n"+goodUpdate)),
			want: "users sql lookup: placeholder {identifier} is inside quotes"},
		{name: "users_lookup_table_typo", options: withUsers(usersSQL("sqlite", appDB, "\tlookup \"SELECT id FROM userz WHERE email = {identifier}\"\n"+goodUpdate)),
			want: "users sql lookup: preparing"},
		{name: "users_update_column_typo", options: withUsers(usersSQL("sqlite", appDB, goodLookup+"\tupdate \"UPDATE users SET pasw = {hash} WHERE id = {user_id}\"\n\thash bcrypt\n")),
			want: "users sql update #1: preparing"},
		{name: "users_password_needs_hash_none", options: withUsers(usersSQL("sqlite", appDB, goodLookup+"\tupdate \"UPDATE users SET pass = {password} WHERE id = {user_id}\"\n\thash bcrypt\n")),
			want: "{password} is only available with hash none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			config := filepath.Join(dir, "Caddyfile")
			storage := filepath.Join(dir, "resetgate")
			if err := os.WriteFile(config, []byte(c.caddyfile(storage)), 0o600); err != nil {
				t.Fatal(err)
			}
			env := goodEnv()
			for k, v := range c.env {
				env[k] = v
			}
			out, err := runCaddy(t, env, "validate", "--config", config, "--adapter", "caddyfile")
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running caddy: %v\n%s", err, out)
			}
			out = strings.ReplaceAll(out, `\"`, `"`)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("caddy validate refused a good config: %v\n%s\n%s", err, out, c.caddyfile(dir))
			case c.want == "" && !strings.Contains(out, "Valid configuration"):
				t.Errorf("no 'Valid configuration' in the output:\n%s", out)
			case c.want != "" && err == nil:
				t.Errorf("caddy validate accepted a bad config, want an error containing %q\n%s\n%s", c.want, out, c.caddyfile(dir))
			case c.want != "" && !strings.Contains(out, c.want):
				t.Errorf("caddy validate's error does not contain %q:\n%s", c.want, out)
			}
			for _, s := range append(c.secrets, dbPassword) {
				if strings.Contains(out, s) {
					t.Errorf("secret %q appears in caddy validate's output:\n%s", s, out)
				}
			}
			if c.want != "" {
				if _, err := os.Stat(storage); err == nil {
					t.Errorf("the refused config made the storage directory %s", storage)
				}
			}
		})
	}
}
