package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/passhash"
	"github.com/resetgate/resetgate/plugin/webhook"
	"github.com/resetgate/resetgate/store"
)

// Validate checks every option, before anything connects or touches the
// disk: each part's own Validate, then the Config built from them (see
// Config.Validate), so a rule cannot differ between the Caddy module and a
// Go caller of New. Placeholders must be resolved first. Errors name the
// option and never echo a secret.
func (o *Options) Validate() error {
	_, err := o.check()
	return err
}

// check is Validate returning the Config it built and checked (without the
// mailer, and with no user directory).
func (o *Options) check() (Config, error) {
	if o.Users != nil {
		if err := o.usersAlone(); err != nil {
			return Config{}, err
		}
		if err := o.Users.Validate(); err != nil {
			return Config{}, err
		}
	}
	if err := o.Storage.Validate(); err != nil {
		return Config{}, err
	}
	if o.Storage.BackendName() == store.BackendRedis && o.Key == "" {
		return Config{}, errors.New("storage redis needs an explicit key (every instance must share it; use {env.RESETGATE_KEY})")
	}
	if o.Key != "" {
		if err := CheckKeyLength(len(o.Key)); err != nil {
			return Config{}, fmt.Errorf("key %w", err)
		}
	}
	for _, h := range []struct {
		name string
		h    *HookOptions
	}{{"lookup", o.Lookup}, {"verify", o.Verify}, {"session", o.Session.hook()}, {"deliver", o.Deliver}} {
		if h.h != nil {
			if err := h.h.Validate(h.name); err != nil {
				return Config{}, err
			}
		}
	}
	if o.Update != nil {
		if err := o.Update.Validate(); err != nil {
			return Config{}, err
		}
	}
	if o.Theme != nil {
		if err := o.Theme.Validate(); err != nil {
			return Config{}, err
		}
	}
	for i, t := range o.AdminTokens {
		if err := t.Validate(); err != nil {
			return Config{}, fmt.Errorf("admin_token #%d: %w", i+1, err)
		}
	}
	if o.Passkey != nil {
		if err := o.Passkey.Validate(); err != nil {
			return Config{}, err
		}
	}
	if o.RateLimit != nil {
		if err := o.RateLimit.Validate(); err != nil {
			return Config{}, err
		}
	}
	cfg, err := o.config()
	if err != nil {
		return Config{}, err
	}
	if o.Users != nil {
		cfg.Users = usersToOpen{} // opened by the caller once every rule passed
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	if o.Email != nil {
		if err := o.Email.Validate(); err != nil {
			return Config{}, err
		}
	}
	cfg.Users = nil
	return cfg, nil
}

// usersToOpen stands for a configured user directory in Validate, before
// it is opened.
type usersToOpen struct{ directory.Directory }

// usersAlone refuses a config that has both users and the hooks it
// replaces, naming them.
func (o *Options) usersAlone() error {
	return usersReplaceHooks(o.Lookup != nil, o.Update != nil, o.Verify != nil)
}

// usersReplaceHooks is the rule that users and the hooks it replaces do
// not go together; its error names the hooks to remove.
func usersReplaceHooks(lookup, update, verify bool) error {
	var both []string
	for _, h := range []struct {
		name string
		set  bool
	}{{"lookup", lookup}, {"update", update}, {"verify", verify}} {
		if h.set {
			both = append(both, h.name)
		}
	}
	if len(both) > 0 {
		return fmt.Errorf("users replaces lookup, update and verify: remove %s, or remove users", strings.Join(both, ", "))
	}
	return nil
}

// Validate checks the hook; option is its name in errors ("lookup",
// "update", …). A missing URL is left to Config.Validate, which says the
// hook is required, and so is a negative timeout.
func (h *HookOptions) Validate(option string) error {
	if h.URL != "" && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
		return fmt.Errorf("%s: URL must start with http:// or https://", option)
	}
	if hookreq.HasURLPlaceholders(h.URL) {
		if err := hookreq.ValidateURL(h.URL); err != nil {
			return fmt.Errorf("%s: %w", option, err)
		}
	}
	if _, err := h.signer(option); err != nil {
		return err
	}
	if h.Template != nil {
		if err := h.Template.Validate(); err != nil {
			return fmt.Errorf("%s template: %w", option, err)
		}
	}
	if len(h.MismatchStatus) > 0 && option != "verify" {
		return fmt.Errorf("%s: mismatch_status is for the verify hook only", option)
	}
	return nil
}

// signer parses the hook's secret; nil when it has none.
func (h *HookOptions) signer(option string) (*webhook.Signer, error) {
	if h == nil || h.Secret == "" {
		return nil, nil
	}
	s, err := webhook.ParseSecret(h.Secret)
	if err != nil {
		return nil, fmt.Errorf("%s secret: %w", option, err)
	}
	return s, nil
}

// Validate checks the update hook and its hash format.
func (u *UpdateHookOptions) Validate() error {
	if err := u.HookOptions.Validate("update"); err != nil {
		return err
	}
	_, err := u.hasher()
	return err
}

func (u *UpdateHookOptions) hasher() (passhash.Hasher, error) {
	hs, err := CheckUpdateHash(u.Hash, u.HashCost)
	if err != nil {
		return nil, fmt.Errorf("update hash: %w", err)
	}
	return hs, nil
}

// CheckUpdateHash returns the hasher of an update hook's hash format and
// cost; formats that keep a salt in a column of their own are refused, as
// an endpoint receives one value.
func CheckUpdateHash(format string, cost int) (passhash.Hasher, error) {
	hs, err := passhash.New(format, cost)
	if err != nil {
		return nil, err
	}
	if p := passhash.Parts(format); len(p) > 0 {
		return nil, fmt.Errorf("format %s stores %s in columns of its own, which an update endpoint cannot receive; use it with a users directory", format, strings.Join(p, " and "))
	}
	return hs, nil
}

// Validate checks the hash and the scopes.
func (t *AdminTokenOptions) Validate() error {
	_, err := ParseAdminToken(t.Hash, t.Scopes)
	return err
}

// Validate checks the per-address ceremony limit (the rest in
// Config.Validate).
func (p *PasskeyOptions) Validate() error {
	if l := p.CeremoniesPerIP; l != nil {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("passkey ceremonies_per_ip %w", err)
		}
	}
	return nil
}

// Validate checks a configured limit: unlike the engine's zero Limit, which
// means "the default", a limit that is written must count something.
func (l *LimitOptions) Validate() error {
	return l.limit().Validate()
}

func (l *LimitOptions) limit() Limit {
	if l == nil {
		return Limit{}
	}
	return Limit{Count: l.Count, Window: l.Window.D()}
}

// Validate reports whether the limit counts something: a count of at least
// 1 in a positive window.
func (l Limit) Validate() error {
	if l.Count < 1 || l.Window <= 0 {
		return errors.New("needs a count ≥ 1 and a positive window")
	}
	return nil
}

// addressLimitRanges are the accepted values of the rate_limit options
// that shape the per-IP limit and the request queue (0: the default).
var addressLimitRanges = map[string][2]int{
	"ipv4_prefix": {1, 32},
	"ipv6_prefix": {1, 128},
	"queue_size":  {1, 1 << 20},
}

// CheckAddressLimit reports whether v fits the rate_limit option opt
// (ipv4_prefix, ipv6_prefix or queue_size).
func CheckAddressLimit(opt string, v int) error {
	if r := addressLimitRanges[opt]; v < r[0] || v > r[1] {
		return fmt.Errorf("must be between %d and %d, got %d", r[0], r[1], v)
	}
	return nil
}

// Validate checks the limits and the address options; errors start with
// "rate_limit <name>". code_attempts is checked by Config.Validate.
func (rl *RateLimitOptions) Validate() error {
	for _, l := range []struct {
		name string
		l    *LimitOptions
	}{{"per_identifier", rl.PerIdentifier}, {"per_ip", rl.PerIP}, {"mail_budget", rl.MailBudget}, {"account_failures", rl.AccountFailures}} {
		if l.l == nil {
			continue
		}
		if err := l.l.Validate(); err != nil {
			return fmt.Errorf("rate_limit %s %w", l.name, err)
		}
	}
	for _, o := range []struct {
		name string
		v    int
	}{{"ipv4_prefix", rl.IPv4Prefix}, {"ipv6_prefix", rl.IPv6Prefix}, {"queue_size", rl.QueueSize}} {
		if o.v == 0 {
			continue
		}
		if err := CheckAddressLimit(o.name, o.v); err != nil {
			return fmt.Errorf("rate_limit %s %w", o.name, err)
		}
	}
	return nil
}

// Validate checks the theme; errors name the option ("theme color: …").
func (o *PageOptions) Validate() error {
	for _, c := range []struct{ name, v string }{{"color", o.Color}, {"accent", o.Accent}} {
		if c.v == "" {
			continue
		}
		if err := CheckColor(c.v); err != nil {
			return fmt.Errorf("theme %s: %w", c.name, err)
		}
	}
	if err := CheckLogo(o.Logo); err != nil {
		return fmt.Errorf("theme logo: %w", err)
	}
	return nil
}

// CheckLogo reports whether logo is an http(s) URL or a file path (not
// another scheme, such as javascript:).
func CheckLogo(logo string) error {
	if strings.Contains(logo, "://") && !strings.HasPrefix(logo, "https://") && !strings.HasPrefix(logo, "http://") {
		return fmt.Errorf("'%s' is neither an http(s) URL nor a file path", logo)
	}
	return nil
}
