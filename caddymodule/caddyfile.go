package caddymodule

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/passhash"
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
			h.Storage = &Storage{}
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
			h.Lookup = &Hook{}
			err = parseHook(d, opt, h.Lookup, nil)
		case "update":
			h.Update = &UpdateHook{}
			err = parseHook(d, opt, &h.Update.Hook, func(sub string) (bool, error) {
				if sub != "hash" {
					return false, nil
				}
				return true, parseHash(d, h.Update)
			})
		case "verify":
			h.Verify = &Hook{}
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
			h.Deliver = &Hook{}
			err = parseHook(d, opt, h.Deliver, nil)
		case "session":
			h.Session = &SessionHook{}
			err = parseHook(d, opt, &h.Session.Hook, func(sub string) (bool, error) {
				if sub != "id_field" {
					return false, nil
				}
				return true, oneArg(d, &h.Session.IDField)
			})
		case "passkey":
			h.Passkey = &Passkey{}
			if err := noArgs(d, "passkey"); err != nil {
				return err
			}
			seenSub := seenOptions{}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				sub := d.Val()
				if err := seenSub.once(d, sub, "origins"); err != nil {
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
			h.AdminTokens = append(h.AdminTokens, AdminTokenConfig{Hash: args[0], Scopes: args[1:]})
		case "admin_allow_roles":
			h.AdminAllowRoles = d.RemainingArgs()
			if len(h.AdminAllowRoles) == 0 {
				return d.Errf("admin_allow_roles: expected at least one role")
			}
		case "email":
			h.Email = &Email{}
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
			h.Policy = &Policy{}
			err = parsePolicy(d, h.Policy)
		case "rate_limit":
			h.RateLimit = &RateLimit{}
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

// shown quotes an unrecognized token for an error message, unless it does
// not look like an option name: a misplaced line may start with a secret
// (a key, a whsec_ value), and config errors never print secrets.
func shown(tok string) string {
	if optionName.MatchString(tok) {
		return "'" + tok + "'"
	}
	return "(a token that is not an option name; not shown)"
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected one argument", opt)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one argument", opt)
	}
	return noBlock(d, opt)
}

// noBlock refuses a block after an option that takes none.
func noBlock(d *caddyfile.Dispenser, opt string) error {
	if d.NextBlock(d.Nesting()) {
		return d.Errf("%s: takes no block", opt)
	}
	return nil
}

// noArgs refuses arguments before an option's block.
func noArgs(d *caddyfile.Dispenser, opt string) error {
	if d.NextArg() {
		return d.Errf("%s: takes no arguments, only a block", opt)
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("%s: '%s' is not a non-negative integer", opt, s)
	}
	*dst = n
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return d.Errf("%s: '%s' is not a positive duration", opt, s)
	}
	*dst = caddy.Duration(v)
	return nil
}

// parseHook reads "<name> <url> [{ secret, timeout, ... }]"; extra, when
// set, handles the hook's own sub-options and reports whether it knew one.
func parseHook(d *caddyfile.Dispenser, name string, hk *Hook, extra func(sub string) (bool, error)) error {
	if !d.NextArg() {
		return d.Errf("%s: expected a URL", name)
	}
	hk.URL = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one URL, then an optional block", name)
	}
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub, "header", "body", "query", "response", "ok_status", "mismatch_status"); err != nil {
			return err
		}
		if extra != nil {
			handled, err := extra(sub)
			if err != nil {
				return err
			}
			if handled {
				continue
			}
		}
		if handled, err := parseTemplate(d, sub, hk); err != nil {
			return err
		} else if handled {
			continue
		}
		switch sub {
		case "secret":
			if err := oneArg(d, &hk.Secret); err != nil {
				return err
			}
		case "timeout":
			if err := durationArg(d, &hk.Timeout); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized %s option %s", name, shown(sub))
		}
	}
	return nil
}

// parseRedis reads "redis <url> [{ key_prefix, dial_timeout, timeout, pool_size }]".
func parseRedis(d *caddyfile.Dispenser, st *Storage) error {
	if !d.NextArg() {
		return d.Errf("storage redis: expected a URL (redis://host:port/db)")
	}
	st.URL = d.Val()
	for d.NextArg() {
		if strings.Contains(d.Val(), "://") || strings.Contains(d.Val(), "/") {
			return d.Errf("storage redis: after the URL, expected cluster nodes as host:port, got %s", shown(d.Val()))
		}
		st.ClusterAddrs = append(st.ClusterAddrs, d.Val())
	}
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "key_prefix":
			err = oneArg(d, &st.KeyPrefix)
		case "dial_timeout":
			err = durationArg(d, &st.DialTimeout)
		case "timeout":
			err = durationArg(d, &st.Timeout)
		case "pool_size":
			err = intArg(d, &st.PoolSize)
		case "sentinel":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("storage redis: sentinel: expected the master name and at least one sentinel host:port")
			}
			if st.Sentinel == nil {
				st.Sentinel = &RedisSentinel{}
			}
			st.Sentinel.MasterName, st.Sentinel.Addrs = args[0], args[1:]
		case "sentinel_password":
			if st.Sentinel == nil {
				return d.Errf("storage redis: sentinel_password goes after sentinel")
			}
			err = oneArg(d, &st.Sentinel.Password)
		case "wait_replicas":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("storage redis: wait_replicas: expected <n> [<timeout>]")
			}
			n, convErr := strconv.Atoi(args[0])
			if convErr != nil || n < 1 {
				return d.Errf("storage redis: wait_replicas: %s is not a positive number", shown(args[0]))
			}
			st.WaitReplicas = n
			if len(args) == 2 {
				dur, convErr := caddy.ParseDuration(args[1])
				if convErr != nil || dur <= 0 {
					return d.Errf("storage redis: wait_replicas: invalid timeout %s", shown(args[1]))
				}
				st.WaitTimeout = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized storage redis option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	if st.Sentinel != nil && len(st.ClusterAddrs) > 0 {
		return d.Errf("storage redis: sentinel and cluster nodes do not go together")
	}
	return nil
}

// parseTemplate reads the request-template sub-options of a hook:
//
//	method    GET|POST|PUT|PATCH|DELETE
//	encoding  json|form
//	header    <name> <value>
//	body      <field> <value>
//	query     <field> <value>
//	response  <our field> <dotted.path>
//	ok_status <code> ...
func parseTemplate(d *caddyfile.Dispenser, sub string, hk *Hook) (bool, error) {
	t := func() *hookreq.Template {
		if hk.Template == nil {
			hk.Template = &hookreq.Template{}
		}
		return hk.Template
	}
	pair := func(dst *map[string]string) error {
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.Errf("%s: expected a name and a value", sub)
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		if _, dup := (*dst)[args[0]]; dup {
			return d.Errf("%s: '%s' given twice", sub, args[0])
		}
		(*dst)[args[0]] = args[1]
		return nil
	}
	switch sub {
	case "method":
		return true, oneArg(d, &t().Method)
	case "encoding":
		if err := oneArg(d, &t().Encoding); err != nil {
			return true, err
		}
		if e := t().Encoding; e != "json" && e != "form" {
			return true, d.Errf("encoding: unknown encoding '%s' (want json, form)", e)
		}
		return true, nil
	case "header":
		return true, pair(&t().Headers)
	case "body":
		return true, pair(&t().Body)
	case "query":
		return true, pair(&t().Query)
	case "response":
		return true, pair(&t().Response)
	case "ok_status":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.Errf("ok_status: expected at least one status code")
		}
		for _, a := range args {
			n, err := strconv.Atoi(a)
			if err != nil || n < 100 || n > 599 {
				return true, d.Errf("ok_status: '%s' is not an HTTP status", a)
			}
			t().OKStatus = append(t().OKStatus, n)
		}
		return true, nil
	}
	return false, nil
}

// parseHash reads "hash <format> [<cost>]". The formats and their cost
// ranges are passhash's table.
func parseHash(d *caddyfile.Dispenser, upd *UpdateHook) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Errf("hash: expected a format (%s) and an optional cost", strings.Join(passhash.Formats(), ", "))
	}
	cost := 0
	if len(args) == 2 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n <= 0 {
			return d.Errf("hash: cost '%s' is not a positive integer", args[1])
		}
		cost = n
	}
	if _, err := passhash.New(args[0], cost); err != nil {
		return d.Errf("hash: %v", err)
	}
	if p := passhash.Parts(args[0]); len(p) > 0 {
		return d.Errf("hash: format %s stores %s in columns of its own, which an update endpoint cannot receive; use it with a users directory", args[0], strings.Join(p, " and "))
	}
	upd.Hash, upd.HashCost = args[0], cost
	return nil
}

func parseEmail(d *caddyfile.Dispenser, e *Email) error {
	if !d.NextArg() {
		return d.Errf("email: expected a transport (smtp)")
	}
	e.Transport = d.Val()
	if e.Transport != "smtp" {
		return d.Errf("email: unknown transport '%s' (want smtp)", e.Transport)
	}
	if !d.NextArg() {
		return d.Errf("email smtp: expected host:port")
	}
	e.Address = d.Val()
	if d.NextArg() {
		return d.Errf("email smtp: expected host:port, then a block")
	}
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "from":
			err = oneArg(d, &e.From)
		case "tls":
			if err = oneArg(d, &e.TLS); err == nil {
				if err := mailer.CheckTLSMode(e.TLS); err != nil {
					return d.Errf("email tls: %v", err)
				}
			}
		case "username":
			err = oneArg(d, &e.Username)
		case "password":
			err = oneArg(d, &e.Password)
		case "templates":
			err = oneArg(d, &e.Templates)
		default:
			return d.Errf("unrecognized email option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parsePolicy(d *caddyfile.Dispenser, p *Policy) error {
	if err := noArgs(d, "policy"); err != nil {
		return err
	}
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub, "context_words"); err != nil {
			return err
		}
		var err error
		switch sub {
		case "min_length":
			err = intArg(d, &p.MinLength)
		case "max_length":
			err = intArg(d, &p.MaxLength)
		case "context_words":
			words := d.RemainingArgs()
			if len(words) == 0 {
				return d.Errf("context_words: expected at least one word")
			}
			p.ContextWords = append(p.ContextWords, words...)
		case "skip_common":
			p.SkipCommon = true
			if d.NextArg() {
				return d.Errf("skip_common: takes no arguments")
			}
		case "min_score":
			if err = intArg(d, &p.MinScore); err == nil && (p.MinScore < 1 || p.MinScore > 4) {
				return d.Errf("min_score: must be between 1 and 4")
			}
		case "breached":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("breached: expected a range API URL and optionally fail_open or fail_closed")
			}
			p.Breached = &Breached{URL: args[0]}
			if len(args) == 2 {
				switch args[1] {
				case "fail_open":
					p.Breached.FailOpen = true
				case "fail_closed":
				default:
					return d.Errf("breached: unknown mode '%s' (want fail_open or fail_closed)", args[1])
				}
			}
		default:
			return d.Errf("unrecognized policy option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseLimit(d *caddyfile.Dispenser) (*Limit, error) {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.Errf("%s: expected a count and a window, e.g. '3 15m'", opt)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return nil, d.Errf("%s: count '%s' is not a positive integer", opt, args[0])
	}
	w, err := caddy.ParseDuration(args[1])
	if err != nil || w <= 0 {
		return nil, d.Errf("%s: window '%s' is not a positive duration", opt, args[1])
	}
	return &Limit{Count: n, Window: caddy.Duration(w)}, nil
}

func parseRateLimit(d *caddyfile.Dispenser, rl *RateLimit) error {
	if err := noArgs(d, "rate_limit"); err != nil {
		return err
	}
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := seen.once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "per_identifier":
			rl.PerIdentifier, err = parseLimit(d)
		case "per_ip":
			rl.PerIP, err = parseLimit(d)
		case "mail_budget":
			rl.MailBudget, err = parseLimit(d)
		case "account_failures":
			rl.AccountFailures, err = parseLimit(d)
		case "code_attempts":
			if err = intArg(d, &rl.CodeAttempts); err == nil && rl.CodeAttempts == 0 {
				err = d.Errf("code_attempts: must be between 1 and %d, got 0", plugin.MaxCodeAttemptsLimit)
			} else if err == nil {
				if cerr := plugin.CheckCodeAttempts(rl.CodeAttempts); cerr != nil {
					err = d.Errf("code_attempts: %v", cerr)
				}
			}
		case "ipv4_prefix", "ipv6_prefix", "queue_size":
			err = parseAddressLimit(d, rl, sub)
		default:
			return d.Errf("unrecognized rate_limit option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// seenOptions refuses an option given twice in one block, as
// caddy-ratelimit does ("already specified"): in a config file a second
// value that silently wins hides a mistake. Options that add to a list may
// repeat.
type seenOptions map[string]bool

func (s seenOptions) once(d *caddyfile.Dispenser, opt string, repeatable ...string) error {
	if slices.Contains(repeatable, opt) {
		return nil
	}
	if s[opt] {
		return d.Errf("%s already specified", shown(opt))
	}
	s[opt] = true
	return nil
}
