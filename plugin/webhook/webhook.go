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
	"hash"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Signer computes Standard Webhooks signatures. It is safe for concurrent
// use.
type Signer struct {
	// macs holds HMAC-SHA256 states keyed with the secret's key
	// (hash.Hash), reset after each use: keying one costs two SHA-256
	// blocks and five allocations, on every hook call. Its New holds the
	// key.
	macs sync.Pool
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
	sg := &Signer{}
	sg.macs.New = func() any { return hmac.New(sha256.New, key) }
	return sg, nil
}

// Sign returns the webhook-signature header value ("v1,<base64>") for one
// message.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	mac := s.macs.Get().(hash.Hash)
	defer func() {
		mac.Reset()
		s.macs.Put(mac)
	}()
	head := make([]byte, 0, len(id)+22)
	head = append(head, id...)
	head = append(head, '.')
	head = strconv.AppendInt(head, ts.Unix(), 10)
	head = append(head, '.')
	mac.Write(head)
	mac.Write(body)
	const v1 = "v1,"
	out := make([]byte, len(v1)+base64.StdEncoding.EncodedLen(sha256.Size))
	copy(out, v1)
	base64.StdEncoding.Encode(out[len(v1):], mac.Sum(head[:0]))
	return string(out)
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

// setHeaders sets Do's own headers on h, over any of req.Header's:
// Content-Type (when there is a body), Accept, User-Agent,
// Idempotency-Key and the Standard Webhooks signature's three. They go
// under their canonical names (as Header.Set stores them: "Webhook-Id"),
// with one allocation for all the values.
func (c *Client) setHeaders(h http.Header, req Request, hasBody bool) {
	names := [...]string{"Content-Type", "Accept", "User-Agent", "Idempotency-Key", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	vs := make([]string, len(names)) // by names' index; "" is left unset
	if hasBody {
		vs[0] = req.ContentType
		if vs[0] == "" {
			vs[0] = "application/json"
		}
	}
	vs[1] = "application/json"
	vs[2] = c.UserAgent
	vs[3] = req.IdempotencyKey
	if c.Signer != nil {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		ts := now()
		vs[4] = "msg_" + randomID()
		vs[5] = strconv.FormatInt(ts.Unix(), 10)
		vs[6] = c.Signer.Sign(vs[4], ts, req.Body)
	}
	for i, name := range names {
		if vs[i] != "" {
			h[name] = vs[i : i+1 : i+1]
		}
	}
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
	// Such a call changes something at the upstream: Do then also tells
	// whether a failed call was sent (ErrAnswerLost).
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
	// HTTP is the client used. Default: net/http's default transport
	// with more idle connections per upstream, following no redirect.
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
	// For a change, note whether the request went out in full: after
	// that, a failure leaves the upstream's outcome unknown.
	var sent atomic.Bool
	if req.IdempotencyKey != "" {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		}})
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
	c.setHeaders(hr.Header, req, body != nil)
	resp, err := c.send(hr)
	if err != nil {
		err = fmt.Errorf("calling upstream %s://%s%s: %w", hr.URL.Scheme, hr.URL.Host, hr.URL.Path, unwrapURLError(err))
		if sent.Load() {
			err = &answerLost{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	max := c.MaxResponse
	if max <= 0 {
		max = 64 << 10
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		err = fmt.Errorf("reading upstream answer (status %d): %w", resp.StatusCode, err)
		if req.IdempotencyKey != "" {
			err = &answerLost{err}
		}
		return nil, err
	}
	if int64(len(data)) > max {
		return &Response{Status: resp.StatusCode, Body: data[:max], TooLarge: true}, nil
	}
	return &Response{Status: resp.StatusCode, Body: data}, nil
}

// ErrAnswerLost marks a failed call with an IdempotencyKey whose request
// was sent in full: its answer never came, or came cut short (a timeout,
// a dropped connection), so the upstream may have acted on it.
var ErrAnswerLost = errors.New("the request was sent; its answer was lost")

// answerLost is a call's error marked ErrAnswerLost.
type answerLost struct{ err error }

func (e *answerLost) Error() string   { return e.err.Error() }
func (e *answerLost) Unwrap() []error { return []error{e.err, ErrAnswerLost} }

// send sends hr with c.HTTP, or else straight through defaultTransport.
// The default client follows no redirect (a 3xx is the answer) and has
// neither a cookie jar nor a timeout of its own (Do's context bounds the
// call), so http.Client would only add a copy of the headers for the
// redirects it never follows: about 1 KB on every lookup. What it would
// do besides, Basic credentials from the URL's user info when no
// Authorization header is set, send does too.
func (c *Client) send(hr *http.Request) (*http.Response, error) {
	if c.HTTP != nil {
		return c.HTTP.Do(hr)
	}
	if u := hr.URL.User; u != nil && hr.Header.Get("Authorization") == "" {
		password, _ := u.Password()
		hr.SetBasicAuth(u.Username(), password)
	}
	return defaultTransport.RoundTrip(hr)
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

// defaultTransport carries the calls of a Client without HTTP (send).
var defaultTransport = newDefaultTransport()

// idleConnsPerHost is how many idle keep-alive connections the default
// client keeps to one upstream. net/http's default is 2: with more hook
// calls in flight than that (completes, lookup workers), every call past
// the second opened a new TCP connection and closed it after the answer,
// which cost more CPU than the call itself (bench/run.sh (d)).
const idleConnsPerHost = 64

// newDefaultTransport is http.DefaultTransport (proxy from the environment,
// timeouts) with idleConnsPerHost idle connections per upstream.
func newDefaultTransport() http.RoundTripper {
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
