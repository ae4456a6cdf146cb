package plugin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/resetgate/resetgate/plugin/mailer"
)

// PreviewPages lists the pages Preview renders.
var PreviewPages = []string{"forgot", "sent", "new", "done", "revoke", "revoked", "error", "change", "changed", "passkeys"}

// PreviewMails lists the mails Preview renders.
var PreviewMails = []string{"reset", "changed"}

// Preview renders a page or a mail with sample data, through the
// configured templates, theme and translations, for `caddy password-reset
// preview`. kind is "page" or "mail"; lang is a language tag ("de"), or
// "" for the default. A mail comes back as its subject, text and HTML
// parts; part chooses which ("html" by default).
func (e *Engine) Preview(kind, name, lang, part string) (contentType string, body []byte, err error) {
	switch kind {
	case "page":
		return e.previewPage(name, lang)
	case "mail":
		return e.previewMail(name, lang, part)
	}
	return "", nil, fmt.Errorf("preview: kind must be page or mail, not %q", kind)
}

func (e *Engine) previewPage(name, lang string) (string, []byte, error) {
	if !slices.Contains(PreviewPages, name) {
		return "", nil, fmt.Errorf("preview: unknown page %q (pages: %s)", name, strings.Join(PreviewPages, ", "))
	}
	r := httptest.NewRequest(http.MethodGet, e.link("/", nil), nil)
	if lang != "" {
		r.Header.Set("Accept-Language", lang)
	}
	w := httptest.NewRecorder()
	d := e.pages.data(w, r, name)
	d.Identifier = "ada@example.com"
	if name == "error" {
		d.Error = "expired"
		d.Title = d.lang.T("error.expired.title")
	}
	e.pages.render(w, http.StatusOK, d)
	if w.Code != http.StatusOK {
		return "", nil, fmt.Errorf("preview: page %q did not render (see the log)", name)
	}
	return "text/html; charset=utf-8", w.Body.Bytes(), nil
}

func (e *Engine) previewMail(name, lang, part string) (string, []byte, error) {
	now := e.now()
	var data any
	switch name {
	case "reset":
		data = mailer.ResetData{
			SiteName: e.cfg.SiteName, UserName: "Ada Lovelace", Link: e.link("/new", nil) + "?token=PREVIEW",
			Code: "12345678", ExpiresAt: now.Add(e.cfg.TokenTTL), TTL: humanDuration(e.cfg.TokenTTL),
			RequestIP: "203.0.113.7", RequestTime: now, RevokeLink: e.link("/revoke", nil) + "?token=PREVIEW",
			SupportContact: e.cfg.SupportContact,
		}
	case "changed":
		data = mailer.ChangedData{
			SiteName: e.cfg.SiteName, UserName: "Ada Lovelace", ChangedAt: now, RequestIP: "203.0.113.7",
			ResetLink: e.link("/", nil), SupportContact: e.cfg.SupportContact,
		}
	default:
		return "", nil, fmt.Errorf("preview: unknown mail %q (mails: %s)", name, strings.Join(PreviewMails, ", "))
	}
	subject, text, html, err := e.cfg.Templates.RenderLocale(name, lang, data)
	if err != nil {
		return "", nil, fmt.Errorf("preview: rendering mail %q: %w", name, err)
	}
	switch part {
	case "", "html":
		return "text/html; charset=utf-8", []byte(html), nil
	case "text":
		return "text/plain; charset=utf-8", []byte("Subject: " + subject + "\n\n" + text), nil
	case "subject":
		return "text/plain; charset=utf-8", []byte(subject + "\n"), nil
	}
	return "", nil, fmt.Errorf("preview: part must be html, text or subject, not %q", part)
}
