package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// addressLimitRanges are the accepted values of the rate_limit options
// that shape the per-IP limit and the request queue.
var addressLimitRanges = map[string][2]int{
	"ipv4_prefix": {1, 32},
	"ipv6_prefix": {1, 128},
	"queue_size":  {1, 1 << 20},
}

// parseAddressLimit reads `ipv4_prefix <bits>`, `ipv6_prefix <bits>` or
// `queue_size <n>` inside rate_limit.
func parseAddressLimit(d *caddyfile.Dispenser, rl *RateLimit, opt string) error {
	dst := map[string]*int{"ipv4_prefix": &rl.IPv4Prefix, "ipv6_prefix": &rl.IPv6Prefix, "queue_size": &rl.QueueSize}[opt]
	if err := intArg(d, dst); err != nil {
		return err
	}
	if r := addressLimitRanges[opt]; *dst < r[0] || *dst > r[1] {
		return d.Errf("%s: must be between %d and %d, got %d", opt, r[0], r[1], *dst)
	}
	return nil
}

// checkAddressLimits validates the same options in a JSON config (0 means
// the default).
func (rl *RateLimit) checkAddressLimits() error {
	for opt, v := range map[string]int{"ipv4_prefix": rl.IPv4Prefix, "ipv6_prefix": rl.IPv6Prefix, "queue_size": rl.QueueSize} {
		if r := addressLimitRanges[opt]; v != 0 && (v < r[0] || v > r[1]) {
			return fmt.Errorf("rate_limit %s must be between %d and %d, got %d", opt, r[0], r[1], v)
		}
	}
	return nil
}
