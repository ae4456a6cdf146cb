// Package webhook calls the upstream application's hooks: JSON (or
// templated) requests signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com), with a timeout, a capped response
// body and an Idempotency-Key header.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Signer computes Standard Webhooks signatures.
type Signer struct {
	key []byte
}

// ParseSecret reads a "whsec_<base64>" signing secret. The error never
// repeats the secret.
func ParseSecret(secret string) (*Signer, error) {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return nil, errors.New("webhook secret must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, errors.New("webhook secret is not valid base64 after " + SecretPrefix)
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("webhook secret must hold at least 24 bytes of key, has %d", len(key))
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature header value ("v1,<base64>") for one
// message.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the Standard Webhooks headers of a received message: a
// v1 signature that matches and a timestamp within tolerance of now.
func (s *Signer) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsRaw, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsRaw == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return errors.New("webhook-timestamp outside tolerance")
	}
	want := s.Sign(id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching webhook signature")
}

// Request is one call to an upstream hook.
type Request struct {
	// Method is the HTTP method. Default: POST.
	Method string
	// URL is the hook's address.
	URL string
	// ContentType of Body. Default: application/json.
	ContentType string
	// Header holds extra headers (the browser's Cookie for a session check).
	Header http.Header
	// Body is sent as is and signed.
	Body []byte
	// IdempotencyKey, when set, goes out as the Idempotency-Key header.
	IdempotencyKey string
}

// Response is what the upstream answered.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Body is the response body, at most Client.MaxResponse bytes.
	Body []byte
	// TooLarge reports that the body exceeded Client.MaxResponse and was
	// cut: the status still counts, the body must not be parsed.
	TooLarge bool
}

// OK reports a 2xx answer.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Client sends signed hook requests.
type Client struct {
	// HTTP is the client used. Default: a client without redirects.
	HTTP *http.Client
	// Signer signs every request; nil sends unsigned requests.
	Signer *Signer
	// Timeout bounds each call. Default: 5s.
	Timeout time.Duration
	// MaxResponse caps the response body read. Default: 64 KiB.
	MaxResponse int64
	// Now is the clock for webhook-timestamp. Default: time.Now.
	Now func() time.Time
	// UserAgent is sent with every call.
	UserAgent string
}

// ErrResponseTooLarge is what callers that must parse an answer report
// when its body exceeded MaxResponse (Response.TooLarge).
var ErrResponseTooLarge = errors.New("upstream response too large")

// Do sends req and reads the answer. A non-2xx status is not an error, nor
// is an oversized body (Response.TooLarge); transport failures and
// timeouts are.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if method != http.MethodGet && method != http.MethodHead {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, body)
	if err != nil {
		return nil, fmt.Errorf("building upstream request: %w", err)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if body != nil {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	hr.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	if req.IdempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if c.Signer != nil {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		id := "msg_" + randomID()
		ts := now()
		hr.Header.Set("webhook-id", id)
		hr.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		hr.Header.Set("webhook-signature", c.Signer.Sign(id, ts, req.Body))
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("calling upstream %s://%s%s: %w", hr.URL.Scheme, hr.URL.Host, hr.URL.Path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	max := c.MaxResponse
	if max <= 0 {
		max = 64 << 10
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading upstream answer: %w", err)
	}
	if int64(len(data)) > max {
		return &Response{Status: resp.StatusCode, Body: data[:max], TooLarge: true}, nil
	}
	return &Response{Status: resp.StatusCode, Body: data}, nil
}

// unwrapURLError drops *url.Error's wrapping, which repeats the full URL
// (with any query) in its message.
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

var defaultClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     defaultTransport(),
}

// idleConnsPerHost is how many idle keep-alive connections the default
// client keeps to one upstream. net/http's default is 2: with more hook
// calls in flight than that (completes, lookup workers), every call past
// the second opened a new TCP connection and closed it after the answer,
// which cost more CPU than the call itself (bench/run.sh (d)).
const idleConnsPerHost = 64

// defaultTransport is http.DefaultTransport (proxy from the environment,
// timeouts) with idleConnsPerHost idle connections per upstream.
func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = idleConnsPerHost
	if t.MaxIdleConns < idleConnsPerHost {
		t.MaxIdleConns = idleConnsPerHost
	}
	return t
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}
