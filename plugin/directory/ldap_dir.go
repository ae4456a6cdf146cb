package directory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
)

// maxIdentifierBytes caps what is sent to the directory: longer
// identifiers find nobody without a search.
const maxIdentifierBytes = 1024

// passwordModifyOID is RFC 3062's Password Modify extended operation.
const passwordModifyOID = "1.3.6.1.4.1.4203.1.11.1"

// ldapDirectory is a Directory in an LDAP server or Active Directory.
type ldapDirectory struct {
	cfg    LDAPConfig
	attrs  map[string]string // field → attribute
	search []string          // attributes requested by Find
	dialer *ldapDialer
	pool   *ldapPool
	logger *zap.Logger

	// hintsMu guards which AD policy-hints control the server supports
	// ("" for none) once the root DSE has been read.
	hintsMu    sync.Mutex
	hintsKnown bool
	hintsOID   string
}

// OpenLDAP prepares the directory: it checks the config, reads ca_file and
// tries the service bind. A directory that is unreachable at start is a
// warning (operations reconnect); a refused service bind is an error.
func OpenLDAP(ctx context.Context, c LDAPConfig, logger *zap.Logger) (Directory, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	dialer, err := newLDAPDialer(&c)
	if err != nil {
		return nil, err
	}
	d := &ldapDirectory{
		cfg:    c,
		attrs:  c.attributes(),
		dialer: dialer,
		pool:   &ldapPool{dialer: dialer, bindDN: c.BindDN, bindPass: c.BindPassword},
		logger: logger,
	}
	for _, f := range ldapFields {
		if a := d.attrs[f]; a != "" {
			d.search = append(d.search, a)
		}
	}
	if c.mode() == ModeActiveDirectory {
		d.search = append(d.search, "userAccountControl")
	}
	err = d.pool.do(ctx, func(*ldap.Conn) error { return nil })
	switch {
	case err == nil:
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		d.pool.close()
		return nil, errors.New("users ldap: the directory refused bind_dn and bind_password")
	default:
		logger.Warn("users ldap: directory unreachable at start; will reconnect on use", zap.Error(err))
	}
	return d, nil
}

// Timeout implements TimeoutReporter: the longest a whole Find,
// CheckPassword or SetPassword may take (a retry on a fresh connection
// included).
func (d *ldapDirectory) Timeout() time.Duration { return 2 * d.dialer.timeout }

// Find implements Directory.
func (d *ldapDirectory) Find(ctx context.Context, identifier string) (User, bool, error) {
	if !plausibleIdentifier(identifier) {
		return User{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout())
	defer cancel()
	// The id attribute matches too: the engine finds a signed-in user by
	// the id the app's session hook returns.
	filter := d.cfg.filterFor(identifier)
	withID := filter
	if byID, err := d.idFilter(identifier); err == nil {
		withID = "(|" + filter + byID + ")"
	}
	res, err := d.searchUsers(ctx, withID)
	if withID != filter && ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidAttributeSyntax, ldap.LDAPResultProtocolError) {
		// A strict server refused the identifier as an id value (say,
		// an e-mail as a UUID): search with the configured filter alone.
		res, err = d.searchUsers(ctx, filter)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || err == nil && len(res.Entries) > 1 {
		d.logger.Error("users ldap: the filter matches more than one entry; nobody is found", zap.String("base_dn", d.cfg.BaseDN))
		return User{}, false, nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("users ldap: search: %w", err)
	}
	if len(res.Entries) == 0 {
		return User{}, false, nil
	}
	e := res.Entries[0]
	if d.cfg.mode() == ModeActiveDirectory && adDisabled(e) {
		return User{}, false, nil
	}
	u := User{
		ID:     d.idOf(e),
		Email:  d.value(e, "email"),
		Name:   d.value(e, "name"),
		Locale: d.value(e, "locale"),
		Role:   d.value(e, "role"),
	}
	if u.ID == "" {
		d.logger.Error("users ldap: the matching entry has no id attribute", zap.String("attribute", d.attrs["id"]))
		return User{}, false, nil
	}
	return u, true, nil
}

// searchUsers runs a Find search: whole subtree, at most 2 entries.
func (d *ldapDirectory) searchUsers(ctx context.Context, filter string) (*ldap.SearchResult, error) {
	req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.dialer.timeout.Seconds()+1), false, filter, d.search, nil)
	var res *ldap.SearchResult
	err := d.pool.do(ctx, func(c *ldap.Conn) (err error) {
		res, err = c.Search(req)
		return err
	})
	return res, err
}

func (d *ldapDirectory) value(e *ldap.Entry, field string) string {
	if a := d.attrs[field]; a != "" {
		return e.GetEqualFoldAttributeValue(a)
	}
	return ""
}

func (d *ldapDirectory) idOf(e *ldap.Entry) string {
	a := d.attrs["id"]
	if isObjectGUID(a) {
		raw := e.GetEqualFoldRawAttributeValue(a)
		if len(raw) != 16 {
			return ""
		}
		return formatGUID(raw)
	}
	return e.GetEqualFoldAttributeValue(a)
}

// idFilter finds an entry by the id Find returned.
func (d *ldapDirectory) idFilter(userID string) (string, error) {
	a := d.attrs["id"]
	if isObjectGUID(a) {
		raw, err := parseGUID(userID)
		if err != nil {
			return "", err
		}
		return "(" + a + "=" + escapeBytes(raw) + ")", nil
	}
	return "(" + a + "=" + ldap.EscapeFilter(userID) + ")", nil
}

// userDN resolves a user id to exactly one DN under base_dn.
func (d *ldapDirectory) userDN(ctx context.Context, userID string) (string, error) {
	if !plausibleIdentifier(userID) {
		return "", errors.New("users ldap: invalid user id")
	}
	filter, err := d.idFilter(userID)
	if err != nil {
		return "", fmt.Errorf("users ldap: user id: %w", err)
	}
	req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.dialer.timeout.Seconds()+1), false, filter, []string{"1.1"}, nil)
	var res *ldap.SearchResult
	err = d.pool.do(ctx, func(c *ldap.Conn) (err error) {
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("users ldap: find user by id: %w", err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("users ldap: %d entries have this user id, want 1", len(res.Entries))
	}
	return res.Entries[0].DN, nil
}

// CheckPassword implements Directory: it binds as the user on a connection
// of its own.
func (d *ldapDirectory) CheckPassword(ctx context.Context, userID, password string) (bool, error) {
	// An empty password would be an unauthenticated bind, which many
	// directories accept for any DN (RFC 4513 section 5.1.2).
	if password == "" {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout())
	defer cancel()
	dn, err := d.userDN(ctx, userID)
	if err != nil {
		return false, err
	}
	c, err := d.dialer.dial(ctx)
	if err != nil {
		return false, fmt.Errorf("users ldap: check password: %w", err)
	}
	defer c.Close()
	err = withContext(ctx, c, func() error { return c.Bind(dn, password) })
	switch {
	case err == nil:
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return false, nil
	}
	return false, fmt.Errorf("users ldap: check password: %w", err)
}

// SetPassword implements Directory.
func (d *ldapDirectory) SetPassword(ctx context.Context, ch Change) error {
	if ch.Password == "" {
		return &PolicyError{Reason: "empty password"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout())
	defer cancel()
	dn, err := d.userDN(ctx, ch.UserID)
	if err != nil {
		return err
	}
	if d.cfg.mode() == ModeActiveDirectory {
		err = d.setUnicodePwd(ctx, dn, ch.Password)
	} else {
		err = d.passwordModify(ctx, dn, ch.Password)
	}
	if err == nil {
		return nil
	}
	if pe := policyError(err); pe != nil {
		return pe
	}
	return fmt.Errorf("users ldap: set password: %w", err)
}

// passwordModify sends RFC 3062's extended operation with the ppolicy
// request control, so a refusal says which rule failed.
func (d *ldapDirectory) passwordModify(ctx context.Context, dn, password string) error {
	val := ber.Encode(ber.ClassContext, ber.TypePrimitive, 1, nil, "Password Modify Request value")
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PasswdModifyRequestValue")
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, dn, "userIdentity"))
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, password, "newPasswd"))
	val.AppendChild(seq)
	req := &ldap.ExtendedRequest{Name: passwordModifyOID, Value: val,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}}
	return d.pool.change(ctx, func(c *ldap.Conn) error {
		_, err := c.Extended(req)
		return err
	})
}

// Close implements Directory.
func (d *ldapDirectory) Close() error {
	d.pool.close()
	return nil
}

// ppolicyErrors names draft-behera's passwordPolicyResponse error values.
var ppolicyErrors = map[int8]string{
	0: "passwordExpired", 1: "accountLocked", 2: "changeAfterReset",
	3: "passwordModNotAllowed", 4: "mustSupplyOldPassword",
	5: "insufficientPasswordQuality", 6: "passwordTooShort",
	7: "passwordTooYoung", 8: "passwordInHistory",
}

// policyError maps the directory's password-policy refusals to a
// *PolicyError, or returns nil. Reasons are fixed names, never the
// directory's text.
func policyError(err error) *PolicyError {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return nil
	}
	if pp := ppolicyResponse(le.Packet); pp != nil {
		switch pp.Error {
		case 5, 6, 7, 8:
			return &PolicyError{Reason: ppolicyErrors[pp.Error]}
		}
	}
	if code := adErrorCode(le); code == adErrPasswordRestriction {
		return &PolicyError{Reason: "Active Directory 0000052D (length, complexity or history)"}
	}
	if le.ResultCode == ldap.LDAPResultConstraintViolation {
		return &PolicyError{Reason: "constraintViolation"}
	}
	return nil
}

// ppolicyResponse finds the password policy response control in an LDAP
// result message, if the server sent one.
func ppolicyResponse(packet *ber.Packet) *ldap.ControlBeheraPasswordPolicy {
	if packet == nil || len(packet.Children) < 3 {
		return nil
	}
	for _, child := range packet.Children[2].Children {
		c, err := ldap.DecodeControl(child)
		if err != nil {
			continue
		}
		if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok && pp.Error >= 0 {
			return pp
		}
	}
	return nil
}

// plausibleIdentifier is false for what no account is called: empty,
// over maxIdentifierBytes, invalid UTF-8, or holding control characters.
// Such values are not sent to the directory at all: Samba, for one, ends a
// filter value at an escaped NUL, so "alice\x00junk" would find alice.
func plausibleIdentifier(s string) bool {
	if s == "" || len(s) > maxIdentifierBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// escapeBytes writes binary as a filter value: every byte \xx.
func escapeBytes(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 3*len(b))
	for _, c := range b {
		out = append(out, '\\', hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// adDisabled reports ACCOUNTDISABLE (0x2) in userAccountControl.
func adDisabled(e *ldap.Entry) bool {
	v := e.GetEqualFoldAttributeValue("userAccountControl")
	if v == "" {
		return false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n&2 != 0
}

// Interface guards.
var (
	_ Directory       = (*ldapDirectory)(nil)
	_ TimeoutReporter = (*ldapDirectory)(nil)
)
