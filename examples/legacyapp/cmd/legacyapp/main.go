// Command legacyapp runs the example "legacy" application that resetgate
// adds password reset to. It serves the demo users (printed at start with
// their passwords) on -addr.
//
//	LEGACYAPP_WEBHOOK_SECRET=whsec_... legacyapp -addr 127.0.0.1:8080
//
// The secret must equal the one in the Caddyfile's `update ... { secret }`
// block. Without it the internal endpoints accept unsigned calls (a warning
// is logged): fine on a laptop, never elsewhere.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	resetPath := flag.String("reset-path", legacyapp.DefaultResetPath, `target of the "Forgot your password?" link`)
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	app, err := legacyapp.New(legacyapp.Config{
		WebhookSecret: os.Getenv("LEGACYAPP_WEBHOOK_SECRET"),
		Users:         legacyapp.DemoUsers(),
		ResetPath:     *resetPath,
		Logger:        logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	fmt.Println("legacyapp demo users:")
	for _, acc := range legacyapp.DemoAccounts() {
		fmt.Printf("  %-20s %s\n", acc.Email, acc.Password)
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
