package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin"
)

// parseAddressLimit reads `ipv4_prefix <bits>`, `ipv6_prefix <bits>` or
// `queue_size <n>` inside rate_limit; the ranges are the engine's
// (plugin.CheckAddressLimit).
func parseAddressLimit(d *caddyfile.Dispenser, rl *plugin.RateLimitOptions, opt string) error {
	dst := map[string]*int{"ipv4_prefix": &rl.IPv4Prefix, "ipv6_prefix": &rl.IPv6Prefix, "queue_size": &rl.QueueSize}[opt]
	if err := intArg(d, dst); err != nil {
		return err
	}
	if err := plugin.CheckAddressLimit(opt, *dst); err != nil {
		return d.Errf("%s: %v", opt, err)
	}
	return nil
}
