// Errors: go-redis's mapped to the store's, and the password kept out of
// every message.

package redis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/internal/record"
)

// Error replies the scripts give for the caller's mistakes and for values
// they did not write; the words after the code are free text.
const (
	replyNotCounter = "RESETGATE_NOTCOUNTER"
	replyCorrupt    = "RESETGATE_CORRUPT"
)

// mapError turns go-redis's errors into the store's: a nil reply becomes
// store.ErrNotFound, the caller's mistakes pass through, and everything
// else is wrapped in store.ErrUnavailable (the cause stays reachable with
// errors.Is).
func (s *Store) mapError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return store.ErrNotFound
	case goredis.HasErrorPrefix(err, replyNotCounter):
		return errNotCounter
	case goredis.HasErrorPrefix(err, replyCorrupt):
		return s.unavailable(op, record.ErrCorrupt)
	default:
		return s.unavailable(op, err)
	}
}

// unavailable wraps err so that errors.Is matches both it and
// store.ErrUnavailable. The message names the server, never its password.
func (s *Store) unavailable(op string, err error) error {
	return fmt.Errorf("store/redis: %s (%s): %w: %w", op, s.where, store.ErrUnavailable, s.scrubbed(err))
}

// scrubbed returns err, or, should its message contain the password, an
// error with the password replaced that still unwraps to err.
func (s *Store) scrubbed(err error) error {
	if s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return &scrubbedError{msg: scrub(err.Error(), s.password), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub replaces every occurrence of password in msg.
func scrub(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}

// errMessage is err's message; for a *url.Error, only the reason, since
// its message quotes the whole URL, password and all.
func errMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redactURL returns raw with the password replaced by "xxxxx", and the
// password. It works on URLs url.Parse refuses as well, so that an error
// about a malformed URL can show it safely: then everything between "://"
// and the last "@" counts as userinfo.
func redactURL(raw string) (redacted, password string) {
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			password, _ = u.User.Password()
		}
		return u.Redacted(), password
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw, ""
	}
	user, pass, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw, ""
	}
	redacted = user + ":xxxxx@" + rest[at+1:]
	if ok {
		redacted = scheme + "://" + redacted
	}
	return redacted, pass
}
