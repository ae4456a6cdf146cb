// Command portal is the example custom portal built on resetgate's admin
// API (see examples/portal/Caddyfile):
//
//	portal send   -user 1001 -to alice@example.test -name Alice   # issue a token, mail it, branded
//	portal revoke -user 1001                                      # end the user's open resets
//	portal serve  -addr 127.0.0.1:8090                            # the /portal/reset page, behind Caddy
//
// It reads PORTAL_RESETGATE_URL, PORTAL_ADMIN_TOKEN, PORTAL_SMTP_ADDR,
// PORTAL_MAIL_FROM and PORTAL_BRAND; run it without arguments for help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/resetgate/resetgate/examples/portal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := portal.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
