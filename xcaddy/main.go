// Command caddy is Caddy with its standard modules plus resetgate: what
// `xcaddy build --with github.com/resetgate/resetgate` produces.
//
//	go build -o caddy ./xcaddy
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// resetgate.
	_ "github.com/resetgate/resetgate"
)

func main() {
	caddycmd.Main()
}
