// Package resetgate is self-service password reset for any web app, as a
// Caddy v2 module. Importing this package registers the module, so
//
//	xcaddy build --with github.com/resetgate/resetgate
//
// gives a Caddy with the password_reset directive.
package resetgate

import (
	// Registers http.handlers.password_reset and its Caddyfile directive.
	_ "github.com/resetgate/resetgate/caddymodule"
)
