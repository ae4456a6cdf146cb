// Command formapp runs the example "PHP-era" legacy application whose
// endpoints resetgate is fitted to with request templates (see
// examples/formapp/Caddyfile). It serves the demo users (printed at start
// with their passwords) on -addr.
//
//	FORMAPP_API_KEY=$(openssl rand -hex 24) formapp -addr 127.0.0.1:8081
//
// The key must equal the one Caddy sends in X-Api-Key (the same variable is
// read by examples/formapp/Caddyfile).
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/resetgate/resetgate/examples/formapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	iterations := flag.Int("iterations", 600000, "PBKDF2 iterations of the demo users' hashes")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	users, err := formapp.DemoUsers(*iterations)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	app, err := formapp.New(formapp.Config{APIKey: os.Getenv("FORMAPP_API_KEY"), Users: users, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err, "(set FORMAPP_API_KEY)")
		os.Exit(1)
	}
	fmt.Println("formapp demo users:")
	for _, acc := range formapp.DemoAccounts() {
		fmt.Printf("  %-20s %s\n", acc.Mail, acc.Password)
	}
	fmt.Printf("listening on http://%s/\n", *addr)
	srv := &http.Server{
		Addr:              *addr,
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
