package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/duration"
)

// directories shares open user directories (and their connection pools)
// across config loads, keyed by a hash of their resolved config: Caddy
// provisions the new config before it cleans up the old one, and a reload
// that does not touch `users` should not reconnect.
var directories = caddy.NewUsagePool()

// pooledDirectory lets a directory live in a caddy.UsagePool.
type pooledDirectory struct{ directory.Directory }

// Destruct implements caddy.Destructor.
func (p pooledDirectory) Destruct() error { return p.Close() }

// openUsers opens the directory (its placeholders resolved), or reuses the
// one open with the same config.
func (h *Handler) openUsers(ctx caddy.Context, c directory.Config) (directory.Directory, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	sum := sha256.Sum256(raw)
	key := hex.EncodeToString(sum[:])
	logger := h.logger.Named("users")
	val, _, err := directories.LoadOrNew(key, func() (caddy.Destructor, error) {
		d, err := directory.Open(context.WithoutCancel(ctx), c, logger)
		if err != nil {
			return nil, err
		}
		return pooledDirectory{d}, nil
	})
	if err != nil {
		return nil, err
	}
	h.usersKey = key
	return val.(pooledDirectory).Directory, nil
}

// releaseUsers drops this handler's use of the directory; the last user
// closes it.
func (h *Handler) releaseUsers() {
	if h.usersKey == "" {
		return
	}
	if _, err := directories.Delete(h.usersKey); err != nil && h.logger != nil {
		h.logger.Warn("closing the user directory", zap.Error(err))
	}
	h.usersKey = ""
}

// parseUsers reads
//
//	users sql postgres|mysql|sqlite <dsn> {
//		lookup     "<SELECT … {identifier}>"
//		verify     "<SELECT hash … {user_id}>"
//		update     "<UPDATE … {hash} … {user_id}>"
//		update any "<DELETE … {user_id}>"
//		hash       <format> [<cost>]
//		timeout    <duration>
//		max_open_conns <n>
//	}
//	users ldap <url> { … }
func parseUsers(d *caddyfile.Dispenser) (*directory.Config, error) {
	if !d.NextArg() {
		return nil, d.Errf("users: expected a kind (sql, ldap)")
	}
	switch kind := d.Val(); kind {
	case "sql":
		s, err := parseUsersSQL(d)
		if err != nil {
			return nil, err
		}
		return &directory.Config{SQL: s}, nil
	case "ldap":
		l, err := parseUsersLDAP(d)
		if err != nil {
			return nil, err
		}
		return &directory.Config{LDAP: l}, nil
	default:
		return nil, d.Errf("users: unknown kind %s (want sql, ldap)", shown(kind))
	}
}

func parseUsersSQL(d *caddyfile.Dispenser) (*directory.SQLConfig, error) {
	s := &directory.SQLConfig{}
	if !d.NextArg() {
		return nil, d.Errf("users sql: expected a driver (postgres, mysql, sqlite) and a DSN")
	}
	s.Driver = d.Val()
	switch s.Driver {
	case directory.DriverPostgres, directory.DriverMySQL, directory.DriverSQLite:
	default:
		return nil, d.Errf("users sql: unknown driver %s (want postgres, mysql, sqlite)", shown(s.Driver))
	}
	if !d.NextArg() {
		return nil, d.Errf("users sql %s: expected a DSN (use {env.…} or {file.…})", s.Driver)
	}
	s.DSN = d.Val()
	if d.NextArg() {
		return nil, d.Errf("users sql %s: expected a driver and a DSN, then a block (the DSN is not shown)", s.Driver)
	}
	for sub, err := range blockOptions(d, "update") {
		if err != nil {
			return nil, err
		}
		switch sub {
		case "lookup", "verify":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			if sub == "lookup" {
				s.Lookup = v
			} else {
				s.Verify = v
			}
		case "update":
			args := d.RemainingArgs()
			u := directory.SQLUpdate{}
			switch {
			case len(args) == 1:
				u.SQL = args[0]
			case len(args) == 2 && args[0] == "any":
				u.SQL, u.Any = args[1], true
			default:
				return nil, d.Errf("update: expected one statement, or any and one statement")
			}
			s.Update = append(s.Update, u)
		case "hash":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Errf("hash: expected a format and an optional cost")
			}
			s.Hash = args[0]
			if len(args) == 2 {
				var n int
				if _, err := fmt.Sscanf(args[1], "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != args[1] {
					return nil, d.Errf("hash: cost '%s' is not a positive integer", shownArg(args[1]))
				}
				s.HashCost = n
			}
		case "timeout":
			var dur duration.Duration
			if err := durationArg(d, &dur); err != nil {
				return nil, err
			}
			s.Timeout = dur
		case "max_open_conns":
			if err := intArg(d, &s.MaxOpenConns); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unrecognized users sql option %s", shown(sub))
		}
	}
	return s, nil
}

// shownArg shows a short argument in an error, or hides it.
func shownArg(s string) string {
	if len(s) > 12 {
		return "(not shown)"
	}
	return s
}
