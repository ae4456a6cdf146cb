package directory

import (
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

func validLDAP() LDAPConfig {
	return LDAPConfig{
		URL:          "ldaps://ldap.example.com",
		BindDN:       "cn=resetgate,ou=services,dc=example,dc=com",
		BindPassword: "bind-secret-2231",
		BaseDN:       "ou=people,dc=example,dc=com",
		Filter:       "(|(mail={identifier})(uid={identifier}))",
	}
}

// TestLDAPConfigValidate: each bad config is refused with an error naming
// the option, never echoing the bind password.
func TestLDAPConfigValidate(t *testing.T) {
	if err := (&LDAPConfig{}).Validate(); err == nil {
		t.Fatal("an empty config passed")
	}
	ok := validLDAP()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*LDAPConfig)
		want   string
	}{
		{"no url", func(c *LDAPConfig) { c.URL = "" }, "url"},
		{"http url", func(c *LDAPConfig) { c.URL = "http://ldap.example.com" }, "url"},
		{"url with credentials", func(c *LDAPConfig) { c.URL = "ldaps://cn=x:bind-secret-2231@ldap.example.com" }, "url"},
		{"url with a path", func(c *LDAPConfig) { c.URL = "ldaps://ldap.example.com/dc=example" }, "url"},
		{"plain ldap to a remote host", func(c *LDAPConfig) { c.URL = "ldap://ldap.example.com" }, "ldaps"},
		{"plain ldap to a remote IP", func(c *LDAPConfig) { c.URL = "ldap://10.0.0.5:389" }, "start_tls"},
		{"start_tls with ldaps", func(c *LDAPConfig) { c.StartTLS = true }, "start_tls"},
		{"active_directory in clear on loopback", func(c *LDAPConfig) { c.URL, c.Mode = "ldap://127.0.0.1", ModeActiveDirectory }, "active_directory"},
		{"unknown mode", func(c *LDAPConfig) { c.Mode = "samba" }, "mode"},
		{"no bind_dn", func(c *LDAPConfig) { c.BindDN = "" }, "bind_dn"},
		{"bad bind_dn", func(c *LDAPConfig) { c.BindDN = "bind-secret-2231" }, "bind_dn"},
		{"no bind_password", func(c *LDAPConfig) { c.BindPassword = "" }, "bind_password"},
		{"no base_dn", func(c *LDAPConfig) { c.BaseDN = "" }, "base_dn"},
		{"filter without identifier", func(c *LDAPConfig) { c.Filter = "(uid=alice)" }, "{identifier}"},
		{"broken filter", func(c *LDAPConfig) { c.Filter = "(uid={identifier}" }, "filter"},
		{"unknown attribute field", func(c *LDAPConfig) { c.Attributes = map[string]string{"phone": "mobile"} }, "attributes"},
		{"attribute that is a filter", func(c *LDAPConfig) { c.Attributes = map[string]string{"id": "uid)(x=*"} }, "attributes"},
		{"empty id attribute", func(c *LDAPConfig) { c.Attributes = map[string]string{"id": ""} }, "id"},
		{"negative timeout", func(c *LDAPConfig) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validLDAP()
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "bind-secret-2231") {
				t.Errorf("error echoes the bind password: %q", err)
			}
		})
	}
	for _, u := range []string{"ldap://127.0.0.1:3389", "ldap://localhost", "ldap://[::1]:389"} {
		c := validLDAP()
		c.URL = u
		if err := c.Validate(); err != nil {
			t.Errorf("plain ldap:// to loopback %s refused: %v", u, err)
		}
	}
	c := validLDAP()
	c.URL, c.StartTLS = "ldap://ldap.example.com", true
	if err := c.Validate(); err != nil {
		t.Errorf("ldap:// with start_tls refused: %v", err)
	}
}

// TestLDAPFilterEscaping: the identifier is escaped per RFC 4515.
func TestLDAPFilterEscaping(t *testing.T) {
	c := validLDAP()
	got := c.filterFor("*)(uid=*))(|(uid=*\x00\\")
	want := `(|(mail=\2a\29\28uid=\2a\29\29\28|\28uid=\2a\00\5c)(uid=\2a\29\28uid=\2a\29\29\28|\28uid=\2a\00\5c))`
	if got != want {
		t.Errorf("filterFor = %s\nwant        %s", got, want)
	}
}

// TestUnicodePwdAndGUID: AD encodings round-trip.
func TestUnicodePwdAndGUID(t *testing.T) {
	if got := unicodePwd("pé"); got != "\"\x00p\x00\xe9\x00\"\x00" {
		t.Errorf("unicodePwd = %q", got)
	}
	raw := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	s := formatGUID(raw)
	if s != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Errorf("formatGUID = %s", s)
	}
	back, err := parseGUID(s)
	if err != nil || string(back) != string(raw) {
		t.Errorf("parseGUID = %x, %v", back, err)
	}
	if _, err := parseGUID("*)(objectGUID=*"); err == nil {
		t.Error("parseGUID accepted a filter")
	}
}

// TestPolicyHintsControlEncoding: the control AD reads (MS-ADTS
// LDAP_SERVER_POLICY_HINTS_OID): critical, value SEQUENCE { INTEGER 1 }.
// Samba does not implement it, so its bytes are pinned here.
func TestPolicyHintsControlEncoding(t *testing.T) {
	p := ber.DecodePacket(policyHintsControl{oid: oidPolicyHints}.Encode().Bytes())
	if len(p.Children) != 3 {
		t.Fatalf("control has %d parts, want type, criticality, value", len(p.Children))
	}
	if got := p.Children[0].Value; got != "1.2.840.113556.1.4.2239" {
		t.Errorf("control type %v", got)
	}
	if got := p.Children[1].Value; got != true {
		t.Errorf("criticality %v, want true", got)
	}
	if got := p.Children[2].Data.Bytes(); string(got) != "\x30\x03\x02\x01\x01" {
		t.Errorf("control value % x, want 30 03 02 01 01", got)
	}
}
