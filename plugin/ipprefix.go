package plugin

import "net/netip"

// Default prefix lengths the per-IP limit counts by.
const (
	// DefaultIPv4Prefix counts each IPv4 address on its own.
	DefaultIPv4Prefix = 32
	// DefaultIPv6Prefix counts an IPv6 client by its /64: one subscriber
	// line or one server usually holds a whole /64 and can rotate through
	// 2^64 addresses in it.
	DefaultIPv6Prefix = 64
)

// limitAddr is the part of a client address that the per-IP limit counts:
// the address masked to IPv4Prefix or IPv6Prefix bits, as a prefix
// ("2001:db8:1:2::/64"). An IPv4-mapped IPv6 address counts as IPv4. A
// value that is not an IP address (a test's RemoteAddr, a Unix socket) is
// counted as is.
func (e *Engine) limitAddr(ip string) string {
	return string(e.appendLimitAddr(nil, ip))
}

// appendLimitAddr appends limitAddr(ip) to dst: the per-IP limit counts
// every reset request, and with a buffer on the caller's stack the key
// costs no allocation.
func (e *Engine) appendLimitAddr(dst []byte, ip string) []byte {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return append(dst, ip...)
	}
	a = a.Unmap().WithZone("")
	bits := e.cfg.IPv4Prefix
	if a.Is6() {
		bits = e.cfg.IPv6Prefix
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.AppendTo(dst)
	}
	return p.AppendTo(dst)
}

// ipPrefixDefaults fills the prefix lengths left at zero.
func ipPrefixDefaults(c *Config) {
	if c.IPv4Prefix == 0 {
		c.IPv4Prefix = DefaultIPv4Prefix
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = DefaultIPv6Prefix
	}
}
