package plugin

import "testing"

// limitAddr groups IPv6 clients by their prefix (default /64) and IPv4
// clients by theirs (default /32); mapped and zoned forms count as the
// plain address; a non-address passes through.
func TestLimitAddrGroupsByPrefix(t *testing.T) {
	e := &Engine{cfg: Config{}}
	ipPrefixDefaults(&e.cfg)
	for in, want := range map[string]string{
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::ffff": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"fe80::1%eth0":            "fe80::/64",
		"198.51.100.7":            "198.51.100.7/32",
		"::ffff:198.51.100.7":     "198.51.100.7/32",
		"not-an-ip":               "not-an-ip",
	} {
		if got := e.limitAddr(in); got != want {
			t.Errorf("limitAddr(%q) = %q, want %q", in, got, want)
		}
	}
	e.cfg.IPv4Prefix, e.cfg.IPv6Prefix = 24, 128
	if got := e.limitAddr("198.51.100.7"); got != "198.51.100.0/24" {
		t.Errorf("ipv4_prefix 24: %q", got)
	}
	if got := e.limitAddr("2001:db8::1"); got != "2001:db8::1/128" {
		t.Errorf("ipv6_prefix 128: %q", got)
	}
}
