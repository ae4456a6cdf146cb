package caddymodule

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/plugin/webhook"
)

// engineConfig turns the JSON config into the engine's, resolving
// placeholders once. Error messages name the option, never a secret.
func (h *Handler) engineConfig(ctx caddy.Context) (plugin.Config, error) {
	repl := caddy.NewReplacer()
	var cfg plugin.Config
	if h.Users != nil {
		if err := h.usersAlone(); err != nil {
			return cfg, err
		}
	}
	baseURL, err := resolve(repl, "base_url", h.BaseURL)
	if err != nil {
		return cfg, err
	}
	cfg = plugin.Config{
		Prefix:         h.Prefix,
		BaseURL:        baseURL,
		SiteName:       h.SiteName,
		SupportContact: h.Support,
		TokenTTL:       time.Duration(h.TokenTTL),
		CodeTTL:        time.Duration(h.CodeTTL),
		RevokeTTL:      time.Duration(h.RevokeTTL),
		Methods:        h.Methods,
		ClientIP:       clientIP,
		LinkPath:       h.LinkPath,
		RequirePasskey: h.RequirePasskey,
		PowDifficulty:  h.Pow,
	}
	if cfg.Pages, err = h.Theme.pageOptions(repl); err != nil {
		return cfg, err
	}
	if p := h.Passkey; p != nil {
		cfg.Passkey = &plugin.PasskeyConfig{RPID: p.RPID, RPName: p.RPName, Origins: p.Origins, RemoveOnReset: p.RemoveOnReset,
			CeremoniesPerFlow: p.CeremoniesPerFlow, MaxCeremonies: p.MaxCeremonies}
		if l := p.CeremoniesPerIP; l != nil {
			cfg.Passkey.CeremoniesPerIP = plugin.Limit{Count: l.Count, Window: time.Duration(l.Window)}
		}
	}

	// Hooks.
	var updSigner *webhook.Signer
	switch {
	case h.Users == nil && h.Lookup != nil && h.Lookup.URL != "" && h.Update != nil && h.Update.URL != "":
		if updSigner, err = h.lookupAndUpdate(repl, &cfg); err != nil {
			return cfg, err
		}
	case h.Users == nil:
		// Incomplete: Validate names what is missing.
		if h.Lookup != nil {
			cfg.Lookup.URL = h.Lookup.URL
		}
		if h.Update != nil {
			cfg.Update.URL = h.Update.URL
		}
	}
	if cfg.Session, err = h.optionalHook(repl, "session", (*Hook)(sessionHook(h.Session)), updSigner); err != nil {
		return cfg, err
	}
	if h.Session != nil {
		cfg.SessionIDField = h.Session.IDField
	}
	if cfg.Deliver, err = h.optionalHook(repl, "deliver", h.Deliver, updSigner); err != nil {
		return cfg, err
	}
	for i, t := range h.AdminTokens {
		hash, err := resolve(repl, "admin_token", t.Hash)
		if err != nil {
			return cfg, err
		}
		at, err := plugin.ParseAdminToken(hash, t.Scopes)
		if err != nil {
			return cfg, fmt.Errorf("admin_token #%d: %w", i+1, err)
		}
		cfg.AdminTokens = append(cfg.AdminTokens, at)
	}
	cfg.AdminAllowRoles = h.AdminAllowRoles
	if h.Users == nil && h.Update != nil {
		if cfg.Verify, err = h.optionalHook(repl, "verify", h.Verify, updSigner); err != nil {
			return cfg, err
		}
		if cfg.Hasher, err = passhash.New(h.Update.Hash, h.Update.HashCost); err != nil {
			return cfg, fmt.Errorf("update hash: %w", err)
		}
		if p := passhash.Parts(h.Update.Hash); len(p) > 0 {
			return cfg, fmt.Errorf("update hash: format %s stores %s in columns of its own, which an update endpoint cannot receive; use it with a users directory", h.Update.Hash, strings.Join(p, " and "))
		}
	}

	// Policy and limits.
	if h.Policy != nil {
		cfg.Policy = policy.Policy{MinLength: h.Policy.MinLength, MaxLength: h.Policy.MaxLength, ContextWords: h.Policy.ContextWords,
			SkipCommon: h.Policy.SkipCommon, MinScore: h.Policy.MinScore}
		if b := h.Policy.Breached; b != nil {
			u, err := hookURL(repl, "policy breached", b.URL)
			if err != nil {
				return cfg, err
			}
			cfg.Policy.Breached = &policy.BreachedCheck{URL: u, FailOpen: b.FailOpen, Timeout: time.Duration(b.Timeout)}
		}
	}
	if rl := h.RateLimit; rl != nil {
		for _, l := range []struct {
			name string
			in   *Limit
			out  *plugin.Limit
		}{
			{"per_identifier", rl.PerIdentifier, &cfg.PerIdentifier},
			{"per_ip", rl.PerIP, &cfg.PerIP},
			{"mail_budget", rl.MailBudget, &cfg.MailBudget},
			{"account_failures", rl.AccountFailures, &cfg.AccountFailures},
		} {
			if l.in == nil {
				continue
			}
			if l.in.Count < 1 || l.in.Window <= 0 {
				// Kept apart from the engine's zero value, which means
				// "the default".
				return cfg, fmt.Errorf("rate_limit %s needs a count ≥ 1 and a positive window", l.name)
			}
			*l.out = plugin.Limit{Count: l.in.Count, Window: time.Duration(l.in.Window)}
		}
		cfg.MaxCodeAttempts = rl.CodeAttempts
		if err := rl.checkAddressLimits(); err != nil {
			return cfg, err
		}
		cfg.IPv4Prefix, cfg.IPv6Prefix, cfg.QueueSize = rl.IPv4Prefix, rl.IPv6Prefix, rl.QueueSize
	}

	// Every rule, checked before anything connects or touches the disk,
	// so that a refused config leaves no database or key file behind.
	check := cfg
	if h.Users != nil {
		check.Users = usersToOpen{} // opened below, once every rule passed
	}
	if err := check.Validate(); err != nil {
		return cfg, err
	}

	// Mail.
	if h.Email != nil {
		if cfg.Mail, cfg.Templates, err = h.mail(repl); err != nil {
			return cfg, err
		}
	} else {
		h.logger.Warn("no email configured: reset mails are not sent")
	}

	// The user directory, store and key last: they connect and touch
	// the disk.
	if h.Users != nil {
		if cfg.Users, err = h.openUsers(ctx, repl); err != nil {
			return cfg, err
		}
	}
	if cfg.Key, err = h.openStore(ctx, repl); err != nil {
		return cfg, err
	}
	cfg.LocalPerIP = h.localPerIP
	return cfg, nil
}

func (h *Handler) mail(repl *caddy.Replacer) (mailer.Sender, *mailer.Templates, error) {
	e := h.Email
	if e.Transport != "" && e.Transport != "smtp" {
		return nil, nil, fmt.Errorf("email: unknown transport %q (want smtp)", e.Transport)
	}
	user, err := resolve(repl, "email username", e.Username)
	if err != nil {
		return nil, nil, err
	}
	pass, err := resolve(repl, "email password", e.Password)
	if err != nil {
		return nil, nil, err
	}
	from, err := resolve(repl, "email from", e.From)
	if err != nil {
		return nil, nil, err
	}
	addr, err := resolve(repl, "email address", e.Address)
	if err != nil {
		return nil, nil, err
	}
	tmplDir, err := resolve(repl, "email templates", e.Templates)
	if err != nil {
		return nil, nil, err
	}
	s, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: addr, From: from, Username: user, Password: pass, TLS: e.TLS})
	if err != nil {
		return nil, nil, fmt.Errorf("email: %w", err)
	}
	t, err := mailer.LoadTemplates(tmplDir)
	if err != nil {
		return nil, nil, fmt.Errorf("email templates: %w", err)
	}
	return s, t, nil
}

func sessionHook(s *SessionHook) *Hook {
	if s == nil {
		return nil
	}
	return &s.Hook
}

// optionalHook builds a hook that may be absent; its secret defaults to
// the update hook's.
func (h *Handler) optionalHook(repl *caddy.Replacer, name string, hk *Hook, def *webhook.Signer) (plugin.Hook, error) {
	if hk == nil {
		return plugin.Hook{}, nil
	}
	sg := def
	if hk.Secret != "" {
		sec, err := resolve(repl, name+" secret", hk.Secret)
		if err != nil {
			return plugin.Hook{}, err
		}
		if sg, err = signer(name+" secret", sec); err != nil {
			return plugin.Hook{}, err
		}
	}
	u, err := hookURL(repl, name, hk.URL)
	if err != nil {
		return plugin.Hook{}, err
	}
	if hk.Timeout < 0 {
		return plugin.Hook{}, fmt.Errorf("%s timeout must be positive", name)
	}
	tmpl, err := hookTemplate(repl, name, hk.Template)
	if err != nil {
		return plugin.Hook{}, err
	}
	if len(hk.MismatchStatus) > 0 && name != "verify" {
		return plugin.Hook{}, fmt.Errorf("%s: mismatch_status is for the verify hook only", name)
	}
	return plugin.Hook{URL: u, Client: &webhook.Client{Signer: sg, Timeout: time.Duration(hk.Timeout), UserAgent: "resetgate"}, Template: tmpl, MismatchStatus: hk.MismatchStatus}, nil
}

var envFilePlaceholder = regexp.MustCompile(`\{(env|file)\.[^{}]+\}`)

// hookTemplate resolves {env.*} and {file.*} in a template's header values
// (API keys), leaves {password_reset.*} for each call, and validates it.
// Errors name the hook and never a header value.
func hookTemplate(repl *caddy.Replacer, name string, t *hookreq.Template) (*hookreq.Template, error) {
	if t == nil {
		return nil, nil
	}
	out := *t
	if len(t.Headers) > 0 {
		out.Headers = make(map[string]string, len(t.Headers))
		for k, v := range t.Headers {
			// {env.*} and {file.*} must resolve to something, like every
			// other secret; {password_reset.*} stays for each call.
			var err error
			v = envFilePlaceholder.ReplaceAllStringFunc(v, func(ph string) string {
				r, e := repl.ReplaceOrErr(ph, true, true)
				if e != nil && err == nil {
					err = e
				}
				return r
			})
			if err != nil {
				return nil, fmt.Errorf("%s template header %s: %w", name, k, err)
			}
			out.Headers[k] = v
		}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("%s template: %w", name, err)
	}
	return &out, nil
}

// clientIP is Caddy's idea of the client address: the peer, or the
// forwarded address when the peer is a trusted proxy.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return plugin.RemoteIP(r)
}

func resolve(repl *caddy.Replacer, option, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	out, err := repl.ReplaceOrErr(v, true, true)
	if err != nil {
		// The replacer's error names the placeholder, never its value.
		return "", fmt.Errorf("%s: %w", option, err)
	}
	return out, nil
}

func signer(option, secret string) (*webhook.Signer, error) {
	if secret == "" {
		return nil, nil
	}
	s, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", option, err)
	}
	return s, nil
}

func hookURL(repl *caddy.Replacer, option, raw string) (string, error) {
	u, err := resolveKeepingHookPlaceholders(repl, option, raw)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", fmt.Errorf("%s: URL must start with http:// or https://", option)
	}
	return u, nil
}

// Interface guards.
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// usersToOpen stands for a configured user directory in Validate, before
// it is opened.
type usersToOpen struct{ directory.Directory }
