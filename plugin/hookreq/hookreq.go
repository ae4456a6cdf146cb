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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resetgate/resetgate/plugin/webhook"
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

// OK reports whether the answer's status means success: one of OKStatus,
// or any 2xx when OKStatus is empty.
func (t *Template) OK(resp *webhook.Response) bool {
	if resp == nil {
		return false
	}
	if len(t.OKStatus) == 0 {
		return resp.OK()
	}
	return slices.Contains(t.OKStatus, resp.Status)
}

// Build renders one hook call to url: method, URL (with the extra query),
// content type, headers and body. With a nil Body a JSON request carries
// vals as a JSON object (dotted names nested); use BuildWith to send the
// engine's own body instead. The returned errors never hold a value.
func (t *Template) Build(url string, vals Values) (webhook.Request, error) {
	return t.BuildWith(url, vals, nil)
}

// BuildWith is Build, except that when the template has no Body and the
// request is a JSON one (not GET), defaultBody (when not nil) is sent as is:
// the zero Template then yields exactly the default contract's request.
func (t *Template) BuildWith(rawURL string, vals Values, defaultBody []byte) (webhook.Request, error) {
	if err := t.Validate(); err != nil {
		return webhook.Request{}, err
	}
	rawURL, err := renderURL(rawURL, vals)
	if err != nil {
		return webhook.Request{}, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse's error repeats the URL, which may hold a credential.
		return webhook.Request{}, errors.New("hookreq: the hook URL is not an absolute http(s) URL")
	}
	method, enc := t.method(), t.encoding()
	req := webhook.Request{Method: method}

	query := url.Values{}
	for name, v := range t.Query {
		s, err := renderString(v, vals)
		if err != nil {
			return webhook.Request{}, fmt.Errorf("hookreq: query parameter %q: %w", name, err)
		}
		query.Set(name, s)
	}

	switch {
	case method == http.MethodGet:
		// A GET carries no body; form fields join the query.
		for name, v := range t.Body {
			s, err := renderString(v, vals)
			if err != nil {
				return webhook.Request{}, fmt.Errorf("hookreq: body field %q: %w", name, err)
			}
			query.Set(name, s)
		}
	case enc == EncodingForm:
		form := url.Values{}
		for name, v := range t.Body {
			s, err := renderString(v, vals)
			if err != nil {
				return webhook.Request{}, fmt.Errorf("hookreq: body field %q: %w", name, err)
			}
			form.Set(name, s)
		}
		req.ContentType = ContentTypeForm
		req.Body = []byte(form.Encode())
	default:
		req.ContentType = ContentTypeJSON
		var doc map[string]any
		switch {
		case t.Body != nil:
			doc = map[string]any{}
			for _, name := range sortedKeys(t.Body) {
				v, err := renderJSON(t.Body[name], vals)
				if err != nil {
					return webhook.Request{}, fmt.Errorf("hookreq: body field %q: %w", name, err)
				}
				setNested(doc, name, v)
			}
		case defaultBody != nil:
			req.Body = defaultBody
		default:
			names := sortedKeys(vals)
			if err := checkNesting(names, "value"); err != nil {
				return webhook.Request{}, err
			}
			doc = map[string]any{}
			for _, name := range names {
				v, err := jsonValue(name, vals[name])
				if err != nil {
					return webhook.Request{}, err
				}
				setNested(doc, name, v)
			}
		}
		if doc != nil {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(doc); err != nil {
				return webhook.Request{}, errors.New("hookreq: body: a value cannot be encoded as JSON")
			}
			req.Body = bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
		}
	}

	if len(query) > 0 {
		extra := query.Encode()
		if u.RawQuery == "" {
			u.RawQuery = extra
		} else {
			u.RawQuery += "&" + extra
		}
	}
	req.URL = u.String()

	if len(t.Headers) > 0 {
		req.Header = http.Header{}
		for name, v := range t.Headers {
			s, err := renderString(v, vals)
			if err != nil {
				return webhook.Request{}, fmt.Errorf("hookreq: header %q: %w", name, err)
			}
			if hasCTL(s) {
				return webhook.Request{}, fmt.Errorf("hookreq: header %q: value contains CR, LF or another control character after substitution", name)
			}
			req.Header.Set(name, s)
		}
	}
	return req, nil
}

// Map reads a JSON answer: every top-level string, number or bool under its
// own name, then each Response mapping (our field → dotted path; a numeric
// segment indexes an array). Numbers keep their digits ("42", not "42.0"),
// bools become "true"/"false"; a missing or null field is absent. A body
// that is not a JSON object is an error; the error never quotes the answer.
func (t *Template) Map(resp *webhook.Response) (map[string]string, error) {
	if resp == nil {
		return nil, errors.New("hookreq: no answer")
	}
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, errors.New("hookreq: the answer is not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("hookreq: the answer is not JSON (data after the value)")
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("hookreq: the answer is not a JSON object")
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if s, ok := scalar(v); ok {
			out[k] = s
		}
	}
	for _, name := range sortedKeys(t.Response) {
		path := t.Response[name]
		delete(out, name)
		v, found := lookup(root, path)
		if !found || v == nil {
			continue
		}
		s, ok := scalar(v)
		if !ok {
			return nil, fmt.Errorf("hookreq: response field %q: path %q holds an object or an array, not a value", name, path)
		}
		out[name] = s
	}
	return out, nil
}

// segment is a literal run or a placeholder name (without Prefix).
type segment struct {
	lit string
	ph  string
}

type parseError struct {
	kind string // "unknown placeholder", "unterminated placeholder"
	name string // the unknown name, when printable
}

func (e *parseError) Error() string {
	if e.name != "" {
		return fmt.Sprintf("%s {%s%s}", e.kind, Prefix, e.name)
	}
	return e.kind
}

// parse splits a value template into literal runs and placeholders. Only
// "{password_reset." opens a placeholder; every other brace is literal.
func parse(s string) ([]segment, error) {
	var segs []segment
	open := "{" + Prefix
	for {
		i := strings.Index(s, open)
		if i < 0 {
			if s != "" {
				segs = append(segs, segment{lit: s})
			}
			return segs, nil
		}
		if i > 0 {
			segs = append(segs, segment{lit: s[:i]})
		}
		rest := s[i+len(open):]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil, &parseError{kind: "unterminated placeholder"}
		}
		name := rest[:j]
		if _, ok := placeholders[name]; !ok {
			pe := &parseError{kind: "unknown placeholder"}
			if printableName(name) {
				pe.name = name
			}
			return nil, pe
		}
		segs = append(segs, segment{ph: name})
		s = rest[j+1:]
	}
}

func printableName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func firstSecret(segs []segment) string {
	for _, s := range segs {
		if s.ph != "" && placeholders[s.ph] {
			return s.ph
		}
	}
	return ""
}

func value(name string, vals Values) (any, error) {
	v, ok := vals[name]
	if !ok {
		return nil, fmt.Errorf("no value for {%s%s}", Prefix, name)
	}
	return v, nil
}

// renderString interpolates a template into a string.
func renderString(tmpl string, vals Values) (string, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return "", err
	}
	if len(segs) == 1 && segs[0].ph == "" {
		return segs[0].lit, nil
	}
	var b strings.Builder
	for _, s := range segs {
		if s.ph == "" {
			b.WriteString(s.lit)
			continue
		}
		v, err := value(s.ph, vals)
		if err != nil {
			return "", err
		}
		str, err := stringify(s.ph, v)
		if err != nil {
			return "", err
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

// renderJSON renders a JSON field: one lone placeholder keeps its type,
// anything else is a string.
func renderJSON(tmpl string, vals Values) (any, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0].ph != "" {
		v, err := value(segs[0].ph, vals)
		if err != nil {
			return nil, err
		}
		return jsonValue(segs[0].ph, v)
	}
	s, err := renderString(tmpl, vals)
	if err != nil {
		return nil, err
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("value is not valid UTF-8 and cannot go into JSON unchanged")
	}
	return s, nil
}

// jsonValue prepares one value for encoding/json, refusing anything that
// JSON would alter (invalid UTF-8 is replaced by U+FFFD).
func jsonValue(name string, v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("value for {%s%s} is not valid UTF-8 and cannot go into JSON unchanged", Prefix, name)
		}
		return x, nil
	case []byte:
		return jsonValue(name, string(x))
	case json.Number:
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	case *time.Time:
		if x == nil {
			return nil, nil
		}
		return x.UTC().Format(time.RFC3339), nil
	case fmt.Stringer:
		if _, isJSON := v.(json.Marshaler); !isJSON {
			return jsonValue(name, x.String())
		}
	}
	return v, nil
}

// stringify renders a scalar value for string interpolation.
func stringify(name string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	case *time.Time:
		if x == nil {
			return "", nil
		}
		return x.UTC().Format(time.RFC3339), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", fmt.Errorf("value for {%s%s} is not a string, number, bool or time", Prefix, name)
}

// checkNesting refuses dotted names that cannot form one JSON object: empty
// segments, or a name that is both a value and an object ("user" and
// "user.id").
func checkNesting(names []string, what string) error {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	for _, name := range names {
		if slices.Contains(strings.Split(name, "."), "") {
			return fmt.Errorf("hookreq: %s %q: empty segment in a dotted name", what, name)
		}
		for i := range len(name) {
			if name[i] == '.' && set[name[:i]] {
				return fmt.Errorf("hookreq: %s %q: is both a value and an object (%q)", what, name[:i], name)
			}
		}
	}
	return nil
}

// setNested stores v under a dotted name; checkNesting has run.
func setNested(doc map[string]any, name string, v any) {
	parts := strings.Split(name, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func lookup(root any, path string) (any, bool) {
	cur := root
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
