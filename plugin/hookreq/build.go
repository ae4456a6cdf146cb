// Rendering a Template into one webhook.Request.

package hookreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/resetgate/resetgate/plugin/webhook"
)

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
