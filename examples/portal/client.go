// Package portal is a small "custom portal" built on resetgate's admin API
// (the Cryptlex case in DESIGN.md): a support or customer portal that
// sends its own branded reset mails instead of resetgate's, and hosts its
// own set-new-password page.
//
//   - Client calls POST {prefix}/admin/users/{id}/reset-token with the
//     portal's bearer token and gets back a one-time token and its URL,
//     built by resetgate from base_url + link_path (/portal/reset);
//   - ResetMail and SendSMTP write and send the portal's own mail;
//   - Page serves /portal/reset, the page that URL opens: its script posts
//     the new password to resetgate's POST {prefix}/complete, and without
//     JavaScript the form posts to the portal, which forwards it there.
//
// The configuration this expects is examples/portal/Caddyfile; the command
// is examples/portal/cmd/portal. The package imports nothing from
// resetgate: it speaks the HTTP API as documented.
package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultPrefix is resetgate's default prefix.
const DefaultPrefix = "/password-reset"

// maxAnswer caps the answers read from resetgate.
const maxAnswer = 64 << 10

// Client calls resetgate's admin API.
type Client struct {
	// BaseURL is where resetgate answers (Caddy), e.g.
	// http://localhost:8000. Required.
	BaseURL string
	// Prefix is resetgate's prefix. Default: DefaultPrefix.
	Prefix string
	// Token is the admin bearer token; the Caddyfile holds only its
	// SHA-256 (admin_token sha256:<hex>). Required.
	Token string
	// HTTP sends the requests. Default: a client with a 10 s timeout that
	// does not follow redirects.
	HTTP *http.Client
}

// Issued is a reset token issued for one user.
type Issued struct {
	// Token is the one-time reset token.
	Token string
	// URL is base_url + link_path + ?token=…: the link to mail.
	URL string
	// ExpiresAt is when the token stops working.
	ExpiresAt time.Time
}

// APIError is an error answer from resetgate.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the first error code, e.g. ROLE_NOT_ALLOWED.
	Code string
	// Detail is its explanation.
	Detail string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("resetgate answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// IssueResetToken asks resetgate for a reset token for a user. A user
// whose role is not in admin_allow_roles gets an *APIError with status 403
// and code ROLE_NOT_ALLOWED; an unknown user 404 USER_NOT_FOUND; a wrong
// bearer token 401.
func (c *Client) IssueResetToken(ctx context.Context, userID string) (*Issued, error) {
	resp, body, err := c.call(ctx, http.MethodPost, "/admin/users/"+url.PathEscape(userID)+"/reset-token")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, apiError(resp.StatusCode, body)
	}
	var out struct {
		Token     string `json:"token"`
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" || out.URL == "" {
		return nil, errors.New("portal: resetgate's answer has no token or url")
	}
	exp, err := time.Parse(time.RFC3339, out.ExpiresAt)
	if err != nil {
		return nil, errors.New("portal: resetgate's answer has no valid expires_at")
	}
	return &Issued{Token: out.Token, URL: out.URL, ExpiresAt: exp}, nil
}

// RevokeResetTokens ends every open reset token and flow of a user.
func (c *Client) RevokeResetTokens(ctx context.Context, userID string) error {
	resp, body, err := c.call(ctx, http.MethodDelete, "/admin/users/"+url.PathEscape(userID)+"/reset-tokens")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return apiError(resp.StatusCode, body)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method, path string) (*http.Response, []byte, error) {
	if c.BaseURL == "" || c.Token == "" {
		return nil, nil, errors.New("portal: the resetgate URL and the admin token are required")
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+prefixOr(c.Prefix)+path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("portal: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient(c.HTTP).Do(req)
	if err != nil {
		// The error names the URL, which holds no secret.
		return nil, nil, fmt.Errorf("portal: calling resetgate: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, nil, fmt.Errorf("portal: reading resetgate's answer: %w", err)
	}
	return resp, body, nil
}

// errorBody is resetgate's error shape.
type errorBody struct {
	Errors []struct {
		Code    string `json:"code"`
		Detail  string `json:"detail"`
		Pointer string `json:"pointer"`
	} `json:"errors"`
}

func apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var b errorBody
	if json.Unmarshal(body, &b) == nil && len(b.Errors) > 0 {
		e.Code, e.Detail = b.Errors[0].Code, b.Errors[0].Detail
	}
	return e
}

func prefixOr(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return strings.TrimSuffix(p, "/")
}

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// postJSON posts v as JSON and returns the status and the answer.
func postJSON(ctx context.Context, c *http.Client, u string, v any) (int, []byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(c).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, body, err
}
