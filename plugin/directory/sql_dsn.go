package directory

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	// SQLite without cgo; registers the "sqlite" driver.
	_ "modernc.org/sqlite"
)

// errBadDSN never carries the DSN or the parser's message (which may
// quote part of it).
func errBadDSN(driver, hint string) error {
	return fmt.Errorf("users sql %s: the DSN is malformed (%s; the DSN is not shown)", driver, hint)
}

// checkDSN parses the DSN the way the driver will, without connecting.
func checkDSN(driver, dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return fmt.Errorf("users sql %s: a DSN is required", driver)
	}
	switch driver {
	case DriverPostgres:
		c, err := pgx.ParseConfig(dsn)
		if err != nil {
			return errBadDSN(driver, "want postgres://user:password@host:5432/db or host=… user=… dbname=…")
		}
		plain := c.TLSConfig == nil
		for _, fb := range c.Fallbacks {
			plain = plain || fb.TLSConfig == nil
		}
		if plain && !localHost(c.Host) {
			return fmt.Errorf("users sql postgres: the database host is not on this machine: set sslmode=verify-full (or require) so that passwords and hashes never cross the network in clear (the DSN is not shown)")
		}
	case DriverMySQL:
		c, err := mysql.ParseDSN(dsn)
		if err != nil {
			return errBadDSN(driver, "want user:password@tcp(host:3306)/db")
		}
		host, _, _ := net.SplitHostPort(c.Addr)
		if c.Net != "unix" && (c.TLS == nil || c.AllowFallbackToPlaintext) && !localHost(host) {
			return fmt.Errorf("users sql mysql: the database host is not on this machine: set tls=true so that passwords and hashes never cross the network in clear (the DSN is not shown)")
		}
	case DriverSQLite:
		if strings.IndexByte(dsn, 0) >= 0 {
			return errBadDSN(driver, "want a file path")
		}
		path := sqlitePath(dsn)
		if path == "" || path == ":memory:" {
			return errBadDSN(driver, "want the path of the app's database file")
		}
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			return fmt.Errorf("users sql sqlite: the database file does not exist or is not a file (it is never created)")
		}
	}
	return nil
}

// localHost reports whether host is a unix socket path or a loopback
// name or address.
func localHost(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// sqlitePath is the file a SQLite DSN names (a path, or file:path?...).
func sqlitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// openDB opens a pool; nothing is dialled yet.
func openDB(driver, dsn string, timeout time.Duration) (*sql.DB, error) {
	switch driver {
	case DriverPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, errBadDSN(driver, "unparsable")
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = timeout
		}
		return stdlib.OpenDB(*cfg), nil
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, errBadDSN(driver, "unparsable")
		}
		// A plain update must change exactly one row: count the rows it
		// matched, not only those whose value differed.
		cfg.ClientFoundRows = true
		cfg.InterpolateParams = false // always server-side parameters
		cfg.MultiStatements = false
		if cfg.Timeout == 0 {
			cfg.Timeout = timeout
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, errBadDSN(driver, "unusable")
		}
		return sql.OpenDB(conn), nil
	case DriverSQLite:
		// The app writes the same file: wait for its locks, and take the
		// write lock when a transaction begins.
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		if !strings.Contains(dsn, "busy_timeout") {
			dsn += sep + fmt.Sprintf("_pragma=busy_timeout(%d)", timeout.Milliseconds())
			sep = "&"
		}
		if !strings.Contains(dsn, "_txlock") {
			dsn += sep + "_txlock=immediate"
		}
		return sql.Open("sqlite", dsn)
	}
	return nil, fmt.Errorf("users sql: unknown driver %q", driver)
}

// dsnSecrets are the strings that must never leave in an error: the DSN
// itself and its password.
func dsnSecrets(driver, dsn string) []string {
	out := []string{dsn}
	switch driver {
	case DriverPostgres:
		if c, err := pgconn.ParseConfig(dsn); err == nil && c.Password != "" {
			out = append(out, c.Password)
		}
	case DriverMySQL:
		if c, err := mysql.ParseDSN(dsn); err == nil && c.Passwd != "" {
			out = append(out, c.Passwd)
		}
	}
	return out
}

// unreachable reports whether err means the server could not be reached
// (a warning at start) rather than that it refused what we sent (a config
// error: a typo in a table, a wrong password) or that our own checks
// failed.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	if errors.As(err, &pe) || errors.As(err, &me) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, context.DeadlineExceeded)
}

// staleConn reports whether err came from a connection that is gone: the
// server restarted (PostgreSQL's class 57P, admin shutdown, and class 08,
// connection exception) or cannot be reached.
func staleConn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")
	}
	return unreachable(err) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// commitAnswered reports whether a failed COMMIT's outcome is known: the
// server answered it with an error (the transaction was rolled back), or
// the database is SQLite, in this process. Anything else (a timeout, a
// connection lost before the answer) leaves it unknown.
func (d *sqlDirectory) commitAnswered(err error) bool {
	if d.cfg.Driver == DriverSQLite {
		return true
	}
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	return errors.As(err, &pe) || errors.As(err, &me)
}

// dataError reports whether the server refused a value (PostgreSQL's class
// 22, data exception: a text that is not a number).
func dataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}

// scrubbedError is a driver error with the DSN and its password cut out
// of its message; Unwrap keeps the cause for errors.As.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// scrub removes the DSN, its password and the given bound values
// (passwords, hashes, identifiers) from err's message.
func (d *sqlDirectory) scrub(err error, values ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range append(values, d.secrets...) {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return &scrubbedError{msg: msg, cause: err}
}
