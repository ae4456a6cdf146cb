// Package hookreq shapes resetgate's upstream hook calls with request
// templates, so that a hook can fit a legacy endpoint that already exists
// (its method, content type, field names, headers and answer layout)
// instead of resetgate's own JSON contract.
//
// A template value may hold placeholders of the form {password_reset.NAME};
// the names are listed in [Placeholders]. Other braces are left alone.
//
// Security rules enforced here:
//   - a secret (password, password_hash, code, link) is never put into a URL:
//     Validate refuses it in Query and in the body of a GET request;
//   - every value is escaped for where it goes (encoding/json for JSON
//     bodies, url.Values for forms and queries); a header value holding CR,
//     LF or another control character after substitution is refused;
//   - error messages name the offending field and placeholder, never a
//     header value or a substituted value.
package hookreq

import (
	"net/http"
	"sort"
	"strings"
)

// Prefix starts every placeholder name inside the braces.
const Prefix = "password_reset."

// Encodings of a request body.
const (
	EncodingJSON = "json"
	EncodingForm = "form"
)

// Content types sent for each encoding.
const (
	ContentTypeJSON = "application/json"
	ContentTypeForm = "application/x-www-form-urlencoded"
)

// placeholders maps every known placeholder name (without Prefix) to
// whether its value is a secret that must never go into a URL.
var placeholders = map[string]bool{
	"user.id":         false,
	"user.email":      false,
	"user.name":       false,
	"user.role":       false,
	"user.locale":     false,
	"identifier":      false,
	"password":        true,
	"password_hash":   true,
	"hash_format":     false,
	"type":            false,
	"revoke_sessions": false,
	"link":            true,
	"code":            true,
	"expires_at":      false,
}

// Placeholders returns the known placeholder names, without Prefix, sorted.
func Placeholders() []string {
	names := make([]string, 0, len(placeholders))
	for n := range placeholders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsSecret reports whether the placeholder name (without Prefix) carries a
// secret (password, password_hash, code, link) that must never appear in a
// URL.
func IsSecret(name string) bool { return placeholders[name] }

// Values holds the data substituted into a template, keyed by the
// placeholder name without Prefix: "user.id" → "42", "revoke_sessions" →
// true, "expires_at" → a time.Time. A placeholder used by the template must
// have a key here (Build fails otherwise); a nil value renders as "" (or
// JSON null when it alone makes a JSON field).
type Values map[string]any

// Template describes how one hook call is shaped. The zero Template is the
// default JSON contract (the engine's own body is sent as is).
type Template struct {
	// Method is the HTTP method: POST (default), PUT, PATCH, DELETE or GET.
	// With GET a form body goes to the query string; a JSON body is
	// refused.
	Method string `json:"method,omitempty"`
	// Encoding of the body: "json" (default) or "form"
	// (application/x-www-form-urlencoded).
	Encoding string `json:"encoding,omitempty"`
	// Headers are extra request headers; values may hold placeholders.
	Headers map[string]string `json:"headers,omitempty"`
	// Body maps a field name to a value template, e.g.
	// {"uid": "{password_reset.user.id}", "pw": "{password_reset.password_hash}"}.
	// nil sends the default body. For JSON, dotted field names build nested
	// objects ("user.id"), and a value that is exactly one placeholder keeps
	// the value's JSON type (a bool stays a bool); any other value is string
	// interpolation.
	Body map[string]string `json:"body,omitempty"`
	// Query holds extra query parameters (templated). Secrets are refused.
	Query map[string]string `json:"query,omitempty"`
	// Response maps one of our fields to a dotted path in the JSON answer,
	// e.g. {"id": "data.uid", "email": "data.mail"}. A field not listed is
	// read from the same name at the top level.
	Response map[string]string `json:"response,omitempty"`
	// OKStatus lists the statuses meaning success. Default: any 2xx.
	OKStatus []int `json:"ok_status,omitempty"`
}

func (t *Template) method() string {
	if t.Method == "" {
		return http.MethodPost
	}
	return strings.ToUpper(t.Method)
}

func (t *Template) encoding() string {
	if t.Encoding == "" {
		return EncodingJSON
	}
	return strings.ToLower(t.Encoding)
}

// Uses returns the placeholder names (without Prefix) the template refers
// to, sorted and without duplicates: the Values that Build needs.
func (t *Template) Uses() []string {
	set := map[string]bool{}
	for _, m := range []map[string]string{t.Headers, t.Body, t.Query} {
		for _, v := range m {
			segs, _ := parse(v)
			for _, s := range segs {
				if s.ph != "" {
					set[s.ph] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
