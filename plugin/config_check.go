package plugin

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Validate checks the configuration the way an operator wrote it, before
// defaults are filled and before anything connects or touches the disk.
// Every rule on the built config lives here (or in the Validate of the
// part it belongs to: policy.Policy, the hook templates); what only the
// written options show (a limit written as zero, an unknown backend) is in
// the Validate of each part of Options (options_check.go).
// Options.Validate calls this for the Caddy module, and New calls it
// again, so a rule cannot differ between the two. Errors name the option
// and never echo a secret.
func (c *Config) Validate() error {
	if c.BaseURL == "" {
		return errors.New("base_url is required")
	}
	if err := CheckBaseURL(c.BaseURL); err != nil {
		return err
	}
	if err := CheckPrefix(c.Prefix); err != nil {
		return err
	}
	if c.LinkPath != "" {
		if err := CheckPrefix(c.LinkPath); err != nil {
			return fmt.Errorf("link_path: %w", err)
		}
	}
	if c.Users != nil {
		if err := usersReplaceHooks(c.Lookup.URL != "", c.Update.URL != "", c.Verify.URL != ""); err != nil {
			return err
		}
	}
	switch {
	case c.Users == nil && c.Lookup.URL == "":
		return errors.New("lookup is required")
	case c.Users == nil && c.Update.URL == "":
		return errors.New("update is required")
	}
	for name, d := range map[string]time.Duration{"token_ttl": c.TokenTTL, "code_ttl": c.CodeTTL, "revoke_ttl": c.RevokeTTL} {
		if d < 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	for name, h := range map[string]Hook{"lookup": c.Lookup, "update": c.Update, "verify": c.Verify, "session": c.Session, "deliver": c.Deliver} {
		if h.Client != nil && h.Client.Timeout < 0 {
			return fmt.Errorf("%s timeout must be positive", name)
		}
	}
	if err := CheckMethods(c.Methods); err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	if err := CheckPowDifficulty(c.PowDifficulty); err != nil {
		return err
	}
	if err := CheckCodeAttempts(c.MaxCodeAttempts); err != nil {
		return fmt.Errorf("rate_limit code_attempts %w", err)
	}
	for name, l := range map[string]Limit{"per_identifier": c.PerIdentifier, "per_ip": c.PerIP, "mail_budget": c.MailBudget, "account_failures": c.AccountFailures} {
		if l == (Limit{}) {
			continue // the default
		}
		if err := l.Validate(); err != nil {
			return fmt.Errorf("rate_limit %s %w", name, err)
		}
	}
	if p := c.Passkey; p != nil && (p.CeremoniesPerFlow < 0 || p.MaxCeremonies < 0) {
		return errors.New("passkey: ceremonies_per_flow and max_ceremonies must not be negative")
	}
	if c.Passkey == nil && (slices.Contains(c.Methods, MethodPasskey) || c.RequirePasskey) {
		return errors.New("methods passkey and require_passkey need a passkey block")
	}
	pol := c.Policy
	pol.Defaults()
	if err := pol.Validate(); err != nil {
		return fmt.Errorf("policy %w", err)
	}
	return nil
}

// CheckMethods reports whether every proof method is known (link, code,
// passkey). Empty means the default, link and code.
func CheckMethods(ms []string) error {
	for _, m := range ms {
		if !slices.Contains([]string{MethodLink, MethodCode, MethodPasskey}, m) {
			return fmt.Errorf("unknown method '%s' (want link, code, passkey)", m)
		}
	}
	return nil
}

// MaxCodeAttemptsLimit is the most wrong codes a flow may allow.
const MaxCodeAttemptsLimit = 10

// CheckCodeAttempts reports whether n can serve as code_attempts: 1 to 10,
// or 0 for the default (5).
func CheckCodeAttempts(n int) error {
	if n < 0 || n > MaxCodeAttemptsLimit {
		return fmt.Errorf("must be between 1 and %d, got %d", MaxCodeAttemptsLimit, n)
	}
	return nil
}

// siteFromURL is the default site name: base_url's host, without port.
func siteFromURL(base string) string {
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "your account"
}
