package policy

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/resetgate/resetgate/plugin/duration"
)

// BreachedCheck asks a k-anonymity range API (the Pwned Passwords protocol)
// whether a password appeared in a breach. Only the first 5 hex characters
// of the password's SHA-1 leave the process: the service answers with every
// hash suffix it knows under that prefix and the match is made here.
//
// It is named BreachedCheck because Breached is the detail code.
type BreachedCheck struct {
	// URL is the range endpoint; the 5-character prefix is appended to it,
	// so it normally ends with a slash:
	// https://api.pwnedpasswords.com/range/. Required.
	URL string `json:"url,omitempty"`
	// FailOpen accepts the password when the service cannot answer (down,
	// slow, an error status, a malformed answer). Default: false (fail
	// closed: Policy.CheckContext returns an error wrapping
	// ErrBreachedUnavailable and the caller answers 5xx).
	FailOpen bool `json:"fail_open,omitempty"`
	// Timeout bounds one request. Default: 2s.
	Timeout duration.Duration `json:"timeout,omitempty"`
	// MinCount is how many times a password must have been seen in
	// breaches to be refused. Default: 1.
	MinCount int `json:"min_count,omitempty"`
	// Client sends the requests. Default: a plain http.Client.
	Client *http.Client `json:"-"`
	// OnFailOpen, when set, is called with the cause each time FailOpen let
	// a password through because the service could not answer, so the
	// caller can log it. It must not block.
	OnFailOpen func(err error) `json:"-"`
}

// ErrBreachedUnavailable is wrapped by every error of BreachedCheck.Check,
// and so by the error Policy.CheckContext returns when the service could not
// answer and FailOpen is off.
var ErrBreachedUnavailable = errors.New("breached-password service unavailable")

const (
	defaultBreachedTimeout = 2 * time.Second
	// maxRangeBody caps a range answer. A real one is about 30 KiB (some
	// 800 to 1,000 lines of 40 bytes with padding).
	maxRangeBody = 2 << 20
	// rangeSuffixLen is the length of a hash suffix in an answer.
	rangeSuffixLen = sha1.Size*2 - 5
)

var defaultBreachedClient = &http.Client{}

// Validate checks the configuration.
func (b *BreachedCheck) Validate() error {
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("breached: url must be an absolute http(s) URL, got %q", b.URL)
	}
	if u.User != nil {
		return errors.New("breached: url must not carry credentials")
	}
	if u.Fragment != "" {
		return errors.New("breached: url must not have a fragment")
	}
	if b.Timeout < 0 {
		return errors.New("breached: timeout must not be negative")
	}
	if b.MinCount < 0 {
		return errors.New("breached: min_count must not be negative")
	}
	return nil
}

// Check reports whether password was seen at least MinCount times. It
// returns the raw outcome: on any failure it returns false and an error
// (which never contains the password, its hash or the request URL), whatever
// FailOpen says; Policy.CheckContext applies FailOpen.
func (b *BreachedCheck) Check(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password))
	var h [sha1.Size * 2]byte
	hex.Encode(h[:], sum[:])
	hash := bytes.ToUpper(h[:])
	prefix, suffix := hash[:5], hash[5:]

	timeout := b.Timeout.D()
	if timeout <= 0 {
		timeout = defaultBreachedTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+string(prefix), nil)
	if err != nil {
		return false, unavailable("bad url")
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "resetgate-password-policy")
	client := b.Client
	if client == nil {
		client = defaultBreachedClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which carries the hash prefix: keep
		// only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, unavailable("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, unavailable("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeBody+1))
	if err != nil {
		return false, unavailable("reading answer: %w", err)
	}
	if len(body) > maxRangeBody {
		return false, unavailable("answer larger than %d bytes", maxRangeBody)
	}
	minCount := max(b.MinCount, 1)
	found := false
	for n := 1; len(body) > 0; n++ {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		s, c, ok := bytes.Cut(line, []byte(":"))
		count, err := strconv.Atoi(string(bytes.TrimSpace(c)))
		if !ok || len(s) != rangeSuffixLen || !isHex(s) || err != nil || count < 0 {
			// A captive portal or a wrong URL answering 200: not a "no".
			return false, unavailable("malformed answer at line %d", n)
		}
		// Padding lines have count 0 and never reach minCount.
		if count >= minCount && bytes.EqualFold(s, suffix) {
			found = true
		}
	}
	return found, nil
}

// unavailable builds an error wrapping ErrBreachedUnavailable.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBreachedUnavailable}, args...)...)
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
