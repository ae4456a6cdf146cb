// Package caddymodule is resetgate's Caddy face: the HTTP handler module
// http.handlers.password_reset, its JSON config, Caddyfile directive and
// lifecycle. It builds a plugin.Engine and hands it the requests under its
// prefix; every other request goes to the next handler untouched.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler gives the site behind it self-service password reset. It answers
// the reset API and pages under Prefix, and passes every other request to
// the next handler unchanged.
type Handler struct {
	// The options, at the top level of the handler's JSON: each is
	// documented, with its default, on plugin.Options and its parts, which
	// also hold every rule (Validate).
	plugin.Options

	engine        *plugin.Engine
	resolved      plugin.Options // the options with placeholders resolved
	st            store.Store
	poolKey       string
	usersKey      string
	localCounters bool
	logger        *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.password_reset",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves secrets, opens the store and builds the engine.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	cfg, err := h.engineConfig(ctx)
	if err != nil {
		return fmt.Errorf("password_reset: %w", err)
	}
	cfg.Observer = newMetrics(ctx.GetMetricsRegistry(), h.logger)
	// Check the store, SMTP and the lookup once, in the background: a
	// failure is a warning (the part may come up later), seen in the log,
	// in `caddy password-reset status` and in the selftest_up metric.
	cfg.SelfTest = true
	eng, err := plugin.New(cfg, h.st, h.logger)
	if err != nil {
		return fmt.Errorf("password_reset: %w", err)
	}
	h.engine = eng
	h.engine.Start()
	registerHandler(h)
	return nil
}

// Validate checks the options (placeholders resolved) with their own
// Validate. Provision checked them already, before touching the disk, as
// Caddy validates only after provisioning.
func (h *Handler) Validate() error {
	if h.engine == nil {
		return errors.New("password_reset: not provisioned")
	}
	if err := h.resolved.Validate(); err != nil {
		return fmt.Errorf("password_reset: %w", err)
	}
	return nil
}

// ServeHTTP hands requests under the prefix to the engine and everything
// else to next, at the cost of one prefix comparison.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.engine.Handles(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	if h.engine.CarriesSecretInURL(r) {
		// Invariant 7: a URL that carries a token stays out of the
		// access log.
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
	h.engine.ServeHTTP(w, r)
	return nil
}

// Cleanup stops the engine and releases the store. It is safe after a
// failed Provision.
func (h *Handler) Cleanup() error {
	unregisterHandler(h)
	if h.engine != nil {
		h.engine.Stop()
	}
	h.releaseUsers()
	return h.releaseStore()
}
