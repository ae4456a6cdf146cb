package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/duration"
)

// parseUsersLDAP reads, after `users ldap`,
//
//	<url> {
//		bind_dn       <dn>
//		bind_password <secret>          # {env.…} or {file.…}
//		base_dn       <dn>
//		filter        <filter with {identifier}>
//		attributes    id=<attr> email=<attr> name=<attr> locale=<attr> role=<attr>
//		mode          password_modify|active_directory
//		start_tls
//		ca_file       <path>
//		timeout       <duration>
//	}
//
// The dispenser is on `ldap`. When the URL and DNs are written out (no
// {env.…}), the whole block is checked here, so `caddy adapt` already
// names a bad option; otherwise at provision.
func parseUsersLDAP(d *caddyfile.Dispenser) (*directory.LDAPConfig, error) {
	c := &directory.LDAPConfig{}
	if !d.NextArg() {
		return nil, d.Errf("users ldap: expected a URL (ldaps://host or ldap://host)")
	}
	c.URL = d.Val()
	if d.NextArg() {
		return nil, d.Errf("users ldap: expected one URL, then a block")
	}
	for sub, err := range blockOptions(d) {
		if err != nil {
			return nil, err
		}
		switch sub {
		case "bind_dn":
			if err := oneArg(d, &c.BindDN); err != nil {
				return nil, err
			}
		case "bind_password":
			// Not oneArg: its errors must not echo the value.
			if !d.NextArg() {
				return nil, d.Errf("bind_password: expected one argument")
			}
			c.BindPassword = d.Val()
			if d.NextArg() {
				return nil, d.Errf("bind_password: expected one argument (quote a password with spaces; better, use {env.…})")
			}
			if err := noBlock(d, sub); err != nil {
				return nil, err
			}
		case "base_dn":
			if err := oneArg(d, &c.BaseDN); err != nil {
				return nil, err
			}
		case "filter":
			if err := oneArg(d, &c.Filter); err != nil {
				return nil, err
			}
		case "attributes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("attributes: expected field=attribute pairs (id=entryUUID email=mail …)")
			}
			if c.Attributes == nil {
				c.Attributes = map[string]string{}
			}
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" || v == "" {
					return nil, d.Errf("attributes: %s is not field=attribute", shown(a))
				}
				c.Attributes[k] = v
			}
		case "mode":
			if err := oneArg(d, &c.Mode); err != nil {
				return nil, err
			}
		case "start_tls":
			if d.NextArg() {
				return nil, d.Errf("start_tls: takes no argument")
			}
			c.StartTLS = true
		case "ca_file":
			if err := oneArg(d, &c.CAFile); err != nil {
				return nil, err
			}
		case "timeout":
			var dur duration.Duration
			if err := durationArg(d, &dur); err != nil {
				return nil, err
			}
			c.Timeout = dur
		default:
			return nil, d.Errf("unrecognized users ldap option %s", shown(sub))
		}
	}
	if !hasPlaceholder(c.URL, c.BindDN, c.BaseDN, c.Filter) {
		if err := c.Validate(); err != nil {
			return nil, d.Err(err.Error())
		}
	}
	return c, nil
}

// hasPlaceholder is true when a value is only known at provision time.
func hasPlaceholder(vals ...string) bool {
	for _, v := range vals {
		if strings.Contains(v, "{env.") || strings.Contains(v, "{file.") {
			return true
		}
	}
	return false
}
