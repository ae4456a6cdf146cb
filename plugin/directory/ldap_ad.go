package directory

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Active Directory's password-policy hints controls: with either one, an
// administrative reset is held to the same history, length and complexity
// rules as a user's own change (MS-ADTS 3.1.1.3.4.1.37 and .1.1.4.2239).
const (
	oidPolicyHints           = "1.2.840.113556.1.4.2239"
	oidPolicyHintsDeprecated = "1.2.840.113556.1.4.2066"
)

// adErrPasswordRestriction is Windows' ERROR_PASSWORD_RESTRICTION as AD
// writes it in a diagnostic message: the password breaks the domain's
// length, complexity or history rules.
const adErrPasswordRestriction = "0000052D"

// setUnicodePwd replaces unicodePwd: AD's way for an administrator to set a
// password (MS-ADTS 3.1.1.3.1.5.2). It needs a TLS connection.
func (d *ldapDirectory) setUnicodePwd(ctx context.Context, dn, password string) error {
	oid, err := d.policyHintsOID(ctx)
	if err != nil {
		return err
	}
	var controls []ldap.Control
	if oid != "" {
		controls = append(controls, policyHintsControl{oid: oid})
	}
	req := ldap.NewModifyRequest(dn, controls)
	req.Replace("unicodePwd", []string{unicodePwd(password)})
	return d.pool.change(ctx, func(c *ldap.Conn) error { return c.Modify(req) })
}

// policyHintsOID reads the root DSE's supportedControl once and picks the
// policy-hints control the server knows ("" when it knows neither).
func (d *ldapDirectory) policyHintsOID(ctx context.Context) (string, error) {
	d.hintsMu.Lock()
	defer d.hintsMu.Unlock()
	if d.hintsKnown {
		return d.hintsOID, nil
	}
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"supportedControl"}, nil)
	var res *ldap.SearchResult
	err := d.pool.do(ctx, func(c *ldap.Conn) (err error) {
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("users ldap: read the root DSE: %w", err)
	}
	oid := ""
	if len(res.Entries) == 1 {
		for _, v := range res.Entries[0].GetEqualFoldAttributeValues("supportedControl") {
			if v == oidPolicyHints {
				oid = v
				break
			}
			if v == oidPolicyHintsDeprecated {
				oid = v
			}
		}
	}
	d.hintsOID, d.hintsKnown = oid, true
	return oid, nil
}

// unicodePwd encodes a password as AD wants it: in double quotes, UTF-16LE.
func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// policyHintsControl is LDAP_SERVER_POLICY_HINTS_OID (or its deprecated
// twin) with flags 1: enforce the password policy on this reset.
type policyHintsControl struct{ oid string }

// GetControlType implements ldap.Control.
func (c policyHintsControl) GetControlType() string { return c.oid }

// Encode implements ldap.Control: Control ::= SEQUENCE { controlType,
// criticality TRUE, controlValue OCTET STRING (SEQUENCE { Flags INTEGER 1 }) }.
func (c policyHintsControl) Encode() *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, c.oid, "Control Type (policy hints)"))
	p.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	val := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value")
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "PolicyHintsRequestValue")
	seq.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "Flags"))
	val.AppendChild(seq)
	p.AppendChild(val)
	return p
}

// String implements ldap.Control.
func (c policyHintsControl) String() string {
	return "Control Type: password policy hints (" + c.oid + ") Criticality: true Flags: 1"
}

// adErrorCode is the 8-hex-digit Windows error at the start of an AD
// diagnostic message ("0000052D: Constraint violation - …"), or "".
func adErrorCode(le *ldap.Error) string {
	if le.Err == nil {
		return ""
	}
	msg := le.Err.Error()
	if len(msg) >= 8 && (len(msg) == 8 || msg[8] == ':') {
		if _, err := hex.DecodeString(msg[:8]); err == nil {
			return strings.ToUpper(msg[:8])
		}
	}
	return ""
}

// isObjectGUID is true for AD's binary objectGUID attribute, which Find
// turns into the usual GUID text and back.
func isObjectGUID(attr string) bool { return strings.EqualFold(attr, "objectGUID") }

// formatGUID writes a 16-byte objectGUID as text
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; the first three groups are
// little-endian on the wire).
func formatGUID(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// parseGUID reverses formatGUID.
func parseGUID(s string) ([]byte, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, errors.New("not a GUID")
	}
	h, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return nil, errors.New("not a GUID")
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(h[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(h[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(h[6:8]))
	copy(b[8:], h[8:])
	return b, nil
}
