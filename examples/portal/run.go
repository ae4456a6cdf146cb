package portal

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Defaults of the command's environment.
const (
	DefaultResetgateURL = "http://localhost:8000"
	DefaultFrom         = "Acme Support <support@example.test>"
	DefaultBrand        = "Acme"
	DefaultAddr         = "127.0.0.1:8090"
)

const usage = `usage:
  portal send   -user <id> -to <address> [-name <name>]   issue a reset token, mail the portal's own message
  portal revoke -user <id>                                end every open reset of a user
  portal serve  [-addr 127.0.0.1:8090]                    serve /portal/reset behind Caddy

environment:
  PORTAL_RESETGATE_URL  where resetgate answers (Caddy)          default http://localhost:8000
  PORTAL_ADMIN_TOKEN    the admin bearer token (send, revoke)    required
  PORTAL_SMTP_ADDR      SMTP server host:port                    empty: print the mail instead
  PORTAL_MAIL_FROM      From header                              default "Acme Support <support@example.test>"
  PORTAL_BRAND          product name in mails and on the page    default Acme
`

// Run is the portal command: it runs one subcommand and returns the exit
// status (0 done, 1 failed, 2 usage). getenv reads the environment; serve
// stops when ctx ends.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("portal "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the user's id in the app")
	to := fs.String("to", "", "the address to mail (send)")
	name := fs.String("name", "", "the user's name for the greeting (send)")
	addr := fs.String("addr", DefaultAddr, "listen address (serve)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	client := &Client{BaseURL: env("PORTAL_RESETGATE_URL", DefaultResetgateURL), Token: getenv("PORTAL_ADMIN_TOKEN")}
	brand := env("PORTAL_BRAND", DefaultBrand)

	switch args[0] {
	case "send":
		if *user == "" || *to == "" {
			fmt.Fprint(stderr, "portal send: -user and -to are required\n\n"+usage)
			return 2
		}
		iss, err := client.IssueResetToken(ctx, *user)
		if err != nil {
			fmt.Fprintf(stderr, "portal send: %v\n", err)
			return 1
		}
		m, err := ResetMail(brand, env("PORTAL_MAIL_FROM", DefaultFrom), *to, *name, iss)
		if err != nil {
			fmt.Fprintf(stderr, "portal send: %v\n", err)
			return 1
		}
		if smtpAddr := getenv("PORTAL_SMTP_ADDR"); smtpAddr != "" {
			if err := SendSMTP(smtpAddr, m); err != nil {
				fmt.Fprintf(stderr, "portal send: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "sent a reset mail to %s (the link works until %s)\n", *to, iss.ExpiresAt.UTC().Format(time.RFC3339))
			return 0
		}
		msg, err := m.Bytes()
		if err != nil {
			fmt.Fprintf(stderr, "portal send: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "PORTAL_SMTP_ADDR is not set; the mail would be:\n\n%s\n", msg)
		return 0
	case "revoke":
		if *user == "" {
			fmt.Fprint(stderr, "portal revoke: -user is required\n\n"+usage)
			return 2
		}
		if err := client.RevokeResetTokens(ctx, *user); err != nil {
			fmt.Fprintf(stderr, "portal revoke: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "ended every open reset of user %s\n", *user)
		return 0
	case "serve":
		page := &Page{Brand: brand, ResetgateURL: client.BaseURL}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintf(stderr, "portal serve: %v\n", err)
			return 1
		}
		srv := &http.Server{Handler: page.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			<-ctx.Done()
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shut)
		}()
		fmt.Fprintf(stdout, "serving %s on http://%s (resetgate at %s)\n", PagePath, ln.Addr(), client.BaseURL)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "portal serve: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}
