package directory

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/passhash"
)

// sqlDirectory implements Directory over database/sql.
type sqlDirectory struct {
	cfg     SQLConfig
	c       *compiled
	db      *sql.DB
	log     *zap.Logger
	timeout time.Duration
	secrets []string

	mu       sync.Mutex
	prepared *preparedStmts
}

// preparedStmts are the statements prepared on the server.
type preparedStmts struct {
	lookup  *sql.Stmt
	verify  *sql.Stmt
	updates []*sql.Stmt
}

func (p *preparedStmts) close() {
	for _, s := range append([]*sql.Stmt{p.lookup, p.verify}, p.updates...) {
		if s != nil {
			s.Close()
		}
	}
}

// OpenSQL opens the database and prepares every statement, so a typo in a
// table or column fails here. A database that cannot be reached is only
// a warning: the statements are prepared on first use.
func OpenSQL(ctx context.Context, c SQLConfig, logger *zap.Logger) (Directory, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	comp, err := c.compile()
	if err != nil {
		return nil, err
	}
	d := &sqlDirectory{cfg: c, c: comp, log: logger, timeout: time.Duration(c.Timeout), secrets: dsnSecrets(c.Driver, c.DSN)}
	if d.timeout == 0 {
		d.timeout = 5 * time.Second
	}
	if d.db, err = openDB(c.Driver, c.DSN, d.timeout); err != nil {
		return nil, d.scrub(err)
	}
	n := c.MaxOpenConns
	if n == 0 {
		n = 4
	}
	d.db.SetMaxOpenConns(n)
	d.db.SetMaxIdleConns(min(n, 2))
	d.db.SetConnMaxIdleTime(5 * time.Minute)
	d.db.SetConnMaxLifetime(30 * time.Minute)

	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if _, err := d.ensure(ctx); err != nil {
		if unreachable(err) {
			logger.Warn("users sql: the database cannot be reached; statements are prepared when it answers", zap.String("driver", c.Driver), zap.Error(err))
			return d, nil
		}
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// ensure prepares the statements once, and checks that lookup returns a
// column id.
func (d *sqlDirectory) ensure(ctx context.Context) (*preparedStmts, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prepared != nil {
		return d.prepared, nil
	}
	p := &preparedStmts{}
	var err error
	if p.lookup, err = d.db.PrepareContext(ctx, d.c.lookup.text); err != nil {
		return nil, fmt.Errorf("users sql lookup: preparing: %w", d.scrub(err))
	}
	if d.c.verify != nil {
		if p.verify, err = d.db.PrepareContext(ctx, d.c.verify.text); err != nil {
			p.close()
			return nil, fmt.Errorf("users sql verify: preparing: %w", d.scrub(err))
		}
	}
	for i, u := range d.c.updates {
		s, err := d.db.PrepareContext(ctx, u.text)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("users sql %s #%d: preparing: %w", d.updateName(i), i+1, d.scrub(err))
		}
		p.updates = append(p.updates, s)
	}
	// The result's columns are known only from a run: look up an
	// identifier nobody has.
	cols, err := d.lookupColumns(ctx, p.lookup)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("users sql lookup: %w", err)
	}
	if !contains(cols, "id") {
		p.close()
		return nil, errors.New("users sql lookup: the result has no column id (name one with AS id)")
	}
	d.prepared = p
	return p, nil
}

func (d *sqlDirectory) updateName(i int) string {
	if d.cfg.Update[i].Any {
		return "update any"
	}
	return "update"
}

func (d *sqlDirectory) lookupColumns(ctx context.Context, s *sql.Stmt) ([]string, error) {
	probe := make([]byte, 16)
	rand.Read(probe)
	args, err := d.c.lookup.bind(d.values(map[string]any{"identifier": "resetgate-probe-" + hex.EncodeToString(probe)}))
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		if dataError(err) {
			return nil, fmt.Errorf("fails for an identifier that is not a number (compare the column as text, e.g. id::text = {identifier}): %w", d.scrub(err))
		}
		return nil, fmt.Errorf("running: %w", d.scrub(err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, d.scrub(err)
	}
	return lower(cols), nil
}

// values adds the generated placeholders to vals.
func (d *sqlDirectory) values(vals map[string]any) map[string]any {
	now := time.Now().UTC()
	vals["now"], vals["now.unix"] = now, now.Unix()
	return vals
}

// Find implements Directory.
func (d *sqlDirectory) Find(ctx context.Context, identifier string) (User, bool, error) {
	// No account is named with a NUL or invalid UTF-8 (PostgreSQL would
	// refuse the value anyway): nobody.
	if strings.IndexByte(identifier, 0) >= 0 || !utf8.ValidString(identifier) {
		return User{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	p, err := d.ensure(ctx)
	if err != nil {
		return User{}, false, err
	}
	args, err := d.c.lookup.bind(d.values(map[string]any{"identifier": identifier}))
	if err != nil {
		return User{}, false, err
	}
	row, n, err := retry(ctx, func() (map[string]string, int, error) { return query(ctx, p.lookup, args) })
	if err != nil {
		return User{}, false, fmt.Errorf("users sql lookup: %w", d.scrub(err, identifier))
	}
	switch {
	case n == 0:
		return User{}, false, nil
	case n > 1:
		return User{}, false, errors.New("users sql lookup: the identifier matched more than one row")
	case row["id"] == "":
		return User{}, false, errors.New("users sql lookup: the row has an empty id")
	}
	return User{ID: row["id"], Email: row["email"], Name: row["name"], Locale: row["locale"], Role: row["role"]}, true, nil
}

// CheckPassword implements Directory.
func (d *sqlDirectory) CheckPassword(ctx context.Context, userID, password string) (bool, error) {
	if d.c.verify == nil {
		return false, ErrNoVerify
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	p, err := d.ensure(ctx)
	if err != nil {
		return false, err
	}
	args, err := d.c.verify.bind(map[string]any{"user_id": userID})
	if err != nil {
		return false, err
	}
	row, n, err := retry(ctx, func() (map[string]string, int, error) { return query(ctx, p.verify, args) })
	if err != nil {
		return false, fmt.Errorf("users sql verify: %w", d.scrub(err))
	}
	switch {
	case n == 0:
		return false, nil
	case n > 1:
		return false, errors.New("users sql verify: the user id matched more than one row")
	}
	stored, ok := row["hash"]
	if !ok {
		stored = row[firstColumn]
	}
	parts := map[string]string{}
	for k, v := range row {
		if k != "hash" && k != firstColumn {
			parts[k] = v
		}
	}
	return passhash.Verify(d.cfg.Hash, stored, parts, password), nil
}

// SetPassword implements Directory: every update in one transaction; a
// plain update that does not change exactly one row rolls it all back.
func (d *sqlDirectory) SetPassword(ctx context.Context, c Change) error {
	h, parts, err := passhash.HashParts(d.c.hasher, c.Password)
	if err != nil {
		return fmt.Errorf("users sql: hashing the new password: %w", err)
	}
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return fmt.Errorf("users sql: {random}: %w", err)
	}
	vals := d.values(map[string]any{"user_id": c.UserID, "hash": h, "random": hex.EncodeToString(random)})
	if d.c.hasher == nil {
		vals["password"] = c.Password
	}
	// Values an error message must not quote (a driver may echo a value
	// it could not encode, or a duplicate key).
	bound := []string{c.Password, h, vals["random"].(string)}
	for k, v := range parts {
		vals["hash."+k] = v
		bound = append(bound, v)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	p, err := d.ensure(ctx)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		committing, err := d.setOnce(ctx, p, vals, bound)
		// A connection the server dropped (a restart) fails before
		// anything was committed: try the next one.
		if err == nil || committing || attempt == maxAttempts || !staleConn(err) || ctx.Err() != nil {
			return err
		}
	}
}

// setOnce runs the update transaction once; committing reports whether
// the error came from the commit (whose outcome is then unknown).
func (d *sqlDirectory) setOnce(ctx context.Context, p *preparedStmts, vals map[string]any, bound []string) (committing bool, err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("users sql update: starting the transaction: %w", d.scrub(err))
	}
	defer tx.Rollback()
	for i, st := range d.c.updates {
		args, err := st.bind(vals)
		if err != nil {
			return false, fmt.Errorf("users sql %s #%d: %w", d.updateName(i), i+1, err)
		}
		res, err := tx.StmtContext(ctx, p.updates[i]).ExecContext(ctx, args...)
		if err != nil {
			return false, fmt.Errorf("users sql %s #%d: %w", d.updateName(i), i+1, d.scrub(err, bound...))
		}
		if d.cfg.Update[i].Any {
			continue
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("users sql update #%d: counting rows: %w", i+1, d.scrub(err))
		}
		if n != 1 {
			return false, fmt.Errorf("users sql update #%d: changed %d rows, want exactly 1; rolled back", i+1, n)
		}
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("users sql update: commit: %w", d.scrub(err, bound...))
		if !d.commitAnswered(err) {
			err = OutcomeUnknown(err)
		}
		return true, err
	}
	return false, nil
}

// maxAttempts bounds the tries of one call: a restarted server leaves up
// to two idle connections dead in the pool, each found out by one failure.
const maxAttempts = 3

// retry runs a read up to maxAttempts times while it fails on a connection
// the server dropped.
func retry(ctx context.Context, op func() (map[string]string, int, error)) (map[string]string, int, error) {
	for attempt := 1; ; attempt++ {
		row, n, err := op()
		if err == nil || attempt == maxAttempts || !staleConn(err) || ctx.Err() != nil {
			return row, n, err
		}
	}
}

// query runs a prepared SELECT and reads at most two rows.
func query(ctx context.Context, s *sql.Stmt, args []any) (map[string]string, int, error) {
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	return oneRow(rows)
}

// Close implements Directory.
func (d *sqlDirectory) Close() error {
	d.mu.Lock()
	p := d.prepared
	d.prepared = nil
	d.mu.Unlock()
	if p != nil {
		p.close()
	}
	return d.db.Close()
}

// CanCheckPassword reports whether verify is configured.
func (d *sqlDirectory) CanCheckPassword() bool { return d.c.verify != nil }

// Timeout is the longest one call may take.
func (d *sqlDirectory) Timeout() time.Duration { return d.timeout }

// MaxPasswordBytes is the longest password the hash format takes whole
// (bcrypt reads 72 bytes), or 0 for no limit.
func (d *sqlDirectory) MaxPasswordBytes() int { return passhash.MaxPasswordBytes(d.c.hasher) }

// firstColumn is the key oneRow gives the first column's value too.
const firstColumn = "\x00first"

// oneRow reads at most two rows and returns the first as text by lower-
// cased column name, and how many rows there were (0, 1, or 2 for more).
func oneRow(rows *sql.Rows) (map[string]string, int, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, 0, err
	}
	cols = lower(cols)
	var row map[string]string
	n := 0
	for rows.Next() {
		n++
		if n > 1 {
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, 0, err
		}
		row = make(map[string]string, len(cols)+1)
		for i, c := range cols {
			row[c] = text(vals[i])
		}
		if len(cols) > 0 {
			row[firstColumn] = text(vals[0])
		}
	}
	return row, n, rows.Err()
}

// text renders a column value.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Interface guard.
var _ Directory = (*sqlDirectory)(nil)
