package directory

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// LDAPConfig is `users ldap <url> { … }`. (Stub: filled in by the LDAP
// backend.)
type LDAPConfig struct{}

// Validate checks the LDAP config.
func (c *LDAPConfig) Validate() error { return errors.New("users ldap: not implemented yet") }

// OpenLDAP connects to the directory with the service account.
func OpenLDAP(ctx context.Context, c LDAPConfig, logger *zap.Logger) (Directory, error) {
	return nil, errors.New("users ldap: not implemented yet")
}
