package directory_test

import (
	"strings"
	"testing"

	"github.com/resetgate/resetgate/plugin/directory"
)

// FuzzSQLStatements feeds arbitrary lookup and update statements to the
// config check of PostgreSQL's and MySQL's quoting rules: it never panics,
// and its errors never carry the DSN's password.
func FuzzSQLStatements(f *testing.F) {
	for _, s := range []string{
		"SELECT id FROM users WHERE email = {identifier}",
		"SELECT id FROM users WHERE email = '{identifier}'",
		"SELECT id FROM users WHERE email = $$ {identifier} $$ OR email = {identifier}",
		"SELECT id FROM u WHERE a = {identifier} -- {identifier}\n AND b = {now}",
		"SELECT id FROM u WHERE a = 'it''s' AND b = {identifier} /* {x} */",
		"SELECT `id` FROM u WHERE a = \"x\\\"{identifier}\" OR b = {identifier}",
		"SELECT id FROM u WHERE a = {identifier} AND b = ? AND c = $1",
		"SELECT id FROM u WHERE {identifier} = {identifier} AND {now.unix} > 0 AND {hash.salt}",
		"{",
		"{}",
		"'",
	} {
		for d := 0; d < 3; d++ {
			f.Add(s, uint8(d))
		}
	}
	const secret = "FUZZPW-rg-0b7a"
	dsns := map[string]string{
		directory.DriverPostgres: "postgres://app:" + secret + "@127.0.0.1:1/app",
		directory.DriverMySQL:    "app:" + secret + "@tcp(127.0.0.1:1)/app",
	}
	f.Fuzz(func(t *testing.T, lookup string, d uint8) {
		driver := []string{directory.DriverPostgres, directory.DriverMySQL, directory.DriverSQLite}[int(d)%3]
		if driver == directory.DriverSQLite {
			driver = directory.DriverMySQL // SQLite's file must exist; its quoting is PostgreSQL's
		}
		c := directory.SQLConfig{Driver: driver, DSN: dsns[driver], Hash: "none", Lookup: lookup,
			Update: []directory.SQLUpdate{{SQL: strings.ReplaceAll(lookup, "{identifier}", "{user_id}") + " {password} {user_id}"}}}
		if err := c.Validate(); err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("the error carries the DSN's password: %v", err)
		}
	})
}
