package directory

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// Config chooses one user directory: exactly one of SQL or LDAP is set.
// In the Caddyfile it is the `users` option (`users sql …` or
// `users ldap …`), which replaces the lookup, update and verify hooks.
type Config struct {
	// SQL keeps users in a database table (PostgreSQL, MySQL/MariaDB,
	// SQLite). See SQLConfig.
	SQL *SQLConfig `json:"sql,omitempty"`
	// LDAP keeps users in an LDAP directory or Active Directory.
	// See LDAPConfig.
	LDAP *LDAPConfig `json:"ldap,omitempty"`
}

// Validate checks the config without connecting anywhere; its errors name
// the option and never echo a DSN or a password.
func (c *Config) Validate() error {
	switch {
	case c.SQL != nil && c.LDAP != nil:
		return errors.New("users: choose one of sql or ldap")
	case c.SQL != nil:
		return c.SQL.Validate()
	case c.LDAP != nil:
		return c.LDAP.Validate()
	}
	return errors.New("users: sql or ldap is required")
}

// Open connects the configured directory. Secrets in the config must
// already be resolved (no {env.*} left).
func Open(ctx context.Context, c Config, logger *zap.Logger) (Directory, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.SQL != nil {
		return OpenSQL(ctx, *c.SQL, logger)
	}
	return OpenLDAP(ctx, *c.LDAP, logger)
}
