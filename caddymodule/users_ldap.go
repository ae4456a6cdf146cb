package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin/directory"
)

// parseUsersLDAP reads `users ldap <url> { … }`. (Stub: the LDAP backend
// replaces this file.)
func parseUsersLDAP(d *caddyfile.Dispenser) (*directory.LDAPConfig, error) {
	return nil, errors.New("users ldap: not implemented")
}
