// Template.Validate, the checks a template passes before any request is
// built, and the header rules it shares with BuildWith.

package hookreq

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

var allowedMethods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet}

// reservedHeaders are set by the webhook client or the transport; a
// template setting them would be silently overwritten or would break the
// request.
var reservedHeaders = map[string]string{
	"Host":              "",
	"Content-Type":      " (set by encoding)",
	"Content-Length":    "",
	"Transfer-Encoding": "",
	"Connection":        "",
	"Accept":            "",
	"Idempotency-Key":   "",
	"Webhook-Id":        " (Standard Webhooks signature)",
	"Webhook-Timestamp": " (Standard Webhooks signature)",
	"Webhook-Signature": " (Standard Webhooks signature)",
}

// Validate checks the template. Its messages name the offending field and
// never include a header value.
func (t *Template) Validate() error {
	method := t.method()
	if !slices.Contains(allowedMethods, method) {
		return fmt.Errorf("hookreq: method %q not supported (use POST, PUT, PATCH, DELETE or GET)", t.Method)
	}
	enc := t.encoding()
	if enc != EncodingJSON && enc != EncodingForm {
		return fmt.Errorf("hookreq: encoding %q unknown (use json or form)", t.Encoding)
	}
	get := method == http.MethodGet
	if get && enc == EncodingJSON && t.Body != nil {
		return errors.New("hookreq: body: a JSON body cannot be sent with GET (use encoding form, or another method)")
	}
	if !get && enc == EncodingForm && t.Body == nil {
		return errors.New("hookreq: body: form encoding needs body fields")
	}

	for _, name := range sortedKeys(t.Headers) {
		if !validHeaderName(name) {
			return fmt.Errorf("hookreq: header %q: invalid header name", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if why, ok := reservedHeaders[canon]; ok {
			return fmt.Errorf("hookreq: header %q: cannot be set by a template%s", name, why)
		}
		v := t.Headers[name]
		if hasCTL(v) {
			return fmt.Errorf("hookreq: header %q: value contains CR, LF or another control character", name)
		}
		if _, err := parse(v); err != nil {
			return fmt.Errorf("hookreq: header %q: value holds a %s", name, err.(*parseError).kind)
		}
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(t.Headers) {
		canon := http.CanonicalHeaderKey(name)
		if prev, ok := seen[canon]; ok {
			return fmt.Errorf("hookreq: header %q: given twice (also as %q)", name, prev)
		}
		seen[canon] = name
	}

	for _, name := range sortedKeys(t.Body) {
		if name == "" {
			return errors.New("hookreq: body: empty field name")
		}
		segs, err := parse(t.Body[name])
		if err != nil {
			return fmt.Errorf("hookreq: body field %q: %v", name, err)
		}
		if get {
			if s := firstSecret(segs); s != "" {
				return fmt.Errorf("hookreq: body field %q: {%s%s} is a secret and a GET body goes into the URL", name, Prefix, s)
			}
			if _, dup := t.Query[name]; dup {
				return fmt.Errorf("hookreq: body field %q: also a query parameter, and a GET body goes into the query", name)
			}
		}
	}
	if t.Body != nil && enc == EncodingJSON {
		if err := checkNesting(sortedKeys(t.Body), "body field"); err != nil {
			return err
		}
	}

	for _, name := range sortedKeys(t.Query) {
		if name == "" {
			return errors.New("hookreq: query: empty parameter name")
		}
		segs, err := parse(t.Query[name])
		if err != nil {
			return fmt.Errorf("hookreq: query parameter %q: %v", name, err)
		}
		if s := firstSecret(segs); s != "" {
			return fmt.Errorf("hookreq: query parameter %q: {%s%s} is a secret and must not go into a URL", name, Prefix, s)
		}
	}

	for _, name := range sortedKeys(t.Response) {
		if name == "" {
			return errors.New("hookreq: response: empty field name")
		}
		path := t.Response[name]
		if path == "" || slices.Contains(strings.Split(path, "."), "") {
			return fmt.Errorf("hookreq: response field %q: path %q is empty or has an empty segment", name, path)
		}
	}

	for _, s := range t.OKStatus {
		if s < 100 || s > 599 {
			return fmt.Errorf("hookreq: ok_status: %d is not an HTTP status", s)
		}
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// hasCTL reports a control character other than horizontal tab (CR and LF
// among them): such a header value could split the request.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
