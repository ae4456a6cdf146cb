package directory

import "time"

// Optional interfaces a Directory may implement; the engine asks for them
// with a type assertion and has a default for each.

// PasswordChecker says whether CheckPassword can work at all, so the
// engine can tell up front whether SAME_AS_OLD and the signed-in change
// are available. Default: true.
type PasswordChecker interface {
	CanCheckPassword() bool
}

// TimeoutReporter gives the longest one call may take; the engine holds
// a token's lease a little longer. Default: 10s.
type TimeoutReporter interface {
	Timeout() time.Duration
}

// PasswordByteLimiter gives the longest password, in bytes, that the hash
// format takes whole (bcrypt reads 72), or 0 for no limit. Longer
// passwords are refused by the policy rather than cut. Default: 0.
type PasswordByteLimiter interface {
	MaxPasswordBytes() int
}

// Interface guards.
var (
	_ PasswordChecker     = (*sqlDirectory)(nil)
	_ TimeoutReporter     = (*sqlDirectory)(nil)
	_ PasswordByteLimiter = (*sqlDirectory)(nil)
)
