package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/webhook"
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

// usersAlone refuses a config that has both users and the hooks it
// replaces, naming them.
func (h *Handler) usersAlone() error {
	var both []string
	if h.Lookup != nil {
		both = append(both, "lookup")
	}
	if h.Update != nil {
		both = append(both, "update")
	}
	if h.Verify != nil {
		both = append(both, "verify")
	}
	if len(both) > 0 {
		return fmt.Errorf("users replaces lookup, update and verify: remove %s, or remove users", strings.Join(both, ", "))
	}
	return nil
}

// openUsers resolves the directory's secrets ({env.*}, {file.*} in the
// DSN or bind password), then opens it or reuses the open one.
func (h *Handler) openUsers(ctx caddy.Context, repl *caddy.Replacer) (directory.Directory, error) {
	c := *h.Users
	if c.SQL != nil {
		sc := *c.SQL
		dsn, err := resolve(repl, "users sql dsn", sc.DSN)
		if err != nil {
			return nil, err
		}
		sc.DSN = dsn
		c.SQL = &sc
	}
	if c.LDAP != nil {
		lc := new(directory.LDAPConfig)
		if err := resolveStrings(repl, "users ldap", c.LDAP, lc); err != nil {
			return nil, err
		}
		c.LDAP = lc
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
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

// lookupAndUpdate builds the lookup and update hooks and returns the
// update hook's signer (the default of the other hooks).
func (h *Handler) lookupAndUpdate(repl *caddy.Replacer, cfg *plugin.Config) (*webhook.Signer, error) {
	updSecret, err := resolve(repl, "update secret", h.Update.Secret)
	if err != nil {
		return nil, err
	}
	updSigner, err := signer("update secret", updSecret)
	if err != nil {
		return nil, err
	}
	lookSigner := updSigner
	if h.Lookup.Secret != "" {
		s, err := resolve(repl, "lookup secret", h.Lookup.Secret)
		if err != nil {
			return nil, err
		}
		if lookSigner, err = signer("lookup secret", s); err != nil {
			return nil, err
		}
	}
	if updSigner == nil {
		h.logger.Warn("update hook has no secret: upstream calls are not signed")
	}
	lookupURL, err := hookURL(repl, "lookup", h.Lookup.URL)
	if err != nil {
		return nil, err
	}
	updateURL, err := hookURL(repl, "update", h.Update.URL)
	if err != nil {
		return nil, err
	}
	cfg.Lookup = plugin.Hook{URL: lookupURL, Client: &webhook.Client{Signer: lookSigner, Timeout: time.Duration(h.Lookup.Timeout), UserAgent: "resetgate"}}
	cfg.Update = plugin.Hook{URL: updateURL, Client: &webhook.Client{Signer: updSigner, Timeout: time.Duration(h.Update.Timeout), UserAgent: "resetgate"}}
	if cfg.Lookup.Template, err = hookTemplate(repl, "lookup", h.Lookup.Template); err != nil {
		return nil, err
	}
	if cfg.Update.Template, err = hookTemplate(repl, "update", h.Update.Template); err != nil {
		return nil, err
	}
	return updSigner, nil
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
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub, "update"); err != nil {
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
			var dur caddy.Duration
			if err := durationArg(d, &dur); err != nil {
				return nil, err
			}
			s.Timeout = directory.Duration(dur)
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

// resolveStrings copies in to out (through JSON) with every {env.*} and
// {file.*} placeholder in its strings resolved, whatever the fields are
// called (bind_password, url). Other placeholders ({identifier}) stay.
// Errors name the placeholder, never a value.
func resolveStrings(repl *caddy.Replacer, option string, in, out any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", option, err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return fmt.Errorf("%s: %w", option, err)
	}
	var walk func(v any) (any, error)
	walk = func(v any) (any, error) {
		switch x := v.(type) {
		case string:
			var rerr error
			r := envFilePlaceholder.ReplaceAllStringFunc(x, func(ph string) string {
				val, e := repl.ReplaceOrErr(ph, true, true)
				if e != nil && rerr == nil {
					rerr = fmt.Errorf("%s: %w", option, e)
				}
				return val
			})
			return r, rerr
		case map[string]any:
			for k, e := range x {
				n, err := walk(e)
				if err != nil {
					return nil, err
				}
				x[k] = n
			}
		case []any:
			for i, e := range x {
				n, err := walk(e)
				if err != nil {
					return nil, err
				}
				x[i] = n
			}
		}
		return v, nil
	}
	if tree, err = walk(tree); err != nil {
		return err
	}
	if raw, err = json.Marshal(tree); err != nil {
		return fmt.Errorf("%s: %w", option, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return errors.New(option + ": the resolved config does not fit (not shown)")
	}
	return nil
}
