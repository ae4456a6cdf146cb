package plugin

import "github.com/resetgate/resetgate/plugin/webhook"

// Config checks the options (Validate) and builds the engine's Config from
// them: the hooks with their signing clients, the password hasher, the
// admin tokens, limits, passkey and policy and, with email, the mailer and
// its templates (read from disk). The caller adds what needs the host: the
// key, the opened user directory, the observer, the client address. The
// defaults are filled by New.
func (o *Options) Config() (Config, error) {
	cfg, err := o.check()
	if err != nil {
		return Config{}, err
	}
	if o.Email != nil {
		if cfg.Mail, cfg.Templates, err = o.Email.Build(); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// config builds the Config without touching the disk.
func (o *Options) config() (Config, error) {
	cfg := Config{
		Options:         *o,
		Prefix:          o.Prefix,
		BaseURL:         o.BaseURL,
		SiteName:        o.SiteName,
		SupportContact:  o.Support,
		TokenTTL:        o.TokenTTL.D(),
		CodeTTL:         o.CodeTTL.D(),
		RevokeTTL:       o.RevokeTTL.D(),
		Methods:         o.Methods,
		LinkPath:        o.LinkPath,
		RequirePasskey:  o.RequirePasskey,
		PowDifficulty:   o.Pow,
		AdminAllowRoles: o.AdminAllowRoles,
	}
	if o.Theme != nil {
		cfg.Pages = *o.Theme
	}
	if err := o.hooks(&cfg); err != nil {
		return cfg, err
	}
	for _, t := range o.AdminTokens {
		at, err := ParseAdminToken(t.Hash, t.Scopes)
		if err != nil {
			return cfg, err
		}
		cfg.AdminTokens = append(cfg.AdminTokens, at)
	}
	if p := o.Passkey; p != nil {
		cfg.Passkey = &PasskeyConfig{RPID: p.RPID, RPName: p.RPName, Origins: p.Origins, RemoveOnReset: p.RemoveOnReset,
			CeremoniesPerIP: p.CeremoniesPerIP.limit(), CeremoniesPerFlow: p.CeremoniesPerFlow, MaxCeremonies: p.MaxCeremonies}
	}
	if o.Policy != nil {
		cfg.Policy = *o.Policy
		if b := o.Policy.Breached; b != nil {
			bc := *b
			cfg.Policy.Breached = &bc
		}
	}
	if rl := o.RateLimit; rl != nil {
		cfg.PerIdentifier, cfg.PerIP = rl.PerIdentifier.limit(), rl.PerIP.limit()
		cfg.MailBudget, cfg.AccountFailures = rl.MailBudget.limit(), rl.AccountFailures.limit()
		cfg.MaxCodeAttempts = rl.CodeAttempts
		cfg.IPv4Prefix, cfg.IPv6Prefix, cfg.QueueSize = rl.IPv4Prefix, rl.IPv6Prefix, rl.QueueSize
	}
	return cfg, nil
}

// hooks builds the upstream hooks. A hook without its own secret signs
// with the update hook's.
func (o *Options) hooks(cfg *Config) error {
	var upd *webhook.Signer
	if o.Update != nil {
		var err error
		if upd, err = o.Update.signer("update"); err != nil {
			return err
		}
		if o.Update.URL != "" && o.Users == nil {
			if cfg.Hasher, err = o.Update.hasher(); err != nil {
				return err
			}
		}
	}
	for _, h := range []struct {
		name string
		in   *HookOptions
		out  *Hook
	}{
		{"lookup", o.Lookup, &cfg.Lookup}, {"update", o.Update.hook(), &cfg.Update}, {"verify", o.Verify, &cfg.Verify},
		{"session", o.Session.hook(), &cfg.Session}, {"deliver", o.Deliver, &cfg.Deliver},
	} {
		if h.in == nil {
			continue
		}
		sg, err := h.in.signer(h.name)
		if err != nil {
			return err
		}
		if sg == nil {
			sg = upd
		}
		*h.out = Hook{URL: h.in.URL, Client: &webhook.Client{Signer: sg, Timeout: h.in.Timeout.D(), UserAgent: "resetgate"},
			Template: h.in.Template, MismatchStatus: h.in.MismatchStatus}
	}
	if o.Session != nil {
		cfg.SessionIDField = o.Session.IDField
	}
	return nil
}

func (s *SessionHookOptions) hook() *HookOptions {
	if s == nil {
		return nil
	}
	return &s.HookOptions
}

func (u *UpdateHookOptions) hook() *HookOptions {
	if u == nil {
		return nil
	}
	return &u.HookOptions
}
