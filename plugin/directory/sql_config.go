package directory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/resetgate/resetgate/plugin/duration"
	"github.com/resetgate/resetgate/plugin/passhash"
)

// Drivers `users sql` knows.
const (
	DriverPostgres = "postgres" // PostgreSQL through pgx
	DriverMySQL    = "mysql"    // MySQL and MariaDB
	DriverSQLite   = "sqlite"   // SQLite, pure Go
)

// SQLConfig is `users sql <driver> <dsn> { … }`: the user table of an app
// that keeps its users in PostgreSQL, MySQL/MariaDB or SQLite.
type SQLConfig struct {
	// Driver is postgres, mysql or sqlite. Required.
	Driver string `json:"driver,omitempty"`
	// DSN is the data source name: a postgres:// URL or key=value string,
	// a MySQL DSN (user:pass@tcp(host:3306)/db), or a SQLite file path.
	// Use an {env.*} or {file.*} placeholder; it never reaches a log line.
	// Required.
	DSN string `json:"dsn,omitempty"`
	// Lookup finds a user by {identifier}; it returns a column id and,
	// optionally, email, name, locale and role. Required.
	Lookup string `json:"lookup,omitempty"`
	// Verify returns the stored hash of {user_id} (the column hash, or
	// the first column) and, for formats that keep them apart, columns
	// such as salt and algo. Default: none (no SAME_AS_OLD check and no
	// signed-in change).
	Verify string `json:"verify,omitempty"`
	// Update lists the statements that set the password, run in one
	// transaction. At least one plain update is required.
	Update []SQLUpdate `json:"update,omitempty"`
	// Hash is the format the app's login reads (see passhash), or none
	// for the password as typed. Required.
	Hash string `json:"hash,omitempty"`
	// HashCost is the format's work factor. Default: the format's.
	HashCost int `json:"hash_cost,omitempty"`
	// Timeout bounds one lookup, verify or update transaction.
	// Default: 5s.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxOpenConns sizes the connection pool. Default: 4.
	MaxOpenConns int `json:"max_open_conns,omitempty"`
}

// SQLUpdate is one statement of the update transaction.
type SQLUpdate struct {
	// SQL is the statement, with named placeholders.
	SQL string `json:"sql"`
	// Any lets the statement change any number of rows (ending
	// sessions, clearing tokens). Default: false, it must change exactly
	// one row.
	Any bool `json:"any,omitempty"`
}

// Duration is the config's duration: it reads from JSON as nanoseconds or
// as a duration string ("5s", "1d").
type Duration = duration.Duration

// compiled is a checked SQLConfig with its statements rewritten.
type compiled struct {
	lookup  statement
	verify  *statement
	updates []statement
	hasher  passhash.Hasher
}

var lookupNames = map[string]bool{"identifier": true, "now": true, "now.unix": true}

// Validate checks the config without connecting anywhere. It expects
// resolved secrets (no {env.*} left in the DSN). Errors name the option and
// never echo the DSN or a statement.
func (c *SQLConfig) Validate() error {
	_, err := c.compile()
	return err
}

func (c *SQLConfig) compile() (*compiled, error) {
	switch c.Driver {
	case DriverPostgres, DriverMySQL, DriverSQLite:
	case "":
		return nil, errors.New("users sql: a driver is required (postgres, mysql, sqlite)")
	default:
		return nil, fmt.Errorf("users sql: unknown driver %q (want postgres, mysql, sqlite)", shortName(c.Driver))
	}
	if err := checkDSN(c.Driver, c.DSN); err != nil {
		return nil, err
	}
	if c.Timeout < 0 {
		return nil, errors.New("users sql timeout: must be positive")
	}
	if c.MaxOpenConns < 0 {
		return nil, errors.New("users sql max_open_conns: must be positive")
	}
	if c.Hash == "" {
		return nil, errors.New("users sql hash: a format is required (the one the app's login reads, or none)")
	}
	hasher, err := passhash.New(c.Hash, c.HashCost)
	if err != nil {
		return nil, fmt.Errorf("users sql hash: %w", err)
	}
	none := hasher == nil
	out := &compiled{hasher: hasher}
	if strings.TrimSpace(c.Lookup) == "" {
		return nil, errors.New("users sql lookup: a SELECT is required")
	}
	if out.lookup, err = rewrite(c.Driver, c.Lookup, func(n string) bool { return lookupNames[n] }); err != nil {
		return nil, fmt.Errorf("users sql lookup: %w", err)
	}
	if !out.lookup.uses("identifier") {
		return nil, errors.New("users sql lookup: must use {identifier}")
	}
	if strings.TrimSpace(c.Verify) != "" {
		v, err := rewrite(c.Driver, c.Verify, func(n string) bool { return n == "user_id" })
		if err != nil {
			return nil, fmt.Errorf("users sql verify: %w", err)
		}
		if !v.uses("user_id") {
			return nil, errors.New("users sql verify: must use {user_id}")
		}
		out.verify = &v
	}
	updateNames := func(n string) bool {
		switch {
		case n == "user_id", n == "hash", n == "random", n == "now", n == "now.unix":
			return true
		case n == "password":
			return none
		case strings.HasPrefix(n, "hash."):
			return contains(passhash.Parts(c.Hash), strings.TrimPrefix(n, "hash."))
		}
		return false
	}
	plain, setsPassword := 0, false
	for i, u := range c.Update {
		name := "update"
		if u.Any {
			name = "update any"
		}
		if strings.TrimSpace(u.SQL) == "" {
			return nil, fmt.Errorf("users sql %s #%d: a statement is required", name, i+1)
		}
		st, err := rewrite(c.Driver, u.SQL, updateNames)
		if err != nil {
			if !none && strings.Contains(err.Error(), "{password}") {
				err = errors.New("placeholder {password} is only available with hash none (use {hash})")
			}
			return nil, fmt.Errorf("users sql %s #%d: %w", name, i+1, err)
		}
		if !st.uses("user_id") {
			return nil, fmt.Errorf("users sql %s #%d: must use {user_id}", name, i+1)
		}
		if !u.Any {
			plain++
		}
		if st.uses("hash") || st.uses("password") {
			setsPassword = true
		}
		out.updates = append(out.updates, st)
	}
	if plain == 0 {
		return nil, errors.New("users sql update: at least one update (not update any) is required")
	}
	if !setsPassword {
		return nil, errors.New("users sql update: no statement writes {hash}")
	}
	for _, part := range passhash.Parts(c.Hash) {
		used := false
		for _, st := range out.updates {
			used = used || st.uses("hash."+part)
		}
		if !used {
			return nil, fmt.Errorf("users sql update: hash %s keeps a %s in a column of its own: write {hash.%s} too", c.Hash, part, part)
		}
	}
	return out, nil
}

// shortName shows a config word in an error only when it looks like one.
func shortName(s string) string {
	if len(s) > 24 || strings.ContainsAny(s, ":/@= ") {
		return "(not shown)"
	}
	return s
}
