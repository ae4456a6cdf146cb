package caddymodule

import (
	"regexp"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/store"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("password_reset", parseCaddyfile)
	// Before redir: so reset routes run before rewrite/try_files (an SPA
	// fallback would swallow them), before basic_auth/forward_auth (reset
	// pages are for signed-out users) and before handle/reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("password_reset", httpcaddyfile.Before, "redir")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	password_reset {
//		prefix     <path>
//		base_url   <url>
//		storage    badger [<dir>]
//		storage    redis <url> [<host:port>...] {
//			key_prefix   <prefix>
//			dial_timeout <duration>
//			timeout      <duration>
//			pool_size    <n>
//			sentinel     <master name> <host:port>...
//			sentinel_password <password>
//			wait_replicas <n> [<timeout>]
//		}
//		key        <secret>
//		site_name  <name>
//		support    <contact>
//		theme {
//			site_name <name>
//			support   <contact>
//			logo      <url or file>
//			color     "#rrggbb"
//			accent    "#rrggbb"
//			templates <dir>
//		}
//		templates  <dir>
//		verify     <url> {
//			secret  <whsec_…>
//			timeout <duration>
//		}
//		lookup     <url> {
//			secret  <whsec_…>
//			timeout <duration>
//		}
//		update     <url> {
//			secret  <whsec_…>
//			hash    bcrypt|argon2id|scrypt|pbkdf2_sha256|none [<cost>]
//			timeout <duration>
//		}
//		verify     <url> {
//			secret          <whsec_…>
//			timeout         <duration>
//			mismatch_status <4xx>...
//		}
//		users      sql postgres|mysql|sqlite <dsn> {
//			lookup     "<SELECT id, email, … WHERE … = {identifier}>"
//			verify     "<SELECT hash FROM … WHERE id = {user_id}>"
//			update     "<UPDATE … SET pass = {hash} WHERE id = {user_id}>"
//			update any "<DELETE FROM sessions WHERE user_id = {user_id}>"
//			hash       <format> [<cost>]
//			timeout    <duration>
//			max_open_conns <n>
//		}
//		users      ldap <url> { … }
//		session    <url> {
//			id_field <dotted.path>
//			secret   <whsec_…>
//			timeout  <duration>
//		}
//		deliver    <url> {
//			secret  <whsec_…>
//			timeout <duration>
//		}
//		link_path  <path>
//		admin_token sha256:<hex> tokens:issue|tokens:revoke ...
//		admin_allow_roles <role> ...
//		email smtp <host:port> {
//			from      <address>
//			tls       starttls|implicit|none
//			username  <user>
//			password  <password>
//			templates <dir>
//		}
//		token_ttl  <duration>
//		code_ttl   <duration>
//		revoke_ttl <duration>
//		methods    link|code|passkey ...
//		passkey {
//			rp_id   <domain>
//			rp_name <name>
//			origins <origin> ...
//			remove_on_reset
//			ceremonies_per_ip   <n> <window>
//			ceremonies_per_flow <n>
//			max_ceremonies      <n>
//		}
//		require_passkey
//		pow        <difficulty>
//		policy {
//			min_length    <n>
//			max_length    <n>
//			context_words <word> ...
//			skip_common
//			min_score     <1-4>
//			breached      <range API URL> [fail_open|fail_closed]
//		}
//		rate_limit {
//			per_identifier   <n> <window>
//			per_ip           <n> <window>
//			mail_budget      <n> <window>
//			account_failures <n> <window>
//			code_attempts    <n>
//			ipv4_prefix      <bits>
//			ipv6_prefix      <bits>
//			queue_size       <n>
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := seenOptions{}
	for d.NextBlock(0) {
		opt := d.Val()
		if err := seen.once(d, opt, "admin_token"); err != nil {
			return err
		}
		var err error
		switch opt {
		case "prefix":
			err = oneArg(d, &h.Prefix)
		case "base_url":
			err = oneArg(d, &h.BaseURL)
		case "key":
			err = oneArg(d, &h.Key)
		case "site_name":
			err = oneArg(d, &h.SiteName)
		case "support":
			err = oneArg(d, &h.Support)
		case "theme":
			err = parseTheme(d, h)
		case "templates":
			err = parseTemplates(d, h)
		case "storage":
			h.Storage = &store.Options{}
			if !d.NextArg() {
				return d.Errf("storage: expected a backend (badger)")
			}
			h.Storage.Backend = d.Val()
			switch h.Storage.Backend {
			case "badger":
				if d.NextArg() {
					h.Storage.Dir = d.Val()
				}
				if d.NextArg() {
					return d.Errf("storage: too many arguments")
				}
				if err := noBlock(d, opt); err != nil {
					return err
				}
			case "redis":
				if err := parseRedis(d, h.Storage); err != nil {
					return err
				}
			default:
				return d.Errf("storage: unknown backend '%s' (want badger, redis)", d.Val())
			}
		case "lookup":
			h.Lookup = &plugin.HookOptions{}
			err = parseHook(d, opt, h.Lookup, nil)
		case "update":
			h.Update = &plugin.UpdateHookOptions{}
			err = parseHook(d, opt, &h.Update.HookOptions, func(sub string) (bool, error) {
				if sub != "hash" {
					return false, nil
				}
				return true, parseHash(d, h.Update)
			})
		case "verify":
			h.Verify = &plugin.HookOptions{}
			err = parseHook(d, opt, h.Verify, func(sub string) (bool, error) {
				if sub != "mismatch_status" {
					return false, nil
				}
				for _, a := range d.RemainingArgs() {
					code, err := strconv.Atoi(a)
					if err != nil || code < 400 || code > 499 {
						return true, d.Errf("verify: mismatch_status: expected 4xx statuses (400-499)")
					}
					h.Verify.MismatchStatus = append(h.Verify.MismatchStatus, code)
				}
				if len(h.Verify.MismatchStatus) == 0 {
					return true, d.Errf("verify: mismatch_status: expected one or more 4xx statuses")
				}
				return true, nil
			})
		case "users":
			h.Users, err = parseUsers(d)
		case "deliver":
			h.Deliver = &plugin.HookOptions{}
			err = parseHook(d, opt, h.Deliver, nil)
		case "session":
			h.Session = &plugin.SessionHookOptions{}
			err = parseHook(d, opt, &h.Session.HookOptions, func(sub string) (bool, error) {
				if sub != "id_field" {
					return false, nil
				}
				return true, oneArg(d, &h.Session.IDField)
			})
		case "passkey":
			h.Passkey = &plugin.PasskeyOptions{}
			if err := noArgs(d, "passkey"); err != nil {
				return err
			}
			for sub, err := range blockOptions(d, "origins") {
				if err != nil {
					return err
				}
				switch sub {
				case "rp_id":
					err = oneArg(d, &h.Passkey.RPID)
				case "rp_name":
					err = oneArg(d, &h.Passkey.RPName)
				case "origins":
					h.Passkey.Origins = append(h.Passkey.Origins, d.RemainingArgs()...)
					if len(h.Passkey.Origins) == 0 {
						return d.Errf("origins: expected at least one origin")
					}
				case "remove_on_reset":
					h.Passkey.RemoveOnReset = true
					if d.NextArg() {
						return d.Errf("remove_on_reset: takes no arguments")
					}
				case "ceremonies_per_ip":
					h.Passkey.CeremoniesPerIP, err = parseLimit(d)
				case "ceremonies_per_flow":
					if err = intArg(d, &h.Passkey.CeremoniesPerFlow); err == nil && h.Passkey.CeremoniesPerFlow < 1 {
						return d.Errf("ceremonies_per_flow: must be a positive integer")
					}
				case "max_ceremonies":
					if err = intArg(d, &h.Passkey.MaxCeremonies); err == nil && h.Passkey.MaxCeremonies < 1 {
						return d.Errf("max_ceremonies: must be a positive integer")
					}
				default:
					return d.Errf("unrecognized passkey option %s", shown(sub))
				}
				if err != nil {
					return err
				}
			}
		case "require_passkey":
			h.RequirePasskey = true
			if d.NextArg() {
				return d.Errf("require_passkey: takes no arguments")
			}
		case "pow":
			var v string
			if err = oneArg(d, &v); err == nil {
				if h.Pow, err = strconv.Atoi(v); err != nil {
					return d.Errf("pow: difficulty must be a number of bits (8 to 28)")
				}
				if err = plugin.CheckPowDifficulty(h.Pow); err != nil {
					return d.Err(err.Error())
				}
			}
		case "link_path":
			err = oneArg(d, &h.LinkPath)
		case "admin_token":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("admin_token: expected sha256:<hex> and at least one scope (tokens:issue, tokens:revoke)")
			}
			for _, sc := range args[1:] {
				if err := plugin.CheckAdminScope(sc); err != nil {
					return d.Errf("admin_token: %v", err)
				}
			}
			h.AdminTokens = append(h.AdminTokens, plugin.AdminTokenOptions{Hash: args[0], Scopes: args[1:]})
		case "admin_allow_roles":
			h.AdminAllowRoles = d.RemainingArgs()
			if len(h.AdminAllowRoles) == 0 {
				return d.Errf("admin_allow_roles: expected at least one role")
			}
		case "email":
			h.Email = &mailer.Options{}
			err = parseEmail(d, h.Email)
		case "token_ttl":
			err = durationArg(d, &h.TokenTTL)
		case "code_ttl":
			err = durationArg(d, &h.CodeTTL)
		case "revoke_ttl":
			err = durationArg(d, &h.RevokeTTL)
		case "methods":
			h.Methods = d.RemainingArgs()
			if len(h.Methods) == 0 {
				return d.Errf("methods: expected at least one of link, code")
			}
			seen := map[string]bool{}
			if err := plugin.CheckMethods(h.Methods); err != nil {
				return d.Errf("methods: %v", err)
			}
			for _, m := range h.Methods {
				if seen[m] {
					return d.Errf("methods: '%s' given twice", m)
				}
				seen[m] = true
			}
			if err := noBlock(d, opt); err != nil {
				return err
			}
		case "policy":
			h.Policy = &policy.Policy{}
			err = parsePolicy(d, h.Policy)
		case "rate_limit":
			h.RateLimit = &plugin.RateLimitOptions{}
			err = parseRateLimit(d, h.RateLimit)
		default:
			return d.Errf("unrecognized password_reset option %s", shown(opt))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// optionName matches what can be an option's name.
var optionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,40}$`)
