package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/duration"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/store"
)

// parseHook reads "<name> <url> [{ secret, timeout, ... }]"; extra, when
// set, handles the hook's own sub-options and reports whether it knew one.
func parseHook(d *caddyfile.Dispenser, name string, hk *plugin.HookOptions, extra func(sub string) (bool, error)) error {
	if !d.NextArg() {
		return d.Errf("%s: expected a URL", name)
	}
	hk.URL = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one URL, then an optional block", name)
	}
	for sub, err := range blockOptions(d, "header", "body", "query", "response", "ok_status", "mismatch_status") {
		if err != nil {
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
func parseRedis(d *caddyfile.Dispenser, st *store.Options) error {
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
	for sub, err := range blockOptions(d) {
		if err != nil {
			return err
		}
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
				st.Sentinel = &store.SentinelOptions{}
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
				dur, convErr := duration.Parse(args[1])
				if convErr != nil || dur <= 0 {
					return d.Errf("storage redis: wait_replicas: invalid timeout %s", shown(args[1]))
				}
				st.WaitTimeout = duration.Duration(dur)
			}
		default:
			return d.Errf("unrecognized storage redis option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	if err := st.Validate(); err != nil {
		return d.Err(err.Error())
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
func parseTemplate(d *caddyfile.Dispenser, sub string, hk *plugin.HookOptions) (bool, error) {
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
func parseHash(d *caddyfile.Dispenser, upd *plugin.UpdateHookOptions) error {
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
	if _, err := plugin.CheckUpdateHash(args[0], cost); err != nil {
		return d.Errf("hash: %v", err)
	}
	upd.Hash, upd.HashCost = args[0], cost
	return nil
}

func parseEmail(d *caddyfile.Dispenser, e *mailer.Options) error {
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
	for sub, err := range blockOptions(d) {
		if err != nil {
			return err
		}
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

func parsePolicy(d *caddyfile.Dispenser, p *policy.Policy) error {
	if err := noArgs(d, "policy"); err != nil {
		return err
	}
	for sub, err := range blockOptions(d, "context_words") {
		if err != nil {
			return err
		}
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
			p.Breached = &policy.BreachedCheck{URL: args[0]}
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

func parseLimit(d *caddyfile.Dispenser) (*plugin.LimitOptions, error) {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.Errf("%s: expected a count and a window, e.g. '3 15m'", opt)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return nil, d.Errf("%s: count '%s' is not a positive integer", opt, args[0])
	}
	w, err := duration.Parse(args[1])
	if err != nil || w <= 0 {
		return nil, d.Errf("%s: window '%s' is not a positive duration", opt, args[1])
	}
	return &plugin.LimitOptions{Count: n, Window: duration.Duration(w)}, nil
}

func parseRateLimit(d *caddyfile.Dispenser, rl *plugin.RateLimitOptions) error {
	if err := noArgs(d, "rate_limit"); err != nil {
		return err
	}
	for sub, err := range blockOptions(d) {
		if err != nil {
			return err
		}
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
