package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrorItem is one entry of the error shape
// {"errors":[{"code":...,"detail":...,"pointer":...}]}.
type ErrorItem struct {
	Code    ErrorCode `json:"code"`
	Detail  string    `json:"detail,omitempty"`
	Pointer string    `json:"pointer,omitempty"`
}

// apiError is a public error: the status, the items shown to the client,
// and an internal cause that is logged but never shown.
type apiError struct {
	status int
	items  []ErrorItem
	cause  error
	retry  time.Duration
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.items[0].Code, e.cause)
	}
	return fmt.Sprintf("%d %s", e.status, e.items[0].Code)
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code ErrorCode, detail, pointer string) *apiError {
	return &apiError{status: status, items: []ErrorItem{{Code: code, Detail: detail, Pointer: pointer}}}
}

func (e *apiError) withCause(err error) *apiError { e.cause = err; return e }

func invalid(detail, pointer string) *apiError {
	return newError(http.StatusBadRequest, CodeInvalidRequest, detail, pointer)
}

var errTokenInvalid = newError(http.StatusNotFound, CodeTokenInvalid, "the token is unknown, used or expired", "")

func storeUnavailable(err error) *apiError {
	return newError(http.StatusServiceUnavailable, CodeStoreUnavailable, "the token store cannot be reached; try again shortly", "").withCause(err)
}

// internalError is a 500 whose cause is logged, never shown.
func internalError(cause error) *apiError {
	return newError(http.StatusInternalServerError, CodeInternal, "", "").withCause(cause)
}

// upstreamFailed is a 502 UPSTREAM_FAILED: the app could not be reached
// or refused; detail tells the user what to do, the cause is only logged.
func upstreamFailed(detail string, cause error) *apiError {
	return newError(http.StatusBadGateway, CodeUpstreamFailed, detail, "").withCause(cause)
}

// setAPIHeaders sets the headers every API answer carries, and
// Content-Type to contentType unless it is empty (a 204 has none). It
// assigns as Header.Set would, with one allocation for all the values
// instead of one each: the reset request's 202 is a hot path.
func setAPIHeaders(h http.Header, contentType string) {
	v := [...]string{"no-store", "no-cache", "nosniff", contentType}
	h["Cache-Control"] = v[0:1:1]
	h["Pragma"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	if contentType != "" {
		h["Content-Type"] = v[3:4:4]
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	setAPIHeaders(w.Header(), "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retry+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, map[string]any{"errors": e.items})
}

// maxBody is the largest request body accepted (bytes).
const maxBody = 64 << 10

// decodeJSON reads a JSON object body into dst strictly: JSON content type,
// at most 64 KiB, valid UTF-8, no unknown fields, no trailing data, and the
// right types. Every failure is a 400 INVALID_REQUEST naming the problem.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	body, apiErr := readJSONBody(w, r)
	if apiErr != nil {
		return apiErr
	}
	return decodeJSONBytes(body, dst)
}

// readJSONBody reads a request body that says it is JSON, at most maxBody
// bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, invalid("Content-Type must be application/json", "")
		}
	}
	if n := r.ContentLength; n > 0 && n <= maxBody {
		// A declared length within the limit: one read into a slice of
		// that length and one byte more, which must stay empty (the body
		// ends where it said it would), instead of io.ReadAll's growing
		// buffer (512 bytes for a 36-byte reset request) behind a limit
		// reader.
		body := make([]byte, n+1)
		if m, err := io.ReadFull(r.Body, body); int64(m) != n || !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, invalid("body could not be read", "")
		}
		return body[:n], nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, invalid(fmt.Sprintf("body larger than %d bytes", maxBody), "")
		}
		return nil, invalid("body could not be read", "")
	}
	return body, nil
}

// plainStringField returns s when body is exactly {"<name>":"s"} and s
// needs no unescaping: no quote, backslash or control character, valid
// UTF-8.
// decodeJSONBytes gives the same value for such a body (the reset
// request's usual one) with a decoder, reflection and a duplicate-key
// scan; any other body goes to it.
func plainStringField(body []byte, name string) (string, bool) {
	rest, ok := bytes.CutPrefix(body, []byte(`{"`))
	if !ok {
		return "", false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(name)); !ok {
		return "", false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`":"`)); !ok {
		return "", false
	}
	if rest, ok = bytes.CutSuffix(rest, []byte(`"}`)); !ok {
		return "", false
	}
	for _, c := range rest {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(rest) {
		return "", false
	}
	return string(rest), true
}

func decodeJSONBytes(body []byte, dst any) *apiError {
	if !utf8.Valid(body) {
		return invalid("body is not valid UTF-8", "")
	}
	if duplicateKey(body) {
		return invalid("a key appears twice in the JSON object", "")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid("wrong type for field", "/"+te.Field)
		}
		return invalid("malformed JSON object", "")
	}
	// Only whitespace may follow: More() alone misses a stray } or ].
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("trailing data after the JSON object", "")
	}
	return nil
}
