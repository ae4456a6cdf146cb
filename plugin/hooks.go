package plugin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/webhook"
)

// call sends one hook request: the default JSON contract with body, or the
// hook's template filled with vals. idem, when set, is the Idempotency-Key;
// header holds headers to forward (the browser's Cookie for a session).
func (h Hook) call(ctx context.Context, method string, vals hookreq.Values, body []byte, idem string, header http.Header) (*webhook.Response, error) {
	req := webhook.Request{Method: method, URL: h.URL, Body: body}
	if h.Template != nil {
		var err error
		if req, err = h.Template.BuildWith(h.URL, vals, body); err != nil {
			return nil, fmt.Errorf("building the request from its template: %w", err)
		}
	}
	req.IdempotencyKey = idem
	if len(header) > 0 {
		if req.Header == nil {
			req.Header = http.Header{}
		}
		for k, vs := range header {
			req.Header[k] = append(req.Header[k], vs...)
		}
	}
	start := time.Now()
	resp, err := h.Client.Do(ctx, req)
	if h.observer != nil {
		h.observer.Upstream(h.name, outcome(err, err == nil && h.ok(resp)), time.Since(start))
	}
	return resp, err
}

// ok reports whether the answer means success: the template's statuses,
// or any 2xx.
func (h Hook) ok(resp *webhook.Response) bool {
	if h.Template != nil {
		return h.Template.OK(resp)
	}
	return resp.OK()
}

// fields reads the answer's fields through the template's response
// mapping, or as a flat JSON object.
func (h Hook) fields(resp *webhook.Response) (map[string]string, error) {
	if resp.TooLarge {
		return nil, webhook.ErrResponseTooLarge
	}
	t := h.Template
	if t == nil {
		t = &hookreq.Template{}
	}
	return t.Map(resp)
}

// userValues are the placeholders describing a user.
func userValues(u User, identifier string) hookreq.Values {
	return hookreq.Values{
		"user.id": u.ID, "user.email": u.Email, "user.name": u.Name, "user.role": u.Role, "user.locale": u.Locale,
		"identifier": identifier,
	}
}
