package legacyapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureTolerance is how far a webhook-timestamp may be from the app's
// clock, in either direction, before the message is refused.
const SignatureTolerance = 5 * time.Minute

// parseWebhookSecret decodes a Standard Webhooks signing secret
// ("whsec_<base64>"). The prefix is optional, as in the reference
// libraries. The error never repeats the secret.
func parseWebhookSecret(secret string) ([]byte, error) {
	raw := strings.TrimPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		// Tolerate unpadded base64 as well.
		key, err = base64.RawStdEncoding.DecodeString(raw)
	}
	if err != nil {
		return nil, errors.New("webhook secret is not valid base64 after whsec_")
	}
	if len(key) < 16 {
		return nil, errors.New("webhook secret must hold at least 16 bytes of key")
	}
	return key, nil
}

// errBadSignature and friends describe why a hook call was refused. They go
// to the log only, never to the caller.
var (
	errMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	errBadTimestamp   = errors.New("malformed webhook-timestamp")
	errStaleTimestamp = errors.New("webhook-timestamp outside tolerance")
	errBadSignature   = errors.New("no matching v1 signature")
)

// verifyWebhook checks the Standard Webhooks headers of one received
// message against key: a timestamp within SignatureTolerance of now and at
// least one "v1,<base64>" signature equal to
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
func verifyWebhook(key []byte, h http.Header, body []byte, now time.Time) error {
	id, tsRaw, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsRaw == "" || sigs == "" {
		return errMissingHeaders
	}
	sec, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return errStaleTimestamp
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(tsRaw))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a, ...) are not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return errBadSignature
}
