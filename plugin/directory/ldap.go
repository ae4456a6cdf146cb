package directory

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAP modes: how a new password is written.
const (
	// ModePasswordModify uses the RFC 3062 Password Modify extended
	// operation: the directory hashes the password and applies its own
	// password policy (OpenLDAP, 389-ds, most others).
	ModePasswordModify = "password_modify"
	// ModeActiveDirectory replaces unicodePwd with the UTF-16LE quoted
	// password, over TLS (Active Directory, Samba AD).
	ModeActiveDirectory = "active_directory"
)

// identifierPlaceholder is what the filter's value is written as.
const identifierPlaceholder = "{identifier}"

// defaultLDAPTimeout bounds each directory operation.
const defaultLDAPTimeout = 5 * time.Second

// LDAPConfig is `users ldap <url> { … }`: users live in an LDAP directory
// (OpenLDAP and the like, mode password_modify) or in Active Directory
// (mode active_directory). resetgate binds as a service account to find
// users and reset their passwords, and binds as the user to check a
// current password.
type LDAPConfig struct {
	// The directory's address: ldaps://host[:port] or ldap://host[:port].
	// Plain ldap:// to a host other than loopback needs start_tls.
	// Required.
	URL string `json:"url"`

	// The service account's DN, used for searches and password resets.
	// Required.
	BindDN string `json:"bind_dn"`

	// The service account's password; write it as a placeholder such as
	// {env.LDAP_BIND_PASSWORD}. It never appears in a log line or an
	// error. Required.
	BindPassword string `json:"bind_password"`

	// Where users are searched (scope: whole subtree). Required.
	BaseDN string `json:"base_dn"`

	// The search filter; {identifier} stands for what the user typed, and
	// is escaped per RFC 4515, never spliced in raw. Exactly one entry
	// must match, otherwise nobody is found. Required; must contain
	// {identifier}. Example: (|(mail={identifier})(uid={identifier})).
	Filter string `json:"filter"`

	// Which LDAP attribute fills each user field: keys id, email, name,
	// locale, role. Default: id=entryUUID (objectGUID in
	// active_directory mode) email=mail name=cn locale=preferredLanguage
	// role=employeeType. The id attribute must be unique and stable: it
	// is how the user is found again when the password is set, and a user
	// is also found by it (the signed-in change looks up the id the app's
	// session hook returns).
	Attributes map[string]string `json:"attributes,omitempty"`

	// How a new password is written: password_modify (RFC 3062, the
	// directory hashes it and applies its password policy) or
	// active_directory (unicodePwd, needs ldaps:// or start_tls).
	// Default: password_modify.
	Mode string `json:"mode,omitempty"`

	// Upgrade an ldap:// connection with StartTLS before binding.
	// Default: false.
	StartTLS bool `json:"start_tls,omitempty"`

	// A PEM file of CA certificates to trust for the directory's TLS
	// certificate. Default: the system's roots.
	CAFile string `json:"ca_file,omitempty"`

	// How long one directory operation (connect, bind, search, modify)
	// may take; a whole find or reset takes at most twice this. Default:
	// 5s.
	Timeout Duration `json:"timeout,omitempty"`
}

// ldapFields are the user fields an attribute can fill.
var ldapFields = []string{"id", "email", "name", "locale", "role"}

// attributes returns the field → attribute map with the defaults filled in.
func (c *LDAPConfig) attributes() map[string]string {
	m := map[string]string{
		"id":     "entryUUID",
		"email":  "mail",
		"name":   "cn",
		"locale": "preferredLanguage",
		"role":   "employeeType",
	}
	if c.mode() == ModeActiveDirectory {
		m["id"] = "objectGUID"
	}
	for k, v := range c.Attributes {
		m[k] = v
	}
	return m
}

func (c *LDAPConfig) mode() string {
	if c.Mode == "" {
		return ModePasswordModify
	}
	return c.Mode
}

func (c *LDAPConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultLDAPTimeout
	}
	return time.Duration(c.Timeout)
}

// Validate checks the config without connecting anywhere. Its errors name
// the option and never echo the bind password.
func (c *LDAPConfig) Validate() error {
	u, err := c.parseURL()
	if err != nil {
		return err
	}
	mode := c.mode()
	if mode != ModePasswordModify && mode != ModeActiveDirectory {
		return errors.New("users ldap: mode must be password_modify or active_directory")
	}
	if c.StartTLS && u.Scheme == "ldaps" {
		return errors.New("users ldap: start_tls is for ldap:// URLs; ldaps:// is already TLS")
	}
	if u.Scheme == "ldap" && !c.StartTLS {
		if mode == ModeActiveDirectory {
			return errors.New("users ldap: mode active_directory needs TLS: use an ldaps:// url or start_tls")
		}
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("users ldap: plain ldap:// to a host other than loopback would send passwords in clear; use an ldaps:// url or start_tls")
		}
	}
	if strings.TrimSpace(c.BindDN) == "" {
		return errors.New("users ldap: bind_dn is required")
	}
	if _, err := ldap.ParseDN(c.BindDN); err != nil {
		return errors.New("users ldap: bind_dn is not a valid DN")
	}
	if c.BindPassword == "" {
		return errors.New("users ldap: bind_password is required")
	}
	if strings.TrimSpace(c.BaseDN) == "" {
		return errors.New("users ldap: base_dn is required")
	}
	if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		return errors.New("users ldap: base_dn is not a valid DN")
	}
	if !strings.Contains(c.Filter, identifierPlaceholder) {
		return errors.New("users ldap: filter must contain {identifier}")
	}
	if _, err := ldap.CompileFilter(c.filterFor("x")); err != nil {
		return fmt.Errorf("users ldap: filter is not a valid LDAP filter: %w", err)
	}
	for k, v := range c.Attributes {
		if !isLDAPField(k) {
			return fmt.Errorf("users ldap: attributes: unknown field %q (known: %s)", k, strings.Join(ldapFields, ", "))
		}
		if !isAttributeName(v) {
			return fmt.Errorf("users ldap: attributes: %s must name an LDAP attribute", k)
		}
	}
	if c.attributes()["id"] == "" {
		return errors.New("users ldap: attributes: id is required")
	}
	if c.Timeout < 0 {
		return errors.New("users ldap: timeout must not be negative")
	}
	return nil
}

// parseURL checks url. Its errors do not echo the URL (a misplaced secret
// could sit there).
func (c *LDAPConfig) parseURL() (*url.URL, error) {
	if c.URL == "" {
		return nil, errors.New("users ldap: url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, errors.New("users ldap: url is not a valid URL")
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return nil, errors.New("users ldap: url must start with ldap:// or ldaps://")
	}
	if u.User != nil {
		return nil, errors.New("users ldap: url must not carry credentials; use bind_dn and bind_password")
	}
	if u.Hostname() == "" {
		return nil, errors.New("users ldap: url needs a host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("users ldap: url must be only scheme, host and port; use base_dn and filter for the rest")
	}
	return u, nil
}

// filterFor is the filter with the identifier escaped per RFC 4515.
func (c *LDAPConfig) filterFor(identifier string) string {
	return strings.ReplaceAll(c.Filter, identifierPlaceholder, ldap.EscapeFilter(identifier))
}

func isLDAPField(k string) bool {
	for _, f := range ldapFields {
		if f == k {
			return true
		}
	}
	return false
}

// isAttributeName accepts an attribute description (name or OID, with
// options such as ;lang-en), and nothing that could change a filter.
func isAttributeName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == ';':
		default:
			return false
		}
	}
	return true
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
