// Package directory finds users and sets their passwords where an app keeps
// them: a SQL table (sql.go), an LDAP directory or Active Directory
// (ldap.go). The engine sees only the Directory interface; the HTTP hooks
// (lookup, verify, update) implement it too, in package plugin.
package directory

import (
	"context"
	"errors"
)

// User is what a directory knows about an account. ID is required; the
// other fields are optional, as in the lookup hook's JSON answer.
type User struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
	Locale string `json:"locale,omitempty"`
}

// Change says why a password is being set.
type Change struct {
	// UserID is the account's id as Find returned it.
	UserID string
	// User is the whole account as Find returned it (the HTTP update
	// hook's request template may use its e-mail or name). Optional.
	User User
	// Password is the new password, exactly as typed.
	Password string
	// Reason is "password.reset" or "password.changed".
	Reason string
	// IdempotencyKey is unique per change; HTTP hooks forward it.
	IdempotencyKey string
}

// Directory is where an app keeps its users and their passwords.
type Directory interface {
	// Find resolves an identifier (an e-mail, a user name) to one user.
	// found is false when nobody matches, or the account is disabled;
	// callers treat both alike, silently. err is for an unreachable
	// or misbehaving directory.
	Find(ctx context.Context, identifier string) (u User, found bool, err error)
	// CheckPassword reports whether password is the user's current one.
	// It returns ErrNoVerify when the directory is configured without a
	// way to check passwords.
	CheckPassword(ctx context.Context, userID, password string) (bool, error)
	// SetPassword sets the new password. A refusal by the directory's own
	// password policy is a *PolicyError; anything else that fails is a
	// plain error (the caller answers 502 and keeps the token), marked
	// ErrOutcomeUnknown when the change may have been applied all the
	// same.
	SetPassword(ctx context.Context, c Change) error
	// Close releases connections; it is safe to call more than once.
	Close() error
}

// ErrNoVerify means the directory cannot check a current password.
var ErrNoVerify = errors.New("directory: no way to check a current password is configured")

// PolicyError is a refusal by the directory's own password policy
// (LDAP constraintViolation, ppolicy passwordTooShort or passwordInHistory,
// Active Directory's 0000052D). The engine answers 422
// PASSWORD_POLICY_VIOLATED with detail UPSTREAM_POLICY and keeps the token.
type PolicyError struct {
	// Reason is a short, secret-free description for the log.
	Reason string
}

// Error implements error.
func (e *PolicyError) Error() string { return "directory password policy: " + e.Reason }

// ErrOutcomeUnknown marks a SetPassword failure after which the password
// may have been changed: the change reached the directory and its answer
// was lost (a timeout or a dropped connection after the HTTP request was
// written, during the LDAP operation, or during the SQL COMMIT). A refusal
// the directory answered is never marked. The engine then still sends the
// "password changed" mail (invariant 8): a notice too many is the safe
// side.
var ErrOutcomeUnknown = errors.New("the change may have been applied; its answer was lost")

// OutcomeUnknown marks err as ErrOutcomeUnknown; its message and cause
// stay err's.
func OutcomeUnknown(err error) error { return &outcomeUnknown{err: err} }

type outcomeUnknown struct{ err error }

func (e *outcomeUnknown) Error() string   { return e.err.Error() + " (outcome unknown)" }
func (e *outcomeUnknown) Unwrap() []error { return []error{e.err, ErrOutcomeUnknown} }
