package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/resetgate/resetgate/plugin"
)

// engineConfig builds the engine's config: it resolves the {env.*} and
// {file.*} placeholders once, lets the options check and build themselves
// (plugin.Options.Config: every rule, before anything connects or touches
// the disk, so that a refused config leaves no database or key file
// behind), then opens the user directory and the store through their
// pools. Error messages name the option, never a secret.
func (h *Handler) engineConfig(ctx caddy.Context) (plugin.Config, error) {
	opts, err := resolveOptions(h.Options)
	if err != nil {
		return plugin.Config{}, err
	}
	h.resolved = opts
	cfg, err := opts.Config()
	if err != nil {
		return cfg, err
	}
	cfg.ClientIP = clientIP
	if opts.Email == nil {
		h.logger.Warn("no email configured: reset mails are not sent")
	}
	if opts.Users == nil && opts.Update != nil && opts.Update.Secret == "" {
		h.logger.Warn("update hook has no secret: upstream calls are not signed")
	}

	// The user directory, store and key last: they connect and touch
	// the disk.
	if opts.Users != nil {
		if cfg.Users, err = h.openUsers(ctx, *opts.Users); err != nil {
			return cfg, err
		}
	}
	if cfg.Key, err = h.openStore(ctx, opts); err != nil {
		return cfg, err
	}
	cfg.LocalCounters = h.localCounters
	return cfg, nil
}

// clientIP is Caddy's idea of the client address: the peer, or the
// forwarded address when the peer is a trusted proxy.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return plugin.RemoteIP(r)
}

// Interface guards.
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
